public import Foundation
public import GatewayCore
public import Logging
public import MQTTClient
import Synchronization
public import Uplink

/// The `azure-iot-hub` uplink profile: the gateway is one IoT Hub device and speaks the hub's
/// device protocol over MQTT 3.1.1 (docs/protocol.md, "azure-iot-hub profile").
///
/// - Telemetry: D2C events with content type, encoding and `edgegate-type=telemetry`.
/// - Commands: direct methods (answered on `$iothub/methods/res/{status}/?$rid=`) and C2D
///   messages (answered with a D2C event marked `edgegate-type=response`).
/// - Status and inventory: twin reported properties; the status also as D2C events, the
///   last will being one (IoT Hub has no retained messages).
/// - Credentials: a SAS token signed with the device key, renewed by reconnecting before it
///   expires, or an X.509 client certificate.
public final class AzureIoTHubProfile: UplinkProfile {
    /// How the device proves who it is.
    public enum Authentication: Sendable {
        /// SAS tokens signed with the device key, each valid for `ttl` and renewed after
        /// `AzureIoTHubProfile.renewalFraction` of it. `key` is asked at every connection
        /// attempt, so a key file replaced while the gateway runs (key rotation) is used from
        /// the next renewal on.
        case sas(key: @Sendable () throws(AzureIoTHub.CredentialError) -> String, ttl: Duration)
        /// The TLS client certificate is the credential: no password.
        case x509
    }

    /// A token is renewed when this part of its lifetime has passed.
    public static let renewalFraction = 0.8
    /// IoT Hub's limit on a device-to-cloud message, properties included.
    public static let maxMessageBytes = 256 * 1024
    /// Room left in a message for the topic's property bag, which counts towards the limit.
    static let propertyReserve = 1024
    /// The largest payload of a D2C message.
    static let maxPayloadBytes = maxMessageBytes - propertyReserve
    /// The largest inventory written into the twin; the reported properties hold 32 KB at most,
    /// counted differently from JSON bytes, and the status needs room too.
    static let twinInventoryLimit = 24 * 1024
    /// Twin requests remembered while their answer is awaited, at most.
    static let pendingLimit = 64

    /// The IoT hub's host name (`myhub.azure-devices.net`): user name and token resource.
    public let hub: String
    /// The device id in IoT Hub: the client id and every topic.
    public let deviceID: String
    /// The gateway id, as written in the telemetry, status and inventory payloads.
    public let gatewayID: String
    /// The device-side topics.
    public let topics: AzureIoTHub.Topics
    private let authentication: Authentication
    private let logger: Logger
    private let now: @Sendable () -> Date
    private let lastRequestID = Atomic<UInt64>(0)
    /// Twin requests sent and not answered yet: request id → what they updated.
    private let pendingTwin = Mutex<[(rid: String, what: String)]>([])

    /// Creates the profile.
    /// - Parameters:
    ///   - now: the wall clock that SAS token expiries are counted from (tests pin it).
    public init(
        hub: String, deviceID: String, gatewayID: String, authentication: Authentication,
        logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.hub = hub
        self.deviceID = deviceID
        self.gatewayID = gatewayID
        self.topics = AzureIoTHub.Topics(deviceID: deviceID)
        self.authentication = authentication
        self.logger = logger
        self.now = now
    }

    /// `azure-iot-hub`.
    public var name: String { "azure-iot-hub" }

    /// `devices/{id}/messages/events/$.ct=application%2Fjson&$.ce=utf-8&edgegate-type=telemetry`.
    public var telemetryTopic: String { eventTopic(type: "telemetry") }

    /// 256 KB less room for the property bag.
    public var maxTelemetryBytes: Int? { Self.maxPayloadBytes }

    /// The events topic with IoT Hub's content type and encoding, so that routing queries can
    /// read the body, and the kind of message.
    func eventTopic(type: String, extra: [(String, String)] = []) -> String {
        topics.events(properties: [("$.ct", "application/json"), ("$.ce", "utf-8"), ("edgegate-type", type)] + extra)
    }

    // MARK: - Connection

    /// Client id = device id, IoT Hub's user name, a fresh SAS token as the password (or none
    /// with X.509), and an `online: false` status event as the will.
    /// - Throws: the `AzureIoTHub.CredentialError`'s sentence when the token cannot be made.
    public func connectionPlan(_ configured: MQTTOptions) throws(UplinkCredentialError) -> UplinkConnectionPlan {
        do {
            return try plan(configured)
        } catch {
            throw UplinkCredentialError(error.description)
        }
    }

    /// `connectionPlan`, with IoT Hub's own reasons.
    func plan(_ configured: MQTTOptions) throws(AzureIoTHub.CredentialError) -> UplinkConnectionPlan {
        var options = configured
        options.clientID = deviceID
        options.username = AzureIoTHub.userName(hub: hub, deviceID: deviceID)
        options.password = nil
        // IoT Hub forwards a will on the events topic as a D2C message (it retains nothing).
        options.will = MQTTMessage(
            topic: eventTopic(type: "status"),
            payload: MQTTWire.will(gateway: gatewayID),
            qos: 1, retain: false)
        switch authentication {
        case .x509:
            return UplinkConnectionPlan(options: options)
        case .sas(let key, let ttl):
            let lifetime = UInt64(max(1, ttl.components.seconds))
            let expiry = UInt64(now().timeIntervalSince1970.rounded(.down)) + lifetime
            options.password = try AzureIoTHub.sasToken(hub: hub, deviceID: deviceID, key: try key(), expiry: expiry)
            return UplinkConnectionPlan(
                options: options, renewAfter: .seconds(lifetime) * Self.renewalFraction,
                expiry: Date(timeIntervalSince1970: TimeInterval(expiry)), credential: "SAS token")
        }
    }

    // MARK: - Session

    /// Subscribes to direct methods, C2D messages and twin answers (before the first twin
    /// request, whose answer would otherwise be missed), then reports the gateway online and
    /// its inventory.
    public func startSession(_ connection: MQTTConnection, devices: [DeviceDescriptor]) async throws(MQTTError) {
        for filter in [AzureIoTHub.Topics.twinResponses, AzureIoTHub.Topics.methods, topics.cloudToDevice] {
            try await connection.subscribe(filter, qos: 1)
        }
        try await publishStatus(online: true, reason: nil, on: connection)
        try await publishInventory(devices, on: connection)
    }

    /// The inventory as the reported property `inventory`. One too large for the twin is
    /// reported in short (ids and protocols, `complete: false`) and sent in full as a D2C
    /// event `edgegate-type=inventory`.
    public func publishInventory(_ devices: [DeviceDescriptor], on connection: MQTTConnection) async throws(MQTTError) {
        let (patch, complete) = AzureIoTHub.inventoryPatch(gateway: gatewayID, devices: devices, limit: Self.twinInventoryLimit)
        if !complete {
            let full = MQTTWire.inventory(gateway: gatewayID, devices: devices)
            if full.count <= Self.maxPayloadBytes {
                try await connection.publish(MQTTMessage(topic: eventTopic(type: "inventory"), payload: full))
            } else {
                logger.error(
                    "device inventory too large for one IoT Hub message: the twin lists device ids only",
                    metadata: ["bytes": "\(full.count)", "limit": "\(Self.maxPayloadBytes)"])
            }
            logger.warning(
                "device inventory too large for the twin: reported in short, sent in full as an event",
                metadata: ["devices": "\(devices.count)"])
        }
        try await connection.publish(twinPatch(patch, what: "inventory"))
    }

    /// `online: false` with the reason, in the twin and as a status event.
    public func publishOffline(reason: String, on connection: MQTTConnection) async throws(MQTTError) {
        try await publishStatus(online: false, reason: reason, on: connection)
    }

    private func publishStatus(online: Bool, reason: String?, on connection: MQTTConnection) async throws(MQTTError) {
        let date = Date()
        try await connection.publish(
            MQTTMessage(
                topic: eventTopic(type: "status"),
                payload: MQTTWire.status(gateway: gatewayID, online: online, reason: reason, at: date)))
        try await connection.publish(
            twinPatch(
                AzureIoTHub.statusPatch(gateway: gatewayID, online: online, reason: reason, at: date),
                what: "status"))
    }

    /// A PATCH of the reported properties with a new request id, remembered until answered.
    private func twinPatch(_ payload: [UInt8], what: String) -> MQTTMessage {
        let rid = String(lastRequestID.wrappingAdd(1, ordering: .relaxed).newValue)
        pendingTwin.withLock { pending in
            pending.append((rid, what))
            if pending.count > Self.pendingLimit { pending.removeFirst() }
        }
        return MQTTMessage(topic: AzureIoTHub.Topics.reportedProperties(requestID: rid), payload: payload)
    }

    // MARK: - Incoming

    /// Direct methods and C2D messages become commands; twin answers are logged when they
    /// refuse an update; anything else is ignored.
    public func command(from message: MQTTMessage) -> IncomingCommand? {
        let topic = message.topic
        if topic.hasPrefix(AzureIoTHub.Topics.twinResponsePrefix) {
            twinAnswer(message)
            return nil
        }
        if let call = AzureIoTHub.MethodCall(topic: topic) {
            let command = AzureIoTHub.methodCommand(name: call.name, payload: message.payload)
            let rid = call.requestID
            return IncomingCommand(command: command) { result, busy in
                MQTTMessage(
                    topic: AzureIoTHub.Topics.methodResponse(status: AzureIoTHub.methodStatus(result.status, busy: busy), requestID: rid),
                    payload: MQTTWire.response(result))
            }
        }
        if let properties = topics.cloudToDeviceProperties(topic) {
            let command = AzureIoTHub.cloudToDeviceCommand(payload: message.payload, messageID: properties["$.mid"])
            return IncomingCommand(command: command) { [self] result, _ in
                // C2D has no reply topic: the answer is an event the back end correlates by
                // `$.cid`, the command id.
                MQTTMessage(topic: eventTopic(type: "response", extra: [("$.cid", result.id)]), payload: MQTTWire.response(result))
            }
        }
        if topic.hasPrefix("$iothub/methods/POST/") {
            logger.warning("direct method call without a name or request id ignored: it cannot be answered", metadata: ["topic": "\(topic)"])
        }
        return nil
    }

    private func twinAnswer(_ message: MQTTMessage) {
        guard let answer = AzureIoTHub.TwinAnswer(topic: message.topic) else {
            logger.warning("unreadable twin answer ignored", metadata: ["topic": "\(message.topic)"])
            return
        }
        let what = pendingTwin.withLock { pending -> String? in
            guard let index = pending.firstIndex(where: { $0.rid == answer.requestID }) else { return nil }
            return pending.remove(at: index).what
        }
        if (200..<300).contains(answer.status) {
            logger.debug("twin reported properties updated", metadata: ["what": "\(what ?? "?")", "rid": "\(answer.requestID)"])
        } else {
            let body = String(decoding: message.payload.prefix(300), as: UTF8.self)
            logger.error(
                "IoT Hub refused a twin update",
                metadata: [
                    "what": "\(what ?? "unknown request")", "status": "\(answer.status)", "rid": "\(answer.requestID)", "answer": "\(body)",
                ])
        }
    }
}

// MARK: - Wire

extension AzureIoTHub.Topics {
    /// What answers to twin requests start with.
    static let twinResponsePrefix = "$iothub/twin/res/"

    /// The decoded property bag of a C2D topic (`devices/{id}/messages/devicebound/%24.mid=…`),
    /// nil for any other topic.
    func cloudToDeviceProperties(_ topic: String) -> [String: String]? {
        let prefix = "devices/\(deviceID)/messages/devicebound/"
        guard topic.hasPrefix(prefix) else { return nil }
        return AzureIoTHub.propertyBag(String(topic.dropFirst(prefix.count)))
    }
}

extension AzureIoTHub {
    /// `a=1&%24.mid=x` → `["a": "1", "$.mid": "x"]`, names and values percent-decoded.
    static func propertyBag(_ text: String) -> [String: String] {
        var properties: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            properties[name] = value
        }
        return properties
    }

    /// A direct method call: `$iothub/methods/POST/{name}/?$rid={rid}`.
    struct MethodCall: Hashable {
        var name: String
        var requestID: String

        /// Nil for other topics and for calls without a name or request id.
        init?(topic: String) {
            let prefix = "$iothub/methods/POST/"
            guard topic.hasPrefix(prefix), let query = topic.range(of: "/?") else { return nil }
            let name = String(topic[topic.index(topic.startIndex, offsetBy: prefix.count)..<query.lowerBound])
            guard !name.isEmpty, let rid = propertyBag(String(topic[query.upperBound...]))["$rid"], !rid.isEmpty else { return nil }
            self.name = name
            self.requestID = rid
        }
    }

    /// An answer to a twin request: `$iothub/twin/res/{status}/?$rid={rid}[&$version=…]`.
    struct TwinAnswer: Hashable {
        var status: Int
        var requestID: String

        init?(topic: String) {
            guard topic.hasPrefix(Topics.twinResponsePrefix), let query = topic.range(of: "/?") else { return nil }
            let code = topic[topic.index(topic.startIndex, offsetBy: Topics.twinResponsePrefix.count)..<query.lowerBound]
            guard let status = Int(code), let rid = propertyBag(String(topic[query.upperBound...]))["$rid"] else { return nil }
            self.status = status
            self.requestID = rid
        }
    }

    /// The command a direct method carries. Method `command` takes the `mqtt` profile's
    /// command JSON; any other method name is the named command of that name, with a payload
    /// of `device`, `args` and optionally `id`, `expires_at` or `ttl_ms`. A call without an
    /// id gets a fresh one, so that every call is answered and none is mistaken for a
    /// duplicate of another.
    static func methodCommand(
        name: String, payload: [UInt8], now: Date = Date(),
        newID: () -> String = { UUID().uuidString.lowercased() }
    ) -> Result<Command, CommandDecodingError> {
        let generated = newID()
        func reject(_ message: String, id: String? = nil) -> Result<Command, CommandDecodingError> {
            .failure(CommandDecodingError(id: id ?? generated, message: message))
        }
        guard let root = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)) else {
            return reject("method '\(name)': the payload is not valid JSON", id: MQTTWire.salvageID(payload))
        }
        guard case .object(var fields) = root else {
            return reject("method '\(name)': the payload must be a JSON object, got \(root.typeName)")
        }
        if fields["id"] == nil { fields["id"] = .string(generated) }
        if name != "command" {
            if let key = ["command", "write"].first(where: { fields[$0] != nil }) {
                return reject(
                    "method '\(name)' names the command itself: '\(key)' goes with method 'command' only",
                    id: fields["id"].flatMap { if case .string(let s) = $0 { s } else { nil } })
            }
            fields["command"] = .string(name)
        }
        return MQTTWire.decodeCommand(.object(fields), now: now).mapError { error in
            var error = error
            if error.id == nil { error.id = generated }
            return error
        }
    }

    /// The command a C2D message carries: the `mqtt` profile's command JSON, whose `id` may be
    /// left out when the message has a message id (`$.mid`).
    static func cloudToDeviceCommand(payload: [UInt8], messageID: String?, now: Date = Date()) -> Result<Command, CommandDecodingError> {
        let decoded: Result<Command, CommandDecodingError>
        if let root = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)),
            case .object(var fields) = root, fields["id"] == nil, let messageID, !messageID.isEmpty
        {
            fields["id"] = .string(messageID)
            decoded = MQTTWire.decodeCommand(.object(fields), now: now)
        } else {
            decoded = MQTTWire.decodeCommand(payload, now: now)
        }
        return decoded.mapError { error in
            var error = error
            if error.id == nil, let messageID, !messageID.isEmpty { error.id = messageID }
            return error
        }
    }

    /// The status of a direct method's answer, HTTP-like as IoT Hub relays it to the caller.
    /// `busy`: refused because too many commands were in progress.
    public static func methodStatus(_ status: CommandStatus, busy: Bool = false) -> Int {
        if busy { return 429 }
        switch status {
        case .ok, .duplicate: return 200
        case .rejected: return 400
        case .unknownDevice: return 404
        case .expired: return 410
        case .failed: return 502
        case .timeout: return 504
        }
    }

    /// `{"status":{"online","ts","gateway","reason"}}`. `reason` is always written (null when
    /// online) because a twin PATCH merges: a key left out would keep its old value.
    static func statusPatch(gateway: String, online: Bool, reason: String?, at date: Date) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{"); w.key("status"); w.raw("{")
        w.key("online"); w.raw(online ? "true" : "false")
        w.raw(","); w.key("ts"); w.string(Timestamp.rfc3339(date))
        w.raw(","); w.key("gateway"); w.string(gateway)
        w.raw(","); w.key("reason")
        if let reason { w.string(reason) } else { w.raw("null") }
        w.raw("}}")
        return w.bytes
    }

    /// `{"inventory":{"complete":true,"gateway","ts","devices":[...]}}` — the `mqtt` profile's
    /// inventory, or, when that exceeds `limit` bytes, as many devices as fit with their id
    /// and protocol only and `complete: false`. Every key is always written (a PATCH merges).
    static func inventoryPatch(
        gateway: String, devices: [DeviceDescriptor], limit: Int,
        at date: Date = Date()
    ) -> (payload: [UInt8], complete: Bool) {
        let full = MQTTWire.inventory(gateway: gateway, devices: devices, at: date)
        if full.count <= limit {
            // The inventory object starts with "{": insert the flag as its first member.
            return (Array(#"{"inventory":{"complete":true,"#.utf8) + full.dropFirst() + Array("}".utf8), true)
        }
        var w = JSONWriter()
        w.raw("{"); w.key("inventory"); w.raw("{")
        w.key("complete"); w.raw("false")
        w.raw(","); w.key("gateway"); w.string(gateway)
        w.raw(","); w.key("ts"); w.string(Timestamp.rfc3339(date))
        w.raw(","); w.key("devices"); w.raw("[")
        var first = true
        for device in devices {
            var entry = JSONWriter()
            entry.raw(first ? "" : ","); entry.raw("{"); entry.key("id"); entry.string(device.id)
            entry.raw(","); entry.key("protocol"); entry.string(device.protocolName); entry.raw("}")
            if w.bytes.count + entry.bytes.count + 3 > limit { break }
            w.raw(entry.bytes)
            first = false
        }
        w.raw("]}}")
        return (w.bytes, false)
    }
}
