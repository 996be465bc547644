import Foundation
import GatewayCore
import TestSupport
import Testing

@Suite("RFC 3339 timestamps")
struct TimestampTests {
    /// The general parser, with a formatter: what the fast path must agree with.
    func formatter(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: text)
    }

    @Test("the layout edgegate writes is read without a formatter, to the same instant, over centuries and leap days")
    func ownLayout() {
        var generator = SplitMix64(seed: 17)
        for _ in 0..<2000 {
            // 1900…2200, to the millisecond.
            let ms = Int64(generator.next() % UInt64(9_467_280_000_000)) - 2_208_988_800_000
            let date = Date(timeIntervalSince1970: Double(ms) / 1000)
            let text = Timestamp.rfc3339(date)
            #expect(Timestamp.parse(text) == formatter(text), "\(text)")
        }
        for text in ["2024-02-29T23:59:59.999Z", "2000-02-29T00:00:00.000Z", "1970-01-01T00:00:00.000Z", "2100-03-01T12:00:00.001Z"] {
            #expect(Timestamp.parse(text) == formatter(text), "\(text)")
        }
    }

    @Test("other RFC 3339 forms still parse; malformed text does not")
    func otherForms() {
        #expect(Timestamp.parse("2026-12-07T23:50:01+01:00") == Date(timeIntervalSince1970: 1_796_683_801))
        #expect(Timestamp.parse("2026-12-07T22:50:01.5Z") == Date(timeIntervalSince1970: 1_796_683_801.5))
        for bad in ["2026-13-07T22:50:01.000Z", "2026-12-07 22:50:01.000Z", "2026-12-07T22:50:0x.000Z", ""] {
            #expect(Timestamp.parse(bad) == nil, "\(bad)")
        }
    }
}
