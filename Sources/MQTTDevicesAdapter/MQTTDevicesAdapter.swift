public import DeviceMaps
import Foundation
public import GatewayCore
public import Logging
import Synchronization

/// How an MQTT device's messages have gone: the numbers to check when values look wrong.
public struct MQTTDeviceStatistics: Sendable, Hashable {
    /// Messages routed to the device (each gave one batch of readings).
    public var messages = 0
    /// Of those, messages that left at least one point `bad` (missing field, malformed JSON,
    /// wrong type, out of range).
    public var badPayloads = 0
    /// Readings that turned `bad` because no message came within `stale_after`.
    public var staleReadings = 0

    /// Nothing counted yet.
    public init() {}
}

/// Devices that publish JSON state over MQTT (zigbee2mqtt, Tasmota, ESPHome, custom
/// firmware), on a local or site broker, through the MQTTClient wrapper the uplink uses.
///
/// Devices naming the same broker, credentials and client id share one connection, with one
/// subscription per distinct topic filter; each message becomes one batch of readings of the
/// points bound to its topic. A missing field, malformed JSON or a value of the wrong type
/// makes that point `bad` with the reason (counted per device, logged rate-limited); a point
/// without a message for its `stale_after` becomes `bad` too. A lost broker makes every
/// point of its devices `bad` naming the broker, and is retried with backoff; a topic filter
/// the broker refuses makes only its own points `bad`. Writes publish
/// the point's payload template to its command topic (QoS 1) and return the values sent:
/// MQTT has no read-back.
public final class MQTTDevicesAdapter: MapAdapter {
    private struct State {
        var devices: [DeviceDefinition] = []
        var definitions: [String: DeviceDefinition] = [:]
        var sessions: [MQTTSessionKey: BrokerSession] = [:]
        var run = RunClaim(adapter: "MQTT devices")
    }

    private let state = Mutex(State())
    private let logger: Logger
    private let reconnect: ReconnectPolicy
    /// Appended to every client id: set for one-shot reads, nil for the daemon.
    private let clientIDSuffix: String?
    private let counters = DeviceCounters()

    /// Creates an adapter; nothing connects until `run`.
    /// - Parameters:
    ///   - reconnect: how quickly a lost broker is retried.
    ///   - clientIDSuffix: appended to the client id of every broker connection.
    public init(devices: [DeviceDefinition], logger: Logger, reconnect: ReconnectPolicy, clientIDSuffix: String? = nil) {
        self.logger = logger
        self.reconnect = reconnect
        self.clientIDSuffix = clientIDSuffix
        state.withLock { s in
            for (key, members) in Self.sessions(of: devices) {
                s.sessions[key] = makeSession(key, members)
            }
            s.devices = devices
            s.definitions = Dictionary(devices.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    /// Creates an adapter that retries a lost broker with the standard policy (0.5 s to 30 s).
    public convenience init(devices: [DeviceDefinition], logger: Logger) {
        self.init(devices: devices, logger: logger, reconnect: .standard)
    }

    /// An adapter for `map read` next to a running gateway: each broker connection gets a
    /// client id of its own (`<client id>-read-<random>`, clean session). With the daemon's
    /// id, the broker would close the daemon's connection ("already connected") and hand the
    /// reader its session; a `client_id:` in the map is the daemon's too.
    public convenience init(oneShotReadOf devices: [DeviceDefinition], logger: Logger) {
        self.init(
            devices: devices, logger: logger, reconnect: .standard,
            clientIDSuffix: "-read-" + UUID().uuidString.prefix(8).lowercased())
    }

    /// Not polled: the topics it is subscribed to, on which broker.
    static func requestSummary(of device: DeviceDefinition, among devices: [DeviceDefinition]) -> String {
        var filters: [String] = []
        for route in Route.routes(of: device) where !filters.contains(route.topic) { filters.append(route.topic) }
        let topics = filters.isEmpty ? "no topic (no readable point)" : filters.joined(separator: ", ")
        return "not polled: subscribed to \(topics) on \(device.mqttConnection.broker); readings come with the device's messages"
    }

    private func makeSession(_ key: MQTTSessionKey, _ members: [DeviceDefinition]) -> BrokerSession {
        BrokerSession(key: key, devices: members, policy: reconnect, counters: counters, clientIDSuffix: clientIDSuffix, logger: logger)
    }

    /// The devices this adapter serves, in map order.
    public var devices: [DeviceDescriptor] {
        state.withLock { $0.devices.map(\.descriptor) }
    }

    /// The message counters of a device; nil before its first message.
    public func statistics(device: String) -> MQTTDeviceStatistics? {
        counters.statistics(device)
    }

    /// Broker connections that are up, with every topic filter of their devices subscribed
    /// or refused (a refused filter's points read `bad`; the connection serves the others).
    public var connectedBrokers: Int {
        state.withLock { Array($0.sessions.values) }.filter(\.isReady).count
    }

    /// Messages on a shared (`id_level`) topic for ids that no device declares: counted, each
    /// id logged once, never turned into a device.
    public var unknownIDMessages: Int { counters.unknownIDMessages }

    /// Connects every broker and routes messages until the task is cancelled; then
    /// disconnects and returns.
    /// - Throws: `AdapterRunError.alreadyRunning` if this adapter is already running.
    public func run(sink: ReadingSink) async throws {
        try state.withLock { s throws(AdapterRunError) in
            try s.run.claim(sink)
            for session in s.sessions.values { session.start(sink: sink) }
        }
        await waitUntilCancelled()
        let sessions = state.withLock { s in
            s.run.release()
            return Array(s.sessions.values)
        }
        await withTaskGroup(of: Void.self) { group in
            for session in sessions { group.addTask { await session.stop() } }
        }
    }

    /// Switches to a new set of devices. A broker session that keeps devices stays connected
    /// (new topic filters are subscribed before this returns; a filter no longer used stays
    /// subscribed until the next reconnect, its messages ignored); a session left without
    /// devices disconnects; a new one connects.
    public func update(devices: [DeviceDefinition]) async {
        let (kept, closing) = state.withLock { s -> ([(BrokerSession, [DeviceDefinition])], [BrokerSession]) in
            var sessions: [MQTTSessionKey: BrokerSession] = [:]
            var kept: [(BrokerSession, [DeviceDefinition])] = []
            for (key, members) in Self.sessions(of: devices) {
                if let session = s.sessions[key] {
                    kept.append((session, members))
                    sessions[key] = session
                } else {
                    let session = makeSession(key, members)
                    if let sink = s.run.sink { session.start(sink: sink) }
                    sessions[key] = session
                }
            }
            let closing = s.sessions.filter { sessions[$0.key] == nil }.map(\.value)
            s.sessions = sessions
            s.devices = devices
            s.definitions = Dictionary(devices.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            return (kept, closing)
        }
        await withTaskGroup(of: Void.self) { group in
            for (session, members) in kept { group.addTask { await session.setDevices(members) } }
            for session in closing { group.addTask { await session.stop() } }
        }
    }

    private static func sessions(of devices: [DeviceDefinition]) -> [(key: MQTTSessionKey, members: [DeviceDefinition])] {
        var groups: [MQTTSessionKey: [DeviceDefinition]] = [:]
        var order: [MQTTSessionKey] = []
        for device in devices {
            let key = device.mqttConnection.session
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(device)
        }
        return order.map { ($0, groups[$0]!) }
    }

    /// Renders every value with its point's payload template (nothing is published unless all
    /// of them render), then publishes per command topic with QoS 1 and waits for PUBACK.
    /// Points sharing a command topic whose payloads are JSON objects go out as ONE merged
    /// object (`{"state":"ON","brightness":200}`), keys in map order; other payloads go out
    /// one message each, in map order.
    ///
    /// - Returns: the values as sent; MQTT has no read-back (the device's next state message
    ///   is an ordinary reading).
    /// - Throws: `.rejected` for an unknown or read-only point or a value the template cannot
    ///   express; `.failed` when the broker is not connected or the publish fails.
    public func write(device: String, values: [String: Value]) async throws(WriteError) -> [String: Value] {
        let target = state.withLock { s -> (DeviceDefinition, BrokerSession)? in
            guard let d = s.definitions[device], let session = s.sessions[d.mqttConnection.session] else { return nil }
            return (d, session)
        }
        guard let (definition, session) = target else { throw .rejected("no MQTT device '\(device)'") }
        if let unknown = values.keys.sorted().first(where: { name in !definition.points.contains { $0.name == name } }) {
            throw .rejected("\(device) has no point '\(unknown)'")
        }
        var topics: [String] = []
        var payloads: [String: [String]] = [:]
        for point in definition.points {
            guard let value = values[point.name] else { continue }
            guard point.access.isWritable,
                let topic = MQTTDeviceSyntax.commandTopic(of: point.mqtt, device: device, connection: definition.mqttConnection)
            else {
                throw .rejected("\(device).\(point.name) is read-only")
            }
            let payload: String
            do {
                payload = try ValueCodec.render(value, point: point)
            } catch {
                throw .rejected("\(device).\(point.name): \(error) (nothing was published)")
            }
            if payloads[topic] == nil { topics.append(topic) }
            payloads[topic, default: []].append(payload)
        }
        guard !topics.isEmpty else { throw .rejected("command for \(device) writes no point") }
        for topic in topics {
            for payload in Self.merged(payloads[topic]!) {
                do {
                    try await session.publish(topic, payload: payload)
                } catch {
                    let points = values.keys.sorted().map { "\(device).\($0)" }.joined(separator: ", ")
                    guard case .failed(let why) = error else { throw error }
                    throw .failed("\(points): write failed: \(why)")
                }
            }
        }
        return values
    }

    /// One object when every payload is a JSON object, else the payloads as they are.
    static func merged(_ payloads: [String]) -> [String] {
        guard payloads.count > 1 else { return payloads }
        var members = JSONObject()
        for payload in payloads {
            guard case .object(let more)? = try? JSONValue(parsing: Array(payload.utf8)) else { return payloads }
            for member in more {
                // A later payload's key moves to the end: the object reads in the order it was set.
                members[member.key] = nil
                members.append(member.key, member.value)
            }
        }
        return [JSONValue.object(members).compactText]
    }
}
