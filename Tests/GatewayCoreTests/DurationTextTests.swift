import GatewayCore
import Testing

@Suite("Duration text")
struct DurationTextTests {
    @Test("Whole milliseconds print in the largest whole unit, else in seconds with their fraction, the way a map writes them")
    func largestWholeUnit() {
        let cases: [(Duration, String)] = [
            (.milliseconds(500), "500ms"), (.seconds(2), "2s"), (.milliseconds(1500), "1.5s"),
            (.seconds(90), "90s"), (.seconds(120), "2m"), (.seconds(5400), "90m"), (.seconds(7200), "2h"),
            (.milliseconds(250), "250ms"), (.zero, "0s"), (.milliseconds(60_500), "60.5s"), (.milliseconds(1001), "1.001s"), (.milliseconds(999), "999ms"),
        ]
        for (duration, text) in cases {
            #expect(duration.mapText == text, "\(duration)")
        }
    }

    @Test("Parts below a millisecond round to the nearest one (a measured overrun, say)")
    func subMillisecondRounds() {
        #expect((Duration.milliseconds(1234) + .microseconds(567)).mapText == "1.235s")
        #expect((Duration.milliseconds(1234) + .microseconds(499)).mapText == "1.234s")
        #expect((Duration.seconds(2) - .microseconds(1)).mapText == "2s")
    }
}

extension DurationTextTests {
    @Test("What the printer writes parses back to the same duration as a map's duration")
    func roundTrip() throws {
        for ms in [0, 1, 999, 1000, 1001, 1500, 59_999, 60_000, 60_500, 61_000, 3_600_000, 5_400_000, 86_400_000] as [Int64] {
            let text = Duration.milliseconds(ms).mapText
            // A map's duration: a number and one of ms, s, m, h.
            let match = try #require(text.wholeMatch(of: /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/), "\(text)")
            let factor: Double = ["ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000][String(match.2)]!
            #expect(Int64((Double(String(match.1))! * factor).rounded()) == ms, "\(ms) ms printed as \(text)")
        }
    }
}
