import GatewayCore
import Testing

@Suite("Duration text")
struct DurationTextTests {
    @Test("Whole milliseconds print in the largest whole unit, the way a map writes them")
    func largestWholeUnit() {
        let cases: [(Duration, String)] = [
            (.milliseconds(500), "500ms"), (.seconds(2), "2s"), (.milliseconds(1500), "1500ms"),
            (.seconds(90), "90s"), (.seconds(120), "2m"), (.seconds(5400), "90m"), (.seconds(7200), "2h"),
            (.milliseconds(250), "250ms"), (.zero, "0s"), (.milliseconds(60_500), "60500ms"),
        ]
        for (duration, text) in cases {
            #expect(duration.mapText == text, "\(duration)")
        }
    }

    @Test("Parts below a millisecond round to the nearest one (a measured overrun, say)")
    func subMillisecondRounds() {
        #expect((Duration.milliseconds(1234) + .microseconds(567)).mapText == "1235ms")
        #expect((Duration.milliseconds(1234) + .microseconds(499)).mapText == "1234ms")
        #expect((Duration.seconds(2) - .microseconds(1)).mapText == "2s")
    }
}
