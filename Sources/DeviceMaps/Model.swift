import GatewayCore

/// Where something was written in a YAML file, for diagnostics.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    /// The file path as given.
    public var file: String
    /// 1-based line.
    public var line: Int
    /// 1-based column.
    public var column: Int

    /// Creates a location.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`, the form editors link.
    public var description: String { "\(file):\(line):\(column)" }
}

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

/// The Modbus address of a point.
public struct ModbusAddress: Sendable, Hashable {
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

    /// Registers (or bits, in a bit table) the point occupies.
    public var registerCount: Int {
        if table.isBitTable { return 1 }
        return type.fixedRegisterCount ?? length
    }

    /// The type as people write it: `int32`, `string[10]`, `bool (bit 3)`.
    public var typeDescription: String {
        if type == .string { return "string[\(length)]" }
        if let bit { return "bool (bit \(bit))" }
        return type.rawValue
    }
}

/// One point of a device: where it lives, how to convert it, who may write it.
public struct PointDefinition: Sendable, Hashable {
    /// The point name, unique within the device.
    public var name: String
    /// The Modbus address and encoding.
    public var address: ModbusAddress
    /// engineering = raw × scale + offset.
    public var scale: Double
    /// engineering = raw × scale + offset.
    public var offset: Double
    /// Engineering unit.
    public var unit: String?
    /// Read, write or both.
    public var access: Access
    /// Lowest value a write may set (engineering units).
    public var min: Double?
    /// Highest value a write may set (engineering units).
    public var max: Double?
    /// The only values a write may set, when not empty.
    public var options: [EnumOption]
    /// The point's own report policy; the device's applies when nil.
    public var report: ReportPolicy?
    /// Free text for people.
    public var description: String?
    /// Where the point was declared.
    public var location: SourceLocation?

    /// Creates a point.
    public init(name: String, address: ModbusAddress, scale: Double = 1, offset: Double = 0,
                unit: String? = nil, access: Access = .read, min: Double? = nil, max: Double? = nil,
                options: [EnumOption] = [], report: ReportPolicy? = nil,
                description: String? = nil, location: SourceLocation? = nil) {
        self.name = name
        self.address = address
        self.scale = scale
        self.offset = offset
        self.unit = unit
        self.access = access
        self.min = min
        self.max = max
        self.options = options
        self.report = report
        self.description = description
        self.location = location
    }

    /// True when scale or offset change the raw value.
    public var isScaled: Bool { scale != 1 || offset != 0 }

    /// The protocol-free view the router and the inventory use.
    public var descriptor: PointDescriptor {
        PointDescriptor(name: name, kind: kind, unit: unit, access: access,
                        min: min, max: max, typeName: address.typeDescription, options: options)
    }

    /// The kind of value the point reads and writes.
    public var kind: ValueKind {
        switch address.type {
        case .bool: return .bool
        case .string: return .string
        case .float32, .float64: return .number
        case .int16, .uint16, .int32, .uint32, .int64, .uint64: return isScaled ? .number : .integer
        }
    }
}

/// How to reach a Modbus TCP device.
public struct ModbusTCPConnection: Sendable, Hashable {
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
}

/// One device instance, with its profile already expanded.
public struct DeviceDefinition: Sendable, Hashable {
    /// The device id, unique in the gateway.
    public var id: String
    /// The protocol name; `modbus` for now.
    public var protocolName: String
    /// The profile it was built from, if any.
    public var profile: String?
    /// How to reach it.
    public var connection: ModbusTCPConnection
    /// The poll period.
    public var poll: Duration
    /// Points, profile points first, in file order.
    public var points: [PointDefinition]
    /// Named commands, profile commands first, in file order.
    public var commands: [NamedCommand]
    /// Report-by-exception policy for points without their own.
    public var report: ReportPolicy?
    /// Where the device was declared.
    public var location: SourceLocation?

    /// Creates a device.
    public init(id: String, protocolName: String = "modbus", profile: String? = nil,
                connection: ModbusTCPConnection, poll: Duration = .seconds(1),
                points: [PointDefinition], commands: [NamedCommand] = [], report: ReportPolicy? = nil,
                location: SourceLocation? = nil) {
        self.id = id
        self.protocolName = protocolName
        self.profile = profile
        self.connection = connection
        self.poll = poll
        self.points = points
        self.commands = commands
        self.report = report
        self.location = location
    }

    /// The protocol-free view the router and the inventory use.
    public var descriptor: DeviceDescriptor {
        DeviceDescriptor(id: id, protocolName: protocolName, points: points.map(\.descriptor), commands: commands)
    }

    /// The report policy of each point (its own, else the device's), for the report filter.
    public var reportPolicies: [String: ReportPolicy] {
        var policies: [String: ReportPolicy] = [:]
        for point in points {
            if let policy = point.report ?? report { policies[point.name] = policy }
        }
        return policies
    }
}

/// Every device of a set of device-map files.
public struct DeviceMap: Sendable, Hashable {
    /// Devices in file order.
    public var devices: [DeviceDefinition]

    /// Creates a map.
    public init(devices: [DeviceDefinition]) {
        self.devices = devices
    }
}
