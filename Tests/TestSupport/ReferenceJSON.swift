/// JSON written the plain way, as a reference for the byte writers of the telemetry path:
/// escaping one Unicode scalar at a time into a `String` (how the telemetry was encoded before
/// it wrote bytes), independent of `JSONText`.
public enum ReferenceJSON {
    /// `s` as a JSON string literal, quotes included, escaping what RFC 8259 requires.
    public static func quoted(_ s: String) -> String {
        var text = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        return text + "\""
    }
}
