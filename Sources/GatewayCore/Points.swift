/// The kind of value a point carries, as the command validator sees it.
public enum ValueKind: String, Sendable, Hashable, CaseIterable {
    /// true/false.
    case bool
    /// Whole numbers only (an unscaled integer register).
    case integer
    /// Any number (floats, scaled registers).
    case number
    /// Text.
    case string
}

/// Whether a point may be read, written or both.
public enum Access: String, Sendable, Hashable, CaseIterable {
    /// Read only (the default).
    case read
    /// Read and write.
    case readwrite
    /// Write only (a command register that reads back nothing useful).
    case write

    /// True when the gateway may write the point.
    public var isWritable: Bool { self != .read }
    /// True when the gateway polls the point.
    public var isReadable: Bool { self != .write }
}

/// What the core needs to know about a point: enough to validate a write and describe it in
/// the inventory, nothing about how a protocol addresses it.
public struct PointDescriptor: Sendable, Hashable {
    /// The point name, unique within its device.
    public var name: String
    /// The kind of value it carries.
    public var kind: ValueKind
    /// Engineering unit, if any.
    public var unit: String?
    /// Read, write or both.
    public var access: Access
    /// Lowest value a write may set, in engineering units.
    public var min: Double?
    /// Highest value a write may set, in engineering units.
    public var max: Double?
    /// The protocol type name shown in the inventory (`int16`, `float32`, ...).
    public var typeName: String
    /// The only values a write may set, when the map lists them (empty: any value in range).
    public var options: [EnumOption]
    /// The values the point's encoding can hold at all, in engineering units (an `int16`
    /// register with scale 0.1: -3276.8…3276.7); nil when the protocol fixes none. The
    /// adapter refuses a write outside it, whatever `min` and `max` say.
    public var range: ClosedRange<Double>?
    /// Set when only some numbers can be written (an integer register, scaled or not): the
    /// values `stepOrigin + k × step`. nil: any number of its kind.
    public var step: Double?
    /// Where the steps start (the point's offset).
    public var stepOrigin: Double

    /// Creates a descriptor.
    public init(
        name: String, kind: ValueKind, unit: String? = nil, access: Access = .read,
        min: Double? = nil, max: Double? = nil, typeName: String, options: [EnumOption] = [],
        range: ClosedRange<Double>? = nil, step: Double? = nil, stepOrigin: Double = 0
    ) {
        self.name = name
        self.kind = kind
        self.unit = unit
        self.access = access
        self.min = min
        self.max = max
        self.typeName = typeName
        self.options = options
        self.range = range
        self.step = step
        self.stepOrigin = stepOrigin
    }
}

/// One allowed value of a point with an `enum`, optionally with a name that commands may use
/// instead of the number (`heat` for 1).
public struct EnumOption: Sendable, Hashable {
    /// The name, when the map gives one.
    public var label: String?
    /// The value written to the device.
    public var value: Value

    /// Creates an option.
    public init(label: String? = nil, value: Value) {
        self.label = label
        self.value = value
    }
}

/// What the core knows about a device: its id, protocol and points.
public struct DeviceDescriptor: Sendable, Hashable {
    /// The device id, unique in the gateway.
    public var id: String
    /// The protocol name (`modbus`, ...).
    public var protocolName: String
    /// Points in the order of the device map.
    public var points: [PointDescriptor]
    /// Named commands in the order of the device map.
    public var commands: [NamedCommand]
    /// How long one command may take at this device (write and read-back) before it is
    /// answered `timeout`; nil: the router's default.
    public var commandTimeout: Duration?

    /// Creates a descriptor.
    public init(
        id: String, protocolName: String, points: [PointDescriptor], commands: [NamedCommand] = [],
        commandTimeout: Duration? = nil
    ) {
        self.id = id
        self.protocolName = protocolName
        self.points = points
        self.commands = commands
        self.commandTimeout = commandTimeout
    }

    /// The named command with that name, if any.
    public func command(named name: String) -> NamedCommand? {
        commands.first { $0.name == name }
    }

    /// The point with that name, if any.
    public func point(named name: String) -> PointDescriptor? {
        points.first { $0.name == name }
    }
}
