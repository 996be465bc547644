import DeviceMaps
import GatewayCore

/// What goes on the wire for one point: a single bit (coil, discrete input) or registers.
public enum ModbusPayload: Sendable, Hashable {
    /// One bit of a coil or discrete-input table.
    case bit(Bool)
    /// Registers in wire order (byte and word order already applied).
    case registers([UInt16])
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
    /// Result kinds: `bool` → `.bool` (a register counts as true when non-zero); `float32` →
    /// `.double`; integer types → `.int` when the point is unscaled, `.double` otherwise.
    /// - Throws: `DecodeError` when the register count does not match the type or the value is
    ///   not a finite number (a float32 NaN is how many devices say "no value").
    public static func decode(_ registers: [UInt16], for point: PointDefinition) throws(DecodeError) -> Value {
        let type = point.address.type
        guard registers.count == type.registerCount else {
            throw DecodeError("\(type.rawValue) needs \(type.registerCount) register(s), got \(registers.count)")
        }
        let words = reorder(registers, byteOrder: point.address.byteOrder, wordOrder: point.address.wordOrder)
        let integer: Int64
        switch type {
        case .bool:
            return .bool(registers[0] != 0)
        case .int16:
            integer = Int64(Int16(bitPattern: words[0]))
        case .uint16:
            integer = Int64(words[0])
        case .int32:
            integer = Int64(Int32(bitPattern: combine(words)))
        case .uint32:
            integer = Int64(combine(words))
        case .float32:
            let f = Float(bitPattern: combine(words))
            guard f.isFinite else {
                throw DecodeError(f.isNaN ? "the device reports NaN (not a number) in its float32 register"
                                          : "the device reports an infinite float32 value")
            }
            // Through the shortest decimal form, so that a register holding 0.1f reads as 0.1
            // and not 0.10000000149011612: that is the number the device meant.
            let raw = Double(f.description) ?? Double(f)
            return .double(try engineering(raw, point))
        }
        if !point.isScaled { return .int(integer) }
        return .double(try engineering(Double(integer), point))
    }

    /// Decodes one bit of a coil or discrete-input table.
    ///
    /// A `bool` point yields `.bool`; any other type reads the bit as the raw number 0 or 1.
    public static func decode(bit: Bool, for point: PointDefinition) -> Value {
        if point.address.type == .bool { return .bool(bit) }
        if !point.isScaled { return .int(bit ? 1 : 0) }
        return .double(scaled(bit ? 1 : 0, point))
    }

    // MARK: Encoding

    /// Encodes an engineering value for a write: `raw = (value − offset) / scale`, checked to
    /// fit the register type, then laid out in the point's byte and word order.
    ///
    /// - Parameter device: the device id, used only in error messages.
    /// - Throws: `WriteError.rejected` naming device, point and value when the value cannot be
    ///   represented (wrong kind, not a multiple of the scale, outside the register's range).
    public static func encode(_ value: Value, for point: PointDefinition, device: String) throws(WriteError) -> ModbusPayload {
        let name = "\(device).\(point.name)"
        let type = point.address.type
        let bitTable = point.address.table.isBitTable

        if type == .bool {
            guard case .bool(let b) = value else {
                throw .rejected("\(name) expects true or false, got \(value)")
            }
            return bitTable ? .bit(b) : .registers([b ? 1 : 0])
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

        if type == .float32 {
            guard raw.isFinite, abs(raw) <= Double(Float.greatestFiniteMagnitude) else {
                throw .rejected("\(name): \(shown) is out of range for its float32 register")
            }
            let words = split(Float(raw).bitPattern)
            return .registers(reorder(words, byteOrder: point.address.byteOrder, wordOrder: point.address.wordOrder))
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
        guard whole >= lo, whole <= hi else {
            let a = scaled(lo, point), b = scaled(hi, point)
            let range = "\(Value.format(Swift.min(a, b))) … \(withUnit(Swift.max(a, b), point))"
            var how = ""
            if point.isScaled {
                how = " with scale \(Value.format(point.scale))"
                if point.offset != 0 { how += " and offset \(Value.format(point.offset))" }
            }
            throw .rejected("\(name): \(shown) is out of range: its \(type.rawValue) register holds \(range)\(how)")
        }
        if bitTable {
            // A numeric point on a bit table (unusual, but expressible): only 0 and 1 fit.
            guard whole == 0 || whole == 1 else {
                throw .rejected("\(name): \(shown) does not fit a single bit (raw value must be 0 or 1)")
            }
            return .bit(whole == 1)
        }
        return .registers(reorder(integerWords(whole, type), byteOrder: point.address.byteOrder, wordOrder: point.address.wordOrder))
    }

    /// The registers of a whole number already known to fit `type`, most significant first.
    private static func integerWords(_ whole: Double, _ type: ModbusDataType) -> [UInt16] {
        switch type {
        case .int16: return [UInt16(bitPattern: Int16(whole))]
        case .uint16: return [UInt16(whole)]
        case .int32: return split(UInt32(bitPattern: Int32(whole)))
        case .uint32: return split(UInt32(whole))
        case .bool, .float32: preconditionFailure("not an integer register type")
        }
    }

    /// The payload whose decoded value is closest to `engineering`: rounded to the nearest
    /// raw step and clamped to the register type. Never fails; meant for simulators and demos
    /// that generate arbitrary values, not for writes (which must be exact, see `encode`).
    public static func nearestPayload(for engineering: Double, point: PointDefinition) -> ModbusPayload {
        let type = point.address.type
        let bitTable = point.address.table.isBitTable
        if type == .bool {
            return bitTable ? .bit(engineering != 0) : .registers([engineering != 0 ? 1 : 0])
        }
        var raw = point.scale == 0 ? 0 : unscaled(engineering, point)
        if !raw.isFinite { raw = raw.isNaN ? 0 : (raw > 0 ? Double.greatestFiniteMagnitude : -Double.greatestFiniteMagnitude) }
        if bitTable { return .bit(raw.rounded() >= 1) }
        let words: [UInt16]
        if type == .float32 {
            let limit = Double(Float.greatestFiniteMagnitude)
            words = split(Float(Swift.min(Swift.max(raw, -limit), limit)).bitPattern)
        } else {
            let (lo, hi) = rawRange(type)
            words = integerWords(Swift.min(Swift.max(raw.rounded(), lo), hi), type)
        }
        return .registers(reorder(words, byteOrder: point.address.byteOrder, wordOrder: point.address.wordOrder))
    }

    // MARK: Helpers

    /// Converts between wire order and most-significant-first order. Both steps are their own
    /// inverse and commute, so the same function serves decoding and encoding.
    static func reorder(_ registers: [UInt16], byteOrder: ByteOrder, wordOrder: ByteOrder) -> [UInt16] {
        var words = registers
        if byteOrder == .little { words = words.map(\.byteSwapped) }
        if wordOrder == .little { words.reverse() }
        return words
    }

    private static func combine(_ words: [UInt16]) -> UInt32 {
        UInt32(words[0]) << 16 | UInt32(words[1])
    }

    private static func split(_ value: UInt32) -> [UInt16] {
        [UInt16(truncatingIfNeeded: value >> 16), UInt16(truncatingIfNeeded: value)]
    }

    private static func rawRange(_ type: ModbusDataType) -> (Double, Double) {
        switch type {
        case .int16: return (Double(Int16.min), Double(Int16.max))
        case .uint16: return (0, Double(UInt16.max))
        case .int32: return (Double(Int32.min), Double(Int32.max))
        case .uint32: return (0, Double(UInt32.max))
        case .bool: return (0, 1)
        case .float32: return (-Double(Float.greatestFiniteMagnitude), Double(Float.greatestFiniteMagnitude))
        }
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
        let text = Value.format(value)
        guard let unit = point.unit, !unit.isEmpty else { return text }
        return "\(text) \(unit)"
    }
}
