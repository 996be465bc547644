#if canImport(Glibc)
import Glibc
#endif

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
                    bytes.append(contentsOf: [
                        UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                        hex[Int(byte >> 4)], hex[Int(byte & 0xF)],
                    ])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
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

    /// Powers of ten up to 10^19, exact as doubles up to 10^22.
    private static let powersOfTen: [Double] = (0...19).map { pow(10, Double($0)) }

    /// `%.10g` in fixed notation without `String(format:)` or any allocation: the ten
    /// significant digits are `d × 10^k` rounded to an integer. The product is within a
    /// millionth of the exact one (it is below 10^10 < 2^53), so the rounding is exact
    /// unless the product lies that close to a half — then, and when the magnitude was
    /// misjudged, false: the caller falls back to `String(format:)`.
    private static func appendFixed(_ d: Double, to bytes: inout [UInt8]) -> Bool {
        let magnitude = abs(d)
        // The decimal exponent of the first significant digit, -4…9 here.
        let exponent = Int(log10(magnitude).rounded(.down))
        guard (-5...10).contains(exponent) else { return false }
        let shift = 9 - exponent  // 0…14
        let product = magnitude * powersOfTen[shift]
        let fraction = product - product.rounded(.down)
        guard abs(fraction - 0.5) > 1e-5 else { return false }
        var digits = UInt64(product.rounded(.toNearestOrAwayFromZero))
        // Ten digits exactly: else log10 misjudged, or the rounding carried (9.99… → 10).
        guard digits >= 1_000_000_000, digits < 10_000_000_000 else { return false }
        // Where the point goes: `shift` digits after it.
        var decimals = shift
        while decimals > 0, digits % 10 == 0 {
            digits /= 10
            decimals -= 1
        }
        // In fixed notation %g prints the exponent range -4…9 only.
        guard (-4...9).contains(exponent) else { return false }
        var text: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes, enough for 0.000 + 10 digits
        return withUnsafeMutableBytes(of: &text) { raw -> Bool in
            var end = 32
            var written = 0
            var v = digits
            repeat {
                if written == decimals, decimals > 0 {
                    end -= 1
                    raw[end] = UInt8(ascii: ".")
                }
                end -= 1
                raw[end] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                written += 1
            } while v > 0 || written <= decimals
            if d < 0 { bytes.append(UInt8(ascii: "-")) }
            bytes.append(contentsOf: raw[end...])
            return true
        }
    }
}
