public import DeviceMaps
public import GatewayCore

/// A simulated door's `connection:`: the seed and name that select its schedule, how it
/// behaves, and how fast it plays.
public struct DoorSimConnection: DeviceConnection, Hashable {
    /// The seed (`seed`).
    public var seed: UInt64
    /// The door's name in the schedule (`door`); nil: the device id. `edgegate sim doors`
    /// with the same seed, name and parameters publishes the same events.
    public var door: String?
    /// How the door behaves.
    public var parameters: DoorParameters
    /// Simulated time per real time (`speed`): 60 plays a simulated minute per second.
    public var speed: Double

    /// Creates a connection.
    public init(seed: UInt64, door: String? = nil, parameters: DoorParameters = .standard, speed: Double = 1) {
        self.seed = seed
        self.door = door
        self.parameters = parameters
        self.speed = speed
    }

    /// The schedule of device `device`: its `door`, else its id.
    public func schedule(device: String) -> DoorSchedule {
        DoorSchedule(seed: seed, door: door ?? device, parameters: parameters)
    }

    /// `seed`, `door` when set, then the parameters and `speed`, defaults filled in.
    public var fields: [MapField] {
        var fields = [MapField("seed", .int(Int64(bitPattern: seed)))]
        if let door { fields.append(MapField("door", .string(door))) }
        let p = parameters
        fields += [
            MapField("open_every", .string(p.openEvery.mapText)), MapField("open_for", .string(p.openFor.mapText)),
            MapField("battery", .int(Int64(p.battery))), MapField("battery_drain", .double(p.batteryDrain)),
            MapField("tamper_rate", .double(p.tamperRate)), MapField("speed", .double(speed)),
        ]
        return fields
    }

    /// `seed 7, door front, opens every 2m for 20s, speed 60`.
    public var description: String {
        var text = "seed \(seed)"
        if let door { text += ", door \(door)" }
        text += ", opens every \(parameters.openEvery.mapText) for \(parameters.openFor.mapText)"
        if speed != 1 { text += ", speed \(Value.format(speed))" }
        return text
    }
}

/// What a door sensor reports, as zigbee2mqtt names it (plus `open` and `events`).
public enum DoorField: String, Sendable, Hashable, CaseIterable {
    /// True when closed, as zigbee2mqtt reports a contact sensor.
    case contact
    /// True when open: `contact` the other way round, for maps that prefer it.
    case open
    /// Battery level in percent (integer).
    case battery
    /// Battery voltage in millivolts (integer), derived from the level.
    case voltage
    /// True at 20 % battery and below.
    case batteryLow = "battery_low"
    /// True while the tamper switch is set off.
    case tamper
    /// Openings since the device started (integer).
    case events

    /// The kind of value the field reads.
    public var kind: ValueKind {
        switch self {
        case .contact, .open, .batteryLow, .tamper: return .bool
        case .battery, .voltage, .events: return .integer
        }
    }

    /// The field's value in `state`.
    public func value(in state: DoorState) -> Value {
        switch self {
        case .contact: return .bool(state.contact)
        case .open: return .bool(state.open)
        case .battery: return .int(Int64(state.battery))
        case .voltage: return .int(Int64(state.voltage))
        case .batteryLow: return .bool(state.batteryLow)
        case .tamper: return .bool(state.tamper)
        case .events: return .int(state.openings)
        }
    }
}

/// A `door-sim` point: the sensor field it reads.
public struct DoorSimPoint: PointAddress, Hashable {
    /// The field.
    public var field: DoorField

    /// Creates a point address.
    public init(field: DoorField) {
        self.field = field
    }

    /// `bool` or `integer`.
    public var typeName: String { field.kind == .bool ? "bool" : "integer" }
    /// The field's kind.
    public var rawKind: ValueKind { field.kind }
    /// `field`.
    public var fields: [MapField] { [MapField("field", .string(field.rawValue))] }
    /// `contact`.
    public var description: String { field.rawValue }
}

extension PointDefinition {
    /// The point's door-sim address (see `address(as:)` for why it always is one).
    public var doorSim: DoorSimPoint { address(as: DoorSimPoint.self) }
}

extension DeviceDefinition {
    /// The device's door-sim connection (see `connection(as:)` for why it always is one).
    public var doorSimConnection: DoorSimConnection { connection(as: DoorSimConnection.self) }
}
