public import DeviceMaps
import Foundation
public import GatewayCore
public import MQTTClient

/// The value types of an MQTT point: what the JSON value at its path must be.
public enum MQTTValueType: String, Sendable, Hashable, CaseIterable {
    /// A JSON bool, or text matched against `true_value`/`false_value`.
    case bool
    /// A JSON number that is a whole number within Int64.
    case int64
    /// Any finite JSON number.
    case float64
    /// A JSON string.
    case string

    /// The kind of value the point carries before scale and offset.
    public var kind: ValueKind {
        switch self {
        case .bool: return .bool
        case .int64: return .integer
        case .float64: return .number
        case .string: return .string
        }
    }
}

/// How long an MQTT point may go without a message before it reads `bad`.
public enum Staleness: Sendable, Hashable {
    /// `bad` after this long without a message.
    case after(Duration)
    /// Never `bad` for silence: for topics published only on change, such as zigbee2mqtt's
    /// retained availability.
    case never

    /// `10m`, `never`: as device maps write it.
    public var text: String {
        switch self {
        case .after(let d): return d.mapText
        case .never: return "never"
        }
    }
}

extension MQTTURL {
    /// Parses a device map's `broker:`, `mqtt://host[:port]` or `mqtts://host[:port]`, with the
    /// reason in the map's words otherwise (stricter about the scheme's spelling than `parse`,
    /// and naming `broker`, as the saved diagnostics have it).
    public static func parseBroker(_ text: String) -> Result<MQTTURL, MQTTDeviceMapError> {
        let parts = text.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "mqtt" || parts[0] == "mqtts" else {
            return .failure(.init("'broker' must be mqtt://host[:port] or mqtts://host[:port], found '\(text)'"))
        }
        var rest = Substring(parts[1])
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/"), !rest.contains("@") else {
            return .failure(.init("'broker' is host and port only, found '\(text)' (credentials go in username and password_env)"))
        }
        var host = String(rest)
        var port: Int?
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            host = String(rest[..<colon])
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                return .failure(.init("the port of broker '\(text)' must be a number from 1 to 65535"))
            }
            port = p
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return .failure(.init("broker '\(text)' has no host")) }
        return .success(MQTTURL(host: host, port: port, useTLS: parts[0] == "mqtts"))
    }
}

/// A message for a device-map or topic problem, found outside a diagnostic's reach.
public struct MQTTDeviceMapError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A human sentence.
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// How to reach an MQTT device: its broker (shared with every device that names the same
/// broker and credentials) and the topic it publishes its state on.
public struct MQTTDeviceConnection: DeviceConnection, Hashable {
    /// The broker.
    public var broker: MQTTURL
    /// Set for plain `mqtt://`, which is refused without it.
    public var insecure: Bool
    /// PEM CA bundle for `mqtts://`; nil: the system's (`defaultCAFile`).
    public var caFile: String?
    /// PEM client certificate for mutual TLS.
    public var certFile: String?
    /// Its private key; never logged.
    public var keyFile: String?
    /// MQTT user name.
    public var username: String?
    /// The name of the environment variable that holds the password (never the password).
    public var passwordEnv: String?
    /// The MQTT client id; nil: derived from the host name and the broker settings.
    public var clientID: String?
    /// The device's state topic filter; `{id}` stands for the device id.
    public var topic: String
    /// The 1-based topic level that carries the device id, for devices sharing a wildcard topic.
    public var idLevel: Int?
    /// Points without a message for this long become `bad`; nil: never (`stale_after: never`,
    /// or not given).
    public var staleAfter: Duration?
    /// Subscription QoS (0 or 1).
    public var qos: Int

    /// Debian's CA bundle, used for `mqtts://` when the map gives no `ca`.
    public static let defaultCAFile = "/etc/ssl/certs/ca-certificates.crt"

    /// Creates a connection.
    public init(
        broker: MQTTURL, insecure: Bool = false, caFile: String? = nil, certFile: String? = nil,
        keyFile: String? = nil, username: String? = nil, passwordEnv: String? = nil, clientID: String? = nil,
        topic: String, idLevel: Int? = nil, staleAfter: Duration? = nil, qos: Int = 1
    ) {
        self.broker = broker
        self.insecure = insecure
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.username = username
        self.passwordEnv = passwordEnv
        self.clientID = clientID
        self.topic = topic
        self.idLevel = idLevel
        self.staleAfter = staleAfter
        self.qos = qos
    }

    /// What devices share one MQTT connection by: everything about the session, nothing about
    /// the device (topic, id level, staleness, QoS).
    public var session: MQTTSessionKey {
        MQTTSessionKey(
            broker: broker, insecure: !broker.useTLS && insecure, caFile: broker.useTLS ? caFile ?? Self.defaultCAFile : nil, certFile: certFile,
            keyFile: keyFile, username: username, passwordEnv: passwordEnv, clientID: clientID)
    }

    /// The state topic of device `id`: `{id}` replaced.
    public func topic(of id: String) -> String {
        topic.replacingOccurrences(of: "{id}", with: id)
    }

    /// `broker`, `topic` and what else is set; `password_env` names a variable, never a password.
    public var fields: [MapField] {
        var fields = [MapField("broker", .string(broker.description)), MapField("topic", .string(topic))]
        if let idLevel { fields.append(MapField("id_level", .int(Int64(idLevel)))) }
        if broker.useTLS { fields.append(MapField("ca", .string(caFile ?? Self.defaultCAFile))) }
        if let certFile { fields.append(MapField("cert", .string(certFile))) }
        if let keyFile { fields.append(MapField("key", .string(keyFile))) }
        if let username { fields.append(MapField("username", .string(username))) }
        if let passwordEnv { fields.append(MapField("password_env", .string(passwordEnv))) }
        if let clientID { fields.append(MapField("client_id", .string(clientID))) }
        if let staleAfter { fields.append(MapField("stale_after", .string(staleAfter.mapText))) }
        fields.append(MapField("qos", .int(Int64(qos))))
        if insecure { fields.append(MapField("insecure", .bool(true))) }
        return fields
    }

    /// `mqtts://broker:8883 topic zigbee2mqtt/{id}`.
    public var description: String {
        "\(broker) topic \(topic)" + (idLevel.map { " (id at level \($0))" } ?? "")
    }
}

/// Devices with equal keys share one MQTT connection (one client id, one socket).
public struct MQTTSessionKey: Sendable, Hashable, CustomStringConvertible {
    /// The broker.
    public var broker: MQTTURL
    /// Plain `mqtt://` allowed (`insecure: true`); always false for `mqtts://`, where it means
    /// nothing. A session without it refuses to connect in plain text.
    public var insecure: Bool
    /// CA bundle; nil for plain MQTT.
    public var caFile: String?
    /// Client certificate.
    public var certFile: String?
    /// Client key.
    public var keyFile: String?
    /// User name.
    public var username: String?
    /// Environment variable of the password.
    public var passwordEnv: String?
    /// Explicit client id.
    public var clientID: String?

    /// The broker, and the user when there is one (no secrets).
    public var description: String {
        broker.description + (username.map { " as \($0)" } ?? "")
    }
}

/// A JSON payload with `{value}` placeholders, for commands: `{"state": "{value}"}` (the value
/// as text inside a string) or `{"brightness": {value}}` (the value as a JSON literal).
public struct PayloadTemplate: Sendable, Hashable, CustomStringConvertible {
    /// The template as written.
    public let description: String
    /// Literal text around the placeholders: one more piece than placeholders.
    let pieces: [String]
    /// Per placeholder: true when it stands inside a JSON string.
    let inString: [Bool]

    /// Splits a template at its `{value}` placeholders, noting which stand inside strings.
    public init(_ text: String) {
        description = text
        var pieces: [String] = []
        var inString: [Bool] = []
        var current = ""
        var quoted = false
        var escaped = false
        var rest = Substring(text)
        while let c = rest.first {
            if !escaped, rest.hasPrefix("{value}") {
                pieces.append(current)
                inString.append(quoted)
                current = ""
                rest = rest.dropFirst(7)
                continue
            }
            if quoted, !escaped, c == "\\" {
                escaped = true
            } else {
                if !escaped, c == "\"" { quoted.toggle() }
                escaped = false
            }
            current.append(c)
            rest = rest.dropFirst()
        }
        pieces.append(current)
        self.pieces = pieces
        self.inString = inString
    }

    /// `{"key": {value}}`: the default payload of a writable point.
    public static func field(_ key: String) -> PayloadTemplate {
        PayloadTemplate("{" + JSONText.quoted(key) + ": {value}}")
    }

    /// The number of placeholders.
    public var placeholders: Int { inString.count }

    /// The payload for a value: `literal` (JSON) where a placeholder stands alone, `text`
    /// escaped where it stands inside a string.
    func render(literal: String, text: String) -> String {
        var out = pieces[0]
        for (n, quoted) in inString.enumerated() {
            // Inside a string: the escaped text without the quotes around it.
            out += quoted ? String(JSONText.quoted(text).dropFirst().dropLast()) : literal
            out += pieces[n + 1]
        }
        return out
    }
}

/// Where an MQTT point's value comes from (a topic and a JSON path) and, for writable points,
/// where commands go.
public struct MQTTPointAddress: PointAddress, Hashable {
    /// The topic filter; nil: the device's topic. May use `{topic}` and `{id}`.
    public var topic: String?
    /// The value's place in the payload.
    public var path: JSONPath
    /// What the value must be.
    public var type: MQTTValueType
    /// For a bool carried as text: the text meaning true (`ON`, `online`).
    public var trueValue: String?
    /// For a bool carried as text: the text meaning false.
    public var falseValue: String?
    /// Overrides the device's `stale_after`; nil: the device's.
    public var staleAfter: Staleness?
    /// Where writes are published (`{topic}` and `{id}` allowed); nil for read-only points.
    public var commandTopic: String?
    /// What writes publish; nil for read-only points.
    public var payload: PayloadTemplate?

    /// The command topic of writable points when the map gives none.
    public static let defaultCommandTopic = "{topic}/set"

    /// Creates an address.
    public init(
        topic: String? = nil, path: JSONPath, type: MQTTValueType, trueValue: String? = nil, falseValue: String? = nil,
        staleAfter: Staleness? = nil, commandTopic: String? = nil, payload: PayloadTemplate? = nil
    ) {
        self.topic = topic
        self.path = path
        self.type = type
        self.trueValue = trueValue
        self.falseValue = falseValue
        self.staleAfter = staleAfter
        self.commandTopic = commandTopic
        self.payload = payload
    }

    /// The type's name.
    public var typeName: String { type.rawValue }
    /// The type's kind.
    public var rawKind: ValueKind { type.kind }

    /// The point's topic filter for device `id` whose state topic is `deviceTopic` (already
    /// resolved for the device).
    public func topic(device id: String, deviceTopic: String) -> String {
        guard let topic else { return deviceTopic }
        return topic.replacingOccurrences(of: "{topic}", with: deviceTopic).replacingOccurrences(of: "{id}", with: id)
    }

    /// `topic` (when its own), `path`, `type`, the bool texts and the command settings.
    public var fields: [MapField] {
        var fields: [MapField] = []
        if let topic { fields.append(MapField("topic", .string(topic))) }
        fields += [MapField("path", .string(path.description)), MapField("type", .string(type.rawValue))]
        if let trueValue { fields.append(MapField("true_value", .string(trueValue))) }
        if let falseValue { fields.append(MapField("false_value", .string(falseValue))) }
        if let staleAfter { fields.append(MapField("stale_after", .string(staleAfter.text))) }
        if let commandTopic { fields.append(MapField("command_topic", .string(commandTopic))) }
        if let payload { fields.append(MapField("payload", .string(payload.description))) }
        return fields
    }

    /// `path`, `type` and `topic` for `map show`'s table.
    public var columns: [MapField] {
        [
            MapField("topic", .string(topic ?? "{topic}")), MapField("path", .string(path.description)),
            MapField("type", .string(type.rawValue)),
        ]
    }

    /// `$.contact bool`, `{topic}/availability $.state bool (online/offline)`.
    public var description: String {
        var text = (topic.map { "\($0) " } ?? "") + "\(path) \(type.rawValue)"
        if let trueValue, let falseValue { text += " (\(trueValue)/\(falseValue))" }
        return text
    }
}

extension PointDefinition {
    /// The point's MQTT address (see `address(as:)` for why it always is one).
    public var mqtt: MQTTPointAddress { address(as: MQTTPointAddress.self) }
}

extension DeviceDefinition {
    /// The device's MQTT connection (see `connection(as:)` for why it always is one).
    public var mqttConnection: MQTTDeviceConnection { connection(as: MQTTDeviceConnection.self) }
}

/// MQTT topic filters: level syntax and matching.
enum Topic {
    /// Why a filter is not valid (`#` not last, a wildcard inside a level); nil when it is.
    static func filterProblem(_ filter: String) -> String? {
        if filter.isEmpty { return "a topic must not be empty" }
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (n, level) in levels.enumerated() {
            if level.contains("#"), level != "#" || n != levels.count - 1 {
                return "'#' must be a whole topic level and the last one"
            }
            if level.contains("+"), level != "+" { return "'+' must be a whole topic level" }
        }
        return nil
    }

    /// True when `filter` has `+` or `#`.
    static func hasWildcard(_ filter: String) -> Bool {
        filter.contains("+") || filter.contains("#")
    }

    /// MQTT matching: `+` is one level, `#` the rest (including none); `$`-topics only match
    /// filters that name their first level.
    static func matches(_ filter: String, _ topic: String) -> Bool {
        var f = filter.split(separator: "/", omittingEmptySubsequences: false)[...]
        var t = topic.split(separator: "/", omittingEmptySubsequences: false)[...]
        if topic.hasPrefix("$"), let first = f.first, first == "+" || first == "#" { return false }
        while let level = f.first {
            if level == "#" { return true }
            guard let actual = t.first else { return false }
            if level != "+", level != actual { return false }
            f = f.dropFirst()
            t = t.dropFirst()
        }
        return t.isEmpty
    }

    /// The text of 1-based `level` of `topic`, if it has that many.
    static func level(_ level: Int, of topic: String) -> Substring? {
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        return level >= 1 && level <= levels.count ? levels[level - 1] : nil
    }

    /// `topic` with 1-based `level` replaced by `text`.
    static func replacing(level: Int, of topic: String, with text: String) -> String {
        var levels = topic.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if level >= 1 && level <= levels.count { levels[level - 1] = text }
        return levels.joined(separator: "/")
    }
}
