/// JSON string literals for JSON written by hand (the uplink's telemetry, device commands),
/// where `JSONEncoder` would cost too much or not keep the key order.
public enum JSONText {
    /// Appends `s` as a JSON string literal, quotes included, escaping what RFC 8259 requires.
    public static func appendQuoted(_ s: String, to text: inout String) {
        text += "\""
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
        text += "\""
    }

    /// `s` as a JSON string literal, quotes included.
    public static func quoted(_ s: String) -> String {
        var text = ""
        text.reserveCapacity(s.utf8.count + 2)
        appendQuoted(s, to: &text)
        return text
    }
}
