public import DeviceMaps
import Foundation
public import GatewayCore
import MQTTClient

/// The MQTT part of the device-map format: `connection:` names a broker and the device's
/// state topic; each point names a JSON path (and optionally its own topic), a type, and for
/// writes a command topic and a payload template.
public enum MQTTDeviceSyntax: ProtocolSyntax {
    /// `mqtt`.
    public static let name = "mqtt"
    /// Keys of `connection:`.
    public static let connectionKeys = [
        "broker", "insecure", "ca", "cert", "key", "username", "password_env", "client_id",
        "topic", "id_level", "stale_after", "qos",
    ]
    /// A zigbee2mqtt device on a local broker.
    public static let connectionExample = "connection: { broker: \"mqtts://192.0.2.5:8883\", topic: \"zigbee2mqtt/{id}\" }"
    /// The point keys MQTT adds.
    public static let pointKeys = ["topic", "path", "type", "true_value", "false_value", "stale_after", "command_topic", "payload"]

    /// Reads `connection:`.
    public static func connection(_ c: MapSection) -> (any DeviceConnection)? {
        let before = c.errorCount
        let brokerText = c.name("broker", required: true, hint: "mqtts://host[:port], or mqtt://host[:port] with insecure: true")
        var broker: MQTTURL?
        if let brokerText {
            switch MQTTURL.parseBroker(brokerText) {
            case .success(let b): broker = b
            case .failure(let e): c.error(e.description, atValueOf: "broker", hint: "for example mqtts://192.0.2.5:8883")
            }
        }
        let insecure = c.bool("insecure") ?? false
        if let broker {
            if !broker.useTLS, !insecure {
                c.error(
                    "plain MQTT sends device data and commands unencrypted; set `insecure: true` to allow it",
                    atValueOf: "broker", hint: "or use mqtts://, with ca: for a private CA")
            }
            if broker.useTLS, insecure {
                c.warning("`insecure: true` has no effect with mqtts://", atKey: "insecure")
            }
            if !broker.useTLS, let tlsKey = ["ca", "cert", "key"].first(where: c.has) {
                c.warning("'\(tlsKey)' only applies to mqtts://", atKey: tlsKey)
            }
        }
        let ca = c.path("ca")
        let cert = c.path("cert")
        let key = c.path("key")
        if c.has("cert") != c.has("key") {
            let (given, missing) = c.has("cert") ? ("cert", "key") : ("key", "cert")
            c.error("'\(given)' needs '\(missing)'", atKey: given, hint: "mutual TLS takes a client certificate and its private key")
        }
        let username = c.name("username")
        let passwordEnv = c.name("password_env", hint: "the name of an environment variable holding the password")
        if let passwordEnv {
            if !isEnvironmentName(passwordEnv) {
                c.error(
                    "'password_env' names an environment variable (letters, digits, _), found '\(passwordEnv)'",
                    atValueOf: "password_env", hint: "the password itself never goes in the map: export it, e.g. SITE_BROKER_PASSWORD")
            } else if username == nil {
                c.error("'password_env' needs 'username'", atKey: "password_env", hint: "MQTT sends a password only with a user name")
            }
        }
        let clientID = c.name("client_id")
        let topic = c.name("topic", required: true, hint: "the device's state topic, e.g. zigbee2mqtt/{id}")
        if let topic, let problem = Topic.filterProblem(topic) {
            c.error("topic '\(topic)': \(problem)", atValueOf: "topic")
        }
        let idLevel = c.integer("id_level", in: 1...64)
        if let idLevel, let topic {
            let level = Topic.level(idLevel, of: topic)
            if level != "+" {
                let what = level.map { "is '\($0)'" } ?? "does not exist"
                c.error(
                    "id_level \(idLevel) \(what) in topic '\(topic)': the level carrying the device id must be '+'",
                    atValueOf: "id_level",
                    hint: Topic.hasWildcard(topic)
                        ? "count levels from 1: in a/+/b, the '+' is level 2"
                        : "id_level is for devices sharing a wildcard topic such as sensors/+/state; without one, use {id} in the topic and drop id_level")
            }
        }
        let staleAfter: Duration? =
            switch staleness(c) {
            case .after(let d)?: d
            case .never?, nil: nil
            }
        let qos = c.integer("qos", in: 0...1) ?? 1
        guard c.errorCount == before, let broker, let topic else { return nil }
        return MQTTDeviceConnection(
            broker: broker, insecure: insecure, caFile: ca, certFile: cert, keyFile: key,
            username: username, passwordEnv: passwordEnv, clientID: clientID, topic: topic,
            idLevel: idLevel, staleAfter: staleAfter, qos: qos)
    }

    /// `stale_after`: a duration, or `never`; nil when not given or wrong (reported).
    static func staleness(_ s: MapSection) -> Staleness? {
        if let text = s.scalar("stale_after"), let first = text.first, first.isLetter {
            // A word, not a number with a unit: the duration's message would not say `never`.
            guard text == "never" else {
                s.error(
                    "'stale_after' must be a duration such as 10m, or never, found '\(text)'", atValueOf: "stale_after",
                    hint: "never turns the limit off; durations take a unit: ms, s, m, h")
                return nil
            }
            return .never
        }
        return s.duration("stale_after").map(Staleness.after)
    }

    static func isEnvironmentName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }

    /// Reads a point's topic, path, type and command settings.
    public static func point(_ m: MapSection, access: Access) -> (any PointAddress)? {
        let before = m.errorCount
        let topic = m.name("topic")
        if let topic, let problem = Topic.filterProblem(topic) {
            m.error("topic '\(topic)': \(problem)", atValueOf: "topic")
        }
        var path: JSONPath?
        if let text = m.name("path", required: true, hint: "where the value is in the JSON payload: $.temperature, or $ for the whole payload") {
            do {
                path = try JSONPath.parse(text)
            } catch {
                m.error(
                    "JSON path '\(text)': \(error.problem)", atValueOf: "path", characterOffset: error.offset,
                    hint: error.hint ?? "a path is $ followed by .key, [index] or [\"key\"] steps, e.g. $.a.b[0]")
            }
        }
        let trueValue = m.name("true_value")
        let falseValue = m.name("false_value")
        let hasBoolTexts = m.has("true_value") || m.has("false_value")
        var type = MQTTValueType.float64
        if m.has("type") {
            // An unknown type is reported; the other keys are still checked against the default.
            type = m.choice("type", MQTTValueType.self) ?? type
        } else if hasBoolTexts {
            type = .bool
        }
        if hasBoolTexts {
            if type != .bool {
                let key = m.has("true_value") ? "true_value" : "false_value"
                m.error(
                    "'\(key)' applies to bool points, and this point is \(type.rawValue)", atKey: key,
                    hint: "use type: bool for a state sent as text such as ON/OFF")
            } else if m.has("true_value") != m.has("false_value") {
                let (given, missing) = m.has("true_value") ? ("true_value", "false_value") : ("false_value", "true_value")
                m.error(
                    "'\(given)' needs '\(missing)'", atKey: given,
                    hint: "give both texts, e.g. true_value: ON, false_value: OFF; any other text is then a bad reading")
            } else if let trueValue, trueValue == falseValue {
                m.error("'true_value' and 'false_value' are both '\(trueValue)'", atValueOf: "false_value")
            }
        }
        let staleAfter = staleness(m)
        var commandTopic: String?
        var payload: PayloadTemplate?
        if access.isWritable {
            commandTopic = m.name("command_topic") ?? MQTTPointAddress.defaultCommandTopic
            if let t = commandTopic, Topic.hasWildcard(t.replacingOccurrences(of: "{topic}", with: "")) {
                m.error("command topic '\(t)' has a wildcard; a message is published to one topic", atValueOf: "command_topic")
            }
            if let text = m.name("payload") {
                let template = PayloadTemplate(text)
                if let problem = templateProblem(template, type: type, trueValue: trueValue, falseValue: falseValue) {
                    m.error(
                        "payload template \(problem)", atValueOf: "payload",
                        hint: "a JSON text with {value} where the value goes: {\"state\": \"{value}\"} or {\"brightness\": {value}}")
                }
                payload = template
            } else if let path {
                if let key = path.lastKey {
                    payload = .field(key)
                } else {
                    m.error(
                        "a writable point at path \(path) needs 'payload'", atValueOf: "path",
                        hint: "the default payload {\"<last key of path>\": value} needs a path ending in a key")
                }
            }
        } else if let key = ["command_topic", "payload"].first(where: m.has) {
            m.warning("'\(key)' only applies to writable points", atKey: key, hint: "set `access: readwrite` to allow writes")
        }
        guard m.errorCount == before, let path else { return nil }
        return MQTTPointAddress(
            topic: topic, path: path, type: type, trueValue: trueValue, falseValue: falseValue,
            staleAfter: staleAfter, commandTopic: commandTopic, payload: payload)
    }

    /// Why a template is not JSON once a value of the point's type fills it in; nil when it is.
    static func templateProblem(_ template: PayloadTemplate, type: MQTTValueType, trueValue: String?, falseValue: String?) -> String? {
        let sample: Value =
            switch type {
            case .bool: .bool(true)
            case .int64: .int(1)
            case .float64: .double(1.5)
            case .string: .string("text")
            }
        let address = MQTTPointAddress(path: .root, type: type, trueValue: trueValue, falseValue: falseValue, payload: template)
        guard let rendered = try? ValueCodec.render(sample, address: address) else { return nil }
        do {
            _ = try JSONValue(parsing: Array(rendered.utf8))
            return nil
        } catch {
            return "'\(template.description)' is not valid JSON once {value} is filled in: \(error) of \(rendered)"
        }
    }

    /// Topics as the device resolves them (`{topic}` filled in; `{id}` is a plain level
    /// either way): each must be a valid filter; with `id_level`, each point's topic must
    /// carry `+` at that level; command topics must have no wildcard once the device id fills
    /// the id level.
    public static func check(
        points: [PointDefinition], connection: (any DeviceConnection)?, of device: String,
        at location: SourceLocation, reporter: MapReporter
    ) {
        guard let connection = connection as? MQTTDeviceConnection else { return }
        for point in points {
            let a = point.mqtt
            let at = point.location ?? location
            let topic = a.topic(device: "{id}", deviceTopic: connection.topic)
            if let problem = Topic.filterProblem(topic) {
                reporter.error("\(device), point '\(point.name)': topic '\(topic)': \(problem)", at: at)
                continue
            }
            if let level = connection.idLevel, Topic.level(level, of: topic) != "+" {
                reporter.error(
                    "\(device), point '\(point.name)': topic '\(topic)' has no '+' at the device's id_level \(level)",
                    at: at, hint: "base it on the device topic, e.g. {topic}/availability")
            }
            // A wildcard written in command_topic itself is reported where it is written.
            if let command = commandTopic(of: a, device: "{id}", connection: connection), Topic.hasWildcard(command),
                !Topic.hasWildcard(a.commandTopic!.replacingOccurrences(of: "{topic}", with: ""))
            {
                reporter.error(
                    "\(device), point '\(point.name)': command topic '\(command)' has a wildcard; a message is published to one topic",
                    at: at, hint: "use {id} or a fixed topic, or set the device's id_level so that the id fills the '+'")
            }
        }
    }

    /// The topic writes of point `a` of `device` are published to; nil for read-only points.
    static func commandTopic(of a: MQTTPointAddress, device: String, connection: MQTTDeviceConnection) -> String? {
        guard let command = a.commandTopic else { return nil }
        var stateTopic = a.topic(device: device, deviceTopic: connection.topic(of: device))
        if let level = connection.idLevel { stateTopic = Topic.replacing(level: level, of: stateTopic, with: device) }
        return command.replacingOccurrences(of: "{topic}", with: stateTopic).replacingOccurrences(of: "{id}", with: device)
    }

    /// Two sessions (different credentials or certificates) with one client id on one broker
    /// would take each other's connection over, forever: an error at the second device. A
    /// device id that fills `{id}` or the id level must keep its topics valid (`check(points:)`
    /// sees only the literal `{id}`): an error at the device.
    public static func check(devices: [DeviceDefinition], reporter: MapReporter) {
        var first: [String: (device: DeviceDefinition, session: MQTTSessionKey)] = [:]
        for device in devices {
            let at = device.location ?? SourceLocation(file: "", line: 0, column: 0)
            if let problem = idProblem(of: device) {
                reporter.error(
                    "device '\(device.id)': \(problem)", at: at,
                    hint: "rename the device, or give it topics that do not contain its id")
            }
            let session = device.mqttConnection.session
            guard let id = session.clientID else { continue }
            let key = "\(session.broker.host):\(session.broker.port) \(id)"
            guard let other = first[key] else {
                first[key] = (device, session)
                continue
            }
            guard other.session != session else { continue }
            reporter.error(
                "device '\(device.id)': client id '\(id)' on \(session.broker) is already used by device '\(other.device.id)' with other connection settings",
                at: at,
                hint: "a broker keeps one connection per client id: give the devices the same settings (they then share it) or different client ids")
        }
    }

    /// Why the device's id cannot go into its topics; nil when it can. The broker refuses a
    /// filter with a misplaced wildcard, and a well-placed one (`zigbee2mqtt/+`) would take in
    /// every other device's messages; a '/' at the id's edge leaves an empty level, which no
    /// device publishes to. A `/` inside the id is fine with `{id}` (zigbee2mqtt's friendly
    /// names use it for groups), but not at the id level, which is one level.
    static func idProblem(of device: DeviceDefinition) -> String? {
        let id = device.id
        let connection = device.mqttConnection
        let reserved =
            id.contains("\0")
            ? "a NUL character, which no MQTT topic may carry"
            : ["#", "+"].first(where: id.contains).map { "'\($0)', an MQTT wildcard" }
        for template in idTemplates(of: device) {
            let resolved = template.replacingOccurrences(of: "{id}", with: id)
            if let reserved {
                return "the id cannot fill {id} in topic '\(template)': it contains \(reserved)"
            }
            if emptyLevels(resolved) > emptyLevels(template.replacingOccurrences(of: "{id}", with: "x")) {
                return "the id cannot fill {id} in topic '\(template)': '\(resolved)' has an empty level"
            }
        }
        if let level = connection.idLevel {
            if let reserved { return "the id cannot fill level \(level) of topic '\(connection.topic)' (id_level): it contains \(reserved)" }
            if id.contains("/") {
                return "the id cannot fill level \(level) of topic '\(connection.topic)' (id_level): it contains '/', and a level has none"
            }
        }
        return nil
    }

    /// The device's topics that contain `{id}`, `{topic}` filled in: its state topic, its
    /// points' topics and its writable points' command topics.
    private static func idTemplates(of device: DeviceDefinition) -> [String] {
        let deviceTopic = device.mqttConnection.topic
        var topics = [deviceTopic]
        for point in device.points {
            let a = point.mqtt
            let topic = a.topic(device: "{id}", deviceTopic: deviceTopic)
            topics.append(topic)
            if let command = a.commandTopic { topics.append(command.replacingOccurrences(of: "{topic}", with: topic)) }
        }
        var seen: Set<String> = []
        return topics.filter { $0.contains("{id}") && seen.insert($0).inserted }
    }

    private static func emptyLevels(_ topic: String) -> Int {
        topic.split(separator: "/", omittingEmptySubsequences: false).filter(\.isEmpty).count
    }

    /// `connection:` of an MQTT device.
    public static var connectionSchema: [String: Any] {
        [
            "type": "object", "additionalProperties": false, "required": ["broker", "topic"],
            "description": "The broker and the device's state topic.",
            "properties": [
                "broker": [
                    "type": "string", "pattern": "^mqtts?://[^/@]+/?$",
                    "description": "mqtts://host[:port] (8883), or mqtt://host[:port] (1883) with insecure: true.",
                ],
                "insecure": ["type": "boolean", "description": "Allow plain mqtt:// (default false)."],
                "ca": ["type": "string", "minLength": 1, "description": "PEM CA bundle for mqtts:// (default: the system's)."],
                "cert": ["type": "string", "minLength": 1, "description": "PEM client certificate (mutual TLS)."],
                "key": ["type": "string", "minLength": 1, "description": "PEM private key of cert."],
                "username": ["type": "string", "minLength": 1],
                "password_env": [
                    "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                    "description": "Environment variable holding the password (never the password).",
                ],
                "client_id": ["type": "string", "minLength": 1, "description": "Default: edgegate-<host name>-<hash of the broker settings>."],
                "topic": ["type": "string", "minLength": 1, "description": "State topic; {id} is the device id; + and # allowed."],
                "id_level": [
                    "type": "integer", "minimum": 1, "maximum": 64,
                    "description": "1-based topic level ('+') that carries the device id, for devices sharing one topic filter.",
                ],
                "stale_after": [
                    "anyOf": [["$ref": "#/$defs/duration"], ["const": "never"]],
                    "description": "A point with no message for this long becomes bad: a duration, or never (the default).",
                ],
                "qos": ["type": "integer", "minimum": 0, "maximum": 1, "description": "Subscription QoS (default 1)."],
            ] as [String: Any],
        ]
    }

    /// The MQTT point keys.
    public static var pointSchema: [String: Any] {
        [
            "topic": ["type": "string", "minLength": 1, "description": "Topic filter (default the device's topic); {topic} and {id} allowed."],
            "path": ["type": "string", "pattern": "^\\$", "description": "JSON path of the value: $, $.a.b, $.a[0], $[\"key\"]."],
            "type": ["enum": MQTTValueType.allCases.map(\.rawValue), "description": "Default float64 (bool with true_value/false_value)."],
            "true_value": ["type": "string", "minLength": 1, "description": "Text meaning true for a bool sent as text (ON)."],
            "false_value": ["type": "string", "minLength": 1, "description": "Text meaning false (OFF)."],
            "stale_after": [
                "anyOf": [["$ref": "#/$defs/duration"], ["const": "never"]],
                "description": "Overrides the device's stale_after: a duration, or never (for topics sent only on change).",
            ],
            "command_topic": ["type": "string", "minLength": 1, "pattern": "^[^+#]*$", "description": "Where writes go (default {topic}/set); no wildcards."],
            "payload": [
                "type": "string", "minLength": 1,
                "description": "JSON template of a write with {value}; default {\"<last key of path>\": {value}}.",
            ],
        ]
    }

    /// `path` is required; the bool texts only go with bool points, and together.
    public static var pointSchemaRules: [String: Any] {
        [
            "required": ["path"],
            "allOf": [
                [
                    "if": ["anyOf": [["required": ["true_value"]], ["required": ["false_value"]]]],
                    "then": ["required": ["true_value", "false_value"], "properties": ["type": ["const": MQTTValueType.bool.rawValue]]],
                ]
            ],
        ]
    }
}
