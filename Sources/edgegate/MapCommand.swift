import ArgumentParser
import DeviceMaps
import Gateway
import Foundation
import GatewayCore

/// `edgegate map ...`: device-map authoring.
struct MapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "Device-map authoring: validate, show, start from a template, read a device once.",
        subcommands: [MapValidateCommand.self, MapShowCommand.self, MapNewCommand.self, MapReadCommand.self, MapSchemaCommand.self, MapPlanCommand.self])
}

/// Output format of `map show`.
enum ShowFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// A duration in whole milliseconds.
func milliseconds(_ d: Duration) -> Int64 {
    Int64((d / .milliseconds(1)).rounded())
}

/// Prints a value as pretty JSON with sorted keys, the form tools and diffs like.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Left-aligned columns two spaces apart, header first, without trailing spaces.
func columns(_ header: [String], _ rows: [[String]]) -> [String] {
    let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max()! }
    return ([header] + rows).map { row in
        row.indices.map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
            .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
}

/// `500ms`, `2s`, `1.5s`: durations as device maps write them.
func mapDuration(_ d: Duration) -> String {
    let ms = milliseconds(d)
    return ms % 1000 == 0 ? "\(ms / 1000)s" : (ms < 1000 ? "\(ms)ms" : "\(Value.format(Double(ms) / 1000))s")
}

/// `edgegate map validate PATH...`: every problem at once, compiler style.
struct MapValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check device maps and print every problem as file:line:column: error|warning: message.",
        discussion: "Exit code 0 when no errors were found (warnings may be printed), 1 when errors were found, 2 for usage errors.")

    @Argument(help: "Device-map files or folders.")
    var paths: [String]

    @Option(help: "Output: text (for people and editors) or json (for tools).")
    var format: DiagnosticsFormat = .text

    func validate() throws {
        if paths.isEmpty { throw ValidationError("give at least one device-map file or folder") }
    }

    func run() throws {
        let (map, diagnostics) = DeviceMapLoader.standard.validate(paths: paths)
        let devices = map?.devices.count ?? 0
        try ValidationOutput(diagnostics: diagnostics, valid: map != nil, validSummary: "\(devices) device(s) valid",
                             gateway: nil, devices: devices).print(format: format)
    }
}

/// `edgegate map show PATH`: devices as the gateway will run them.
struct MapShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print devices as resolved: profiles expanded, defaults filled in.",
        discussion: """
            Per device: its points (table, address, type with string length or register bit, \
            byte/word order, scale, offset, unit, access, write limits and enum options) and its \
            named commands (arguments with type, limits and default, and the points they write).
            """)

    @Argument(help: "Device-map files or folders.")
    var paths: [String]

    @Option(help: "Output: table (one per device) or json.")
    var format: ShowFormat = .table

    func run() throws {
        let map = try loadDeviceMaps(paths)
        switch format {
        case .table:
            print(map.devices.map(Self.table).joined(separator: "\n"), terminator: "")
        case .json:
            try printJSON(map.devices.map(DeviceRecord.init))
        }
    }

    static func table(_ device: DeviceDefinition) -> String {
        var text = "\(device.id)  \(device.protocolName)  \(device.connection)  poll \(mapDuration(device.poll))"
        if let profile = device.profile { text += "  profile \(profile)" }
        if let timeout = device.commandTimeout { text += "  command_timeout \(mapDuration(timeout))" }
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
                + [Value.format(p.scale), Value.format(p.offset), p.unit ?? "", p.access.rawValue,
                   p.min.map(Value.format) ?? "", p.max.map(Value.format) ?? "", optionsText(p.options)]
        }
        for line in columns(header, rows) { text += "  " + line + "\n" }
        if !device.commands.isEmpty {
            let commandRows = device.commands.map { command -> [String] in
                [command.name, command.arguments.map(argumentText).joined(separator: ", "),
                 command.writes.map { "\($0.point)=\(WriteValue($0.value).text)" }.joined(separator: ", ")]
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
    struct DeviceRecord: Encodable {
        let device: DeviceDefinition

        init(_ device: DeviceDefinition) {
            self.device = device
        }

        func encode(to encoder: any Encoder) throws {
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

/// `edgegate map new`: a commented template that validates as printed.
struct MapNewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Print a commented device-map template that validates as printed.",
        discussion: """
            The template shows one example of each kind of key of its protocol (modbus: the \
            register types, a string with its length, a bit of a register, an enum with names, a \
            named command with an argument, report policies; mqtt, hue and door-sim: their point \
            keys and a named command). The device's id is --id, else <profile>-1 or <protocol>-1, so \
            templates saved into one folder do not collide. Redirect it into a file under \
            devicemaps/ and edit: edgegate map new --profile chiller > devicemaps/chiller.yaml
            """)

    @Option(help: "Protocol of the template: modbus, mqtt, hue or door-sim.")
    var `protocol`: String = "modbus"

    @Option(help: "Also write the points as a reusable profile with this name, and a device that uses it.")
    var profile: String?

    @Option(help: ArgumentHelp("The device's id (letters, digits, '-', '_', '.'; a letter first).",
                               discussion: "Default: <profile>-1 with --profile, else <protocol>-1."))
    var id: String?

    /// The protocols `template(protocol:profile:id:)` writes a map for.
    static var templateProtocols: [String] { templates.map(\.protocol) }

    func validate() throws {
        // The loader knowing a protocol does not give it a template: only these have one.
        guard Self.templateProtocols.contains(`protocol`) else {
            throw ValidationError("protocol '\(`protocol`)' has no template yet; supported: \(Self.templateProtocols.joined(separator: ", "))")
        }
        if let profile, profile.isEmpty || profile.contains(where: { $0.isWhitespace || $0 == ":" }) {
            throw ValidationError("--profile needs a name without spaces or ':'")
        }
        if let id, !Self.isPlainID(id) {
            throw ValidationError("--id '\(id)': use letters, digits, '-', '_' and '.', starting with a letter")
        }
    }

    func run() throws {
        print(Self.template(protocol: `protocol`, profile: profile, id: id ?? Self.defaultID(protocol: `protocol`, profile: profile)),
              terminator: "")
    }

    /// An id that needs no quoting in YAML and fits every protocol's topics and messages.
    static func isPlainID(_ id: String) -> Bool {
        guard let first = id.unicodeScalars.first, first.properties.isAlphabetic, first.isASCII else { return false }
        return id.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }
    }

    /// `chiller-1` for `--profile chiller`, else `modbus-1`: templates of different models or
    /// protocols saved into one folder do not collide.
    static func defaultID(protocol name: String, profile: String?) -> String {
        if let profile, isPlainID(profile + "-1") { return profile + "-1" }
        return name + "-1"
    }

    /// What a protocol's template holds: comments on its keys, a device's `connection:` and
    /// `poll:` lines, and its points and commands.
    struct Template {
        let `protocol`: String
        let header: [String]
        let device: [String]
        /// Point and command lines, indented for keys at four spaces (in a profile or a device):
        /// one example of each kind of key, so that authors copy rather than look up.
        let body: [String]
    }

    static let templates = [modbus, mqtt, hue, doorSim]

    static let modbus = Template(protocol: "modbus", header: [
        "# Types: bool, int16, uint16, int32, uint32, int64, uint64, float32, float64, string (with length);",
        "# bit: N reads one bit of a register. byte_order/word_order: big (default) | little.",
        "# engineering value = raw × scale + offset; access: read (default) | readwrite | write.",
    ], device: [
        "    connection: { host: 127.0.0.1, port: 502, unit_id: 1, timeout: 1s }   # Modbus TCP",
        "    poll: 1s",
    ], body: [
        "    points:",
        "      # name:    { table: coil|discrete|input|holding, address: 0-based offset, type: ..., unit: ... }",
        #"      temperature: { table: input, address: 0, type: int16, scale: 0.1, unit: "°C", description: Supply temperature }"#,
        #"      flow:        { table: input, address: 2, type: float32, word_order: little, unit: "l/min","#,
        #"                     report: { deadband: "5%" } }           # this point's own report policy"#,
        "      energy:      { table: input, address: 4, type: uint32, scale: 0.01, unit: kWh }",
        "      serial:      { table: input, address: 6, type: string, length: 8 }   # 8 registers: up to 16 characters",
        "      status:      { table: input, address: 14, type: uint16 }",
        "      running:     { table: input, address: 14, bit: 0 }   # bit 0 (least significant) of status, a bool",
        #"      setpoint:    { table: holding, address: 0, type: int16, scale: 0.1, unit: "°C","#,
        "                     access: readwrite, min: 5, max: 90 }   # writes outside min/max are refused",
        "      mode:        { table: holding, address: 1, type: uint16, access: readwrite,",
        "                     enum: { standby: 0, heat: 1, eco: 2 } }   # the only values a write may set",
        "      pump:        { table: coil, address: 0, access: readwrite }",
        "      alarm:       { table: discrete, address: 0 }",
        #"    commands:                        # the cloud sends {"command": "set_temperature", "args": {"celsius": 21}}"#,
        "      start_pump:  { write: { pump: true } }",
        "      set_temperature:",
        "        args: { celsius: { type: number, min: 5, max: 90, default: 20 } }",
        "        write: { setpoint: $celsius, mode: heat }   # $celsius: the argument; heat: mode's name for 1",
    ])

    static let mqtt = Template(protocol: "mqtt", header: [
        "# MQTT devices (zigbee2mqtt, Tasmota, JSON over MQTT): Sources/MQTTDevicesAdapter/README.md.",
        "# path: where the value is in the JSON payload ($.a.b[0]); type: bool, int64, float64 (default), string.",
        "# Writable points publish their payload template to command_topic ({topic}/set by default).",
    ], device: [
        #"    connection: { broker: "mqtts://broker.example:8883", topic: "zigbee2mqtt/{id}", stale_after: 2h }"#,
        "    # plain MQTT only with `insecure: true`; user names with password_env: the variable holding the password",
    ], body: [
        "    points:",
        #"      temperature: { path: $.temperature, unit: "°C" }"#,
        #"      humidity:    { path: $.humidity, unit: "%RH", report: { deadband: 1 } }"#,
        "      battery:     { path: $.battery, type: int64, unit: \"%\" }",
        "      relay:       { path: $.state, true_value: \"ON\", false_value: \"OFF\", access: readwrite,",
        #"                     payload: '{"state": "{value}"}' }   # what a write publishes"#,
        #"      available:   { topic: "{topic}/availability", path: $.state, true_value: online, false_value: offline,"#,
        "                     stale_after: never }   # published on change only",
        "    commands:",
        "      switch_on:   { write: { relay: true } }",
    ])

    static let hue = Template(protocol: "hue", header: [
        "# Philips Hue bridges, local API v1: Sources/HueAdapter/README.md. Pair once and keep the",
        "# username in the environment: export HUE_USERNAME=$(edgegate hue pair --bridge http://BRIDGE)",
        "# resource: light | sensor; id: the bridge's id; field: on, bri, hue, sat, ct, x, y, transitiontime, ...",
    ], device: [
        #"    connection: { bridge: "http://192.0.2.20", username_env: HUE_USERNAME }"#,
        "    poll: 1s",
    ], body: [
        "    points:",
        #"      "on":       { resource: light, id: "1", field: "on", access: readwrite }"#,
        #"      brightness: { resource: light, id: "1", field: bri, access: readwrite }   # the bridge's 1…254"#,
        #"      transition: { resource: light, id: "1", field: transitiontime, scale: 0.1, unit: s, access: write }"#,
        #"      reachable:  { resource: light, id: "1", field: reachable }"#,
        #"      motion:     { resource: sensor, id: "5", field: presence }"#,
        #"      temperature: { resource: sensor, id: "4", field: temperature, unit: "°C" }"#,
        "    commands:",
        "      dim:",
        "        args: { level: { type: integer, min: 1, max: 254 }, seconds: { type: number, min: 0, max: 60, default: 1 } }",
        #"        write: { "on": true, brightness: $level, transition: $seconds }   # one PUT to the light"#,
    ])

    static let doorSim = Template(protocol: "door-sim", header: [
        "# Simulated door sensors for demos and tests: Sources/DoorSimAdapter/README.md.",
        "# The same seed, door and parameters give the same events in every run. Read-only.",
    ], device: [
        "    connection: { seed: 7, open_every: 2m, open_for: 20s, speed: 1 }",
        "    poll: 30s",
    ], body: [
        "    points:",
        "      closed:  { field: contact }          # true while closed, as zigbee2mqtt reports it",
        #"      battery: { field: battery, unit: "%" }"#,
        "      tamper:  { field: tamper }",
        "      opened:  { field: events }           # openings since the start",
    ])

    static func template(protocol name: String = "modbus", profile: String?, id: String) -> String {
        let template = templates.first { $0.protocol == name } ?? modbus
        var lines = [
            "# A device map for edgegate: docs/devicemaps.md is the reference.",
            "# Check it with: edgegate map validate FILE    See it resolved: edgegate map show FILE",
        ] + template.header
        if let profile {
            lines += ["profiles:", "  \(profile):                          # a device model, reusable by many devices",
                      "    protocol: \(template.protocol)"] + template.body
        }
        lines += ["devices:", "  - id: \(id)".padding(toLength: max(39, 9 + id.count), withPad: " ", startingAt: 0)
                  + "# unique across all maps of the gateway (map new --id)"] + template.device
        if template.protocol == "modbus" {
            lines += ["    report: { deadband: 0.5, max_interval: 60s }   # send a change of more than 0.5, else every 60 s"]
        }
        if let profile {
            lines += ["    profile: \(profile)                # a device may add or override points and commands"]
        } else {
            lines += ["    protocol: \(template.protocol)"] + template.body
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `edgegate map schema`: the JSON Schema of the format, for editors and tools.
struct MapSchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema (draft 2020-12) of the device-map format.",
        discussion: """
            Save it (edgegate map schema > devicemap.schema.json) and start a map with
            # yaml-language-server: $schema=./devicemap.schema.json
            for completion and checks in editors that use the YAML language server.
            """)

    func run() {
        print(DeviceMapSchema.json(protocols: GatewayProtocols.syntaxes))
    }
}
