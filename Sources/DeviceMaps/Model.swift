// Diagnostics and source locations are part of what a device map is (every definition says
// where it was written, every load reports in file:line:column), so a module that reads maps
// sees them without importing the syntax target itself.
@_exported import ConfigSyntax
public import GatewayCore

/// One point of a device: where it lives, how to convert it, who may write it.
public struct PointDefinition: Sendable, Hashable {
    /// The point name, unique within the device.
    public var name: String
    /// Where it lives on the device, typed by the device's protocol.
    public var address: any PointAddress
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
    public init(
        name: String, address: any PointAddress, scale: Double = 1, offset: Double = 0,
        unit: String? = nil, access: Access = .read, min: Double? = nil, max: Double? = nil,
        options: [EnumOption] = [], report: ReportPolicy? = nil,
        description: String? = nil, location: SourceLocation? = nil
    ) {
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
        // In engineering units: what the encoding holds, and the steps a scaled integer moves in.
        let range = address.rawRange.map { raw -> ClosedRange<Double> in
            let a = raw.lowerBound * scale + offset
            let b = raw.upperBound * scale + offset
            return Swift.min(a, b)...Swift.max(a, b)
        }
        let step: Double? = address.rawKind == .integer ? abs(scale) : nil
        return PointDescriptor(
            name: name, kind: kind, unit: unit, access: access,
            min: min, max: max, typeName: address.typeName, options: options,
            range: range, step: step, stepOrigin: step == nil ? 0 : offset)
    }

    /// The kind of value the point reads and writes: a scaled integer is a number.
    public var kind: ValueKind {
        address.rawKind == .integer && isScaled ? .number : address.rawKind
    }

    /// Equal when every field is, the address compared by its protocol.
    public static func == (a: PointDefinition, b: PointDefinition) -> Bool {
        a.name == b.name && a.address.isSame(as: b.address) && a.scale == b.scale && a.offset == b.offset
            && a.unit == b.unit && a.access == b.access && a.min == b.min && a.max == b.max && a.options == b.options
            && a.report == b.report && a.description == b.description && a.location == b.location
    }

    /// Hashes the fields that identify a point; equal points hash alike.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(address.description)
        hasher.combine(location)
    }
}

/// One device instance, with its profile already expanded.
public struct DeviceDefinition: Sendable, Hashable {
    /// The device id, unique in the gateway.
    public var id: String
    /// The protocol name (`modbus`, ...), which chose the syntax of `connection` and points.
    public var protocolName: String
    /// The profile it was built from, if any.
    public var profile: String?
    /// How to reach it, typed by its protocol.
    public var connection: any DeviceConnection
    /// The poll period.
    public var poll: Duration
    /// Points, profile points first, in file order.
    public var points: [PointDefinition]
    /// Named commands, profile commands first, in file order.
    public var commands: [NamedCommand]
    /// Report-by-exception policy for points without their own.
    public var report: ReportPolicy?
    /// How long one command may take at this device before it is answered `timeout`; nil:
    /// the gateway's default.
    public var commandTimeout: Duration?
    /// Where the device was declared.
    public var location: SourceLocation?

    /// Creates a device.
    public init(
        id: String, protocolName: String, profile: String? = nil,
        connection: any DeviceConnection, poll: Duration = .seconds(1),
        points: [PointDefinition], commands: [NamedCommand] = [], report: ReportPolicy? = nil,
        commandTimeout: Duration? = nil, location: SourceLocation? = nil
    ) {
        self.id = id
        self.protocolName = protocolName
        self.profile = profile
        self.connection = connection
        self.poll = poll
        self.points = points
        self.commands = commands
        self.report = report
        self.commandTimeout = commandTimeout
        self.location = location
    }

    /// The protocol-free view the router and the inventory use.
    public var descriptor: DeviceDescriptor {
        DeviceDescriptor(
            id: id, protocolName: protocolName, points: points.map(\.descriptor), commands: commands,
            commandTimeout: commandTimeout)
    }

    /// Equal when every field is, the connection compared by its protocol.
    public static func == (a: DeviceDefinition, b: DeviceDefinition) -> Bool {
        a.id == b.id && a.protocolName == b.protocolName && a.profile == b.profile && a.connection.isSame(as: b.connection)
            && a.poll == b.poll && a.points == b.points && a.commands == b.commands && a.report == b.report
            && a.commandTimeout == b.commandTimeout && a.location == b.location
    }

    /// Hashes the fields that identify a device; equal devices hash alike.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(protocolName)
        hasher.combine(connection.description)
        hasher.combine(points)
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
