/// JSON text written by hand (the uplink's telemetry, device commands), where `JSONEncoder`
/// would cost too much or not keep the key order. Everything is written as UTF-8 bytes: the
/// telemetry path runs for every reading, and appending to a `String` one scalar at a time
/// was most of its cost.
public enum JSONText {
    /// Appends `s` as a JSON string literal, quotes included, escaping what RFC 8259 requires.
    public static func appendQuoted(_ s: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        // Native strings are contiguous UTF-8; the copy makes a bridged one contiguous too.
        s.withUTF8 { utf8 in
            // Most names need no escaping: copy runs of plain bytes whole.
            var runStart = 0
            for i in 0..<utf8.count {
                let byte = utf8[i]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
                runStart = i + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "\n"): bytes.append(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): bytes.append(UInt8(ascii: "r"))
                case UInt8(ascii: "\t"): bytes.append(UInt8(ascii: "t"))
                default:
                    // \u00XX, lower-case hex as before.
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                              hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends `s` as a JSON string literal to text.
    public static func appendQuoted(_ s: String, to text: inout String) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count + 2)
        appendQuoted(s, to: &bytes)
        text += String(decoding: bytes, as: UTF8.self)
    }

    /// `s` as a JSON string literal, quotes included.
    public static func quoted(_ s: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count + 2)
        appendQuoted(s, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the decimal digits of `value`, without a `String` in between.
    public static func appendInteger(_ value: Int64, to bytes: inout [UInt8]) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        // The magnitude as unsigned, so that Int64.min has one.
        var v = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 20 digits fit in 24 bytes
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[23 - count] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                count += 1
            } while v > 0
            bytes.append(contentsOf: raw[(24 - count)...])
        }
    }

    /// Appends a double as `Value.format` writes it (up to 10 significant digits, no
    /// trailing zeros: `21.5`, `0.3`, `1234`), without `String(format:)` for the usual
    /// magnitudes. Non-finite values have no JSON form: the caller decides (telemetry writes
    /// `null`).
    public static func appendDouble(_ d: Double, to bytes: inout [UInt8]) {
        if d.isFinite, d == d.rounded(), abs(d) < 1e15 {
            appendInteger(Int64(d), to: &bytes)
            return
        }
        let magnitude = abs(d)
        // In [1e-4, 1e10) `%.10g` writes fixed notation; elsewhere the reference does it.
        guard d.isFinite, magnitude >= 1e-4, magnitude < 1e10, appendFixed(d, to: &bytes) else {
            bytes.append(contentsOf: Value.format(d).utf8)
            return
        }
    }

    /// `%.10g` in fixed notation from the shortest round-trip digits of `d` (Swift's
    /// `description`, exact and fast). When those have at most 10 significant digits they
    /// are `%.10g`'s digits (the exact value is within half an ulp of them, far closer than
    /// half a step of the 10th digit); with more, they are rounded to 10 here, except for an
    /// exact tie or a carry into a new leading digit, where the shortest digits cannot decide:
    /// false, and the caller falls back to `String(format:)`.
    private static func appendFixed(_ d: Double, to bytes: inout [UInt8]) -> Bool {
        var text = d.description
        return text.withUTF8 { utf8 -> Bool in
            // Digits without sign and point, and where the point was.
            var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes
            return withUnsafeMutableBytes(of: &digits) { raw -> Bool in
                var count = 0
                var pointAt = -1
                var negative = false
                for byte in utf8 {
                    switch byte {
                    case UInt8(ascii: "-"): negative = true
                    case UInt8(ascii: "."): pointAt = count
                    case UInt8(ascii: "0")...UInt8(ascii: "9"):
                        guard count < 32 else { return false }
                        raw[count] = byte - UInt8(ascii: "0")
                        count += 1
                    default: return false  // an exponent: not the fixed form this expects
                    }
                }
                if pointAt < 0 { pointAt = count }
                // The first significant digit.
                var first = 0
                while first < count, raw[first] == 0 { first += 1 }
                guard first < count else { return false }
                var end = count
                if end - first > 10 {
                    end = first + 10
                    let next = raw[end]
                    var rest = false
                    for i in (end + 1)..<count where raw[i] != 0 { rest = true; break }
                    if next == 5 && !rest { return false }  // a tie in the shortest digits
                    if next > 5 || (next == 5 && rest) {
                        var i = end - 1
                        while true {
                            if raw[i] < 9 { raw[i] += 1; break }
                            raw[i] = 0
                            if i == first { return false }  // 9.99… → 10: a new leading digit
                            i -= 1
                        }
                    }
                }
                // Drop zeros after the point.
                while end > pointAt, end > first + 1 || end > pointAt + 1, raw[end - 1] == 0 { end -= 1 }
                if negative { bytes.append(UInt8(ascii: "-")) }
                if pointAt == 0 { bytes.append(UInt8(ascii: "0")) }
                for i in 0..<end {
                    if i == pointAt { bytes.append(UInt8(ascii: ".")) }
                    // Leading zeros of the integer part (never more than one "0") stay as read.
                    bytes.append(UInt8(ascii: "0") + raw[i])
                }
                return true
            }
        }
    }
}
