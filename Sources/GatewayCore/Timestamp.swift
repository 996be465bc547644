public import Foundation

/// RFC 3339 timestamps in UTC with milliseconds, the wire format of every `ts`.
public enum Timestamp {
    /// Formats `2026-11-23T14:00:00.123Z`.
    public static func rfc3339(_ date: Date) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        appendRFC3339(date, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `2026-11-23T14:00:00.123Z` as bytes, without a `String` in between.
    public static func appendRFC3339(_ date: Date, to bytes: inout [UInt8]) {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var seconds = time_t(ms / 1000)
        let millis = Int(ms % 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // Built by hand: this runs for every poll, and String(format:) costs microseconds.
        func put(_ value: Int, _ width: Int) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var v = value
            while divisor > 0 {
                bytes.append(UInt8(48 + (v / divisor) % 10))
                v %= divisor
                divisor /= 10
            }
        }
        put(Int(parts.tm_year) + 1900, 4)
        bytes.append(UInt8(ascii: "-"))
        put(Int(parts.tm_mon) + 1, 2)
        bytes.append(UInt8(ascii: "-"))
        put(Int(parts.tm_mday), 2)
        bytes.append(UInt8(ascii: "T"))
        put(Int(parts.tm_hour), 2)
        bytes.append(UInt8(ascii: ":"))
        put(Int(parts.tm_min), 2)
        bytes.append(UInt8(ascii: ":"))
        put(Int(parts.tm_sec), 2)
        bytes.append(UInt8(ascii: "."))
        put(millis, 3)
        bytes.append(UInt8(ascii: "Z"))
    }

    /// Parses RFC 3339 with or without fractional seconds and with any offset; nil if malformed.
    public static func parse(_ text: String) -> Date? {
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = withFraction.date(from: text) { return d }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        return plain.date(from: text)
    }
}

extension Duration {
    /// The duration in seconds, for APIs that take a `TimeInterval` and for figures.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
