/// The random numbers behind a door's schedule, the same on every machine and in every process.
///
/// Swift's `SystemRandomNumberGenerator` cannot be seeded, the standard library has no seeded
/// generator, and `hashValue` changes from process to process, so the door simulation brings
/// its own well-known algorithms: FNV-1a (64 bit) to turn a door name into a number,
/// SplitMix64 to spread a seed into a generator state, and xoshiro256** (Blackman and Vigna)
/// for the stream itself. All three use only 64-bit integer arithmetic, which is exact.
public struct DoorRandom: Sendable, Hashable {
    private var s0, s1, s2, s3: UInt64

    /// The stream of door `door` under `seed`: the seed and the name's FNV-1a hash, combined
    /// by exclusive or, seed SplitMix64, whose first four outputs are the xoshiro256** state
    /// (the seeding its authors recommend; it never yields the all-zero state in practice).
    public init(seed: UInt64, door: String) {
        var mixer = seed ^ Self.fnv1a(door)
        s0 = Self.splitMix64(&mixer)
        s1 = Self.splitMix64(&mixer)
        s2 = Self.splitMix64(&mixer)
        s3 = Self.splitMix64(&mixer)
    }

    /// The next 64 random bits (xoshiro256**).
    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    /// A uniform number in (0, 1]: the top 53 bits plus one, times 2⁻⁵³, both exact in a
    /// `Double`; never 0, so its logarithm is finite.
    public mutating func unitInterval() -> Double {
        Double((next() >> 11) + 1) * 0x1p-53
    }

    /// An exponentially distributed duration in whole milliseconds with mean `mean`
    /// milliseconds, at least 1 (so that two events of a door are never at the same instant
    /// unless the schedule says so): −mean · ln(u) by inversion, with `DoorRandom.log`.
    public mutating func exponentialMilliseconds(mean: Int64) -> Int64 {
        let x = -Double(mean) * Self.log(unitInterval())
        return max(1, Int64(x.rounded()))
    }

    /// The 64-bit FNV-1a hash of the UTF-8 bytes of `text`.
    public static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// One SplitMix64 step (Steele, Lea and Flood).
    static func splitMix64(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// The natural logarithm of a positive finite `x`, computed with nothing but IEEE 754
    /// addition, multiplication and division, each correctly rounded by the standard, so
    /// that every machine gets the same bits (libm's `log` may differ in the last bit from
    /// one C library or processor to another). `x` = m · 2ᵉ with m in [1, 2) (exact), then
    /// ln x = e · ln 2 + 2 · atanh((m − 1)/(m + 1)), the series summed to a fixed 24 terms
    /// (|s| ≤ 1/3: the terms fall below 10⁻²⁰). Accurate to a few units in the last place.
    public static func log(_ x: Double) -> Double {
        precondition(x > 0 && x.isFinite, "log of \(x)")
        let exponent = Double(x.exponent)
        let m = x.significand
        let s = (m - 1) / (m + 1)
        let s2 = s * s
        var term = s
        var sum = 0.0
        for k in 0..<24 {
            sum += term / Double(2 * k + 1)
            term *= s2
        }
        return exponent * 0.693_147_180_559_945_3 + 2 * sum
    }
}

private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 {
    (x << k) | (x >> (64 - k))
}
