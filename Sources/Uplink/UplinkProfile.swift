public import Foundation
public import GatewayCore
public import MQTTClient

/// The parts of the uplink that differ from one wire profile to another (`mqtt`,
/// `azure-iot-hub`): credentials and last will, topics, how a session starts, how a message
/// becomes a command and where its answer goes, how status and inventory are published.
///
/// `MQTTUplink` keeps everything else — batching, the telemetry window, reconnects with
/// backoff, the bound on commands in progress — and calls into its profile for these, so a
/// new hub dialect is one new type rather than a second uplink.
public protocol UplinkProfile: Sendable {
    /// The profile's name in the configuration (`mqtt`, `azure-iot-hub`, `sparkplug-b`), for logs.
    var name: String { get }
    /// Where telemetry goes (QoS 1, never retained); a profile that spreads it over several
    /// topics (`sparkplug-b`: one per device) names the filter that matches them.
    var telemetryTopic: String { get }
    /// The largest telemetry payload the hub takes, when it has a limit below the uplink's own;
    /// the uplink seals its batches below it.
    var maxTelemetryBytes: Int? { get }

    /// The options of the next connection attempt, made from the configured ones: the last
    /// will and, for profiles that have them, fresh credentials.
    /// - Throws: when the credentials cannot be made (an unreadable key file); the uplink
    ///   logs it and tries again after its backoff.
    func connectionPlan(_ configured: MQTTOptions) throws(UplinkCredentialError) -> UplinkConnectionPlan

    /// Runs on a new connection before telemetry flows: subscriptions, the online status and
    /// the inventory. It may wait (`sparkplug-b` waits for its primary host to be online);
    /// the uplink cancels it when it stops first.
    func startSession(_ connection: MQTTConnection, devices: [DeviceDescriptor]) async throws(MQTTError)

    /// Publishes one telemetry message of the outbox (the JSON of docs/protocol.md) and
    /// returns the ids of the MQTT messages whose acknowledgements mean that the hub has all
    /// of it; the outbox lets go of it only then. Called by one task at a time, in `seq`
    /// order. `replayed`: the message was sealed before this session started (kept through
    /// an outage or a restart). Default: the payload as it is, on `telemetryTopic`.
    func sendTelemetry(_ payload: [UInt8], replayed: Bool, on connection: MQTTConnection) throws(MQTTError) -> [Int32]

    /// Readings as they enter the uplink, on the adapters' threads, before they are encoded
    /// (`sparkplug-b` keeps the latest value of each point for its births). Default: nothing.
    func observe(_ readings: [Reading])

    /// Publishes a new device list (after `MQTTUplink.update(devices:)`).
    func publishInventory(_ devices: [DeviceDescriptor], on connection: MQTTConnection) async throws(MQTTError)

    /// Says goodbye before a clean disconnect at shutdown.
    func publishOffline(reason: String, on connection: MQTTConnection) async throws(MQTTError)

    /// The command an incoming message carries, decoded or not, with where its answer goes;
    /// nil for messages that are not commands (the profile logs what matters about them).
    func command(from message: MQTTMessage) -> IncomingCommand?
}

extension UplinkProfile {
    /// The payload as it is, on `telemetryTopic`, QoS 1.
    public func sendTelemetry(_ payload: [UInt8], replayed: Bool, on connection: MQTTConnection) throws(MQTTError) -> [Int32] {
        [try connection.send(telemetryTopic, payload: payload, qos: 1, retain: false)]
    }

    /// Nothing.
    public func observe(_ readings: [Reading]) {}
}

/// Why a profile could not make the credentials of a connection attempt, whatever the profile
/// (an unreadable key file, a key that is not base64): the uplink logs it and tries again, so
/// it needs the sentence only, never the profile's own error type.
public struct UplinkCredentialError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A sentence for the operator; never the credential or the key itself.
    public var description: String

    /// Creates an error from the profile's sentence.
    public init(_ description: String) {
        self.description = description
    }
}

/// One connection attempt as a profile wants it.
public struct UplinkConnectionPlan: Sendable {
    /// The options to connect with (credentials are never logged: see `MQTTOptions.description`).
    public var options: MQTTOptions
    /// How long after the credentials were made the session must end and reconnect with new
    /// ones (SAS token renewal); nil: credentials do not expire.
    public var renewAfter: Duration?
    /// When the credentials stop working, for the log (never the credential itself).
    public var expiry: Date?
    /// What the renewed credential is called in the log (`SAS token renewed`).
    public var credential: String

    /// Creates a plan.
    public init(options: MQTTOptions, renewAfter: Duration? = nil, expiry: Date? = nil, credential: String = "credentials") {
        self.options = options
        self.renewAfter = renewAfter
        self.expiry = expiry
        self.credential = credential
    }
}

/// A command that arrived, and how to answer it.
public struct IncomingCommand: Sendable {
    /// The command, or why it could not be decoded (with its id when one could be read).
    public var command: Result<Command, CommandDecodingError>
    /// The message that answers it, for a profile that answers with one message (nil when
    /// the profile publishes the answer itself); `respond` publishes it.
    public var answer: (@Sendable (_ result: CommandResult, _ busy: Bool) -> MQTTMessage)?
    /// Publishes the answer on the session's connection. `busy`: the uplink refused it
    /// because too many commands were in progress (a profile with status codes says "try
    /// again later" rather than "bad request").
    public var respond: @Sendable (_ result: CommandResult, _ busy: Bool, _ connection: MQTTConnection) async throws(MQTTError) -> Void

    /// A command answered by one message, which the uplink publishes.
    public init(
        command: Result<Command, CommandDecodingError>,
        answer: @escaping @Sendable (_ result: CommandResult, _ busy: Bool) -> MQTTMessage
    ) {
        self.command = command
        self.answer = answer
        self.respond = { result, busy, connection throws(MQTTError) in try await connection.publish(answer(result, busy)) }
    }

    /// A command whose profile publishes the answer itself (`sparkplug-b` publishes the
    /// values read back as data, numbered with everything else the edge node sends).
    public init(
        command: Result<Command, CommandDecodingError>,
        respond: @escaping @Sendable (_ result: CommandResult, _ busy: Bool, _ connection: MQTTConnection) async throws(MQTTError) -> Void
    ) {
        self.command = command
        self.respond = respond
    }
}

/// The `mqtt` profile (v1, docs/protocol.md): `{p}/{gw}/...` topics, a retained status that is also
/// the last will, a retained inventory, commands and responses on their own topics.
public struct MQTTProfile: UplinkProfile {
    /// The gateway id (`{gw}`).
    public let gatewayID: String
    /// The topics of this prefix and gateway.
    public let topics: MQTTTopics

    /// The profile for a prefix and gateway id.
    public init(prefix: String, gatewayID: String) {
        self.gatewayID = gatewayID
        self.topics = MQTTTopics(prefix: prefix, gateway: gatewayID)
    }

    /// `mqtt`.
    public var name: String { "mqtt" }
    /// `{p}/{gw}/telemetry`.
    public var telemetryTopic: String { topics.telemetry }
    /// No limit of its own: the uplink's `maxMessageBytes` applies.
    public var maxTelemetryBytes: Int? { nil }

    /// The configured options with the retained `online: false` status as the last will
    /// (`MQTTWire.will`: no `ts`, the time of the connection instead).
    public func connectionPlan(_ configured: MQTTOptions) -> UplinkConnectionPlan {
        var options = configured
        options.will = MQTTMessage(topic: topics.status, payload: MQTTWire.will(gateway: gatewayID), qos: 1, retain: true)
        return UplinkConnectionPlan(options: options)
    }

    /// Retained `online: true`, the retained inventory, then the command subscription.
    public func startSession(_ connection: MQTTConnection, devices: [DeviceDescriptor]) async throws(MQTTError) {
        try await connection.publish(MQTTMessage(topic: topics.status, payload: MQTTWire.status(gateway: gatewayID, online: true), retain: true))
        try await publishInventory(devices, on: connection)
        try await connection.subscribe(topics.commands, qos: 1)
    }

    /// The retained `{p}/{gw}/devices`.
    public func publishInventory(_ devices: [DeviceDescriptor], on connection: MQTTConnection) async throws(MQTTError) {
        try await connection.publish(MQTTMessage(topic: topics.devices, payload: MQTTWire.inventory(gateway: gatewayID, devices: devices), retain: true))
    }

    /// The retained `online: false` with the reason.
    public func publishOffline(reason: String, on connection: MQTTConnection) async throws(MQTTError) {
        try await connection.publish(
            MQTTMessage(topic: topics.status, payload: MQTTWire.status(gateway: gatewayID, online: false, reason: reason), retain: true))
    }

    /// Messages on `{p}/{gw}/commands`, answered on `{p}/{gw}/responses`.
    public func command(from message: MQTTMessage) -> IncomingCommand? {
        guard message.topic == topics.commands else { return nil }
        let responses = topics.responses
        return IncomingCommand(command: MQTTWire.decodeCommand(message.payload)) { result, _ in
            MQTTMessage(topic: responses, payload: MQTTWire.response(result))
        }
    }
}
