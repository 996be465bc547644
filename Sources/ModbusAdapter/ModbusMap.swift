import DeviceMaps
import GatewayCore

/// A Modbus data table.
public enum ModbusTable: String, Sendable, Hashable, CaseIterable {
    /// Read/write bits (FC 1, 5, 15).
    case coil
    /// Read-only bits (FC 2).
    case discrete
    /// Read-only 16-bit registers (FC 4).
    case input
    /// Read/write 16-bit registers (FC 3, 6, 16).
    case holding

    /// True for the bit tables.
    public var isBitTable: Bool { self == .coil || self == .discrete }
    /// True when the protocol allows writes to this table.
    public var isWritable: Bool { self == .coil || self == .holding }
}

/// How a point's value is encoded in its registers.
public enum ModbusDataType: String, Sendable, Hashable, CaseIterable {
    /// One bit (coil/discrete), a register that is 0 or non-zero, or one `bit` of a register.
    case bool
    /// Signed 16-bit.
    case int16
    /// Unsigned 16-bit.
    case uint16
    /// Signed 32-bit in two registers.
    case int32
    /// Unsigned 32-bit in two registers.
    case uint32
    /// Signed 64-bit in four registers.
    case int64
    /// Unsigned 64-bit in four registers.
    case uint64
    /// IEEE 754 single precision in two registers.
    case float32
    /// IEEE 754 double precision in four registers.
    case float64
    /// Text of `length` registers, two bytes each, padded with NUL or spaces.
    case string

    /// How many 16-bit registers the type occupies; nil for `string`, whose length the point gives.
    public var fixedRegisterCount: Int? {
        switch self {
        case .bool, .int16, .uint16: return 1
        case .int32, .uint32, .float32: return 2
        case .int64, .uint64, .float64: return 4
        case .string: return nil
        }
    }

    /// True for the types that hold whole numbers.
    public var isInteger: Bool {
        switch self {
        case .int16, .uint16, .int32, .uint32, .int64, .uint64: return true
        case .bool, .float32, .float64, .string: return false
        }
    }

    /// True for the types that hold numbers (integers and floats).
    public var isNumeric: Bool { isInteger || self == .float32 || self == .float64 }
}

/// Order of bytes within a register, or of registers within a value.
public enum ByteOrder: String, Sendable, Hashable, CaseIterable {
    /// Most significant first (Modbus's own order; the default).
    case big
    /// Least significant first.
    case little
}

/// The Modbus address of a point: the Modbus adapter's typed point configuration.
public struct ModbusAddress: PointAddress, Hashable {
    /// The table.
    public var table: ModbusTable
    /// 0-based register or bit offset.
    public var offset: Int
    /// The encoding.
    public var type: ModbusDataType
    /// Byte order inside each register.
    public var byteOrder: ByteOrder
    /// Register order inside a multi-register value.
    public var wordOrder: ByteOrder
    /// Registers of a `string` point (two characters each); ignored for other types.
    public var length: Int
    /// For a `bool` point in a register table: the bit it reads (0 = least significant).
    public var bit: Int?

    /// Creates an address.
    public init(table: ModbusTable, offset: Int, type: ModbusDataType,
                byteOrder: ByteOrder = .big, wordOrder: ByteOrder = .big, length: Int = 0, bit: Int? = nil) {
        self.table = table
        self.offset = offset
        self.type = type
        self.byteOrder = byteOrder
        self.wordOrder = wordOrder
        self.length = length
        self.bit = bit
    }

    /// The bit as the register travels on the wire: with `byte_order: little` the map counts
    /// bits in the byte-swapped register, so bit 0 is the wire's bit 8.
    public var wireBit: Int? {
        bit.map { byteOrder == .little ? $0 ^ 8 : $0 }
    }

    /// Registers (or bits, in a bit table) the point occupies.
    public var registerCount: Int {
        if table.isBitTable { return 1 }
        return type.fixedRegisterCount ?? length
    }

    /// The type as people write it: `int32`, `string[10]`, `bool (bit 3)`.
    public var typeName: String {
        if type == .string { return "string[\(length)]" }
        if let bit { return "bool (bit \(bit))" }
        return type.rawValue
    }

    /// The kind of the raw value.
    public var rawKind: ValueKind {
        switch type {
        case .bool: return .bool
        case .string: return .string
        case .float32, .float64: return .number
        case .int16, .uint16, .int32, .uint32, .int64, .uint64: return .integer
        }
    }

    /// `holding 1 int16`, `input 10 float32 (word order little)`.
    public var description: String {
        var text = "\(table.rawValue) \(offset) \(typeName)"
        var orders: [String] = []
        if byteOrder != .big { orders.append("byte order \(byteOrder.rawValue)") }
        if wordOrder != .big { orders.append("word order \(wordOrder.rawValue)") }
        if !orders.isEmpty { text += " (\(orders.joined(separator: ", ")))" }
        return text
    }
}

/// How to reach a Modbus TCP device: the Modbus adapter's typed connection configuration.
public struct ModbusTCPConnection: DeviceConnection, Hashable {
    /// Host name or address.
    public var host: String
    /// TCP port (502 by default).
    public var port: Int
    /// Unit id (slave id) behind the connection.
    public var unitID: Int
    /// How long to wait for a response before the poll counts as failed.
    public var responseTimeout: Duration

    /// Creates a connection description.
    public init(host: String, port: Int = 502, unitID: Int = 1, responseTimeout: Duration = .seconds(1)) {
        self.host = host
        self.port = port
        self.unitID = unitID
        self.responseTimeout = responseTimeout
    }

    /// `127.0.0.1:502 unit 1`.
    public var description: String { "\(host):\(port) unit \(unitID)" }
}

extension PointDefinition {
    /// The point's Modbus address.
    ///
    /// Only devices of protocol `modbus` reach this target (the gateway hands each adapter
    /// its own protocol's devices), and their points were parsed by `ModbusSyntax`, so the
    /// address is always a `ModbusAddress`; anything else is a programming error.
    public var modbus: ModbusAddress {
        guard let address = address as? ModbusAddress else {
            preconditionFailure("point \(name) is not a Modbus point: \(address)")
        }
        return address
    }
}

extension DeviceDefinition {
    /// The device's Modbus TCP connection (see `PointDefinition.modbus` for why it is one).
    public var modbusConnection: ModbusTCPConnection {
        get {
            guard let connection = connection as? ModbusTCPConnection else {
                preconditionFailure("device \(id) is not a Modbus TCP device: \(connection)")
            }
            return connection
        }
        set { connection = newValue }
    }
}
