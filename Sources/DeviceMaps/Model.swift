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
    /// One bit (coil/discrete), or a register that is 0 or non-zero.
    case bool
    /// Signed 16-bit.
    case int16
    /// Unsigned 16-bit.
    case uint16
    /// Signed 32-bit in two registers.
    case int32
    /// Unsigned 32-bit in two registers.
    case uint32
    /// IEEE 754 single precision in two registers.
    case float32

    /// How many 16-bit registers the type occupies.
    public var registerCount: Int {
        switch self {
        case .bool, .int16, .uint16: return 1
        case .int32, .uint32, .float32: return 2
        }
    }
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

    /// Creates an address.
    public init(table: ModbusTable, offset: Int, type: ModbusDataType,
                byteOrder: ByteOrder = .big, wordOrder: ByteOrder = .big) {
        self.table = table
        self.offset = offset
        self.type = type
        self.byteOrder = byteOrder
        self.wordOrder = wordOrder
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
    /// Free text for people.
    public var description: String?
    /// Where the point was declared.
    public var location: SourceLocation?

    /// Creates a point.
    public init(name: String, address: ModbusAddress, scale: Double = 1, offset: Double = 0,
                unit: String? = nil, access: Access = .read, min: Double? = nil, max: Double? = nil,
                description: String? = nil, location: SourceLocation? = nil) {
        self.name = name
        self.address = address
        self.scale = scale
        self.offset = offset
        self.unit = unit
        self.access = access
        self.min = min
        self.max = max
        self.description = description
        self.location = location
    }

    /// True when scale or offset change the raw value.
    public var isScaled: Bool { scale != 1 || offset != 0 }

    /// The protocol-free view the router and the inventory use.
    public var descriptor: PointDescriptor {
        let kind: ValueKind
        switch address.type {
        case .bool: kind = .bool
        case .float32: kind = .number
        case .int16, .uint16, .int32, .uint32: kind = isScaled ? .number : .integer
        }
        return PointDescriptor(name: name, kind: kind, unit: unit, access: access,
                               min: min, max: max, typeName: address.type.rawValue)
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

/// Report-by-exception policy (parsed now, applied by a later filter).
public struct ReportPolicy: Sendable, Hashable {
    /// Minimum change (absolute, engineering units) that is reported.
    public var deadband: Double?
    /// Longest time without a report of an unchanged point.
    public var maxInterval: Duration?

    /// Creates a policy.
    public init(deadband: Double? = nil, maxInterval: Duration? = nil) {
        self.deadband = deadband
        self.maxInterval = maxInterval
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
    /// Report-by-exception policy.
    public var report: ReportPolicy?
    /// Where the device was declared.
    public var location: SourceLocation?

    /// Creates a device.
    public init(id: String, protocolName: String = "modbus", profile: String? = nil,
                connection: ModbusTCPConnection, poll: Duration = .seconds(1),
                points: [PointDefinition], report: ReportPolicy? = nil, location: SourceLocation? = nil) {
        self.id = id
        self.protocolName = protocolName
        self.profile = profile
        self.connection = connection
        self.poll = poll
        self.points = points
        self.report = report
        self.location = location
    }

    /// The protocol-free view the router and the inventory use.
    public var descriptor: DeviceDescriptor {
        DeviceDescriptor(id: id, protocolName: protocolName, points: points.map(\.descriptor))
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
