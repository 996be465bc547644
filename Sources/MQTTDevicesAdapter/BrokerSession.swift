import DeviceMaps
import Foundation
import GatewayCore
import Logging
import MQTTClient
import Synchronization

/// One point bound to a topic filter.
struct Route: Sendable {
    /// The filter, `{id}` and `{topic}` resolved.
    let filter: String
    /// The device id.
    let device: String
    /// With `id_level`, the level of the topic that must equal the device id.
    let idLevel: Int?
    let point: PointDefinition
    let staleAfter: Duration?
    let qos: Int

    var key: PointKey { PointKey(device: device, point: point.name) }

    /// The filter as people read it for this device: its id in place of the id level's `+`.
    var topic: String {
        idLevel.map { Topic.replacing(level: $0, of: filter, with: device) } ?? filter
    }

    /// True when a message on `topic` is for this route.
    func accepts(_ topic: String) -> Bool {
        guard Topic.matches(filter, topic) else { return false }
        guard let idLevel else { return true }
        return Topic.level(idLevel, of: topic).map { $0 == device } ?? false
    }

    /// The readable points of `device`, one route each.
    static func routes(of device: DeviceDefinition) -> [Route] {
        let c = device.mqttConnection
        let deviceTopic = c.topic(of: device.id)
        return device.points.filter(\.access.isReadable).map { point in
            let staleAfter: Duration? =
                switch point.mqtt.staleAfter {
                case .after(let d)?: d
                case .never?: nil
                case nil: c.staleAfter
                }
            return Route(
                filter: point.mqtt.topic(device: device.id, deviceTopic: deviceTopic), device: device.id, idLevel: c.idLevel,
                point: point, staleAfter: staleAfter, qos: c.qos)
        }
    }
}

/// A point of a device.
struct PointKey: Sendable, Hashable {
    let device: String
    let point: String
}

/// The counters of every device of an adapter.
final class DeviceCounters: Sendable {
    private let byDevice = Mutex<[String: MQTTDeviceStatistics]>([:])
    private let unknown = Mutex<(count: Int, ids: Set<String>)>((0, []))

    func record(_ device: String, bad: Bool) {
        byDevice.withLock { all in
            all[device, default: MQTTDeviceStatistics()].messages += 1
            if bad { all[device]!.badPayloads += 1 }
        }
    }

    func recordStale(_ device: String, count: Int) {
        byDevice.withLock { $0[device, default: MQTTDeviceStatistics()].staleReadings += count }
    }

    func statistics(_ device: String) -> MQTTDeviceStatistics? {
        byDevice.withLock { $0[device] }
    }

    /// Counts a message for an id no device declares; true the first time that id is seen
    /// (up to a bound, so a flood of made-up ids cannot grow the set forever).
    func recordUnknown(_ id: String) -> Bool {
        unknown.withLock { u in
            u.count += 1
            guard u.ids.count < 1000 else { return false }
            return u.ids.insert(id).inserted
        }
    }

    var unknownIDMessages: Int { unknown.withLock { $0.count } }
}

/// One MQTT connection shared by the devices that name the same broker and credentials: it
/// connects (with backoff), subscribes once per distinct filter, routes each message to the
/// points bound to its topic, checks staleness, and publishes commands.
///
/// Readings go to the sink while the state lock is held, so that what was emitted always
/// agrees with the state: no reading of a removed device once `setDevices` has returned, and
/// no stale `bad` decided before a fresh `good` and emitted after it. `ReadingSink` is a
/// synchronous closure and the gateway's (report filter, then the outbox queue) takes its own
/// locks briefly and never calls back into an adapter; a sink that blocked would stall only
/// this session.
final class BrokerSession: Sendable {
    private struct State {
        var devices: [DeviceDefinition] = []
        var routes: [Route] = []
        /// Bumped by `setDevices`: readings decoded for older routes are decoded again.
        var generation = 0
        var sink: ReadingSink?
        var connection: MQTTConnection?
        /// Filters tried on this connection, refused ones included (they are not retried
        /// until the next connection).
        var subscribed: Set<String> = []
        /// Filters the broker (or libmosquitto) refused, with the reason their points read;
        /// kept across reconnects so that the same refusal is logged once.
        var refused: [String: String] = [:]
        /// The broker problem in force (nil while connected), logged and reported once.
        var problem: String?
        var lastMessage: [PointKey: ContinuousClock.Instant] = [:]
        var stale: Set<PointKey> = []
        var task: Task<Void, Never>?
        /// Connected, and every filter subscribed or refused.
        var ready = false
    }

    let key: MQTTSessionKey
    private let logger: Logger
    private let policy: ReconnectPolicy
    private let counters: DeviceCounters
    /// Appended to the client id (one-shot reads), so that the daemon's own id stays its own.
    private let clientIDSuffix: String?
    private let state = Mutex(State())
    /// A device flooding garbage costs a few log lines, not one per message.
    private let badPayloadLog = LogThrottle(burst: 10, interval: .seconds(10))

    init(
        key: MQTTSessionKey, devices: [DeviceDefinition], policy: ReconnectPolicy, counters: DeviceCounters,
        clientIDSuffix: String? = nil, logger: Logger
    ) {
        self.key = key
        self.clientIDSuffix = clientIDSuffix
        self.policy = policy
        self.counters = counters
        var logger = logger
        logger[metadataKey: "broker"] = "\(key.broker)"
        self.logger = logger
        state.withLock { s in
            s.devices = devices
            s.routes = devices.flatMap(Route.routes)
        }
    }

    // MARK: - Lifecycle

    /// True while connected, with every filter subscribed or refused.
    var isReady: Bool { state.withLock { $0.ready } }

    func start(sink: ReadingSink) {
        state.withLock { s in
            guard s.task == nil else { return }
            s.sink = sink
            s.task = Task { await self.run(sink: sink) }
        }
    }

    /// Stops the loop and disconnects; returns once both are done.
    func stop() async {
        let task = state.withLock { s in
            defer { s.task = nil }
            return s.task
        }
        task?.cancel()
        await task?.value
    }

    /// Replaces the devices; a connected session subscribes to new filters before returning.
    /// New points of a session with a broker problem, or on a filter already refused, read
    /// `bad` with that reason before this returns: a device added during an outage is not
    /// silent.
    func setDevices(_ devices: [DeviceDefinition]) async {
        let (connection, sink) = state.withLock { s -> (MQTTConnection?, ReadingSink?) in
            let before = Set(s.routes.map(\.key))
            s.devices = devices
            s.routes = devices.flatMap(Route.routes)
            s.generation += 1
            let keys = Set(s.routes.map(\.key))
            let filters = Set(s.routes.map(\.filter))
            s.lastMessage = s.lastMessage.filter { keys.contains($0.key) }
            s.stale.formIntersection(keys)
            s.refused = s.refused.filter { filters.contains($0.key) }
            if s.ready {
                // A point added while connected is stale after its stale_after without a message, too.
                let now = ContinuousClock.now
                for key in keys where s.lastMessage[key] == nil { s.lastMessage[key] = now }
            }
            let added = s.routes.filter { !before.contains($0.key) }
            if let sink = s.sink {
                if let problem = s.problem {
                    Self.emitBad(added, sink: sink) { _ in problem }
                } else if s.connection != nil {
                    // Refused on this connection, so subscribeMissing will not try it again.
                    let refused = s.refused.filter { s.subscribed.contains($0.key) }
                    Self.emitBad(added.filter { refused[$0.filter] != nil }, sink: sink) { refused[$0.filter]! }
                }
            }
            return (s.connection, s.sink)
        }
        if let connection, let sink {
            // Only a lost connection throws; it ends the session, and the loop reports it and
            // subscribes everything again on the next connection.
            try? await subscribeMissing(connection, sink: sink)
        }
    }

    private func run(sink: ReadingSink) async {
        var backoff = Backoff(policy: policy)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.watchStaleness(sink: sink) }
            while !Task.isCancelled {
                if let ended = await session(sink: sink, backoff: &backoff) {
                    fail(ended, sink: sink)
                }
                if Task.isCancelled { break }
                try? await Task.sleep(for: backoff.next())
            }
            group.cancelAll()
        }
        state.withLock { s in
            s.connection = nil
            s.subscribed = []
        }
    }

    /// One connection from connect to its end; the reason it ended, nil when cancelled.
    private func session(sink: ReadingSink, backoff: inout Backoff) async -> String? {
        let options: MQTTOptions
        switch makeOptions() {
        case .success(let o): options = o
        case .failure(let e): return e.description
        }
        let connection: MQTTConnection
        do {
            connection = try await MQTTConnection.connect(options, logger: logger)
        } catch {
            return Task.isCancelled ? nil : error.description
        }
        state.withLock { s in
            s.connection = connection
            s.subscribed = []
        }
        defer {
            state.withLock { s in
                s.connection = nil
                s.subscribed = []
                s.ready = false
            }
        }
        do {
            try await subscribeMissing(connection, sink: sink)
        } catch {
            await connection.disconnect()
            return Task.isCancelled ? nil : error.description
        }
        backoff.reset()
        let recovered = state.withLock { s in
            defer { s.problem = nil }
            // Staleness counts from the subscription: retained state arrives at once.
            let now = ContinuousClock.now
            for route in s.routes { s.lastMessage[route.key] = now }
            s.stale = []
            s.ready = true
            return s.problem
        }
        logger.info("mqtt devices connected", metadata: recovered.map { ["after": "\($0)"] } ?? [:])
        for await message in connection.messages {
            handle(message, sink: sink)
        }
        if Task.isCancelled {
            await connection.disconnect()
            return nil
        }
        let error = await connection.closed()
        return error?.description ?? "the connection ended"
    }

    /// Subscribes to every filter of the current routes not yet tried on `connection`. A filter
    /// refused by the broker (an ACL) or by libmosquitto (a wildcard that a device id made in
    /// code put in the wrong place) makes only its points `bad`; the other filters and the
    /// connection go on. Throws only when the connection is lost.
    private func subscribeMissing(_ connection: MQTTConnection, sink: ReadingSink) async throws(MQTTError) {
        while true {
            let next = state.withLock { s -> (String, Int)? in
                guard s.connection === connection else { return nil }
                guard let route = s.routes.first(where: { !s.subscribed.contains($0.filter) }) else { return nil }
                let qos = s.routes.filter { $0.filter == route.filter }.map(\.qos).max() ?? 1
                s.subscribed.insert(route.filter)
                return (route.filter, qos)
            }
            guard let (filter, qos) = next else { return }
            do {
                try await connection.subscribe(filter, qos: qos)
                state.withLock { _ = $0.refused.removeValue(forKey: filter) }
            } catch {
                guard case .failed(let why) = error, !Task.isCancelled else {
                    state.withLock { _ = $0.subscribed.remove(filter) }
                    throw error
                }
                refuse(filter, because: why, on: connection, sink: sink)
            }
        }
    }

    /// The points on `filter` read `bad` with the reason; a new reason is logged once.
    private func refuse(_ filter: String, because why: String, on connection: MQTTConnection, sink: ReadingSink) {
        // MQTTClient names the filter when libmosquitto refuses it, not when the broker does.
        let reason = why.contains("'\(filter)'") ? why : "cannot subscribe to '\(filter)': \(why)"
        let isNew = state.withLock { s -> Bool in
            guard s.connection === connection else { return false }
            let isNew = s.refused[filter] != reason
            s.refused[filter] = reason
            Self.emitBad(s.routes.filter { $0.filter == filter }, sink: sink) { _ in reason }
            return isNew
        }
        if isNew {
            logger.error(
                "mqtt subscription failed; its points read bad",
                metadata: [
                    "filter": "\(filter)", "error": "\(why)",
                ])
        }
    }

    private func makeOptions() -> Result<MQTTOptions, MQTTDeviceMapError> {
        // The loader refuses this too; a connection made in code must not slip past it.
        guard key.broker.useTLS || key.insecure else {
            return .failure(.init("plain mqtt:// refused without `insecure: true`: it would send device data and commands unencrypted"))
        }
        var password: String?
        if let name = key.passwordEnv {
            guard let value = ProcessInfo.processInfo.environment[name] else {
                return .failure(.init("the environment variable \(name) (password_env) is not set"))
            }
            password = value
        }
        let tls = key.caFile.map { MQTTTLS(caFile: $0, certFile: key.certFile, keyFile: key.keyFile, verifyHostname: true) }
        return .success(
            MQTTOptions(
                host: key.broker.host, port: key.broker.port, clientID: (key.clientID ?? defaultClientID) + (clientIDSuffix ?? ""),
                username: key.username, password: password, tls: tls))
    }

    /// `edgegate-<host name>-<hash of the session>`: distinct for two gateways on one broker,
    /// and for two sessions of one gateway, and stable across restarts.
    private var defaultClientID: String {
        var hash: UInt32 = 2_166_136_261
        let identity = [key.broker.description, key.username ?? "", key.caFile ?? "", key.certFile ?? "", key.passwordEnv ?? ""]
        for byte in identity.joined(separator: "\u{1}").utf8 {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        return "edgegate-\(host.prefix(32))-\(String(hash, radix: 16))"
    }

    /// Every readable point `bad` with the broker's reason, once per change of the reason.
    private func fail(_ reason: String, sink: ReadingSink) {
        let text = "broker \(key.broker): \(reason)"
        let changed = state.withLock { s -> Bool in
            guard s.problem != text else { return false }
            s.problem = text
            Self.emitBad(s.routes, sink: sink) { _ in text }
            return true
        }
        guard changed else { return }
        logger.error("mqtt devices cannot reach their broker", metadata: ["error": "\(reason)"])
    }

    /// `routes` `bad` with their reasons, one batch per device in device order. Called with
    /// the state lock held (see the type's comment).
    private static func emitBad(_ routes: [Route], sink: ReadingSink, reason: (Route) -> String) {
        let now = Date()
        var order: [String] = []
        var byDevice: [String: [Reading]] = [:]
        for route in routes {
            if byDevice[route.device] == nil { order.append(route.device) }
            byDevice[route.device, default: []].append(
                Reading(
                    device: route.device, point: route.point.name, value: nil,
                    unit: route.point.unit, quality: .bad(reason(route)), timestamp: now))
        }
        for device in order.sorted() { sink.emit(byDevice[device]!) }
    }

    // MARK: - Messages

    private func handle(_ message: MQTTMessage, sink: ReadingSink) {
        let payload = Payload(topic: message.topic, bytes: message.payload)
        while true {
            let (routes, unknownID, generation) = state.withLock { s -> ([Route], Substring?, Int) in
                var accepted: [Route] = []
                var unknownID: Substring?
                for route in s.routes where Topic.matches(route.filter, message.topic) {
                    if route.accepts(message.topic) {
                        accepted.append(route)
                    } else if let level = route.idLevel {
                        unknownID = Topic.level(level, of: message.topic)
                    }
                }
                return (accepted, accepted.isEmpty ? unknownID : nil, s.generation)
            }
            if let unknownID {
                // The gateway serves the devices its maps declare; a stranger is noted, not adopted.
                if counters.recordUnknown(String(unknownID)) {
                    logger.warning(
                        "mqtt message for an undeclared device id ignored",
                        metadata: [
                            "topic": "\(message.topic)", "id": "\(unknownID)",
                        ])
                }
                return
            }
            guard !routes.isEmpty else { return }
            // Decoded outside the lock; emitted under it only if the routes are still current.
            let timestamp = Date()
            var order: [String] = []
            var byDevice: [String: [Reading]] = [:]
            for route in routes {
                if byDevice[route.device] == nil { order.append(route.device) }
                let reading: Reading
                switch ValueCodec.decode(payload, point: route.point) {
                case .success(let value):
                    reading = Reading(
                        device: route.device, point: route.point.name, value: value, unit: route.point.unit,
                        quality: .good, timestamp: timestamp)
                case .failure(let why):
                    reading = Reading(
                        device: route.device, point: route.point.name, value: nil, unit: route.point.unit,
                        quality: .bad(why.description), timestamp: timestamp)
                }
                byDevice[route.device, default: []].append(reading)
            }
            let now = ContinuousClock.now
            let emitted = state.withLock { s -> Bool in
                guard s.generation == generation else { return false }
                for route in routes {
                    s.lastMessage[route.key] = now
                    s.stale.remove(route.key)
                }
                for device in order { sink.emit(byDevice[device]!) }
                return true
            }
            // The devices changed meanwhile: route the message again, to the current ones.
            guard emitted else { continue }
            for device in order {
                let bad = byDevice[device]!.first { $0.quality != .good }
                counters.record(device, bad: bad != nil)
                if let bad {
                    badPayloadLog.log(
                        logger, "mqtt payload not understood",
                        metadata: [
                            "device": "\(device)", "point": "\(bad.point)", "reason": "\(bad.quality.reason ?? "")",
                        ])
                }
            }
            return
        }
    }

    // MARK: - Staleness

    private func watchStaleness(sink: ReadingSink) async {
        while !Task.isCancelled {
            let tick = state.withLock { s in
                min(s.devices.map(\.poll).min() ?? .seconds(1), .seconds(1))
            }
            try? await Task.sleep(for: max(tick, .milliseconds(50)))
            state.withLock { s in
                // A session without a connection has its points bad for the broker's reason
                // already, and a refused filter's points for their own.
                guard s.connection != nil, s.problem == nil else { return }
                // Decided and emitted under the lock: a message handled meanwhile cannot be
                // overtaken by a stale `bad` decided before it.
                let now = ContinuousClock.now
                var found: [Route] = []
                for route in s.routes where s.refused[route.filter] == nil {
                    guard let limit = route.staleAfter, !s.stale.contains(route.key),
                        let last = s.lastMessage[route.key], now - last >= limit
                    else { continue }
                    s.stale.insert(route.key)
                    found.append(route)
                }
                for (device, routes) in Dictionary(grouping: found, by: \.device) {
                    counters.recordStale(device, count: routes.count)
                }
                Self.emitBad(found, sink: sink) { "no message on \($0.topic) for \($0.staleAfter?.mapText ?? "")" }
            }
        }
    }

    // MARK: - Commands

    /// Publishes with QoS 1 and returns after the broker's PUBACK.
    func publish(_ topic: String, payload: String) async throws(WriteError) {
        let (connection, problem) = state.withLock { ($0.connection, $0.problem) }
        guard let connection else {
            // The problem names the broker already: "broker mqtt://…: connection refused".
            throw .failed(problem ?? "not connected to broker \(key.broker) yet")
        }
        do {
            try await connection.publish(topic, payload: Array(payload.utf8), qos: 1, retain: false)
        } catch {
            throw .failed("publishing to \(topic) on broker \(key.broker) failed: \(error)")
        }
    }
}
