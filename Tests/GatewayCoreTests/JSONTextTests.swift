import Foundation
import GatewayCore
import TestSupport
import Testing

/// The byte writers of the telemetry path against the reference forms they replaced:
/// `Value.format` (`%.10g` through `String(format:)`) and scalar-by-scalar escaping.
@Suite("JSON text in bytes")
struct JSONTextTests {
    static func bytes(_ write: (inout [UInt8]) -> Void) -> String {
        var b: [UInt8] = []
        write(&b)
        return String(decoding: b, as: UTF8.self)
    }

    @Test("strings are escaped exactly as before: quotes, backslashes, control characters, any Unicode")
    func strings() {
        var samples = [
            "", "boiler-1", "temperature", "°C", "m³/h", "meter \"7\"", "a\\b", "line\nbreak\r\ttab",
            "\u{0}\u{1}\u{1f}\u{7f}", "Grüße 🌡️", "\"\"\\\\", String(repeating: "x", count: 300),
        ]
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ab\"\\\n\r\t\u{0}\u{8}\u{1b}é€𝄞 ".unicodeScalars)
        for _ in 0..<2000 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...24, using: &generator) { s.append(alphabet.randomElement(using: &generator)!) }
            samples.append(String(s))
        }
        for s in samples {
            #expect(Self.bytes { JSONText.appendQuoted(s, to: &$0) } == ReferenceJSON.quoted(s), "\(s.debugDescription)")
            #expect(JSONText.quoted(s) == ReferenceJSON.quoted(s))
        }
    }

    @Test("integers are written digit for digit, Int64's extremes included")
    func integers() {
        var values: [Int64] = [0, 1, -1, 9, 10, -10, 65535, -32768, Int64.max, Int64.min, 1_000_000_007]
        for _ in 0..<5000 { values.append(Int64.random(in: Int64.min...Int64.max)) }
        for v in values {
            #expect(Self.bytes { JSONText.appendInteger(v, to: &$0) } == String(v))
        }
    }

    @Test("doubles are written exactly as Value.format writes them, across magnitudes, scales and ties")
    func doubles() async {
        // Hundreds of thousands of numbers: seconds of work, kept off the concurrency pool.
        let mismatches = await inBackground {
            var values: [Double] = [
                0, -0.0, 0.1, 0.2, 0.3, 21.5, -21.5, 0.1 + 0.2, 1.0 / 3, 2.0 / 3, 1e-4, 9.9999e-5, 1e-5,
                123456.789, 9_999_999_999.5, 9_999_999_999.4, 999_999_999.95, 1e10, 1e15, 1.5e15, 1e300,
                Double.leastNonzeroMagnitude, Double.greatestFiniteMagnitude, 1.00000000005, 0.00012345678905,
                4_294_967_295.5, 65535.25, .pi, -.pi, .ulpOfOne,
            ]
            // What Modbus points produce: raw registers times a scale, plus an offset.
            for raw in stride(from: -32768, through: 65535, by: 7) {
                for scale in [0.1, 0.01, 0.001, 0.5, 1.0 / 3, 0.0625] {
                    values.append(Double(raw) * scale)
                    values.append(Double(raw) * scale + 273.15)
                }
            }
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<100_000 {
                let exponent = Double.random(in: -6...12, using: &generator)
                values.append((Bool.random(using: &generator) ? 1 : -1) * Double.random(in: 1..<10, using: &generator) * pow(10, exponent.rounded(.down)))
                values.append(Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &generator)))
            }
            var mismatches: [String] = []
            for v in values where v.isFinite {
                let written = Self.bytes { JSONText.appendDouble(v, to: &$0) }
                if written != Value.format(v) { mismatches.append("\(v): \(written) ≠ \(Value.format(v))") }
            }
            return mismatches
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(20))")
    }

    @Test("timestamps are written as Foundation's ISO 8601 formatter writes them, across centuries and leap days")
    func timestamps() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        var dates = [
            Date(timeIntervalSince1970: 0.0001), Date(timeIntervalSince1970: 951_782_400.5001),  // 2000-02-29
            Date(timeIntervalSince1970: 4_107_542_399.9991),
        ]  // 2100-02-28T23:59:59.999
        for _ in 0..<20_000 {
            // Whole milliseconds plus a tenth of one: rounding and truncation agree.
            let ms = Int64.random(in: 0...4_102_444_800_000)
            dates.append(Date(timeIntervalSince1970: Double(ms) / 1000 + 0.0001))
        }
        for date in dates {
            #expect(Timestamp.rfc3339(date) == formatter.string(from: date), "\(date.timeIntervalSince1970)")
        }
    }
}
