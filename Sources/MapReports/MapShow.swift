public import DeviceMaps
import Foundation
import GatewayCore

/// What `edgegate map show` prints: devices as resolved, profiles expanded and defaults
/// filled in, as a table per device or as JSON. Protocol settings come from each protocol's
/// `fields` and `columns`, so a protocol needs nothing here to be shown.
public enum MapShow {
    /// The device as `map show` prints it: a header line, its points and its commands.
    public static func table(_ device: DeviceDefinition) -> String {
        var text = "\(device.id)  \(device.protocolName)  \(device.connection)  poll \(device.poll.mapText)"
        if let profile = device.profile { text += "  profile \(profile)" }
        if let timeout = device.commandTimeout { text += "  command_timeout \(timeout.mapText)" }
        text += "\n"
        // The protocol's columns, in the order its points first name them; blank where a point has none.
        var keys: [String] = []
        for point in device.points {
            for field in point.address.columns where !keys.contains(field.key) { keys.append(field.key) }
        }
        let header = ["point"] + keys + ["scale", "offset", "unit", "access", "min", "max", "enum"]
        let rows = device.points.map { p -> [String] in
            let columns = p.address.columns
            return [p.name] + keys.map { key in columns.first { $0.key == key }?.text ?? "" }
                + [
                    Value.format(p.scale), Value.format(p.offset), p.unit ?? "", p.access.rawValue,
                    p.min.map(Value.format) ?? "", p.max.map(Value.format) ?? "", optionsText(p.options),
                ]
        }
        for line in columns(header, rows) { text += "  " + line + "\n" }
        if !device.commands.isEmpty {
            let commandRows = device.commands.map { command -> [String] in
                [
                    command.name, command.arguments.map(argumentText).joined(separator: ", "),
                    command.writes.map { "\($0.point)=\(WriteValue($0.value).text)" }.joined(separator: ", "),
                ]
            }
            for line in columns(["command", "args", "writes"], commandRows) { text += "  " + line + "\n" }
        }
        return text
    }

    /// `[off=0, heat=1]`: the options as the gateway's messages name them (only the options
    /// matter to `describeOptions`, hence any kind).
    static func optionsText(_ options: [EnumOption]) -> String {
        options.isEmpty ? "" : ValueRule(kind: .number, typeName: "", options: options).describeOptions()
    }

    /// `celsius (number, 5…90, default 20)`.
    static func argumentText(_ argument: CommandArgument) -> String {
        let rule = argument.rule
        var parts = [rule.kind.rawValue]
        switch (rule.min, rule.max) {
        case let (lo?, hi?): parts.append("\(Value.format(lo))…\(Value.format(hi))")
        case let (lo?, nil): parts.append("≥ \(Value.format(lo))")
        case let (nil, hi?): parts.append("≤ \(Value.format(hi))")
        case (nil, nil): break
        }
        if !rule.options.isEmpty { parts.append("one of " + rule.describeOptions()) }
        if let value = argument.defaultValue { parts.append("default \(value)") }
        return "\(argument.name) (\(parts.joined(separator: ", ")))"
    }

    /// A device as JSON: the shared keys, with its connection's protocol fields (`host`,
    /// `port`, `unit_id`) beside them.
    public struct DeviceRecord: Encodable {
        let device: DeviceDefinition

        /// Wraps a device.
        public init(_ device: DeviceDefinition) {
            self.device = device
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: FieldKey.self)
            try c.encode(device.id, forKey: "id")
            try c.encode(device.protocolName, forKey: "protocol")
            try c.encodeIfPresent(device.profile, forKey: "profile")
            // `127.0.0.1:502 unit 1` or `/dev/ttyUSB0 19200 8E1 unit 7`.
            try c.encode(device.connection.description, forKey: "connection")
            for field in device.connection.fields { try c.encode(field.value, forKey: FieldKey(field.key)) }
            try c.encode(milliseconds(device.poll), forKey: "poll_ms")
            // Absent when the device uses the gateway's default.
            try c.encodeIfPresent(device.commandTimeout.map(milliseconds), forKey: "command_timeout_ms")
            try c.encode(device.points.map(PointRecord.init), forKey: "points")
            try c.encode(device.commands.map(CommandRecord.init), forKey: "commands")
        }
    }

    /// A point as JSON: its protocol's fields (Modbus: `table`, `type`, orders, `address`,
    /// `length` or `bit` where they apply) and the shared keys.
    struct PointRecord: Encodable {
        let point: PointDefinition

        init(_ point: PointDefinition) {
            self.point = point
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: FieldKey.self)
            try c.encode(point.name, forKey: "name")
            for field in point.address.fields { try c.encode(field.value, forKey: FieldKey(field.key)) }
            try c.encode(point.access.rawValue, forKey: "access")
            try c.encode(point.scale, forKey: "scale")
            try c.encode(point.offset, forKey: "offset")
            try c.encodeIfPresent(point.unit, forKey: "unit")
            try c.encodeIfPresent(point.description, forKey: "description")
            try c.encodeIfPresent(point.min, forKey: "min")
            try c.encodeIfPresent(point.max, forKey: "max")
            if !point.options.isEmpty { try c.encode(point.options.map(OptionRecord.init), forKey: "enum") }
        }
    }

    /// A JSON key known only at run time, from a protocol's fields.
    struct FieldKey: CodingKey, ExpressibleByStringLiteral {
        let stringValue: String
        var intValue: Int? { nil }
        init(_ key: String) { stringValue = key }
        init(stringLiteral key: String) { stringValue = key }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// One allowed value, with its name when the map gives one.
    struct OptionRecord: Encodable {
        let name: String?
        let value: Value

        init(_ option: EnumOption) {
            name = option.label
            value = option.value
        }
    }

    struct CommandRecord: Encodable {
        let name: String
        let description: String?
        let args: [ArgumentRecord]
        /// Point → value, in the map's own notation: `"$celsius"` for an argument.
        let write: [String: WriteValue]

        init(_ c: NamedCommand) {
            name = c.name
            description = c.description
            args = c.arguments.map(ArgumentRecord.init)
            write = Dictionary(c.writes.map { ($0.point, WriteValue($0.value)) }, uniquingKeysWith: { a, _ in a })
        }
    }

    struct ArgumentRecord: Encodable {
        let name, type: String
        let description: String?
        let min, max: Double?
        let options: [OptionRecord]?
        let defaultValue: Value?

        init(_ a: CommandArgument) {
            name = a.name
            type = a.rule.kind.rawValue
            description = a.description
            min = a.rule.min
            max = a.rule.max
            options = a.rule.options.isEmpty ? nil : a.rule.options.map(OptionRecord.init)
            defaultValue = a.defaultValue
        }

        enum CodingKeys: String, CodingKey {
            case name, type, description, min, max
            case options = "enum", defaultValue = "default"
        }
    }

    /// What a command writes, spelled as in the map: a value, `$name` for an argument, and `$$`
    /// for a text that starts with `$`, so that the two cannot be confused.
    struct WriteValue: Encodable {
        let template: WriteTemplate

        init(_ template: WriteTemplate) {
            self.template = template
        }

        /// The value as the map spells it.
        var spelled: Value {
            switch template {
            case .argument(let name): return .string("$\(name)")
            case .literal(.string(let s)) where s.hasPrefix("$"): return .string("$\(s)")
            case .literal(let v): return v
            }
        }

        /// For the table: `$celsius` bare, literals as values (`true`, `21.5`, `"heat"`).
        var text: String {
            if case .argument(let name) = template { return "$\(name)" }
            return spelled.description
        }

        func encode(to encoder: any Encoder) throws {
            try spelled.encode(to: encoder)
        }
    }
}
