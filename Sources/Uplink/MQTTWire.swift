public import Foundation
public import GatewayCore

/// Topics of the `mqtt` profile (v1): `{prefix}/{gateway}/{kind}`.
public struct MQTTTopics: Sendable, Hashable {
    /// `{p}/{gw}/telemetry`, edge → cloud, QoS 1.
    public let telemetry: String
    /// `{p}/{gw}/status`, retained, also the last will.
    public let status: String
    /// `{p}/{gw}/devices`, retained inventory.
    public let devices: String
    /// `{p}/{gw}/commands`, cloud → edge.
    public let commands: String
    /// `{p}/{gw}/responses`, edge → cloud.
    public let responses: String

    /// The topics for a prefix and gateway id.
    public init(prefix: String, gateway: String) {
        let base = "\(prefix)/\(gateway)/"
        telemetry = base + "telemetry"
        status = base + "status"
        devices = base + "devices"
        commands = base + "commands"
        responses = base + "responses"
    }
}

/// Why a command message could not be turned into a `Command`.
public struct CommandDecodingError: Error, Sendable, Hashable {
    /// The command id, when one could be read: then the sender gets a `rejected` response.
    public var id: String?
    /// What was wrong, for the response and the log.
    public var message: String

    /// Creates an error (the profiles' decoders make them too).
    package init(id: String?, message: String) {
        self.id = id
        self.message = message
    }
}

/// Encoders and the decoder of the `mqtt` wire contract (docs/protocol.md).
public enum MQTTWire {
    /// `{"gateway","seq","readings":[{"device","point","value","unit","quality","reason","ts"}]}`.
    public static func telemetry(gateway: String, seq: UInt64, readings: [Reading]) -> [UInt8] {
        let encoded = EncodedReadings(readings)
        return telemetry(header: telemetryHeader(gateway: gateway), seq: seq, parts: [encoded[...]])
    }

    /// `{"gateway":"…","seq":` — the start of every telemetry message, encoded once.
    static func telemetryHeader(gateway: String) -> [UInt8] {
        var w = JSONWriter(capacity: 32 + gateway.utf8.count)
        w.raw("{"); w.key("gateway"); w.string(gateway)
        w.raw(","); w.key("seq")
        return w.bytes
    }

    /// A telemetry message from readings already encoded (by the adapters' threads), so that
    /// sealing only copies bytes.
    static func telemetry(header: [UInt8], seq: UInt64, parts: [EncodedReadings.Slice]) -> [UInt8] {
        var size = header.count + 40
        for part in parts { size += part.byteCount + part.count }
        var w = JSONWriter(capacity: size)
        w.raw(header)
        w.integer(Int64(bitPattern: seq))
        w.raw(","); w.key("readings"); w.raw("[")
        var first = true
        for part in parts {
            part.append(to: &w, first: &first)
        }
        w.raw("]}")
        return w.bytes
    }

    /// `{"device":"…","point":` — how every reading of a device starts.
    package static func appendReadingStart(device: String, to w: inout JSONWriter) {
        w.raw("{"); w.key("device"); w.string(device)
        w.raw(","); w.key("point")
    }

    /// One reading as it appears inside a telemetry message. `timestamp` may pass the
    /// reading's `ts` already encoded as a JSON string (the readings of one poll share it), and
    /// `start` what `appendReadingStart` writes for its device.
    package static func appendReading(_ r: Reading, start: [UInt8]? = nil, timestamp: [UInt8]?, to w: inout JSONWriter) {
        if let start { w.raw(start) } else { appendReadingStart(device: r.device, to: &w) }
        w.string(r.point)
        w.raw(","); w.key("value")
        if case .bad = r.quality { w.raw("null") } else { w.value(r.value) }
        if let unit = r.unit { w.raw(","); w.key("unit"); w.string(unit) }
        switch r.quality {
        case .good: w.raw(#","quality":"good""#)
        case .uncertain(let reason): w.raw(#","quality":"uncertain","reason":"#); w.string(reason)
        case .bad(let reason): w.raw(#","quality":"bad","reason":"#); w.string(reason)
        }
        w.raw(","); w.key("ts")
        if let timestamp { w.raw(timestamp) } else { w.string(Timestamp.rfc3339(r.timestamp)) }
        w.raw("}")
    }

    /// `{"online":bool,"ts","gateway"[,"reason"]}` — retained; `ts` is when the gateway said it.
    public static func status(gateway: String, online: Bool, reason: String? = nil, at date: Date = Date()) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{"); w.key("online"); w.raw(online ? "true" : "false")
        w.raw(","); w.key("ts"); w.string(Timestamp.rfc3339(date))
        w.raw(","); w.key("gateway"); w.string(gateway)
        if let reason { w.raw(","); w.key("reason"); w.string(reason) }
        w.raw("}")
        return w.bytes
    }

    /// The last will: `{"online":false,"gateway","reason":"connection lost","connected_at"}`.
    /// It has no `ts`: the hub gets it when the connection starts and publishes it when the
    /// connection is lost, a moment nobody knows in advance. `connected_at` is when that
    /// connection began, so that a reader can say since when the gateway had been online.
    public static func will(gateway: String, connectedAt date: Date = Date()) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{"); w.key("online"); w.raw("false")
        w.raw(","); w.key("gateway"); w.string(gateway)
        w.raw(","); w.key("reason"); w.string("connection lost")
        w.raw(","); w.key("connected_at"); w.string(Timestamp.rfc3339(date))
        w.raw("}")
        return w.bytes
    }

    /// The retained inventory: every device with its points (type, unit, access, limits),
    /// its writable points and its named commands.
    public static func inventory(gateway: String, devices: [DeviceDescriptor], at date: Date = Date()) -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        w.raw("{"); w.key("gateway"); w.string(gateway)
        w.raw(","); w.key("ts"); w.string(Timestamp.rfc3339(date))
        w.raw(","); w.key("devices"); w.raw("[")
        for (i, d) in devices.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{"); w.key("id"); w.string(d.id)
            w.raw(","); w.key("protocol"); w.string(d.protocolName)
            w.raw(","); w.key("points"); w.raw("[")
            for (j, p) in d.points.enumerated() {
                if j > 0 { w.raw(",") }
                w.raw("{"); w.key("name"); w.string(p.name)
                w.raw(","); w.key("type"); w.string(p.typeName)
                if let unit = p.unit { w.raw(","); w.key("unit"); w.string(unit) }
                w.raw(","); w.key("access"); w.string(p.access.rawValue)
                if let min = p.min { w.raw(","); w.key("min"); w.value(.double(min)) }
                if let max = p.max { w.raw(","); w.key("max"); w.value(.double(max)) }
                appendOptions(p.options, to: &w)
                w.raw("}")
            }
            w.raw("],"); w.key("writable"); w.raw("[")
            for (j, p) in d.points.filter({ $0.access.isWritable }).enumerated() {
                if j > 0 { w.raw(",") }
                w.string(p.name)
            }
            w.raw("],"); w.key("commands"); w.raw("[")
            for (j, c) in d.commands.enumerated() {
                if j > 0 { w.raw(",") }
                appendCommand(c, to: &w)
            }
            w.raw("]}")
        }
        w.raw("]}")
        return w.bytes
    }

    /// `{"name","description"?,"args":[{"name","type","min"?,"max"?,"options"?,"default"?}],"write":{point: value or "$arg"}}`.
    package static func appendCommand(_ c: NamedCommand, to w: inout JSONWriter) {
        w.raw("{"); w.key("name"); w.string(c.name)
        if let d = c.description { w.raw(","); w.key("description"); w.string(d) }
        w.raw(","); w.key("args"); w.raw("[")
        for (k, a) in c.arguments.enumerated() {
            if k > 0 { w.raw(",") }
            w.raw("{"); w.key("name"); w.string(a.name)
            w.raw(","); w.key("type"); w.string(a.rule.kind.rawValue)
            if let min = a.rule.min { w.raw(","); w.key("min"); w.value(.double(min)) }
            if let max = a.rule.max { w.raw(","); w.key("max"); w.value(.double(max)) }
            appendOptions(a.rule.options, to: &w)
            if let d = a.defaultValue { w.raw(","); w.key("default"); w.value(d) }
            w.raw("}")
        }
        w.raw("],"); w.key("write"); w.raw("{")
        for (k, write) in c.writes.enumerated() {
            if k > 0 { w.raw(",") }
            w.key(write.point)
            switch write.value {
            case .literal(let v): w.value(v)
            case .argument(let name): w.string("$" + name)
            }
        }
        w.raw("}}")
    }

    /// `,"options":[{"value":1,"name":"heat"}]`, nothing when there are none.
    package static func appendOptions(_ options: [EnumOption], to w: inout JSONWriter) {
        guard !options.isEmpty else { return }
        w.raw(","); w.key("options"); w.raw("[")
        for (k, o) in options.enumerated() {
            if k > 0 { w.raw(",") }
            w.raw("{"); w.key("value"); w.value(o.value)
            if let label = o.label { w.raw(","); w.key("name"); w.string(label) }
            w.raw("}")
        }
        w.raw("]")
    }

    /// `{"id","status","message","values","ts"}`.
    public static func response(_ result: CommandResult) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{"); w.key("id"); w.string(result.id)
        w.raw(","); w.key("status"); w.string(result.status.rawValue)
        w.raw(","); w.key("message"); w.string(result.message)
        w.raw(","); w.key("values"); w.raw("{")
        for (i, name) in result.values.keys.sorted().enumerated() {
            if i > 0 { w.raw(",") }
            w.key(name); w.value(result.values[name])
        }
        w.raw("}"); w.raw(","); w.key("ts"); w.string(Timestamp.rfc3339(result.timestamp))
        w.raw("}")
        return w.bytes
    }

    /// Encodes a command the way an operator sends it (used by `edgegate command send`).
    /// - Parameter ttl: sent as `ttl_ms` (counted from arrival at the gateway, so the two
    ///   clocks need not agree) instead of the command's `expires_at`.
    public static func command(_ command: Command, ttl: Duration? = nil) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{"); w.key("id"); w.string(command.id)
        w.raw(","); w.key("device"); w.string(command.device)
        switch command.action {
        case .write(let values):
            w.raw(","); w.key("write"); appendObject(values, to: &w)
        case .named(let name, let args):
            w.raw(","); w.key("command"); w.string(name)
            w.raw(","); w.key("args"); appendObject(args, to: &w)
        }
        if let ttl {
            w.raw(","); w.key("ttl_ms"); w.raw(String(Int64((ttl / .milliseconds(1)).rounded(.up))))
        } else if let expiry = command.expiresAt {
            w.raw(","); w.key("expires_at"); w.string(Timestamp.rfc3339(expiry))
        }
        if let by = command.by {
            w.raw(","); w.key("by"); w.string(by)
        }
        w.raw("}")
        return w.bytes
    }

    private static func appendObject(_ values: [String: Value], to w: inout JSONWriter) {
        w.raw("{")
        for (i, k) in values.keys.sorted().enumerated() {
            if i > 0 { w.raw(",") }
            w.key(k); w.value(values[k])
        }
        w.raw("}")
    }

    /// Largest command accepted, in bytes: a real one is a few hundred; parsing megabytes
    /// for every message of a flood would stall the gateway.
    public static let maxCommandBytes = 64 * 1024
    /// Deepest JSON nesting accepted: a command needs two levels (`{"write":{...}}`), and
    /// the cost of parsing deep nesting grows much faster than its length.
    public static let maxCommandDepth = 8
    /// Longest command id (and `by`) accepted: ids are remembered to answer repeats, so
    /// their size must stay bounded.
    public static let maxIDLength = 200

    /// Decodes a command message. Every failure names the field and the problem; the id is
    /// carried in the error whenever it can be read, even from JSON that does not parse.
    public static func decodeCommand(_ payload: [UInt8], now: Date = Date()) -> Result<Command, CommandDecodingError> {
        if payload.count > maxCommandBytes {
            return .failure(
                CommandDecodingError(
                    id: salvageID(payload),
                    message: "command is \(payload.count) bytes; at most \(maxCommandBytes) are accepted"))
        }
        if nestsDeeper(payload, than: maxCommandDepth) {
            return .failure(
                CommandDecodingError(
                    id: salvageID(payload),
                    message: "command nests deeper than \(maxCommandDepth) levels"))
        }
        let root: JSONValue
        do {
            root = try JSONDecoder().decode(JSONValue.self, from: Data(payload))
        } catch {
            return .failure(CommandDecodingError(id: salvageID(payload), message: "command is not valid JSON"))
        }
        return decodeCommand(root, now: now)
    }

    /// Decodes a command already parsed as JSON, so that a profile can complete it first (the
    /// `azure-iot-hub` profile takes the command name from a direct method's name and a
    /// missing id from the message id).
    public static func decodeCommand(_ root: JSONValue, now: Date = Date()) -> Result<Command, CommandDecodingError> {
        guard case .object(let fields) = root else {
            return .failure(CommandDecodingError(id: nil, message: "command must be a JSON object, got \(root.typeName)"))
        }
        guard case .string(let id)? = fields["id"], !id.isEmpty else {
            return .failure(CommandDecodingError(id: nil, message: "command has no string field 'id'"))
        }
        guard id.count <= maxIDLength else {
            return .failure(CommandDecodingError(id: nil, message: "command id is longer than \(maxIDLength) characters"))
        }
        func reject(_ message: String) -> Result<Command, CommandDecodingError> {
            .failure(CommandDecodingError(id: id, message: message))
        }
        let known: Set<String> = ["id", "device", "command", "args", "write", "expires_at", "ttl_ms", "by"]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            return reject("unknown field '\(unknown)' (fields: \(known.sorted().joined(separator: ", ")))")
        }
        guard case .string(let device)? = fields["device"], !device.isEmpty else {
            return reject("command \(id) has no string field 'device'")
        }
        let action: CommandAction
        switch (fields["command"], fields["write"]) {
        case (nil, nil):
            return reject("command \(id) needs either 'command' or 'write'")
        case (.some, .some):
            return reject("command \(id) has both 'command' and 'write'; send one")
        case (let name?, nil):
            guard case .string(let name) = name, !name.isEmpty else {
                return reject("'command' must be a non-empty string, got \(name.typeName)")
            }
            switch scalars(fields["args"] ?? .object([:]), field: "args") {
            case .success(let args): action = .named(name, arguments: args)
            case .failure(let message): return reject(message)
            }
        case (nil, let write?):
            if fields["args"] != nil { return reject("'args' belongs to 'command', not to 'write'") }
            switch scalars(write, field: "write") {
            case .success(let values): action = .write(values)
            case .failure(let message): return reject(message)
            }
        }
        var expiry: Date?
        switch (fields["expires_at"], fields["ttl_ms"]) {
        case (.some, .some):
            return reject("command \(id) has both 'expires_at' and 'ttl_ms'; send one")
        case (let e?, nil):
            guard case .string(let text) = e, let date = Timestamp.parse(text) else {
                return reject("'expires_at' must be an RFC 3339 time such as 2026-11-23T14:00:00.000Z")
            }
            expiry = date
        case (nil, let t?):
            guard let ms = t.integer, ms >= 0 else {
                return reject("'ttl_ms' must be a non-negative whole number of milliseconds")
            }
            expiry = now.addingTimeInterval(Double(ms) / 1000)
        case (nil, nil):
            expiry = nil
        }
        var by: String?
        if let node = fields["by"] {
            guard case .string(let text) = node, !text.isEmpty, text.count <= maxIDLength else {
                return reject("'by' must be a non-empty string of at most \(maxIDLength) characters")
            }
            by = text
        }
        return .success(Command(id: id, device: device, action: action, expiresAt: expiry, by: by))
    }

    /// Whether `[` and `{` nest deeper than `limit` anywhere outside strings (one pass,
    /// before any parsing).
    static func nestsDeeper(_ payload: [UInt8], than limit: Int) -> Bool {
        var depth = 0
        var inString = false
        var escaped = false
        for byte in payload {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > limit { return true }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return false
    }

    private enum ScalarsResult { case success([String: Value]), failure(String) }

    private static func scalars(_ node: JSONValue, field: String) -> ScalarsResult {
        guard case .object(let object) = node else {
            return .failure("'\(field)' must be an object, got \(node.typeName)")
        }
        var values: [String: Value] = [:]
        for key in object.keys.sorted() {
            guard let v = object[key]!.value else {
                return .failure("\(field).\(key) must be a bool, number or string, got \(object[key]!.typeName)")
            }
            values[key] = v
        }
        return .success(values)
    }

    /// Best effort: a payload that is not JSON may still carry `"id": "..."` near its start
    /// (invalid UTF-8 elsewhere does not hide it).
    package static func salvageID(_ payload: [UInt8]) -> String? {
        let text = String(decoding: payload.prefix(4096), as: UTF8.self)
        guard let match = text.firstMatch(of: #/"id"\s*:\s*"([^"\\]{1,200})"/#) else { return nil }
        return String(match.1)
    }
}
