import Testing

@testable import DerivedAdapter

@Suite("counter increases: wraps from the source type, other falls as resets")
struct CounterIncreaseTests {
    @Test("a uint16 counter past 65535 wraps; a fall of less than half its range is a reset; without a modulus every fall is a reset")
    func wrapsAndResets() {
        #expect(CounterIncrease.between(100, 130, modulus: 65_536) == 30)
        #expect(CounterIncrease.between(65_530, 4, modulus: 65_536) == 10)
        #expect(CounterIncrease.between(65_535, 0, modulus: 65_536) == 1)
        #expect(CounterIncrease.between(30_000, 12, modulus: 65_536) == 12)
        #expect(CounterIncrease.between(65_530, 4, modulus: nil) == 4)
        #expect(CounterIncrease.between(4_294_967_290, 5, modulus: 4_294_967_296) == 11)
        #expect(CounterIncrease.modulus(ofType: "uint16") == 65_536)
        #expect(CounterIncrease.modulus(ofType: "float32") == nil)
    }
}
