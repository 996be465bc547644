import DeviceMaps
import GatewayCore
import Testing

@testable import ModbusAdapter

/// One row of the codec table: a raw value, how it is laid out, and the registers it must
/// produce on the wire. Register arrays are derived by hand in the comments of `rows`.
struct CodecRow: Sendable, CustomTestStringConvertible {
    var type: ModbusDataType
    var byteOrder: ByteOrder
    var wordOrder: ByteOrder
    var value: Value
    var registers: [UInt16]

    var testDescription: String {
        "\(type.rawValue) \(value) bytes=\(byteOrder.rawValue) words=\(wordOrder.rawValue)"
    }

    var point: PointDefinition {
        PointDefinition(
            name: "p",
            address: ModbusAddress(
                table: .holding, offset: 0, type: type,
                byteOrder: byteOrder, wordOrder: wordOrder))
    }
}

/// Expands one value into its four layouts.
/// `bb` = big bytes/big words (Modbus default), `bw` = big bytes/little words,
/// `lb` = little bytes/big words, `ll` = little bytes/little words.
private func layouts(
    _ type: ModbusDataType, _ value: Value,
    bb: [UInt16], bw: [UInt16], lb: [UInt16], ll: [UInt16]
) -> [CodecRow] {
    [
        CodecRow(type: type, byteOrder: .big, wordOrder: .big, value: value, registers: bb),
        CodecRow(type: type, byteOrder: .big, wordOrder: .little, value: value, registers: bw),
        CodecRow(type: type, byteOrder: .little, wordOrder: .big, value: value, registers: lb),
        CodecRow(type: type, byteOrder: .little, wordOrder: .little, value: value, registers: ll),
    ]
}

private let rows: [CodecRow] =
    // int16 300 = 0x012C. Little byte order swaps the two bytes: 0x2C01. Word order has no
    // effect on a single register.
    layouts(.int16, .int(300), bb: [0x012C], bw: [0x012C], lb: [0x2C01], ll: [0x2C01])
    // int16 −2 = two's complement 0xFFFE → bytes swapped 0xFEFF.
    + layouts(.int16, .int(-2), bb: [0xFFFE], bw: [0xFFFE], lb: [0xFEFF], ll: [0xFEFF])
    // int16 −32768 = 0x8000 → 0x0080.
    + layouts(.int16, .int(-32768), bb: [0x8000], bw: [0x8000], lb: [0x0080], ll: [0x0080])
    // uint16 4660 = 0x1234 → 0x3412.
    + layouts(.uint16, .int(4660), bb: [0x1234], bw: [0x1234], lb: [0x3412], ll: [0x3412])
    // uint16 65535 = 0xFFFF, the same in every order (and not −1: unsigned).
    + layouts(.uint16, .int(65535), bb: [0xFFFF], bw: [0xFFFF], lb: [0xFFFF], ll: [0xFFFF])
    // int32 305419896 = 0x12345678: high word 0x1234, low word 0x5678.
    // little words: [low, high]; little bytes: each word swapped (0x3412, 0x7856); both: both.
    + layouts(
        .int32, .int(305_419_896), bb: [0x1234, 0x5678], bw: [0x5678, 0x1234],
        lb: [0x3412, 0x7856], ll: [0x7856, 0x3412])
    // int32 −2 = 0xFFFFFFFE: high 0xFFFF, low 0xFFFE (swapped: 0xFEFF).
    + layouts(
        .int32, .int(-2), bb: [0xFFFF, 0xFFFE], bw: [0xFFFE, 0xFFFF],
        lb: [0xFFFF, 0xFEFF], ll: [0xFEFF, 0xFFFF])
    // int32 −100000 = 0xFFFE7960 (100000 = 0x000186A0, inverted 0xFFFE795F, +1).
    + layouts(
        .int32, .int(-100_000), bb: [0xFFFE, 0x7960], bw: [0x7960, 0xFFFE],
        lb: [0xFEFF, 0x6079], ll: [0x6079, 0xFEFF])
    // uint32 4000000000 = 0xEE6B2800: above Int32.max, must stay positive.
    + layouts(
        .uint32, .int(4_000_000_000), bb: [0xEE6B, 0x2800], bw: [0x2800, 0xEE6B],
        lb: [0x6BEE, 0x0028], ll: [0x0028, 0x6BEE])
    // float32 21.5 = 1.34375 × 2⁴: sign 0, exponent 127+4 = 0x83, fraction .01011 →
    // 0 10000011 0101100… = 0x41AC0000.
    + layouts(
        .float32, .double(21.5), bb: [0x41AC, 0x0000], bw: [0x0000, 0x41AC],
        lb: [0xAC41, 0x0000], ll: [0x0000, 0xAC41])
    // float32 −1.5 = −1.1b × 2⁰: sign 1, exponent 0x7F, fraction .1 → 0xBFC00000.
    + layouts(
        .float32, .double(-1.5), bb: [0xBFC0, 0x0000], bw: [0x0000, 0xBFC0],
        lb: [0xC0BF, 0x0000], ll: [0x0000, 0xC0BF])
    // float32 0.1 = 0x3DCCCCCD (rounded up in the last bit); decodes as 0.1, not 0.100000001.
    + layouts(
        .float32, .double(0.1), bb: [0x3DCC, 0xCCCD], bw: [0xCCCD, 0x3DCC],
        lb: [0xCC3D, 0xCDCC], ll: [0xCDCC, 0xCC3D])
    // bool in a register: read as zero / non-zero, so it is written as 1 or 0 in every order.
    + layouts(.bool, .bool(true), bb: [0x0001], bw: [0x0001], lb: [0x0001], ll: [0x0001])
    + layouts(.bool, .bool(false), bb: [0x0000], bw: [0x0000], lb: [0x0000], ll: [0x0000])

@Suite("RegisterCodec")
struct RegisterCodecTests {
    @Test("decodes every type in every byte and word order", arguments: rows)
    func decodes(_ row: CodecRow) throws {
        #expect(try RegisterCodec.decode(row.registers, for: row.point) == row.value)
    }

    @Test("decodes a point in place, from its slice of a larger answer, as from its own registers", arguments: rows)
    func decodesSlice(_ row: CodecRow) throws {
        // The block's other registers lie around it, and the slice does not start at index 0.
        let answer: [UInt16] = [0xDEAD, 0xBEEF, 0x8001] + row.registers + [0xFFFF, 0x7F80]
        let slice = answer[3..<3 + row.registers.count]
        #expect(try RegisterCodec.decode(slice, for: row.point) == row.value)
    }

    @Test("encodes every type in every byte and word order", arguments: rows)
    func encodes(_ row: CodecRow) throws {
        #expect(try RegisterCodec.encode(row.value, for: row.point, device: "d") == .registers(row.registers))
    }

    @Test("a register-backed bool is true for any non-zero register")
    func boolRegister() throws {
        let point = PointDefinition(name: "b", address: ModbusAddress(table: .input, offset: 0, type: .bool, byteOrder: .little))
        #expect(try RegisterCodec.decode([0x0100], for: point) == .bool(true))
        #expect(try RegisterCodec.decode([0x8000], for: point) == .bool(true))
        #expect(try RegisterCodec.decode([0], for: point) == .bool(false))
    }

    @Test("bits of coil and discrete tables")
    func bits() throws {
        let coil = PointDefinition(name: "pump", address: ModbusAddress(table: .coil, offset: 3, type: .bool), access: .readwrite)
        #expect(RegisterCodec.decode(bit: true, for: coil) == .bool(true))
        #expect(RegisterCodec.decode(bit: false, for: coil) == .bool(false))
        #expect(try RegisterCodec.encode(.bool(true), for: coil, device: "d") == .bit(true))
        #expect(try RegisterCodec.encode(.bool(false), for: coil, device: "d") == .bit(false))
    }

    // MARK: Scale and offset

    private func scaled(
        _ type: ModbusDataType, scale: Double, offset: Double = 0,
        wordOrder: ByteOrder = .big, unit: String? = "°C"
    ) -> PointDefinition {
        PointDefinition(
            name: "setpoint", address: ModbusAddress(table: .holding, offset: 1, type: type, wordOrder: wordOrder),
            scale: scale, offset: offset, unit: unit, access: .readwrite)
    }

    @Test("scale turns integers into doubles, both ways")
    func scaleBothWays() throws {
        let point = scaled(.int16, scale: 0.1)
        // raw 215 = 0x00D7 → 21.5 (exactly, not 21.500000000000004)
        #expect(try RegisterCodec.decode([0x00D7], for: point) == .double(21.5))
        #expect(try RegisterCodec.encode(.double(21.5), for: point, device: "boiler-1") == .registers([0x00D7]))
        // raw 3 → 0.3 (3 × 0.1 would give 0.30000000000000004)
        #expect(try RegisterCodec.decode([0x0003], for: point) == .double(0.3))
        // raw −55 = 0xFFC9 → −5.5
        #expect(try RegisterCodec.decode([0xFFC9], for: point) == .double(-5.5))
        #expect(try RegisterCodec.encode(.double(-5.5), for: point, device: "boiler-1") == .registers([0xFFC9]))
        // An integer engineering value is accepted for a scaled point: 20 → raw 200 = 0x00C8.
        #expect(try RegisterCodec.encode(.int(20), for: point, device: "boiler-1") == .registers([0x00C8]))
    }

    @Test("offset is applied after scale and removed before it")
    func offset() throws {
        // engineering = raw × 0.5 − 40: raw 100 = 0x0064 → 10; raw 0 → −40.
        let point = scaled(.uint16, scale: 0.5, offset: -40)
        #expect(try RegisterCodec.decode([0x0064], for: point) == .double(10))
        #expect(try RegisterCodec.decode([0x0000], for: point) == .double(-40))
        #expect(try RegisterCodec.encode(.double(10), for: point, device: "d") == .registers([0x0064]))
        // An offset alone also makes the point "scaled": result is a double.
        let shifted = scaled(.int16, scale: 1, offset: 273)
        #expect(try RegisterCodec.decode([0x0005], for: shifted) == .double(278))
    }

    @Test("uint32 energy with scale 0.01 and little word order")
    func energy() throws {
        // raw 123456 = 0x0001E240 → words [0x0001, 0xE240], little word order [0xE240, 0x0001]
        let point = scaled(.uint32, scale: 0.01, wordOrder: .little, unit: "kWh")
        #expect(try RegisterCodec.decode([0xE240, 0x0001], for: point) == .double(1234.56))
        #expect(try RegisterCodec.encode(.double(1234.56), for: point, device: "meter-7") == .registers([0xE240, 0x0001]))
    }

    @Test("scaled float32")
    func scaledFloat() throws {
        // raw 21.5 (0x41AC0000) × 2 + 1 = 44
        let point = scaled(.float32, scale: 2, offset: 1)
        #expect(try RegisterCodec.decode([0x41AC, 0x0000], for: point) == .double(44))
        #expect(try RegisterCodec.encode(.double(44), for: point, device: "d") == .registers([0x41AC, 0x0000]))
    }

    @Test("unscaled integers read as .int, scaled ones as .double")
    func resultKinds() throws {
        let plain = PointDefinition(name: "mode", address: ModbusAddress(table: .holding, offset: 0, type: .uint16))
        #expect(try RegisterCodec.decode([7], for: plain) == .int(7))
        let withScale = PointDefinition(name: "mode", address: ModbusAddress(table: .holding, offset: 0, type: .uint16), scale: 10)
        #expect(try RegisterCodec.decode([7], for: withScale) == .double(70))
    }

    @Test("a value within rounding noise of a scale step is accepted")
    func tolerance() throws {
        let point = scaled(.int16, scale: 0.1)
        #expect(try RegisterCodec.encode(.double(21.500000001), for: point, device: "d") == .registers([215]))
    }

    // MARK: Rejections

    @Test("a value that is not a multiple of the scale is rejected, naming device, point and value")
    func notMultiple() throws {
        let message = try #require(rejection(.double(21.55), scaled(.int16, scale: 0.1)))
        #expect(message == "boiler-1.setpoint: 21.55 °C is not a multiple of the scale 0.1")
        // Large raw values must not be rounded silently either: 12345.6789 on a 0.01 scale.
        #expect(rejection(.double(12345.6789), scaled(.uint32, scale: 0.01)) != nil)
        // ...while exact multiples pass despite binary rounding (1234567.89 = 123456789 × 0.01).
        #expect(rejection(.double(1234567.89), scaled(.uint32, scale: 0.01)) == nil)
        #expect(rejection(.double(21.5), scaled(.int16, scale: 0.1)) == nil)
    }

    @Test("a value outside the register's range is rejected with the range in engineering units")
    func outOfRange() throws {
        let message = try #require(rejection(.double(4000), scaled(.int16, scale: 0.1)))
        #expect(message.hasPrefix("boiler-1.setpoint: 4000 °C is out of range"))
        #expect(message.contains("int16"))
        #expect(message.contains("-3276.8 … 3276.7 °C"))
        #expect(message.contains("scale 0.1"))

        let unsigned = PointDefinition(name: "mode", address: ModbusAddress(table: .holding, offset: 2, type: .uint16), access: .readwrite)
        let negative = try #require(rejection(.int(-1), unsigned))
        #expect(negative.contains("boiler-1.mode: -1 is out of range"))
        #expect(negative.contains("0 … 65535"))

        let offsetPoint = scaled(.uint16, scale: 0.5, offset: -40)
        let below = try #require(rejection(.double(-41), offsetPoint))
        #expect(below.contains("-40 … 32727.5 °C"), "\(below)")
        #expect(below.contains("offset -40"))

        let wide = PointDefinition(name: "preset", address: ModbusAddress(table: .holding, offset: 0, type: .int32), access: .readwrite)
        #expect(rejection(.int(2_147_483_648), wide)?.contains("-2147483648 … 2147483647") == true)
        #expect(try RegisterCodec.encode(.int(2_147_483_647), for: wide, device: "d") == .registers([0x7FFF, 0xFFFF]))
    }

    @Test("float32 outside Float's range, non-finite values and wrong kinds are rejected")
    func otherRejections() throws {
        let float = PointDefinition(name: "gain", address: ModbusAddress(table: .holding, offset: 0, type: .float32), access: .readwrite)
        #expect(rejection(.double(1e39), float) == "boiler-1.gain: 1e+39 is out of range for its float32 register")
        #expect(rejection(.double(.nan), float)?.contains("not a finite number") == true)
        #expect(rejection(.bool(true), float)?.contains("expects a number") == true)
        #expect(rejection(.string("x"), float)?.contains("expects a number") == true)
        let coil = PointDefinition(name: "pump", address: ModbusAddress(table: .coil, offset: 0, type: .bool), access: .readwrite)
        #expect(rejection(.int(1), coil) == "boiler-1.pump expects true or false, got 1")
        let zero = PointDefinition(name: "z", address: ModbusAddress(table: .holding, offset: 0, type: .int16), scale: 0, access: .readwrite)
        #expect(rejection(.int(1), zero)?.contains("scale 0") == true)
    }

    // MARK: Garbage in

    @Test("NaN, infinity and wrong register counts decode to errors, not crashes")
    func garbage() {
        let float = PointDefinition(name: "flow", address: ModbusAddress(table: .input, offset: 0, type: .float32))
        // 0x7FC00000 is the quiet NaN, 0x7F800000 is +infinity.
        #expect(throws: DecodeError.self) { try RegisterCodec.decode([0x7FC0, 0x0000], for: float) }
        #expect(throws: DecodeError.self) { try RegisterCodec.decode([0x7F80, 0x0000], for: float) }
        #expect(throws: DecodeError.self) { try RegisterCodec.decode([0x41AC], for: float) }
        #expect(throws: DecodeError.self) { try RegisterCodec.decode([], for: float) }
        do {
            _ = try RegisterCodec.decode([0x7FC0, 0x0000], for: float)
        } catch {
            #expect(error.description.contains("NaN"))
        }
        // The largest finite float (0x7F7FFFFF ≈ 3.4e38) times scale 1e300 overflows Double.
        let huge = PointDefinition(name: "flow", address: ModbusAddress(table: .input, offset: 0, type: .float32), scale: 1e300)
        #expect(throws: DecodeError.self) { try RegisterCodec.decode([0x7F7F, 0xFFFF], for: huge) }
    }

    // MARK: Nearest payload (simulator)

    @Test("nearestPayload rounds to the closest step and clamps to the type")
    func nearest() {
        let point = scaled(.int16, scale: 0.1)
        #expect(RegisterCodec.nearestPayload(for: 21.57, point: point) == .registers([216]))
        #expect(RegisterCodec.nearestPayload(for: 1e9, point: point) == .registers([0x7FFF]))
        #expect(RegisterCodec.nearestPayload(for: -1e9, point: point) == .registers([0x8000]))
        #expect(RegisterCodec.nearestPayload(for: .nan, point: point) == .registers([0]))
        let coil = PointDefinition(name: "c", address: ModbusAddress(table: .coil, offset: 0, type: .bool))
        #expect(RegisterCodec.nearestPayload(for: 1, point: coil) == .bit(true))
    }
}
