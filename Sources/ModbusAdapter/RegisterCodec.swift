public import DeviceMaps
public import GatewayCore

/// What goes on the wire for one point: a single bit (coil, discrete input), registers, or
/// one bit inside a holding register.
public enum ModbusPayload: Sendable, Hashable {
    /// One bit of a coil or discrete-input table.
    case bit(Bool)
    /// Registers in wire order (byte and word order already applied).
    case registers([UInt16])
    /// One bit of a holding register, the others left as they are (FC 22, mask write). The
    /// bit is numbered on the wire (0 = least significant bit of the register as sent), so
    /// the point's byte order is already applied.
    case registerBit(Int, Bool)
}

/// Why registers could not be turned into a value (the reading becomes `bad`).
public struct DecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A sentence for the operator.
    public var description: String

    /// Creates an error with its message.
    public init(_ description: String) {
        self.description = description
    }
}

/// Converts between Modbus registers and engineering values for a point: data type, byte
/// order, word order, then `engineering = raw × scale + offset`.
///
/// Pure functions, shared by the adapter (polls and writes) and the simulator (which must
/// encode exactly what a real device would).
public enum RegisterCodec {
    // MARK: Decoding

    /// Decodes the registers of a point (as read, in wire order) into its engineering value.
    ///
    /// Result kinds: `bool` → `.bool` (a register counts as true when non-zero, or its `bit`
    /// is read); `float32`/`float64` → `.double`; integer types → `.int` when the point is
    /// unscaled (a `uint64` above 2^63−1 becomes `.double`), `.double` otherwise; `string` →
    /// `.string`, cut at the first NUL and without trailing spaces.
    /// - Throws: `DecodeError` when the register count does not match the type, a float is
    ///   not a finite number (a NaN is how many devices say "no value") or a string is not
    ///   valid UTF-8.
    public static func decode(_ registers: [UInt16], for point: PointDefinition) throws(DecodeError) -> Value {
        try decode(registers[...], for: point)
    }

    /// Decodes a point's registers where they lie in a larger read (a slice of the block's
    /// answer), without copying them: a poll decodes every point of a block this way, so the
    /// numeric types allocate nothing per reading. Otherwise as `decode(_:for:)` with an array.
    public static func decode(_ registers: ArraySlice<UInt16>, for point: PointDefinition) throws(DecodeError) -> Value {
        let address = point.modbus
        let type = address.type
        guard registers.count == address.registerCount else {
            throw DecodeError("\(address.typeName) needs \(address.registerCount) register(s), got \(registers.count)")
        }
        if type == .string { return try decodeString(registers, byteOrder: address.byteOrder) }
        let first = registers[registers.startIndex]
        let integer: Int64
        switch type {
        case .bool:
            if let bit = wireBit(address) { return .bool(first >> bit & 1 == 1) }
            return .bool(first != 0)
        case .int16:
            integer = Int64(Int16(bitPattern: UInt16(combine(registers, address))))
        case .uint16:
            integer = Int64(combine(registers, address))
        case .int32:
            integer = Int64(Int32(bitPattern: UInt32(combine(registers, address))))
        case .uint32:
            integer = Int64(combine(registers, address))
        case .int64:
            integer = Int64(bitPattern: combine(registers, address))
        case .uint64:
            let u = combine(registers, address)
            guard let i = Int64(exactly: u) else {
                // Beyond Int64 the value can only travel as a double (exact up to 2^53).
                return .double(try engineering(Double(u), point))
            }
            integer = i
        case .float32, .float64:
            let raw: Double
            if type == .float32 {
                let f = Float(bitPattern: UInt32(combine(registers, address)))
                try checkFinite(f.isNaN, f.isInfinite, type)
                // Through the shortest decimal form, so that a register holding 0.1f reads as
                // 0.1 and not 0.10000000149011612: that is the number the device meant.
                raw = Double(f.description) ?? Double(f)
            } else {
                raw = Double(bitPattern: combine(registers, address))
                try checkFinite(raw.isNaN, raw.isInfinite, type)
            }
            return .double(try engineering(raw, point))
        case .string:
            preconditionFailure("strings are decoded above")
        }
        if !point.isScaled { return .int(integer) }
        return .double(try engineering(Double(integer), point))
    }

    private static func checkFinite(_ isNaN: Bool, _ isInfinite: Bool, _ type: ModbusDataType) throws(DecodeError) {
        if isNaN { throw DecodeError("the device reports NaN (not a number) in its \(type.rawValue) register") }
        if isInfinite { throw DecodeError("the device reports an infinite \(type.rawValue) value") }
    }

    /// Two bytes per register, first character in the high byte unless `byteOrder` is little.
    private static func decodeString(_ registers: ArraySlice<UInt16>, byteOrder: ByteOrder) throws(DecodeError) -> Value {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(registers.count * 2)
        for r in registers {
            let (first, second) = (UInt8(r >> 8), UInt8(r & 0xFF))
            bytes += byteOrder == .big ? [first, second] : [second, first]
        }
        if let nul = bytes.firstIndex(of: 0) { bytes.removeSubrange(nul...) }
        while bytes.last == 0x20 { bytes.removeLast() }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw DecodeError("the device's string registers are not valid UTF-8 text")
        }
        return .string(text)
    }

    /// Decodes one bit of a coil or discrete-input table.
    ///
    /// A `bool` point yields `.bool`; any other type reads the bit as the raw number 0 or 1.
    public static func decode(bit: Bool, for point: PointDefinition) -> Value {
        if point.modbus.type == .bool { return .bool(bit) }
        if !point.isScaled { return .int(bit ? 1 : 0) }
        return .double(scaled(bit ? 1 : 0, point))
    }

    // MARK: Encoding

    /// Encodes an engineering value for a write: `raw = (value − offset) / scale`, checked to
    /// fit the register type, then laid out in the point's byte and word order.
    ///
    /// - Parameter device: the device id, used only in error messages.
    /// - Throws: `WriteError.rejected` naming device, point and value when the value cannot be
    ///   represented (wrong kind, not a multiple of the scale, outside the register's range,
    ///   text longer than its registers).
    public static func encode(_ value: Value, for point: PointDefinition, device: String) throws(WriteError) -> ModbusPayload {
        let name = "\(device).\(point.name)"
        let address = point.modbus
        let type = address.type
        let bitTable = address.table.isBitTable

        if type == .bool {
            guard case .bool(let b) = value else {
                throw .rejected("\(name) expects true or false, got \(value)")
            }
            if bitTable { return .bit(b) }
            if let bit = wireBit(address) { return .registerBit(bit, b) }
            return .registers([b ? 1 : 0])
        }
        if type == .string {
            guard case .string(let text) = value else {
                throw .rejected("\(name) expects text, got \(value)")
            }
            return .registers(try encodeString(text, registers: address.registerCount, byteOrder: address.byteOrder, name: name))
        }
        // Whole numbers written to unscaled integer registers never pass through a double,
        // which would round 64-bit values above 2^53.
        if case .int(let i) = value, !point.isScaled, type.isInteger, !bitTable {
            guard let words = exactWords(i, type) else {
                throw .rejected("\(name): \(withUnit(Double(i), point)) is out of range: its \(type.rawValue) register holds \(rangeText(type, point))")
            }
            return .registers(reorder(words, byteOrder: address.byteOrder, wordOrder: address.wordOrder))
        }
        guard let v = value.numeric else {
            throw .rejected("\(name) expects a number, got \(value)")
        }
        guard v.isFinite else {
            throw .rejected("\(name): \(value) is not a finite number")
        }
        guard point.scale != 0, point.scale.isFinite else {
            throw .rejected("\(name) has scale \(Value.format(point.scale)) in the device map, so no value can be written to it")
        }
        let raw = unscaled(v, point)
        let shown = withUnit(v, point)

        if type == .float32 || type == .float64 {
            // Float(raw) rounds to the nearest float32, so a value that reads as 3.4028235e38
            // (the shortest decimal of the largest float32, a little above it) still fits.
            guard raw.isFinite, type == .float64 || Float(raw).isFinite else {
                throw .rejected("\(name): \(shown) is out of range for its \(type.rawValue) register")
            }
            let words = type == .float32 ? split(UInt64(Float(raw).bitPattern), count: 2) : split(raw.bitPattern, count: 4)
            return .registers(reorder(words, byteOrder: address.byteOrder, wordOrder: address.wordOrder))
        }

        let whole = raw.rounded()
        // Scaling by a decimal fraction is inexact in binary (21.5 / 0.1 = 214.99999999999997),
        // so "a whole number" has to mean "within a few ulps of one" — and no more: a looser
        // bound would round 12345.6789 to 12345.68 on a 0.01-scaled register and say ok.
        guard abs(raw - whole) <= 1e-9 * Swift.max(1, abs(raw)) else {
            var why = "\(name): \(shown) is not a multiple of the scale \(Value.format(point.scale))"
            if point.offset != 0 { why += " (after the offset \(Value.format(point.offset)))" }
            throw .rejected(why)
        }
        let (lo, hi) = rawRange(type)
        let wide = type.fixedRegisterCount == 4
        guard whole >= lo, wide ? whole < hi : whole <= hi else {
            var how = ""
            if point.isScaled {
                how = " with scale \(Value.format(point.scale))"
                if point.offset != 0 { how += " and offset \(Value.format(point.offset))" }
            }
            throw .rejected("\(name): \(shown) is out of range: its \(type.rawValue) register holds \(rangeText(type, point))\(how)")
        }
        if bitTable {
            // A numeric point on a bit table (unusual, but expressible): only 0 and 1 fit.
            guard whole == 0 || whole == 1 else {
                throw .rejected("\(name): \(shown) does not fit a single bit (raw value must be 0 or 1)")
            }
            return .bit(whole == 1)
        }
        return .registers(reorder(integerWords(whole, type), byteOrder: address.byteOrder, wordOrder: address.wordOrder))
    }

    private static func encodeString(_ text: String, registers: Int, byteOrder: ByteOrder, name: String) throws(WriteError) -> [UInt16] {
        let length = text.utf8.count
        guard length <= registers * 2 else {
            throw .rejected("\(name): the text is \(length) bytes long, and its \(registers) register(s) hold at most \(registers * 2)")
        }
        guard !text.utf8.contains(0) else {
            throw .rejected("\(name): the text contains a NUL character, which ends a string in registers")
        }
        return stringRegisters(text, count: registers, byteOrder: byteOrder)
    }

    /// `text` as `count` registers: UTF-8, cut at a character boundary to fit (a letter and
    /// its accent, or a flag, stay whole or go together), NUL-padded, the first of each two
    /// bytes in the high byte unless `byteOrder` is little.
    public static func stringRegisters(_ text: String, count: Int, byteOrder: ByteOrder) -> [UInt16] {
        var bytes: [UInt8] = []
        for character in text {
            if bytes.count + character.utf8.count > count * 2 { break }
            bytes += character.utf8
        }
        bytes += [UInt8](repeating: 0, count: count * 2 - bytes.count)
        return (0..<count).map { i in
            let (first, second) = (UInt16(bytes[2 * i]), UInt16(bytes[2 * i + 1]))
            return byteOrder == .big ? first << 8 | second : second << 8 | first
        }
    }

    /// The registers of an exact integer, most significant first; nil when it does not fit.
    private static func exactWords(_ i: Int64, _ type: ModbusDataType) -> [UInt16]? {
        switch type {
        case .int16: return Int16(exactly: i).map { [UInt16(bitPattern: $0)] }
        case .uint16: return UInt16(exactly: i).map { [$0] }
        case .int32: return Int32(exactly: i).map { split(UInt64(UInt32(bitPattern: $0)), count: 2) }
        case .uint32: return UInt32(exactly: i).map { split(UInt64($0), count: 2) }
        case .int64: return split(UInt64(bitPattern: i), count: 4)
        case .uint64: return UInt64(exactly: i).map { split($0, count: 4) }
        case .bool, .float32, .float64, .string: return nil
        }
    }

    /// The registers of a whole number already known to fit `type`, most significant first.
    private static func integerWords(_ whole: Double, _ type: ModbusDataType) -> [UInt16] {
        switch type {
        case .int16: return [UInt16(bitPattern: Int16(whole))]
        case .uint16: return [UInt16(whole)]
        case .int32: return split(UInt64(UInt32(bitPattern: Int32(whole))), count: 2)
        case .uint32: return split(UInt64(UInt32(whole)), count: 2)
        case .int64: return split(UInt64(bitPattern: Int64(whole)), count: 4)
        case .uint64: return split(UInt64(whole), count: 4)
        case .bool, .float32, .float64, .string: preconditionFailure("not an integer register type")
        }
    }

    /// The payload whose decoded value is closest to `engineering`: rounded to the nearest
    /// raw step and clamped to the register type. Never fails; meant for simulators and demos
    /// that generate arbitrary values, not for writes (which must be exact, see `encode`).
    /// A string point gets the number as text.
    public static func nearestPayload(for engineering: Double, point: PointDefinition) -> ModbusPayload {
        let address = point.modbus
        let type = address.type
        let bitTable = address.table.isBitTable
        if type == .bool {
            if bitTable { return .bit(engineering != 0) }
            if let bit = wireBit(address) { return .registerBit(bit, engineering != 0) }
            return .registers([engineering != 0 ? 1 : 0])
        }
        if type == .string {
            return .registers(stringRegisters(Value.format(engineering), count: address.registerCount, byteOrder: address.byteOrder))
        }
        var raw = point.scale == 0 ? 0 : unscaled(engineering, point)
        if !raw.isFinite { raw = raw.isNaN ? 0 : (raw > 0 ? Double.greatestFiniteMagnitude : -Double.greatestFiniteMagnitude) }
        if bitTable { return .bit(raw.rounded() >= 1) }
        let words: [UInt16]
        switch type {
        case .float32:
            let limit = Double(Float.greatestFiniteMagnitude)
            words = split(UInt64(Float(Swift.min(Swift.max(raw, -limit), limit)).bitPattern), count: 2)
        case .float64:
            words = split(raw.bitPattern, count: 4)
        default:
            let (lo, hi) = rawRange(type)
            // For the 64-bit types the top is the largest double below 2^63 (or 2^64), so the
            // conversion cannot trap.
            let top = type.fixedRegisterCount == 4 ? hi.nextDown : hi
            words = integerWords(Swift.min(Swift.max(raw.rounded(), lo), top), type)
        }
        return .registers(reorder(words, byteOrder: address.byteOrder, wordOrder: address.wordOrder))
    }

    // MARK: Helpers

    /// The register bit a `bit` point occupies on the wire: its `bit` counts in the register
    /// after the byte order is applied, so with little byte order bit 0 is the wire's bit 8.
    private static func wireBit(_ address: ModbusAddress) -> Int? {
        address.wireBit
    }

    /// Converts between wire order and most-significant-first order. Both steps are their own
    /// inverse and commute, so the same function serves decoding and encoding.
    static func reorder(_ registers: [UInt16], byteOrder: ByteOrder, wordOrder: ByteOrder) -> [UInt16] {
        var words = registers
        if byteOrder == .little { words = words.map(\.byteSwapped) }
        if wordOrder == .little { words.reverse() }
        return words
    }

    /// Registers in wire order as one number, the point's byte and word order applied on the
    /// way (what `reorder` then `combine` compute, without the intermediate array).
    private static func combine(_ registers: ArraySlice<UInt16>, _ address: ModbusAddress) -> UInt64 {
        let swapBytes = address.byteOrder == .little
        let reversed = address.wordOrder == .little
        var value: UInt64 = 0
        for i in 0..<registers.count {
            let register = registers[reversed ? registers.endIndex - 1 - i : registers.startIndex + i]
            value = value << 16 | UInt64(swapBytes ? register.byteSwapped : register)
        }
        return value
    }

    /// The low `count` registers of a number, most significant first.
    private static func split(_ value: UInt64, count: Int) -> [UInt16] {
        (0..<count).reversed().map { UInt16(truncatingIfNeeded: value >> (16 * $0)) }
    }

    /// The raw range of an integer type: `lo` included, `hi` excluded for the 64-bit types
    /// (2^63 and 2^64 are exact doubles that do not fit) and included for the others.
    private static func rawRange(_ type: ModbusDataType) -> (Double, Double) {
        switch type {
        case .int16: return (Double(Int16.min), Double(Int16.max))
        case .uint16: return (0, Double(UInt16.max))
        case .int32: return (Double(Int32.min), Double(Int32.max))
        case .uint32: return (0, Double(UInt32.max))
        case .int64: return (-0x1p63, 0x1p63)
        case .uint64: return (0, 0x1p64)
        case .bool: return (0, 1)
        case .float32: return (-Double(Float.greatestFiniteMagnitude), Double(Float.greatestFiniteMagnitude))
        case .float64, .string: return (-Double.greatestFiniteMagnitude, Double.greatestFiniteMagnitude)
        }
    }

    /// `-32768 … 32767 °C`, in engineering units.
    private static func rangeText(_ type: ModbusDataType, _ point: PointDefinition) -> String {
        var (lo, hi) = rawRange(type)
        if type == .int64 || type == .uint64 { hi = hi.nextDown }
        let a = scaled(lo, point), b = scaled(hi, point)
        if !point.isScaled, type == .int64 { return "\(Int64.min) … \(withUnitText(String(Int64.max), point))" }
        if !point.isScaled, type == .uint64 { return "0 … \(withUnitText(String(UInt64.max), point))" }
        return "\(Value.format(Swift.min(a, b))) … \(withUnit(Swift.max(a, b), point))"
    }

    /// `1/scale` when it is a whole number (scale 0.1, 0.01, 0.5 ...). Dividing by 10 gives the
    /// correctly rounded decimal (3 / 10 = 0.3) where multiplying by 0.1 does not
    /// (3 × 0.1 = 0.30000000000000004), which matters for values people read.
    private static func wholeInverse(_ scale: Double) -> Double? {
        guard scale != 0, abs(scale) < 1 else { return nil }
        let inverse = 1 / scale
        let whole = inverse.rounded()
        return abs(inverse - whole) <= 1e-9 * abs(whole) ? whole : nil
    }

    private static func scaled(_ raw: Double, _ point: PointDefinition) -> Double {
        let value = wholeInverse(point.scale).map { raw / $0 } ?? raw * point.scale
        return value + point.offset
    }

    private static func unscaled(_ engineering: Double, _ point: PointDefinition) -> Double {
        let shifted = engineering - point.offset
        return wholeInverse(point.scale).map { shifted * $0 } ?? shifted / point.scale
    }

    private static func engineering(_ raw: Double, _ point: PointDefinition) throws(DecodeError) -> Double {
        let value = scaled(raw, point)
        guard value.isFinite else {
            throw DecodeError("raw value \(Value.format(raw)) overflows after scale \(Value.format(point.scale)) and offset \(Value.format(point.offset))")
        }
        return value
    }

    private static func withUnit(_ value: Double, _ point: PointDefinition) -> String {
        withUnitText(Value.format(value), point)
    }

    private static func withUnitText(_ text: String, _ point: PointDefinition) -> String {
        guard let unit = point.unit, !unit.isEmpty else { return text }
        return "\(text) \(unit)"
    }
}
