import Foundation
public import GatewayCore
public import Logging
public import MQTTClient
import Synchronization
public import Uplink

/// How the operator reaches the hub: its address, the operator's certificate pair (mutual
/// TLS, the hub's certificate checked against the CA, hostname verification on), the
/// operator's identity and the topic prefix of the uplink contract.
public struct HubOperator: Sendable, Hashable {
    /// The hub's host name or address.
    public var host: String
    /// The hub's TLS port.
    public var port: Int
    /// The CA that signed the hub's certificate.
    public var caFile: String
    /// The operator's client certificate.
    public var certFile: String
    /// The operator's private key.
    public var keyFile: String
    /// The operator's identity (the certificate's common name); commands carry it as `by`.
    public var identity: String
    /// The topic prefix (`{prefix}/{gateway}/...`).
    public var prefix: String
    /// How long a connection attempt may take.
    public var connectTimeout: Duration

    /// The settings of one operator.
    public init(
        host: String, port: Int, caFile: String, certFile: String, keyFile: String,
        identity: String, prefix: String, connectTimeout: Duration = .seconds(10)
    ) {
        self.host = host
        self.port = port
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.identity = identity
        self.prefix = prefix
        self.connectTimeout = connectTimeout
    }

    /// Mutual-TLS options with a fresh client id `{identity}-{purpose}-{8 hex}`: several
    /// clients of one operator at once must not take each other's session over.
    public func mqttOptions(purpose: String) -> MQTTOptions {
        var options = MQTTOptions(
            host: host, port: port,
            clientID: "\(identity)-\(purpose)-\(UUID().uuidString.prefix(8).lowercased())",
            tls: MQTTTLS(caFile: caFile, certFile: certFile, keyFile: keyFile, verifyHostname: true))
        options.connectTimeout = connectTimeout
        return options
    }
}

/// The operator's side of the uplink contract (docs/protocol.md) on one hub connection:
/// send commands and await their responses, read a gateway's retained inventory, watch what
/// passes through the hub as typed values.
///
/// Operations may run concurrently on one client: every message of the connection is offered
/// to each operation that is waiting, and each takes what concerns it. The client never
/// reconnects; when the connection ends, operations in progress end and `closed()` says why.
public final class HubClient: Sendable {
    /// The topic prefix of the uplink contract.
    public let prefix: String
    private let connection: MQTTConnection
    private let router: MessageRouter

    private init(connection: MQTTConnection, prefix: String) {
        self.connection = connection
        self.prefix = prefix
        router = MessageRouter()
        let (router, messages) = (router, connection.messages)
        // Ends with the connection, when `messages` finishes. It holds the stream only, not the
        // connection, so that a client dropped without `disconnect()` still ends its session.
        Task {
            for await message in messages { router.deliver(message) }
            router.finish()
        }
    }

    /// Connects as `operator` (client id `{identity}-{purpose}-…`).
    public static func connect(
        _ operator: HubOperator, purpose: String = "client",
        logger: Logger
    ) async throws(MQTTError) -> HubClient {
        try await connect(`operator`.mqttOptions(purpose: purpose), prefix: `operator`.prefix, logger: logger)
    }

    /// Connects with options the caller made (for instance a fixed client id).
    public static func connect(_ options: MQTTOptions, prefix: String, logger: Logger) async throws(MQTTError) -> HubClient {
        HubClient(connection: try await MQTTConnection.connect(options, logger: logger), prefix: prefix)
    }

    /// The topics of `gateway` under this client's prefix.
    public func topics(of gateway: String) -> MQTTTopics {
        MQTTTopics(prefix: prefix, gateway: gateway)
    }

    /// Waits until the connection ends: nil after `disconnect()`, the reason otherwise.
    public func closed() async -> MQTTError? {
        await connection.closed()
    }

    /// Disconnects cleanly; operations in progress end. Safe to call twice.
    public func disconnect() async {
        await connection.disconnect()
    }

    // MARK: Commands

    /// Sends `command` to `gateway` and returns the response whose id matches.
    ///
    /// Subscribes to the gateway's responses first (so a fast answer is not missed) and to its
    /// retained status (to explain a silence), then publishes the command at QoS 1. A response
    /// of any status is returned (`ok`, `rejected`, `duplicate`, ...); an error means no
    /// response came.
    /// - Parameters:
    ///   - timeout: how long to wait for the response after publishing.
    ///   - ttl: sent as `ttl_ms`: the gateway refuses to start the command later than this
    ///     after it arrives.
    public func send(
        _ command: Command, to gateway: String, timeout: Duration,
        ttl: Duration? = nil
    ) async throws(CommandSendError) -> CommandResponse {
        let topics = topics(of: gateway)
        let (incoming, stop) = router.listen { $0 == topics.responses || $0 == topics.status }
        defer { stop() }
        let published: ContinuousClock.Instant
        do throws(MQTTError) {
            try await connection.subscribe(topics.responses, qos: 1)
            try await connection.subscribe(topics.status, qos: 1)
            published = .now
            try await connection.publish(topics.commands, payload: MQTTWire.command(command, ttl: ttl), qos: 1, retain: false)
        } catch {
            throw .hub(error)
        }
        let status = LatestStatus()
        let response: CommandResponse? = await withTaskGroup(of: CommandResponse?.self) { group in
            group.addTask {
                for await message in incoming {
                    if message.topic == topics.status {
                        status.update(message.payload)
                        continue
                    }
                    guard let object = jsonObject(message.payload), object["id"] == .string(command.id),
                        let response = CommandResponse(object, payload: message.payload, elapsed: .now - published)
                    else { continue }
                    return response
                }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let response { return response }
        throw .noResponse(id: command.id, gateway: gateway, prefix: prefix, after: timeout, status: status.value)
    }

    // MARK: Inventory

    /// The inventory `gateway` keeps retained on the hub: what it last published, also while
    /// it is offline.
    /// - Parameter wait: how long to wait for the retained message; when none comes, the error
    ///   names the gateways that have a status under the prefix meanwhile.
    public func devices(of gateway: String, wait: Duration) async throws(InventoryError) -> Inventory {
        let topic = topics(of: gateway).devices
        let prefix = prefix
        let statuses = "\(prefix)/+/status"
        let (incoming, stop) = router.listen { $0 == topic || $0.hasPrefix(prefix + "/") && $0.hasSuffix("/status") }
        defer { stop() }
        do throws(MQTTError) {
            try await connection.subscribe(topic, qos: 1)
            // The other gateways' retained statuses name the ids this hub knows, for the error
            // when the inventory does not come.
            try await connection.subscribe(statuses, qos: 0)
        } catch {
            throw .hub(error)
        }
        let found: (payload: [UInt8]?, gateways: Set<String>) = await withTaskGroup(of: ([UInt8]?, Set<String>)?.self) { group in
            let seen = GatewayIDs()
            group.addTask {
                for await message in incoming {
                    if message.topic == topic { return (message.payload, seen.all) }
                    let levels = message.topic.dropFirst(prefix.count + 1).split(separator: "/")
                    if levels.count == 2, levels[1] == "status" { seen.insert(String(levels[0])) }
                }
                return (nil, seen.all)
            }
            group.addTask {
                try? await Task.sleep(for: wait)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? (nil, seen.all)
        }
        guard let payload = found.payload else {
            throw .none(gateway: gateway, prefix: prefix, after: wait, knownGateways: found.gateways.sorted())
        }
        do {
            return try Inventory(payload)
        } catch {
            throw .unreadable(gateway: gateway, reason: "\(error)")
        }
    }

    // MARK: Watching

    /// What passes through the hub for `gateway`, decoded, from the moment this returns until
    /// the connection ends or the consumer stops. Messages that do not decode are left out.
    ///
    /// Subscribes to the kinds asked for; the retained status and inventory come first. The hub
    /// sends a retained message again whenever its topic is subscribed to, so another operation
    /// on this client (a `send` subscribes to the status) repeats it, marked retained.
    /// Telemetry is subscribed at QoS 0: readings are many and soon replaced, which spares
    /// the hub and the client the acknowledgements.
    public func watch(_ gateway: String, _ kinds: HubEvent.Kinds = .all) async throws(MQTTError) -> HubEvents {
        let topics = topics(of: gateway)
        let wanted: [(HubEvent.Kinds, String)] = [
            (.status, topics.status), (.commands, topics.commands), (.responses, topics.responses),
            (.inventory, topics.devices), (.telemetry, topics.telemetry),
        ]
        let subscribed = Set(wanted.filter { kinds.contains($0.0) }.map(\.1))
        let (incoming, stop) = router.listen { subscribed.contains($0) }
        do throws(MQTTError) {
            for (kind, topic) in wanted where kinds.contains(kind) {
                try await connection.subscribe(topic, qos: kind == .telemetry ? 0 : 1)
            }
        } catch {
            stop()
            throw error
        }
        return HubEvents(messages: incoming, topics: topics)
    }
}

/// Why `send` got no response.
public enum CommandSendError: Error, Sendable, CustomStringConvertible {
    /// The hub refused a subscription or the publish, or the connection ended.
    case hub(MQTTError)
    /// Nothing answered within the timeout; `status` is the gateway's retained status, if the
    /// hub holds one, which tells whether the command can still run.
    case noResponse(id: String, gateway: String, prefix: String, after: Duration, status: GatewayStatus?)

    /// A sentence that says what the silence means, from the gateway's status.
    public var description: String {
        switch self {
        case .hub(let e): return "hub: \(e)"
        case .noResponse(let id, let gateway, let prefix, let after, let status):
            let head = "no response to command \(id) from gateway \(gateway) within \(after.mapText)"
            guard let status else {
                return "\(head): the hub holds no status for \(gateway) under prefix '\(prefix)', so the gateway has never "
                    + "connected to this hub, or the gateway id or the prefix is wrong; the command will not run"
            }
            if !status.online {
                return "\(head): the gateway is \(status.text); the command was not delivered and will not run"
            }
            return "\(head): the gateway is online (since \(status.since ?? "an unknown time")) but did not answer in time; "
                + "its device may be slow or busy with earlier commands, and the command may still run "
                + "(--ttl bounds how late it may start)"
        }
    }
}

/// Why `devices` returned no inventory.
public enum InventoryError: Error, Sendable {
    /// The hub refused a subscription, or the connection ended.
    case hub(MQTTError)
    /// No retained inventory within the wait: the gateway never connected to this hub, or
    /// the gateway id or the prefix is wrong. `knownGateways`: the ids with a status under
    /// the prefix.
    case none(gateway: String, prefix: String, after: Duration, knownGateways: [String])
    /// An inventory came but is not one this client can read.
    case unreadable(gateway: String, reason: String)
}

/// The JSON object in `payload`, or nil.
func jsonObject(_ payload: [UInt8]) -> [String: JSONValue]? {
    guard case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)) else { return nil }
    return object.dictionary
}

/// Hands each message of the one connection to every operation waiting for its topic: the
/// connection's `messages` has a single consumer.
final class MessageRouter: Sendable {
    private struct Listener {
        let accepts: @Sendable (String) -> Bool
        let sink: AsyncStream<MQTTMessage>.Continuation
    }

    private struct State {
        var next = 0
        var listeners: [Int: Listener] = [:]
        var finished = false
    }

    private let state = Mutex(State())

    /// A stream of the messages whose topic `accepts` takes, from now on, and the function
    /// that ends it. Like the connection's own stream, it holds up to 10,000 messages for a
    /// slow consumer and drops newer ones beyond that.
    func listen(_ accepts: @escaping @Sendable (String) -> Bool) -> (AsyncStream<MQTTMessage>, @Sendable () -> Void) {
        let (stream, sink) = AsyncStream.makeStream(of: MQTTMessage.self, bufferingPolicy: .bufferingOldest(10_000))
        let id: Int? = state.withLock { s in
            guard !s.finished else { return nil }
            defer { s.next += 1 }
            s.listeners[s.next] = Listener(accepts: accepts, sink: sink)
            return s.next
        }
        guard let id else {
            sink.finish()
            return (stream, {})
        }
        let remove: @Sendable () -> Void = { [weak self] in
            self?.state.withLock { _ = $0.listeners.removeValue(forKey: id) }
            sink.finish()
        }
        sink.onTermination = { _ in remove() }
        return (stream, remove)
    }

    func deliver(_ message: MQTTMessage) {
        let sinks = state.withLock { s in s.listeners.values.filter { $0.accepts(message.topic) }.map(\.sink) }
        for sink in sinks { sink.yield(message) }
    }

    /// The connection ended: every stream ends, and later ones end at once.
    func finish() {
        let sinks = state.withLock { s in
            s.finished = true
            defer { s.listeners = [:] }
            return s.listeners.values.map(\.sink)
        }
        for sink in sinks { sink.finish() }
    }
}

/// The last gateway status seen, shared between the task that reads messages and the one
/// that gives up waiting.
private final class LatestStatus: Sendable {
    private let status = Mutex<GatewayStatus?>(nil)

    /// Keeps the status in `payload`, when it is one.
    func update(_ payload: [UInt8]) {
        if let parsed = GatewayStatus(payload) { status.withLock { $0 = parsed } }
    }

    /// The last status, if any arrived.
    var value: GatewayStatus? { status.withLock { $0 } }
}

/// Gateway ids collected while waiting.
private final class GatewayIDs: Sendable {
    private let ids = Mutex<Set<String>>([])

    func insert(_ id: String) { ids.withLock { _ = $0.insert(id) } }

    var all: Set<String> { ids.withLock { $0 } }
}
