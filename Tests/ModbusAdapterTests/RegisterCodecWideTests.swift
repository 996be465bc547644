import DeviceMaps
import GatewayCore
import ModbusAdapter
import Testing

/// A holding-register point with the given layout.
private func point(
    _ type: ModbusDataType, _ name: String = "p", bit: Int? = nil, length: Int = 0,
    byteOrder: ByteOrder = .big, wordOrder: ByteOrder = .big, scale: Double = 1, unit: String? = nil
) -> PointDefinition {
    PointDefinition(
        name: name,
        address: ModbusAddress(
            table: .holding, offset: 0, type: type, byteOrder: byteOrder,
            wordOrder: wordOrder, length: length, bit: bit),
        scale: scale, unit: unit, access: .readwrite)
}

/// What a device does with a mask write (FC 22) of `payload`: the one bit changes.
private func applied(_ payload: ModbusPayload, to register: UInt16) throws -> UInt16 {
    guard case .registerBit(let bit, let on) = payload else { throw TestFailure("not a register bit: \(payload)") }
    let mask = UInt16(1) << bit
    return on ? register | mask : register & ~mask
}

/// The registers of a string, written as text (`\0` for NUL), two bytes each, first byte high.
private func text(_ s: String) -> [UInt16] {
    let bytes = Array(s.utf8)
    return stride(from: 0, to: bytes.count, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
}

private func decodeError(_ registers: [UInt16], _ point: PointDefinition) -> String? {
    do {
        let value = try RegisterCodec.decode(registers, for: point)
        Issue.record("decoded \(value), expected an error")
        return nil
    } catch {
        return error.description
    }
}

@Suite("RegisterCodec: register bits, 64-bit types, strings")
struct RegisterCodecWideTests {
    // MARK: Register bits

    @Test("a bit point reads its own bit of the register and no other", arguments: 0..<16)
    func eachBit(_ bit: Int) throws {
        let p = point(.bool, bit: bit)
        let only = UInt16(1) << bit
        #expect(try RegisterCodec.decode([only], for: p) == .bool(true))
        #expect(try RegisterCodec.decode([~only], for: p) == .bool(false))
        // Every other bit alone leaves it false.
        for other in 0..<16 where other != bit {
            #expect(try RegisterCodec.decode([UInt16(1) << other], for: p) == .bool(false), "bit \(other) set")
        }
    }

    @Test("byte_order little numbers the bits of the byte-swapped register")
    func bitByteOrder() throws {
        // 0x0100 on the wire is 0x0001 once swapped: bit 0 for a little point, bit 8 for a big one.
        #expect(try RegisterCodec.decode([0x0100], for: point(.bool, bit: 0, byteOrder: .little)) == .bool(true))
        #expect(try RegisterCodec.decode([0x0001], for: point(.bool, bit: 0, byteOrder: .little)) == .bool(false))
        #expect(try RegisterCodec.decode([0x0100], for: point(.bool, bit: 8)) == .bool(true))
        #expect(try RegisterCodec.decode([0x0001], for: point(.bool, bit: 8, byteOrder: .little)) == .bool(true))
        // Word order means nothing for one register.
        #expect(try RegisterCodec.decode([0x0100], for: point(.bool, bit: 8, wordOrder: .little)) == .bool(true))
    }

    @Test("a bit write is a .registerBit payload naming the bit on the wire")
    func bitPayload() throws {
        #expect(try RegisterCodec.encode(.bool(true), for: point(.bool, bit: 3), device: "d") == .registerBit(3, true))
        #expect(try RegisterCodec.encode(.bool(false), for: point(.bool, bit: 15), device: "d") == .registerBit(15, false))
        // Little byte order: bit 0 of the swapped register is bit 8 of the register sent.
        #expect(try RegisterCodec.encode(.bool(true), for: point(.bool, bit: 0, byteOrder: .little), device: "d") == .registerBit(8, true))
        #expect(try RegisterCodec.encode(.bool(true), for: point(.bool, bit: 12, byteOrder: .little), device: "d") == .registerBit(4, true))
        #expect(rejection(.int(1), point(.bool, "running", bit: 2)) == "boiler-1.running expects true or false, got 1")
    }

    @Test(
        "writing a bit and reading it back agree, and leave every other bit as it was",
        arguments: ByteOrder.allCases)
    func bitRoundTrip(_ byteOrder: ByteOrder) throws {
        for bit in 0..<16 {
            let p = point(.bool, bit: bit, byteOrder: byteOrder)
            let others = (0..<16).filter { $0 != bit }.map { point(.bool, bit: $0, byteOrder: byteOrder) }
            for register: UInt16 in [0x0000, 0xFFFF, 0x2A51] {
                for on in [true, false] {
                    let after = try applied(try RegisterCodec.encode(.bool(on), for: p, device: "d"), to: register)
                    #expect(try RegisterCodec.decode([after], for: p) == .bool(on), "bit \(bit) := \(on) in \(register)")
                    for other in others {
                        #expect(try RegisterCodec.decode([after], for: other) == RegisterCodec.decode([register], for: other))
                    }
                }
            }
        }
    }

    // MARK: 64-bit integers

    @Test("uint64 above Int64.max decodes to .double; up to it, to an exact .int")
    func uint64Wide() throws {
        let p = point(.uint64)
        #expect(try RegisterCodec.decode([0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], for: p) == .double(0x1p64))
        #expect(try RegisterCodec.decode([0x8000, 0x0000, 0x0000, 0x0000], for: p) == .double(0x1p63))
        #expect(try RegisterCodec.decode([0x7FFF, 0xFFFF, 0xFFFF, 0xFFFF], for: p) == .int(Int64.max))
        #expect(try RegisterCodec.decode([0x0020, 0x0000, 0x0000, 0x0001], for: p) == .int(9_007_199_254_740_993))
        // Scaled, the value is a double either way.
        #expect(try RegisterCodec.decode([0x0000, 0x0000, 0x0000, 0x0064], for: point(.uint64, scale: 0.01)) == .double(1))
    }

    @Test("int64 and uint64 writes of whole numbers above 2^53 are exact", arguments: [ModbusDataType.int64, .uint64])
    func exact64(_ type: ModbusDataType) throws {
        // 2^53 + 1 = 0x0020_0000_0000_0001 has no Double: through one it would become 2^53.
        let p = point(type)
        #expect(try RegisterCodec.encode(.int(9_007_199_254_740_993), for: p, device: "d") == .registers([0x0020, 0x0000, 0x0000, 0x0001]))
        #expect(try RegisterCodec.encode(.int(Int64.max), for: p, device: "d") == .registers([0x7FFF, 0xFFFF, 0xFFFF, 0xFFFF]))
        #expect(
            try RegisterCodec.encode(.int(0x0102_0304_0506_0708), for: point(type, byteOrder: .little, wordOrder: .little), device: "d")
                == .registers([0x0807, 0x0605, 0x0403, 0x0201]))
        // Read back as the same integers.
        #expect(try RegisterCodec.decode([0x0020, 0x0000, 0x0000, 0x0001], for: p) == .int(9_007_199_254_740_993))
    }

    @Test("int64 takes its whole range, from .int and from exact doubles")
    func int64Limits() throws {
        let p = point(.int64)
        #expect(try RegisterCodec.encode(.int(Int64.min), for: p, device: "d") == .registers([0x8000, 0x0000, 0x0000, 0x0000]))
        #expect(try RegisterCodec.encode(.double(-0x1p63), for: p, device: "d") == .registers([0x8000, 0x0000, 0x0000, 0x0000]))
        #expect(try RegisterCodec.encode(.int(-9_007_199_254_740_993), for: p, device: "d") == .registers([0xFFDF, 0xFFFF, 0xFFFF, 0xFFFF]))
        #expect(try RegisterCodec.decode([0x8000, 0x0000, 0x0000, 0x0000], for: p) == .int(Int64.min))
        #expect(try RegisterCodec.encode(.double(0x1p63), for: point(.uint64), device: "d") == .registers([0x8000, 0x0000, 0x0000, 0x0000]))
    }

    @Test("64-bit writes outside the register are rejected, naming device.point and the range")
    func outOfRange64() throws {
        let int64Range = "its int64 register holds -9223372036854775808 … 9223372036854775807"
        let uint64Range = "its uint64 register holds 0 … 18446744073709551615"
        // 2^63 is one above Int64.max, and an exact double.
        let above = try #require(rejection(.double(0x1p63), point(.int64, "balance")))
        #expect(above.hasPrefix("boiler-1.balance: 9.223372036854776e+18 is out of range"), "\(above)")
        #expect(above.hasSuffix(int64Range), "\(above)")
        #expect(rejection(.double(-0x1p64), point(.int64, "balance"))?.hasSuffix(int64Range) == true)
        #expect(rejection(.int(-1), point(.uint64, "total")) == "boiler-1.total: -1 is out of range: \(uint64Range)")
        #expect(rejection(.double(-1), point(.uint64, "total")) == "boiler-1.total: -1 is out of range: \(uint64Range)")
        #expect(rejection(.double(0x1p64), point(.uint64, "total"))?.hasSuffix(uint64Range) == true)
        // Scaled: the range in engineering units, and how it was derived.
        let scaled = try #require(rejection(.double(1e16), point(.int64, "energy", scale: 0.001, unit: "kWh")))
        #expect(
            scaled == "boiler-1.energy: 1e+16 kWh is out of range: its int64 register holds "
                + "-9.223372036854776e+15 … 9.223372036854774e+15 kWh with scale 0.001", "\(scaled)")
        let scaledUnsigned = try #require(rejection(.double(-0.5), point(.uint64, "energy", scale: 0.5)))
        #expect(scaledUnsigned.hasPrefix("boiler-1.energy: -0.5 is out of range: its uint64 register holds 0 … 9.22337203685477"), "\(scaledUnsigned)")
        #expect(scaledUnsigned.hasSuffix("with scale 0.5"))
    }

    // MARK: float64

    @Test(
        "float64 NaN and infinities decode to errors",
        arguments: [
            ([0x7FF8, 0x0000, 0x0000, 0x0000] as [UInt16], "NaN"),
            ([0x7FF0, 0x0000, 0x0000, 0x0000], "infinite"),
            ([0xFFF0, 0x0000, 0x0000, 0x0000], "infinite"),
        ])
    func float64Garbage(_ registers: [UInt16], _ word: String) throws {
        let message = try #require(decodeError(registers, point(.float64)))
        #expect(message.contains(word) && message.contains("float64"), "\(message)")
        // The same registers in little word order are just a tiny number.
        #expect(try RegisterCodec.decode(registers, for: point(.float64, wordOrder: .little)).numeric?.isFinite == true)
    }

    @Test("float64 writes keep full precision; non-finite values are rejected")
    func float64Writes() throws {
        let p = point(.float64, "gain")
        // 0.1 = 0x3FB999999999999A
        #expect(try RegisterCodec.encode(.double(0.1), for: p, device: "d") == .registers([0x3FB9, 0x9999, 0x9999, 0x999A]))
        #expect(try RegisterCodec.decode([0x3FB9, 0x9999, 0x9999, 0x999A], for: p) == .double(0.1))
        #expect(rejection(.double(.infinity), p) == "boiler-1.gain: inf is not a finite number")
        #expect(rejection(.double(.nan), p)?.contains("not a finite number") == true)
        // Scaled past Double's range.
        #expect(rejection(.double(1e300), point(.float64, "gain", scale: 1e-300))?.contains("out of range") == true)
    }

    @Test("float32's largest value, as it reads, can be written back")
    func float32Max() throws {
        let p = point(.float32)
        // 0x7F7FFFFF reads as 3.4028235e38, the shortest decimal that rounds to it.
        let read = try RegisterCodec.decode([0x7F7F, 0xFFFF], for: p)
        #expect(read == .double(3.4028235e38))
        #expect(try RegisterCodec.encode(read, for: p, device: "d") == .registers([0x7F7F, 0xFFFF]))
        // Beyond what rounds to it, the value does not fit.
        #expect(rejection(.double(3.5e38), point(.float32, "gain")) == "boiler-1.gain: 3.5e+38 is out of range for its float32 register")
    }

    // MARK: Strings

    @Test("strings lose trailing NULs and spaces, and end at the first NUL")
    func stringTrimming() throws {
        let p = point(.string, length: 4)
        #expect(try RegisterCodec.decode(text("AB\0\0\0\0\0\0"), for: p) == .string("AB"))
        #expect(try RegisterCodec.decode(text("AB      "), for: p) == .string("AB"))
        #expect(try RegisterCodec.decode(text("AB  \0\0\0\0"), for: p) == .string("AB"))
        #expect(try RegisterCodec.decode(text(" A B\0\0\0\0"), for: p) == .string(" A B"))
        #expect(try RegisterCodec.decode(text("ABCDEFGH"), for: p) == .string("ABCDEFGH"))
        // Whatever follows the first NUL is not text, even when it is not UTF-8.
        #expect(try RegisterCodec.decode(text("AB\0CDEFG"), for: p) == .string("AB"))
        #expect(try RegisterCodec.decode(text("AB\0C") + [0xFFFE, 0xC3C3], for: p) == .string("AB"))
        #expect(try RegisterCodec.decode(text("\0BCDEFGH"), for: p) == .string(""))
        // Little byte order: the first character in the low byte.
        #expect(try RegisterCodec.decode([0x4241, 0x0043, 0, 0], for: point(.string, length: 4, byteOrder: .little)) == .string("ABC"))
    }

    @Test("a string decodes from its slice of a larger answer, without the registers around it")
    func stringSlice() throws {
        let answer = text("xyAB-1\0\0zz")
        #expect(try RegisterCodec.decode(answer[1..<4], for: point(.string, length: 3)) == .string("AB-1"))
        #expect(try RegisterCodec.decode(answer[1..<3], for: point(.string, length: 2, byteOrder: .little)) == .string("BA1-"))
        #expect(throws: DecodeError.self) { try RegisterCodec.decode(answer[1..<3], for: point(.string, length: 3)) }
    }

    @Test("strings that are not UTF-8, or of the wrong length, decode to errors")
    func stringGarbage() throws {
        let p = point(.string, length: 2)
        // 0xC3 starts a two-byte sequence that '(' does not continue; 0xFF never occurs in UTF-8.
        #expect(decodeError([0x41C3, 0x2800], p)?.contains("not valid UTF-8") == true)
        #expect(decodeError([0xFF41, 0x0000], p)?.contains("not valid UTF-8") == true)
        // A character cut in half at the end of the registers.
        #expect(decodeError([0x4142, 0x43E2], p)?.contains("not valid UTF-8") == true)
        #expect(decodeError([0x4142], p) == "string[2] needs 2 register(s), got 1")
    }

    @Test("string writes: NUL padded, byte order applied, word order ignored")
    func stringWrites() throws {
        #expect(try RegisterCodec.encode(.string("AB-1"), for: point(.string, length: 4), device: "d") == .registers(text("AB-1\0\0\0\0")))
        #expect(
            try RegisterCodec.encode(.string("abc"), for: point(.string, length: 2, byteOrder: .little), device: "d")
                == .registers([0x6261, 0x0063]))
        #expect(
            try RegisterCodec.encode(.string("abc"), for: point(.string, length: 2, wordOrder: .little), device: "d")
                == .registers([0x6162, 0x6300]))
        // Exactly full: no terminating NUL needed.
        #expect(
            try RegisterCodec.encode(.string("h\u{e9}llo"), for: point(.string, length: 3), device: "d")
                == .registers([0x68C3, 0xA96C, 0x6C6F]))
        #expect(try RegisterCodec.encode(.string(""), for: point(.string, length: 2), device: "d") == .registers([0, 0]))
    }

    @Test("string writes that do not fit, contain NUL or are not text are rejected")
    func stringRejections() throws {
        let tag = point(.string, "tag", length: 2)
        #expect(rejection(.string("h\u{e9}llo"), tag) == "boiler-1.tag: the text is 6 bytes long, and its 2 register(s) hold at most 4")
        #expect(rejection(.string("abcde"), tag) == "boiler-1.tag: the text is 5 bytes long, and its 2 register(s) hold at most 4")
        #expect(rejection(.string("a\u{0}b"), tag) == "boiler-1.tag: the text contains a NUL character, which ends a string in registers")
        #expect(rejection(.int(12), tag) == "boiler-1.tag expects text, got 12")
    }

    @Test("stringRegisters cuts text at a character boundary")
    func stringCut() {
        // é is two bytes: after 'h' one byte is left, so the text stops there.
        #expect(RegisterCodec.stringRegisters("h\u{e9}llo", count: 1, byteOrder: .big) == [0x6800])
        #expect(RegisterCodec.stringRegisters("h\u{e9}llo", count: 2, byteOrder: .big) == [0x68C3, 0xA96C])
        #expect(RegisterCodec.stringRegisters("h\u{e9}llo", count: 2, byteOrder: .little) == [0xC368, 0x6CA9])
        // € is three bytes.
        #expect(RegisterCodec.stringRegisters("a\u{20AC}", count: 1, byteOrder: .big) == [0x6100])
        // A character of several scalars is kept whole or left out: a flag (two regional
        // indicators, 8 bytes), an e with a combining acute accent (3 bytes).
        #expect(RegisterCodec.stringRegisters("\u{1F1E9}\u{1F1EA}", count: 2, byteOrder: .big) == [0, 0])
        #expect(RegisterCodec.stringRegisters("xe\u{301}", count: 1, byteOrder: .big) == [0x7800])
        // What was cut decodes as valid text.
        for count in 1...5 {
            let registers = RegisterCodec.stringRegisters("h\u{e9}llo w\u{F6}rld \u{1F1E9}\u{1F1EA}", count: count, byteOrder: .big)
            #expect(throws: Never.self) { try RegisterCodec.decode(registers, for: point(.string, length: count)) }
        }
    }

    // MARK: Nearest payload (simulator)

    @Test("nearestPayload clamps at the 64-bit limits and never traps")
    func nearest64() throws {
        let int64 = point(.int64), uint64 = point(.uint64)
        // The largest doubles below 2^63 and 2^64.
        #expect(RegisterCodec.nearestPayload(for: 1e30, point: int64) == .registers([0x7FFF, 0xFFFF, 0xFFFF, 0xFC00]))
        #expect(RegisterCodec.nearestPayload(for: 0x1p63, point: int64) == .registers([0x7FFF, 0xFFFF, 0xFFFF, 0xFC00]))
        #expect(RegisterCodec.nearestPayload(for: -1e30, point: int64) == .registers([0x8000, 0x0000, 0x0000, 0x0000]))
        #expect(RegisterCodec.nearestPayload(for: 1e30, point: uint64) == .registers([0xFFFF, 0xFFFF, 0xFFFF, 0xF800]))
        #expect(RegisterCodec.nearestPayload(for: -5, point: uint64) == .registers([0, 0, 0, 0]))
        for value in [Double.infinity, -.infinity, .nan, .greatestFiniteMagnitude, -.greatestFiniteMagnitude] {
            for p in [int64, uint64, point(.int64, scale: 1e-300), point(.uint64, wordOrder: .little, scale: 0.001), point(.float64)] {
                let payload = RegisterCodec.nearestPayload(for: value, point: p)
                guard case .registers(let registers) = payload else {
                    Issue.record("\(payload)")
                    continue
                }
                #expect(try RegisterCodec.decode(registers, for: p).numeric?.isFinite == true, "\(value) \(p.address)")
            }
        }
        #expect(RegisterCodec.nearestPayload(for: .infinity, point: point(.float64)) == .registers([0x7FEF, 0xFFFF, 0xFFFF, 0xFFFF]))
        #expect(RegisterCodec.nearestPayload(for: 2.5, point: point(.float64, wordOrder: .little)) == .registers([0, 0, 0, 0x4004]))
    }

    @Test("nearestPayload of strings and bits")
    func nearestOthers() throws {
        #expect(RegisterCodec.nearestPayload(for: 21.5, point: point(.string, length: 3)) == .registers(text("21.5\0\0")))
        #expect(RegisterCodec.nearestPayload(for: 1, point: point(.bool, bit: 4)) == .registerBit(4, true))
        #expect(RegisterCodec.nearestPayload(for: 0, point: point(.bool, bit: 4)) == .registerBit(4, false))
        #expect(RegisterCodec.nearestPayload(for: 1, point: point(.bool, bit: 4, byteOrder: .little)) == .registerBit(12, true))
    }
}
