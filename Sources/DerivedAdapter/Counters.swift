/// How much a counter went up from one reading to the next, for `rate` windows and OEE counts.
///
/// A counter only counts up; a reading below the one before is either a wrap (a 16-bit
/// register past 65535 starts again at 0) or a reset (the machine's counter was cleared, at a
/// shift change or a power cycle). With the source's `modulus` (65536 for a `uint16` point,
/// 2³² for `uint32`), a fall of more than half the range is a wrap: the counter went on past
/// its top. Any other fall, and every fall of a counter without a modulus, is a reset: the
/// counter started again from zero, so it went up by its new value.
enum CounterIncrease {
    /// The increase from `previous` to `current`.
    static func between(_ previous: Double, _ current: Double, modulus: Double?) -> Double {
        if current >= previous { return current - previous }
        if let modulus, previous - current > modulus / 2 {
            return current + modulus - previous
        }
        return max(0, current)
    }

    /// The wrap of a counter of type `typeName` (`uint16`, `uint32`, `int16`, …), when its
    /// values are whole numbers of a fixed width; nil for other types (floats, int64, text).
    static func modulus(ofType typeName: String) -> Double? {
        switch typeName {
        case "uint16": return 65_536
        case "uint32": return 4_294_967_296
        default: return nil
        }
    }
}
