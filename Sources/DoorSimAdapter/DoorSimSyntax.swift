public import DeviceMaps
public import GatewayCore

/// The `door-sim` part of the device-map format: `connection:` with the schedule's `seed`
/// (required), `door`, `open_every`, `open_for`, `battery`, `battery_drain`, `tamper_rate` and
/// `speed`, and the point key `field`. Every point is read-only.
public enum DoorSimSyntax: ProtocolSyntax {
    /// `door-sim`.
    public static let name = "door-sim"
    /// Keys of `connection:`.
    public static let connectionKeys = ["seed", "door", "open_every", "open_for", "battery", "battery_drain", "tamper_rate", "speed"]
    /// A door that opens about every two minutes.
    public static let connectionExample = "connection: { seed: 7, open_every: 2m, open_for: 20s }"
    /// The point key `field`.
    public static let pointKeys = ["field"]
    /// The fastest `speed`: a simulated week in about a minute. Faster, a door would emit
    /// hundreds of batches a second and flood the gateway rather than demonstrate it.
    public static let maxSpeed = 10_000.0
    /// The slowest `speed`: a simulated second per 1,000 real seconds.
    public static let minSpeed = 0.001

    /// Reads the seed, the door's name, its parameters (defaults: `DoorParameters.standard`)
    /// and the speed, and checks that the parameters make a schedule.
    public static func connection(_ c: MapSection) -> (any DeviceConnection)? {
        let before = c.errorCount
        let seed = c.integer("seed", in: 0...Int.max, required: true)
        let door = c.name("door")
        let d = DoorParameters.standard
        let openEvery = c.duration("open_every") ?? d.openEvery
        let openFor = c.duration("open_for") ?? d.openFor
        let battery = c.integer("battery", in: 0...100) ?? d.battery
        let drain = fraction(c, "battery_drain", in: 0...10_000, hint: "percent of the battery lost per day, e.g. 0.1") ?? d.batteryDrain
        let tamper = fraction(c, "tamper_rate", in: 0...1, hint: "the probability that an opening sets off the tamper switch, e.g. 0.02") ?? d.tamperRate
        let speed = c.number("speed") ?? 1
        if !(speed >= minSpeed && speed <= maxSpeed) {
            c.error(
                "'speed' must be between \(Value.format(minSpeed)) and \(Int(maxSpeed)), found \(Value.format(speed))", atValueOf: "speed",
                hint: "1 plays the schedule in real time, 60 a simulated minute per second")
        }
        let parameters = DoorParameters(openEvery: openEvery, openFor: openFor, battery: battery, batteryDrain: drain, tamperRate: tamper)
        if c.errorCount == before, openEvery <= openFor {
            c.error(
                "'open_every' (\(openEvery.mapText)) must be longer than 'open_for' (\(openFor.mapText))",
                atValueOf: c.has("open_every") ? "open_every" : "open_for",
                hint: "open_every is the mean time from one opening to the next, open time included")
        } else if c.errorCount == before, let problem = parameters.problem {
            c.error(problem, atValueOf: openEvery > DoorParameters.longest ? "open_every" : "open_for")
        }
        guard c.errorCount == before, let seed else { return nil }
        return DoorSimConnection(seed: UInt64(seed), door: door, parameters: parameters, speed: speed)
    }

    /// A number within `range`, reported otherwise.
    private static func fraction(_ c: MapSection, _ key: String, in range: ClosedRange<Double>, hint: String) -> Double? {
        guard let value = c.number(key) else { return nil }
        guard range.contains(value) else {
            c.error(
                "'\(key)' must be between \(Value.format(range.lowerBound)) and \(Value.format(range.upperBound)), found \(Value.format(value))",
                atValueOf: key, hint: hint)
            return nil
        }
        return value
    }

    /// Reads `field`; a writable point is an error, since a door sensor takes no writes.
    public static func point(_ m: MapSection, access: Access) -> (any PointAddress)? {
        let before = m.errorCount
        let field = m.choice("field", DoorField.self, required: true)
        if access.isWritable {
            m.error(
                "access '\(access.rawValue)' is not possible on a door-sim point", atValueOf: "access",
                hint: "a door sensor only reports; remove 'access' (the default is read)")
        }
        guard m.errorCount == before, let field else { return nil }
        return DoorSimPoint(field: field)
    }

    /// Nothing to check across a door's points: any field may be read by several points.
    public static func check(
        points: [PointDefinition], connection: (any DeviceConnection)?, of device: String,
        at location: SourceLocation, reporter: MapReporter
    ) {}

    /// `connection:` of a simulated door.
    public static var connectionSchema: [String: Any] {
        let d = DoorParameters.standard
        return [
            "type": "object", "additionalProperties": false, "required": ["seed"],
            "description": "A simulated door sensor (door-sim): seed, door, open_every, open_for, battery, battery_drain, tamper_rate, speed.",
            "properties": [
                "seed": ["type": "integer", "minimum": 0, "description": "Seed of the schedule: the same seed, door and parameters give the same events."],
                "door": ["type": "string", "minLength": 1, "description": "The door's name in the schedule (default: the device id)."],
                "open_every": ["$ref": "#/$defs/duration", "description": "Mean time from one opening to the next (default \(d.openEvery.mapText))."],
                "open_for": ["$ref": "#/$defs/duration", "description": "Mean time the door stays open (default \(d.openFor.mapText))."],
                "battery": ["type": "integer", "minimum": 0, "maximum": 100, "description": "Battery level at the start in % (default \(d.battery))."],
                "battery_drain": [
                    "type": "number", "minimum": 0, "maximum": 10_000, "description": "Battery lost per day in % (default \(Value.format(d.batteryDrain))).",
                ],
                "tamper_rate": [
                    "type": "number", "minimum": 0, "maximum": 1,
                    "description": "Probability that an opening sets off the tamper switch (default \(Value.format(d.tamperRate))).",
                ],
                "speed": [
                    "type": "number", "minimum": minSpeed, "maximum": maxSpeed,
                    "description": "Simulated time per real time (default 1; 60: a minute per second).",
                ],
            ] as [String: Any],
        ]
    }

    /// The point key `field`.
    public static var pointSchema: [String: Any] {
        [
            "field": [
                "enum": DoorField.allCases.map(\.rawValue),
                "description": "What a door-sim point reads: contact (true = closed), open, battery (%), voltage (mV), battery_low, tamper, events (openings).",
            ]
        ]
    }

    /// `field` is required and the point read-only.
    public static var pointSchemaRules: [String: Any] {
        ["required": ["field"], "properties": ["access": ["const": Access.read.rawValue]]]
    }
}
