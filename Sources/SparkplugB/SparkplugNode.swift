import CoreMetrics
import Foundation
import GatewayCore
import Logging
import MQTTClient
import SwiftProtobuf
import Synchronization
import Uplink

/// One Sparkplug B edge node (the gateway) and its devices, across the uplink's sessions:
/// births and deaths, the `seq` of every message it sends, aliases, and the commands of hosts.
///
/// Every message that carries a `seq` is numbered and queued on the connection under one
/// lock (`MQTTConnection.send` only queues), so the order on the wire is the order of the
/// numbers, whoever sends: the uplink's sender (data), its inventory loop (births after a
/// reload), a rebirth request, a command's answer.
final class SparkplugNode: Sendable {
    let topics: SparkplugTopics
    let primaryHost: String?
    private let logger: Logger
    private let now: @Sendable () -> Date
    private let state = Mutex(State())
    /// The latest reading of every point, for births: kept apart from `state`, because the
    /// adapters' threads update it with every batch.
    private let latest = Mutex<[String: [String: Reading]]>([:])
    /// `edgegate_sparkplug_refused_writes_total`.
    private let refused: CoreMetrics.Counter
    private let refusalLog = LogThrottle(burst: 10, interval: .seconds(10))

    /// A device as its last DBIRTH described it.
    struct BornDevice: Sendable {
        let descriptor: DeviceDescriptor
        /// Point name → its alias and datatype.
        let points: [String: (alias: UInt64, type: SparkplugDataType)]
        /// Alias → point name, for commands that name metrics by alias.
        let names: [UInt64: String]
    }

    struct State {
        /// The bdSeq of the last CONNECT (its will); -1 before the first.
        var bdSeq: Int64 = -1
        /// The seq of the next message.
        var seq: UInt64 = 0
        /// The connection the node is born on; nil while not born (between sessions, or
        /// while waiting for the primary host).
        var connection: MQTTConnection?
        /// The devices of the inventory as last born, and their order.
        var devices: [String: BornDevice] = [:]
        var order: [String] = []
        /// Devices a reload removed, as they were: readings of theirs still in the outbox are
        /// sent in a birth–data–death of their own.
        var retired: [String: DeviceDescriptor] = [:]
        /// Aliases given so far: a point keeps its alias for as long as the gateway runs,
        /// across reloads and sessions.
        var aliases: [String: [String: UInt64]] = [:]
        var nextAlias: UInt64 = 1
        /// Devices declared dead for being unreachable, and how many polls in a row came back
        /// all bad.
        var dead: Set<String> = []
        var badPolls: [String: Int] = [:]
        /// The timestamp of the primary host's last STATE that counted: an older one is stale.
        var hostTimestamp: UInt64?
        /// Numbers the ids of the commands made from DCMDs.
        var commands = 0
    }

    /// - Parameter metrics: where refused writes are counted (the process's `MetricsSystem`
    ///   unless a test gives its own).
    init(
        group: String, node: String, primaryHost: String?, logger: Logger, now: @escaping @Sendable () -> Date,
        metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        self.refused = CoreMetrics.Counter(label: MetricNames.sparkplugRefusedWrites, factory: metrics)
        self.topics = SparkplugTopics(group: group, node: node)
        self.primaryHost = primaryHost
        self.logger = logger
        self.now = now
    }

    // MARK: - Connection and birth

    /// The will of the next CONNECT: NDEATH with the next bdSeq (0–255, then 0 again).
    func nextWill() -> MQTTMessage {
        let bdSeq = state.withLock { s in
            s.bdSeq = (s.bdSeq + 1) % 256
            return s.bdSeq
        }
        return MQTTMessage(topic: topics.ndeath, payload: deathPayload(bdSeq: bdSeq), qos: 1, retain: false)
    }

    private func deathPayload(bdSeq: Int64) -> [UInt8] {
        var payload = SparkplugPayload()
        payload.timestamp = Sparkplug.milliseconds(now())
        payload.metrics = [bdSeqMetric(bdSeq)]
        return serialized(payload)
    }

    private func bdSeqMetric(_ bdSeq: Int64) -> SparkplugMetric {
        var m = SparkplugMetric()
        m.name = Sparkplug.bdSeq
        m.timestamp = Sparkplug.milliseconds(now())
        m.datatype = UInt32(SparkplugDataType.int64.rawValue)
        m.longValue = UInt64(bitPattern: bdSeq)
        return m
    }

    /// A new session: subscriptions, the primary host's state when one is configured (waits
    /// until it is online), then the birth of the node and of every device.
    func start(_ connection: MQTTConnection, devices: [DeviceDescriptor]) async throws(MQTTError) {
        state.withLock { $0.connection = nil }
        try await connection.subscribe(topics.ncmd, qos: 1)
        try await connection.subscribe(topics.dcmdFilter, qos: 1)
        if let host = primaryHost {
            try await connection.subscribe(SparkplugTopics.state(host), qos: 1)
            try await waitForPrimaryHost(host, on: connection)
        }
        try birth(devices, on: connection)
    }

    /// Reads the session's messages until the primary host's STATE says online. Commands that
    /// arrive before the birth are ignored: nothing is born that they could address.
    private func waitForPrimaryHost(_ host: String, on connection: MQTTConnection) async throws(MQTTError) {
        logger.info("sparkplug: waiting for the primary host to be online before the birth", metadata: ["primary_host": "\(host)"])
        for await message in connection.messages {
            if message.topic == SparkplugTopics.state(host) {
                if hostState(message.payload, host: host) == true { return }
            } else {
                logger.debug("sparkplug: message before the birth ignored", metadata: ["topic": "\(message.topic)"])
            }
        }
        // Cancelled (the uplink stops) or the connection ended: no birth either way.
        throw .connectionLost("the connection ended while waiting for the primary host \(host)")
    }

    /// Applies a STATE message of the primary host (Sparkplug 3.0: `{"online": bool,
    /// "timestamp": ms}`, honoured only when its timestamp is not older than the last one);
    /// returns the host's state when the message counted, nil when it did not.
    private func hostState(_ payload: [UInt8], host: String) -> Bool? {
        guard case .object(let o)? = try? JSONValue(parsing: payload), let online = o["online"]?.bool else {
            logger.warning("sparkplug: STATE message of the primary host is not Sparkplug 3.0 JSON; ignored", metadata: ["primary_host": "\(host)"])
            return nil
        }
        let timestamp = o["timestamp"]?.integer.flatMap { UInt64(exactly: $0) }
        return state.withLock { s -> Bool? in
            if let last = s.hostTimestamp, let timestamp, timestamp < last { return nil }
            if let timestamp { s.hostTimestamp = timestamp }
            return online
        }
    }

    /// NBIRTH (seq 0, the bdSeq of this connection's will, `Node Control/Rebirth`), then a
    /// DBIRTH per device: a birth sequence as the specification orders it.
    private func birth(_ devices: [DeviceDescriptor], on connection: MQTTConnection) throws(MQTTError) {
        try state.withLock { s throws(MQTTError) in
            s.connection = connection
            s.seq = 0
            s.dead = []
            s.badPolls = [:]
            var payload = SparkplugPayload()
            var rebirth = SparkplugMetric()
            rebirth.name = Sparkplug.rebirth
            rebirth.timestamp = Sparkplug.milliseconds(now())
            rebirth.datatype = UInt32(SparkplugDataType.boolean.rawValue)
            rebirth.booleanValue = false
            payload.metrics = [bdSeqMetric(max(s.bdSeq, 0)), rebirth]
            _ = try send(&payload, to: topics.nbirth, qos: 0, in: &s, on: connection)
            s.devices = [:]
            s.order = devices.map(\.id)
            for device in devices {
                try birth(device, latest: latestReadings(of: device.id), in: &s, on: connection)
            }
        }
        logger.info("sparkplug: node born", metadata: ["group": "\(topics.group)", "node": "\(topics.node)", "devices": "\(devices.count)"])
    }

    /// One DBIRTH: every point as a metric with its name, alias, datatype, unit and limits,
    /// and its latest value and quality (null with quality STALE before its first reading).
    private func birth(_ device: DeviceDescriptor, latest: [String: Reading], in s: inout State, on connection: MQTTConnection) throws(MQTTError) {
        var points: [String: (alias: UInt64, type: SparkplugDataType)] = [:]
        var names: [UInt64: String] = [:]
        var payload = SparkplugPayload()
        payload.metrics.reserveCapacity(device.points.count)
        let stamp = Sparkplug.milliseconds(now())
        for point in device.points {
            let alias: UInt64
            if let known = s.aliases[device.id]?[point.name] {
                alias = known
            } else {
                alias = s.nextAlias
                s.nextAlias += 1
                s.aliases[device.id, default: [:]][point.name] = alias
            }
            let type = MetricValues.dataType(of: point)
            points[point.name] = (alias, type)
            names[alias] = point.name
            var m = SparkplugMetric()
            m.name = point.name
            m.alias = alias
            m.datatype = UInt32(type.rawValue)
            if let unit = point.unit { MetricValues.addProperty(Sparkplug.engUnit, MetricValues.stringProperty(unit), to: &m) }
            if let low = point.min { MetricValues.addProperty(Sparkplug.engLow, MetricValues.doubleProperty(low), to: &m) }
            if let high = point.max { MetricValues.addProperty(Sparkplug.engHigh, MetricValues.doubleProperty(high), to: &m) }
            if let reading = latest[point.name] {
                m.timestamp = Sparkplug.milliseconds(reading.timestamp)
                MetricValues.apply(reading.quality, value: reading.value, type: type, to: &m)
            } else {
                m.timestamp = stamp
                m.isNull = true
                MetricValues.addProperty(Sparkplug.quality, MetricValues.int32Property(Sparkplug.stale), to: &m)
                MetricValues.addProperty(Sparkplug.reason, MetricValues.stringProperty("not read yet"), to: &m)
            }
            payload.metrics.append(m)
        }
        _ = try send(&payload, to: topics.dbirth(device.id), qos: 0, in: &s, on: connection)
        s.devices[device.id] = BornDevice(descriptor: device, points: points, names: names)
        s.dead.remove(device.id)
        s.badPolls[device.id] = 0
    }

    /// A new birth sequence on the session's connection (a host's rebirth request).
    func rebirth() {
        guard
            let (connection, devices) = state.withLock({ s -> (MQTTConnection, [DeviceDescriptor])? in
                guard let c = s.connection else { return nil }
                return (c, s.order.compactMap { s.devices[$0]?.descriptor })
            })
        else { return }
        do {
            try birth(devices, on: connection)
        } catch {
            logger.warning("sparkplug: rebirth not published", metadata: ["error": "\(error)"])
        }
    }

    /// After a reload: DDEATH for each device gone, DBIRTH for each new or changed device.
    /// Nothing while not born: the next birth describes them all.
    func update(_ devices: [DeviceDescriptor]) throws(MQTTError) {
        try state.withLock { s throws(MQTTError) in
            guard let connection = s.connection else { return }
            let ids = Set(devices.map(\.id))
            for id in s.order where !ids.contains(id) {
                s.retired[id] = s.devices[id]?.descriptor
                s.devices[id] = nil
                // A device already dead (unreachable) has had its DDEATH.
                guard !s.dead.contains(id) else { continue }
                var payload = SparkplugPayload()
                _ = try send(&payload, to: topics.ddeath(id), qos: 0, in: &s, on: connection)
                logger.info("sparkplug: device removed by a reload: DDEATH", metadata: ["device": "\(id)"])
            }
            for device in devices { s.retired[device.id] = nil }
            s.order = devices.map(\.id)
            for device in devices where s.devices[device.id]?.descriptor != device {
                let changed = s.devices[device.id] != nil
                try birth(device, latest: latestReadings(of: device.id), in: &s, on: connection)
                logger.info("sparkplug: device \(changed ? "changed" : "added") by a reload: DBIRTH", metadata: ["device": "\(device.id)"])
            }
        }
    }

    /// The goodbye of a clean stop: NDEATH with this connection's bdSeq (a clean disconnect
    /// does not publish the will), acknowledged.
    func die(on connection: MQTTConnection) async throws(MQTTError) {
        let bdSeq = state.withLock { s in
            s.connection = nil
            return max(s.bdSeq, 0)
        }
        let id = try connection.send(topics.ndeath, payload: deathPayload(bdSeq: bdSeq), qos: 1, retain: false)
        try await connection.acknowledgement(of: id)
    }

    // MARK: - Data

    /// Readings as they enter the uplink: the latest of each point, for births.
    func observe(_ readings: [Reading]) {
        latest.withLock { latest in
            var index = 0
            while index < readings.count {
                let device = readings[index].device
                // One look-up per device of the batch, the points updated in place.
                latest[device, default: [:]].storeRun(of: readings, from: &index)
            }
        }
    }

    /// One telemetry message of the outbox as DDATA, one message per device, its metrics by
    /// alias; `historical` when replayed after an outage. Live data also decides whether
    /// a device is unreachable: after `deathAfterBadPolls` all-bad polls in a row it is
    /// declared dead (DDEATH) until a usable reading births it again (DBIRTH).
    func send(_ payload: [UInt8], replayed: Bool, on connection: MQTTConnection) throws(MQTTError) -> [Int32] {
        guard let readings = MQTTWire.readings(inTelemetry: payload) else {
            logger.error("sparkplug: a telemetry message of the outbox cannot be read; it is not sent", metadata: ["bytes": "\(payload.count)"])
            return []
        }
        // A device's readings of the message together, devices in order of appearance.
        var order: [String] = []
        var byDevice: [String: [Reading]] = [:]
        for r in readings {
            if byDevice[r.device] == nil { order.append(r.device) }
            byDevice[r.device, default: []].append(r)
        }
        var ids: [Int32] = []
        try state.withLock { s throws(MQTTError) in
            // After an NDEATH on this connection (the primary host went offline) nothing more
            // may follow it: the message stays in the outbox for the next session.
            guard s.connection === connection else { throw .connectionLost("the edge node is not born on this connection") }
            for device in order {
                try send(byDevice[device]!, of: device, replayed: replayed, in: &s, on: connection, ids: &ids)
            }
        }
        return ids
    }

    private func send(
        _ readings: [Reading], of device: String, replayed: Bool,
        in s: inout State, on connection: MQTTConnection, ids: inout [Int32]
    ) throws(MQTTError) {
        guard let born = s.devices[device] else {
            try sendRetired(readings, of: device, replayed: replayed, in: &s, on: connection, ids: &ids)
            return
        }
        var metrics: [SparkplugMetric] = []
        metrics.reserveCapacity(readings.count)
        func flush() throws(MQTTError) {
            guard !metrics.isEmpty else { return }
            var payload = SparkplugPayload()
            payload.metrics = metrics
            metrics.removeAll(keepingCapacity: true)
            ids.append(try send(&payload, to: topics.ddata(device), qos: 1, in: &s, on: connection))
        }
        var start = 0
        while start < readings.count {
            // One poll: the readings that share a timestamp.
            var end = start + 1
            while end < readings.count, readings[end].timestamp == readings[start].timestamp { end += 1 }
            let poll = readings[start..<end]
            start = end
            if !replayed {
                if poll.contains(where: Self.isUsable) {
                    s.badPolls[device] = 0
                    if s.dead.contains(device) {
                        try flush()
                        try birth(born.descriptor, latest: latestReadings(of: device), in: &s, on: connection)
                        logger.info("sparkplug: device reachable again: DBIRTH", metadata: ["device": "\(device)"])
                        continue  // the birth carries these values
                    }
                } else if s.dead.contains(device) {
                    continue  // the DDEATH says it all
                } else {
                    let polls = s.badPolls[device, default: 0] + 1
                    s.badPolls[device] = polls
                    if polls >= Sparkplug.deathAfterBadPolls {
                        metrics += poll.map { metric($0, of: born, replayed: false) }
                        try flush()
                        var payload = SparkplugPayload()
                        _ = try send(&payload, to: topics.ddeath(device), qos: 0, in: &s, on: connection)
                        s.dead.insert(device)
                        let reason = poll.first.map { if case .bad(let r) = $0.quality { r } else { "" } } ?? ""
                        logger.warning(
                            "sparkplug: device unreachable: DDEATH",
                            metadata: ["device": "\(device)", "polls": "\(polls)", "reason": "\(LogText.clean(reason))"])
                        continue
                    }
                }
            }
            metrics += poll.map { metric($0, of: born, replayed: replayed) }
        }
        try flush()
    }

    /// Readings of a device that is not in the inventory (a reload removed it, or the gateway
    /// restarted without it, before they were delivered): data after a death is no data to a
    /// host, so the device is born again for them, as it was (or, unknown, with the points
    /// and types the readings show), and dies again after them. Bad readings of a device that
    /// died unreachable say nothing its DDEATH did not: not sent.
    private func sendRetired(
        _ readings: [Reading], of device: String, replayed: Bool,
        in s: inout State, on connection: MQTTConnection, ids: inout [Int32]
    ) throws(MQTTError) {
        if s.dead.contains(device) && !readings.contains(where: Self.isUsable) { return }
        let descriptor =
            s.retired[device]
            ?? DeviceDescriptor(
                id: device, protocolName: "unknown",
                points: readings.reduce(into: [PointDescriptor]()) { points, r in
                    guard !points.contains(where: { $0.name == r.point }) else { return }
                    let kind: ValueKind =
                        switch r.value {
                        case .bool?: .bool
                        case .int?: .integer
                        case .string?: .string
                        case .double?, nil: .number
                        }
                    points.append(PointDescriptor(name: r.point, kind: kind, unit: r.unit, typeName: kind.rawValue))
                })
        // Replayed readings are older than anything the births could show: no current values.
        try birth(descriptor, latest: replayed ? [:] : latestReadings(of: device), in: &s, on: connection)
        let born = s.devices[device]!
        var payload = SparkplugPayload()
        payload.metrics = readings.map { metric($0, of: born, replayed: replayed) }
        ids.append(try send(&payload, to: topics.ddata(device), qos: 1, in: &s, on: connection))
        var death = SparkplugPayload()
        _ = try send(&death, to: topics.ddeath(device), qos: 0, in: &s, on: connection)
        s.devices[device] = nil
        s.retired[device] = descriptor
        s.dead.insert(device)
        logger.info(
            "sparkplug: readings of a device no longer in the inventory delivered in a birth and death of their own",
            metadata: ["device": "\(device)", "readings": "\(readings.count)"])
    }

    /// True for a reading that is not bad: a poll with one says the device answers.
    private static func isUsable(_ r: Reading) -> Bool {
        if case .bad = r.quality { false } else { true }
    }

    /// The latest reading of each point of a device, for its birth. Looked up only when a
    /// birth needs it, never per message sent; never a copy of the whole table, which the
    /// adapters' next `observe` would then have to copy again. (Taken inside `state`'s lock:
    /// nothing takes the two the other way round.)
    private func latestReadings(of device: String) -> [String: Reading] {
        latest.withLock { $0[device] ?? [:] }
    }

    /// A reading as a DDATA metric: alias only; by name when its point is not in the birth.
    private func metric(_ r: Reading, of born: BornDevice, replayed: Bool) -> SparkplugMetric {
        var m: SparkplugMetric
        if let point = born.points[r.point] {
            m = MetricValues.metric(r, type: point.type)
            m.alias = point.alias
        } else {
            let type = MetricValues.dataType(of: r.value)
            m = MetricValues.metric(r, type: type)
            m.name = r.point
            m.datatype = UInt32(type.rawValue)
        }
        if replayed { m.isHistorical = true }
        return m
    }

    /// Numbers a message with the next seq, stamps it, and queues it; returns its message id.
    private func send(
        _ payload: inout SparkplugPayload, to topic: String, qos: Int, in s: inout State, on connection: MQTTConnection
    ) throws(MQTTError) -> Int32 {
        payload.seq = s.seq
        payload.timestamp = Sparkplug.milliseconds(now())
        let id = try connection.send(topic, payload: serialized(payload), qos: qos, retain: false)
        s.seq = (s.seq + 1) % 256
        return id
    }

    private func serialized(_ payload: SparkplugPayload) -> [UInt8] {
        do {
            return try payload.serializedBytes()
        } catch {
            // Only a message with missing required fields fails, and Payload has none.
            logger.error("sparkplug: payload not encoded", metadata: ["error": "\(error)"])
            return []
        }
    }

    // MARK: - Commands

    /// What a host sends: NCMD (a rebirth request), DCMD (writes), the primary host's STATE.
    func command(from message: MQTTMessage) -> IncomingCommand? {
        if message.topic == topics.ncmd {
            nodeCommand(message.payload)
            return nil
        }
        if let host = primaryHost, message.topic == SparkplugTopics.state(host) {
            if hostState(message.payload, host: host) == false { primaryHostWentOffline(host) }
            return nil
        }
        guard message.topic.hasPrefix(topics.dcmdPrefix) else { return nil }
        return deviceCommand(String(message.topic.dropFirst(topics.dcmdPrefix.count)), message.payload)
    }

    private func nodeCommand(_ bytes: [UInt8]) {
        guard let payload = try? SparkplugPayload(serializedBytes: bytes) else {
            refusalLog.log(logger, "sparkplug: NCMD is no Sparkplug B payload; ignored", metadata: ["bytes": "\(bytes.count)"])
            return
        }
        for m in payload.metrics where m.name == Sparkplug.rebirth {
            if case .booleanValue(true)? = m.value {
                logger.info("sparkplug: rebirth requested by a host")
                rebirth()
            }
            return
        }
        refusalLog.log(logger, "sparkplug: NCMD without a metric edgegate acts on; ignored", metadata: ["metrics": "\(payload.metrics.map(\.name))"])
    }

    /// Sparkplug 3.0: a primary host that goes offline while the node is born gets an NDEATH
    /// at once and a new connection, which waits until the host is back.
    private func primaryHostWentOffline(_ host: String) {
        guard
            let (connection, bdSeq) = state.withLock({ s -> (MQTTConnection, Int64)? in
                guard let c = s.connection else { return nil }
                s.connection = nil
                return (c, max(s.bdSeq, 0))
            })
        else { return }
        logger.warning("sparkplug: the primary host went offline: NDEATH, and a new connection that waits for it", metadata: ["primary_host": "\(host)"])
        let payload = deathPayload(bdSeq: bdSeq)
        let topic = topics.ndeath
        Task {
            if let id = try? connection.send(topic, payload: payload, qos: 1, retain: false) {
                try? await connection.acknowledgement(of: id)
            }
            await connection.disconnect()
        }
    }

    /// A DCMD as one write command of the device (all its metrics at once), through the
    /// same router as every other command; nil when it cannot become one (refused and
    /// logged, the current values published again).
    private func deviceCommand(_ device: String, _ bytes: [UInt8]) -> IncomingCommand? {
        guard let payload = try? SparkplugPayload(serializedBytes: bytes) else {
            refuse(device: device, points: [], reason: "the DCMD is no Sparkplug B payload")
            return nil
        }
        guard let born = state.withLock({ $0.devices[device] }) else {
            refuse(device: device, points: [], reason: "no device of that id is born on this node")
            return nil
        }
        var writes: [String: Value] = [:]
        var problems: [String] = []
        for m in payload.metrics {
            let name = m.hasName ? m.name : born.names[m.alias]
            guard let name, let point = born.points[name] else {
                problems.append(m.hasName ? "no metric named '\(m.name)'" : "no metric with alias \(m.alias)")
                continue
            }
            switch MetricValues.value(of: m, as: point.type) {
            case .success(let value): writes[name] = value
            case .failure(let error): problems.append("\(name): \(error)")
            }
        }
        if writes.isEmpty && problems.isEmpty { problems.append("the DCMD names no metric") }
        guard problems.isEmpty else {
            refuse(
                device: device, points: payload.metrics.compactMap { $0.hasName ? $0.name : born.names[$0.alias] },
                reason: problems.joined(separator: "; "))
            return nil
        }
        let id = state.withLock { s in
            s.commands += 1
            return "sparkplug-\(Sparkplug.milliseconds(now()))-\(s.commands)"
        }
        let command = Command(id: id, device: device, action: .write(writes), by: "sparkplug")
        let points = Array(writes.keys)
        // The answer goes out on the connection the node is born on, numbered with the rest.
        return IncomingCommand(command: .success(command)) { [self] result, _, _ throws(MQTTError) in
            try answer(result, device: device, points: points)
        }
    }

    /// After a write: the values read back as DDATA; a refusal logged, counted, and the points'
    /// current values published again, so that the host shows the truth.
    private func answer(_ result: CommandResult, device: String, points: [String]) throws(MQTTError) {
        guard result.status == .ok else {
            refuse(device: device, points: points, reason: "\(result.status.rawValue): \(result.message)")
            return
        }
        let readings = points.sorted().compactMap { point in
            result.values[point].map { Reading(device: device, point: point, value: $0, unit: nil, quality: .good, timestamp: result.timestamp) }
        }
        guard !readings.isEmpty else { return }
        latest.withLock { latest in for r in readings { latest[device, default: [:]][r.point] = r } }
        try publishCurrent(readings, of: device)
    }

    private func refuse(device: String, points: [String], reason: String) {
        refused.increment()
        refusalLog.log(
            logger, "sparkplug: write refused",
            metadata: ["device": "\(LogText.clean(device))", "points": "\(points.sorted().map(LogText.clean))", "reason": "\(LogText.clean(reason))"])
        let current = latest.withLock { latest in Set(points).sorted().compactMap { latest[device]?[$0] } }
        try? publishCurrent(current, of: device)
    }

    /// Live DDATA of a device's points, outside the outbox (a command's answer).
    private func publishCurrent(_ readings: [Reading], of device: String) throws(MQTTError) {
        try state.withLock { s throws(MQTTError) in
            guard let connection = s.connection, let born = s.devices[device], !readings.isEmpty else { return }
            var payload = SparkplugPayload()
            payload.metrics = readings.map { metric($0, of: born, replayed: false) }
            _ = try send(&payload, to: topics.ddata(device), qos: 1, in: &s, on: connection)
        }
    }
}

extension Dictionary where Key == String, Value == Reading {
    /// Stores the run of readings of one device that starts at `index`, and moves `index`
    /// past it.
    fileprivate mutating func storeRun(of readings: [Reading], from index: inout Int) {
        let device = readings[index].device
        while index < readings.count, readings[index].device == device {
            self[readings[index].point] = readings[index]
            index += 1
        }
    }
}
