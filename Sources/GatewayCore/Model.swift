public import Foundation

/// A reading or command value, independent of the protocol that carried it.
public enum Value: Sendable, Hashable {
    /// A boolean, such as a coil or a light's `on`.
    case bool(Bool)
    /// A signed integer; unsigned 32-bit registers fit without loss.
    case int(Int64)
    /// A floating-point number, used whenever scale/offset or a float register is involved.
    case double(Double)
    /// Text.
    case string(String)

    /// The value as a `Double` when it is numeric (bools are not numbers here).
    public var numeric: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .double(let v): return v
        case .bool, .string: return nil
        }
    }
}

extension Value: Codable {
    /// Decodes a JSON scalar: `true` → bool, `42` → int, `21.5` → double, `"x"` → string.
    /// JSON null, arrays and objects are not values and fail to decode.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else {
            throw DecodingError.typeMismatch(
                Value.self,
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "expected a bool, number or string"))
        }
    }

    /// Encodes as the matching JSON scalar.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        }
    }
}

extension Value: CustomStringConvertible {
    /// A short human form: `true`, `42`, `21.5`, `"text"`.
    public var description: String {
        switch self {
        case .bool(let b): return String(b)
        case .int(let i): return String(i)
        case .double(let d): return Value.format(d)
        case .string(let s): return "\"\(s)\""
        }
    }

    /// Formats a double with up to 10 significant decimals and no trailing noise (`21.5`, not `21.500000000000004`).
    public static func format(_ d: Double) -> String {
        if d.isFinite, d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        var s = String(format: "%.10g", d)
        if s.contains("e") { s = String(d) }
        return s
    }
}

/// How far a reading can be trusted.
public enum Quality: Sendable, Hashable {
    /// Read from the device just now.
    case good
    /// Read, but with a doubt (for example a value the device flags as stale).
    case uncertain(String)
    /// Not read: the reason says why. A bad reading carries no value.
    case bad(String)

    /// The wire name: `good`, `uncertain` or `bad`.
    public var name: String {
        switch self {
        case .good: return "good"
        case .uncertain: return "uncertain"
        case .bad: return "bad"
        }
    }

    /// Why the quality is not good; nil when it is.
    public var reason: String? {
        switch self {
        case .good: return nil
        case .uncertain(let r), .bad(let r): return r
        }
    }
}

/// One normalized sample of one point of one device.
public struct Reading: Sendable, Hashable {
    /// The device id from the device map.
    public var device: String
    /// The point name from the device map.
    public var point: String
    /// The engineering value (scale and offset applied); nil when the quality is bad.
    public var value: Value?
    /// The engineering unit from the device map, if any.
    public var unit: String?
    /// Whether the value can be trusted.
    public var quality: Quality
    /// When the value was read at the source.
    public var timestamp: Date

    /// Creates a reading.
    public init(device: String, point: String, value: Value?, unit: String?, quality: Quality, timestamp: Date) {
        self.device = device
        self.point = point
        self.value = value
        self.unit = unit
        self.quality = quality
        self.timestamp = timestamp
    }
}

/// What a command asks a device to do.
public enum CommandAction: Sendable, Hashable {
    /// Write these points (point name → engineering value).
    case write([String: Value])
    /// Run a named command of the device map with arguments.
    case named(String, arguments: [String: Value])
}

/// A command from the cloud, addressed to one device.
public struct Command: Sendable, Hashable {
    /// Correlation and idempotency key, chosen by the sender.
    public var id: String
    /// The target device id.
    public var device: String
    /// What to do.
    public var action: CommandAction
    /// After this instant the command must not run (status `expired`).
    public var expiresAt: Date?
    /// Who sent it, as the sender says (the CLI puts its identity here), for the audit log.
    /// Never used for authorization: that is the hub's ACL, which knows the certificate.
    public var by: String?

    /// Creates a command.
    public init(id: String, device: String, action: CommandAction, expiresAt: Date? = nil, by: String? = nil) {
        self.id = id
        self.device = device
        self.action = action
        self.expiresAt = expiresAt
        self.by = by
    }
}

extension CommandAction: CustomStringConvertible {
    /// What the command asks, for logs: `write setpoint=21.5, pump=true` or
    /// `set_temperature celsius=21.5`, keys sorted.
    public var description: String {
        func pairs(_ values: [String: Value]) -> String {
            values.keys.sorted().map { "\($0)=\(values[$0]!)" }.joined(separator: ", ")
        }
        switch self {
        case .write(let values): return "write " + pairs(values)
        case .named(let name, let args): return args.isEmpty ? name : "\(name) \(pairs(args))"
        }
    }
}

/// The outcome class of a command, as named on the wire.
public enum CommandStatus: String, Sendable, Hashable, CaseIterable {
    /// Executed; read-back values attached.
    case ok
    /// Refused before execution (validation, authorization, malformed).
    case rejected
    /// Executed but the device reported an error or did not take the value.
    case failed
    /// Arrived after its `expires_at`; not executed.
    case expired
    /// Seen before; not executed again.
    case duplicate
    /// The device did not answer within the execution timeout.
    case timeout
    /// No device with that id in the device maps.
    case unknownDevice = "unknown_device"
}

/// The answer to a command.
public struct CommandResult: Sendable, Hashable {
    /// The command id this answers.
    public var id: String
    /// The outcome.
    public var status: CommandStatus
    /// A sentence for a person: what happened, naming device, point and cause.
    public var message: String
    /// Values read back after a write (point → value).
    public var values: [String: Value]
    /// When the result was produced.
    public var timestamp: Date

    /// Creates a result.
    public init(id: String, status: CommandStatus, message: String, values: [String: Value] = [:], timestamp: Date = Date()) {
        self.id = id
        self.status = status
        self.message = message
        self.values = values
        self.timestamp = timestamp
    }
}
