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
        // The layout `rfc3339` writes (`2026-12-07T23:50:01.123Z`) is read without a formatter:
        // the uplink reads every reading's time back this way (sparkplug-b), and a formatter
        // costs tens of microseconds.
        if let d = parseMillisecondsUTC(text) { return d }
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = withFraction.date(from: text) { return d }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        return plain.date(from: text)
    }
}

extension Timestamp {
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` exactly, else nil (the general parser takes the rest).
    static func parseMillisecondsUTC(_ text: String) -> Date? {
        text.utf8.withContiguousStorageIfAvailable { b -> Date? in
            guard b.count == 24, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A, b[19] == 0x2E, b[23] == 0x5A
            else { return nil }
            func number(_ from: Int, _ count: Int) -> Int? {
                var n = 0
                for i in from..<from + count {
                    let d = Int(b[i]) - 48
                    guard d >= 0 && d <= 9 else { return nil }
                    n = n * 10 + d
                }
                return n
            }
            guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
                let minute = number(14, 2), let second = number(17, 2), let millis = number(20, 3),
                (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
            else { return nil }
            // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
            let y = month <= 2 ? year - 1 : year
            let era = (y >= 0 ? y : y - 399) / 400
            let yoe = y - era * 400
            let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
            let days = era * 146097 + doe - 719468
            let seconds = ((days * 24 + hour) * 60 + minute) * 60 + second
            return Date(timeIntervalSince1970: Double(seconds) + Double(millis) / 1000)
        } ?? nil
    }
}

extension Duration {
    /// The duration in seconds, for APIs that take a `TimeInterval` and for figures.
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}
