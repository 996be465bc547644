public import DeviceMaps
public import GatewayCore

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
    public init(
        table: ModbusTable, offset: Int, type: ModbusDataType,
        byteOrder: ByteOrder = .big, wordOrder: ByteOrder = .big, length: Int = 0, bit: Int? = nil
    ) {
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

    /// The raw values the register holds (64-bit ones up to the largest double below 2⁶³ or
    /// 2⁶⁴); a numeric point on a bit table holds 0 and 1; nil for text, bools and float64.
    public var rawRange: ClosedRange<Double>? {
        if table.isBitTable { return rawKind == .bool ? nil : 0...1 }
        switch type {
        case .int16: return Double(Int16.min)...Double(Int16.max)
        case .uint16: return 0...Double(UInt16.max)
        case .int32: return Double(Int32.min)...Double(Int32.max)
        case .uint32: return 0...Double(UInt32.max)
        case .int64: return -0x1p63...(0x1p63).nextDown
        case .uint64: return 0...(0x1p64).nextDown
        case .float32: return -Double(Float.greatestFiniteMagnitude)...Double(Float.greatestFiniteMagnitude)
        case .float64, .string, .bool: return nil
        }
    }

    /// `table`, `type`, `byte_order`, `word_order`, `address`, and `length` or `bit` where they apply.
    public var fields: [MapField] {
        var fields = [
            MapField("table", .string(table.rawValue)), MapField("type", .string(type.rawValue)),
            MapField("byte_order", .string(byteOrder.rawValue)), MapField("word_order", .string(wordOrder.rawValue)),
            MapField("address", .int(Int64(offset))),
        ]
        if type == .string { fields.append(MapField("length", .int(Int64(length)))) }
        if let bit { fields.append(MapField("bit", .int(Int64(bit)))) }
        return fields
    }

    /// `table`, `address`, `type` with length or bit (`string[6]`), `order` as `byte/word`.
    public var columns: [MapField] {
        [
            MapField("table", .string(table.rawValue)), MapField("address", .int(Int64(offset))),
            MapField("type", .string(typeName)), MapField("order", .string("\(byteOrder.rawValue)/\(wordOrder.rawValue)")),
        ]
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

/// Serial line settings of a Modbus RTU bus.
public struct ModbusSerialPort: Sendable, Hashable {
    /// Parity bit of each character.
    public enum Parity: String, Sendable, Hashable, CaseIterable {
        /// No parity bit (`N`).
        case none = "N"
        /// Even parity (`E`, the Modbus default).
        case even = "E"
        /// Odd parity (`O`).
        case odd = "O"
    }

    /// The device path: `/dev/ttyUSB0`, `/dev/ttyS1`, a pseudo-terminal.
    public var device: String
    /// Bits per second.
    public var baud: Int
    /// Parity.
    public var parity: Parity
    /// Data bits per character (5…8; Modbus RTU uses 8).
    public var dataBits: Int
    /// Stop bits (1 or 2).
    public var stopBits: Int
    /// Switch the port to RS-485 mode (where the OS driver supports it).
    public var rs485: Bool

    /// Creates serial settings; the defaults are Modbus RTU's 19200 8E1.
    public init(
        device: String, baud: Int = 19200, parity: Parity = .even, dataBits: Int = 8, stopBits: Int = 1,
        rs485: Bool = false
    ) {
        self.device = device
        self.baud = baud
        self.parity = parity
        self.dataBits = dataBits
        self.stopBits = stopBits
        self.rs485 = rs485
    }
}

/// How requests reach a Modbus device: TCP, or an RTU serial bus.
public enum ModbusTransport: Sendable, Hashable {
    /// Modbus TCP to `host:port`.
    case tcp(host: String, port: Int)
    /// Modbus RTU on a serial line.
    case rtu(ModbusSerialPort)

    /// What devices share one connection (one thread) by: `host:port`, or the serial device path.
    public var endpoint: String {
        switch self {
        case .tcp(let host, let port): return "\(host):\(port)"
        case .rtu(let serial): return serial.device
        }
    }
}

/// How to reach a Modbus device and how to talk to it: the Modbus adapter's typed connection
/// configuration (`connection:` of a `protocol: modbus` device).
public struct ModbusConnection: DeviceConnection, Hashable {
    /// TCP or RTU.
    public var transport: ModbusTransport
    /// Unit id (slave id) behind the connection.
    public var unitID: Int
    /// How long to wait for a response before the request counts as failed.
    public var responseTimeout: Duration
    /// Longest silence between two bytes of one response (RTU framing; libmodbus's default when nil).
    public var byteTimeout: Duration?
    /// Registers (or bits) between two points that a read request may include to merge them
    /// into one request.
    public var maxGap: Int
    /// The most registers one read request asks for (125 by the protocol; some devices accept fewer).
    public var maxRegistersPerRequest: Int
    /// False for devices that accept only FC 6 (one register per write) and FC 5.
    public var writeMultiple: Bool

    /// The default `maxGap`: bridging a few unnamed registers saves a request, and a device
    /// that refuses one of them makes the request split (and remember the split).
    public static let defaultMaxGap = 10

    /// Creates a connection.
    public init(
        transport: ModbusTransport, unitID: Int = 1, responseTimeout: Duration = .seconds(1),
        byteTimeout: Duration? = nil, maxGap: Int = ModbusConnection.defaultMaxGap,
        maxRegistersPerRequest: Int = 125, writeMultiple: Bool = true
    ) {
        self.transport = transport
        self.unitID = unitID
        self.responseTimeout = responseTimeout
        self.byteTimeout = byteTimeout
        self.maxGap = maxGap
        self.maxRegistersPerRequest = maxRegistersPerRequest
        self.writeMultiple = writeMultiple
    }

    /// A Modbus TCP connection.
    public init(
        host: String, port: Int = 502, unitID: Int = 1, responseTimeout: Duration = .seconds(1),
        maxGap: Int = ModbusConnection.defaultMaxGap, maxRegistersPerRequest: Int = 125, writeMultiple: Bool = true
    ) {
        self.init(
            transport: .tcp(host: host, port: port), unitID: unitID, responseTimeout: responseTimeout,
            maxGap: maxGap, maxRegistersPerRequest: maxRegistersPerRequest, writeMultiple: writeMultiple)
    }

    /// The TCP host, nil for RTU.
    public var host: String? {
        if case .tcp(let host, _) = transport { return host }
        return nil
    }

    /// The TCP port, nil for RTU.
    public var port: Int? {
        if case .tcp(_, let port) = transport { return port }
        return nil
    }

    /// `host:port` or the serial device: devices with the same endpoint share a connection.
    public var endpoint: String { transport.endpoint }

    /// `host` and `port`, or `serial`; then `unit_id`.
    public var fields: [MapField] {
        switch transport {
        case .tcp(let host, let port):
            return [MapField("host", .string(host)), MapField("port", .int(Int64(port))), MapField("unit_id", .int(Int64(unitID)))]
        case .rtu(let line):
            return [MapField("serial", .string(line.device)), MapField("unit_id", .int(Int64(unitID)))]
        }
    }

    /// `127.0.0.1:502 unit 1`, `/dev/ttyUSB0 19200 8E1 unit 7`.
    public var description: String {
        switch transport {
        case .tcp: return "\(endpoint) unit \(unitID)"
        case .rtu(let s): return "\(s.device) \(s.baud) \(s.dataBits)\(s.parity.rawValue)\(s.stopBits) unit \(unitID)"
        }
    }
}

// Written out rather than through `address(as:)` and `connection(as:)`: with the generic
// accessor, Swift 6.3.1's release build crashes (CopyPropagation) compiling a closure of
// `SimModbusCommand.run` that reads `modbusConnection`.

extension PointDefinition {
    /// The point's Modbus address (see `address(as:)` for why it always is one).
    public var modbus: ModbusAddress {
        guard let address = address as? ModbusAddress else {
            preconditionFailure("point \(name) is not a Modbus point: \(address)")
        }
        return address
    }
}

extension DeviceDefinition {
    /// The device's Modbus connection (see `connection(as:)` for why it always is one).
    public var modbusConnection: ModbusConnection {
        get {
            guard let connection = connection as? ModbusConnection else {
                preconditionFailure("device \(id) is not a Modbus device: \(connection)")
            }
            return connection
        }
        set { connection = newValue }
    }
}
