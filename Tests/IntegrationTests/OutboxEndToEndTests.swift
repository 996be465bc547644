import DevTools
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Logging
import MQTTClient
import ModbusAdapter
import Storage
import Synchronization
import TestSupport
import Testing
import Uplink

/// Five devices behind one simulator (unit ids 1–5), three points each, polled every 100 ms:
/// steady load, every poll reported (no report policy).
let fiveDevicesYAML = """
    profiles:
      meter:
        protocol: modbus
        points:
          temperature: { table: holding, address: 0, type: int16, scale: 0.1, unit: "°C" }
          flow:        { table: input, address: 10, type: float32, word_order: little, unit: "l/min" }
          pump:        { table: coil, address: 0, type: bool }
    devices:
    """
    + (1...5).map {
        """

          - id: meter-\($0)
            profile: meter
            connection: { host: 127.0.0.1, port: PORT, unit_id: \($0), timeout: 500ms }
            poll: 100ms
        """
    }.joined() + "\n"

/// What the operator received, deduplicated by seq.
struct Delivered {
    /// seq → the payload of its first arrival.
    var messages: [Int: [UInt8]] = [:]
    /// seqs that arrived more than once with a different payload (a seq used twice).
    var conflicting: [Int] = []
    /// Arrivals in total (redeliveries included).
    var arrivals = 0

    init(_ view: OperatorView) {
        for (seq, payload) in view.telemetry.withLock({ $0 }) {
            arrivals += 1
            if let first = messages[seq] {
                if first != payload { conflicting.append(seq) }
            } else {
                messages[seq] = payload
            }
        }
    }

    var seqs: [Int] { messages.keys.sorted() }

    /// The seqs between the lowest and the highest that never arrived.
    var missing: [Int] {
        guard let low = seqs.first, let high = seqs.last else { return [] }
        return Array(Set(low...high).subtracting(seqs)).sorted()
    }

    /// Per device, the `ts` of each `temperature` reading, in seq order.
    var temperatureTimes: [String: [String]] {
        var result: [String: [String]] = [:]
        for seq in seqs {
            guard case .object(let root)? = try? JSONDecoder().decode(JSONValue.self, from: Data(messages[seq]!)),
                case .array(let readings)? = root["readings"]
            else { continue }
            for case .object(let r) in readings where r["point"] == .string("temperature") {
                if case .string(let device)? = r["device"], case .string(let ts)? = r["ts"] {
                    result[device, default: []].append(ts)
                }
            }
        }
        return result
    }

    /// Readings in all distinct messages.
    var readingCount: Int {
        messages.values.reduce(0) { total, payload in
            guard case .object(let root)? = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)),
                case .array(let readings)? = root["readings"]
            else { return total }
            return total + readings.count
        }
    }
}

/// The outbox with real parts: the libmodbus simulator under steady load, mosquitto stopped
/// and restarted, the daemon killed with SIGKILL.
@Suite("Outbox end to end", .timeLimit(.minutes(3)))
struct OutboxEndToEndTests {

    /// Polls per device so far (after the gateway stopped: all it will ever make).
    func polls(_ gateway: Gateway) throws -> [String: Int] {
        let modbus = try #require(gateway.adapters.first as? ModbusAdapter)
        return Dictionary(uniqueKeysWithValues: (1...5).map { "meter-\($0)" }.map { ($0, modbus.statistics(device: $0)?.polls ?? 0) })
    }

    /// What an outage test ends with.
    struct Outage {
        /// The restarted hub, to stop at the end.
        let hub: LocalHub
        /// The operator's session resumed on it, collecting.
        let view: OperatorView
        let collecting: Task<Void, Never>
    }

    /// Stops the hub, runs `during`, restarts the hub and resumes the operator's `session`
    /// on it; then waits until the gateway has delivered its backlog.
    func outage(_ plant: Plant, session: String, gateway: Gateway, _ during: () async throws -> Void) async throws -> Outage {
        await plant.hub.hub.stop()
        _ = try await waitFor("uplink notices the outage", timeout: .seconds(20)) { gateway.uplink.isConnected ? nil : true }
        try await during()
        let restarted = try await LocalHub.start(plant.hub.hub.configuration, logger: Logger(label: "hub"))
        let view = try await OperatorView(hub: plant.hub, session: session)
        let collecting = Task { await view.collect() }
        _ = try await waitFor("backlog delivered", timeout: .seconds(60)) {
            gateway.uplink.isConnected && gateway.uplink.statistics.queuedMessages == 0 ? true : nil
        }
        return Outage(hub: restarted, view: view, collecting: collecting)
    }

    /// After the gateway stopped: waits until the operator has its last message, then ends
    /// the operator's connections and the restarted hub; returns what arrived, deduplicated.
    func finish(_ outage: Outage, before: OperatorView, beforeTask: Task<Void, Never>, last: Int) async throws -> (all: Delivered, after: Delivered) {
        let view = outage.view
        _ = try await waitFor("the last message reaches the operator", timeout: .seconds(20)) {
            view.telemetry.withLock { $0.contains { $0.seq == last } } ? true : nil
        }
        await view.connection.disconnect()
        _ = await outage.collecting.value
        // The first view's connection ended with the hub; it has everything it got.
        _ = await beforeTask.value
        await outage.hub.stop()
        var all = Delivered(before)
        let after = Delivered(view)
        for (seq, payload) in after.messages where all.messages[seq] == nil { all.messages[seq] = payload }
        return (all, after)
    }

    @Test("a 20 s hub outage under steady load: every reading produced meanwhile arrives after the restart, in order per device, without a seq gap")
    func twentySecondOutage() async throws {
        try await Plant.run(mapYAML: fiveDevicesYAML) { plant in
            let session = "operator-outbox-outage"
            // Subscribed before the gateway starts, on a session the hub keeps: it gets every message.
            let before = try await OperatorView(hub: plant.hub, session: session)
            let beforeTask = Task { await before.collect() }
            let (gateway, outage, queuedAtReturn) = try await plant.withGateway(initialBackoff: .milliseconds(500)) { gateway in
                _ = try await waitFor("telemetry from every device", timeout: .seconds(20)) {
                    Set(before.readings.withLock { $0.map(\.device) }).count == 5 ? true : nil
                }
                var queued = 0
                let outage = try await self.outage(plant, session: session, gateway: gateway) {
                    try await Task.sleep(for: .seconds(20))
                    queued = gateway.uplink.statistics.queuedMessages
                }
                return (gateway, outage, queued)
            }
            // The gateway has stopped (drained, acknowledged): everything it sent is on the hub.
            let stats = gateway.uplink.statistics
            let last = Int(stats.nextSeq) - 1
            let (all, after) = try await finish(outage, before: before, beforeTask: beforeTask, last: last)

            // 20 s at ~10 polls/s of 5 devices, about 100 messages of 50 ms batches when the
            // machine keeps up, fewer on a loaded runner: the backlog was real, and nothing was dropped.
            #expect(queuedAtReturn >= 40, "only \(queuedAtReturn) messages queued during the outage")
            #expect(stats.droppedMessages == 0)
            #expect(all.seqs.first == 1)
            #expect(all.seqs.last == last)
            #expect(all.missing.isEmpty, "missing seq: \(all.missing)")
            #expect(all.conflicting.isEmpty && after.conflicting.isEmpty)
            // Every poll of every device arrived once (deduplicated), in poll order.
            let produced = try polls(gateway)
            let times = all.temperatureTimes
            for (device, count) in produced {
                let ts = times[device] ?? []
                #expect(ts.count == count, "\(device): \(count) polls, \(ts.count) temperature readings delivered")
                #expect(ts == ts.sorted() && Set(ts).count == ts.count, "\(device): readings out of order")
            }
            #expect(!plant.log.contains("outbox cannot"))
        }
    }

    @Test("with a small max_bytes during an outage the oldest messages are dropped, counted and logged once; the newest are delivered")
    func boundsDuringOutage() async throws {
        try await Plant.run(mapYAML: fiveDevicesYAML) { plant in
            let session = "operator-outbox-bounds"
            let before = try await OperatorView(hub: plant.hub, session: session)
            let beforeTask = Task { await before.collect() }
            let outbox = OutboxConfiguration(path: plant.directory.file("small.sqlite"), maxBytes: 8 * 1024)
            let (gateway, outage, sealedAway, heldAtOutage) = try await plant.withGateway(outbox: outbox, initialBackoff: .milliseconds(500)) { gateway in
                _ = try await waitFor("telemetry from every device", timeout: .seconds(20)) {
                    Set(before.readings.withLock { $0.map(\.device) }).count == 5 ? true : nil
                }
                var sealedAway = 0
                // What is in flight when the hub goes away may arrive (the PUBACK is lost) and,
                // being the oldest held, is dropped first: counted as dropped, yet delivered.
                // At most what is held now, plus what is sealed until the loss is noticed.
                let heldAtOutage = gateway.uplink.statistics.queuedMessages
                let outage = try await self.outage(plant, session: session, gateway: gateway) {
                    _ = try await waitFor("messages dropped", timeout: .seconds(30)) {
                        gateway.uplink.statistics.droppedMessages >= 20 ? true : nil
                    }
                    // Within the bound, except that the newest message always stays, even alone
                    // beyond it (one batch interval's readings can exceed 8 KB when a loaded
                    // machine delays the batcher).
                    let held = gateway.uplink.statistics
                    #expect(held.queuedBytes <= 8 * 1024 || held.queuedMessages == 1, "\(held)")
                    // Messages below this were sealed while the hub was away, with nothing in flight.
                    sealedAway = Int(gateway.uplink.statistics.nextSeq)
                }
                return (gateway, outage, sealedAway, heldAtOutage)
            }
            let stats = gateway.uplink.statistics
            let last = Int(stats.nextSeq) - 1
            let (all, _) = try await finish(outage, before: before, beforeTask: beforeTask, last: last)
            let missing = all.missing
            // The dropped messages are the oldest of the outage, every one counted; the newest arrived.
            #expect(!missing.isEmpty)
            #expect(missing.count <= stats.droppedMessages)
            // While the hub was away, the oldest went first: one run.
            let droppedAway = missing.filter { $0 < sealedAway }
            #expect(
                droppedAway.count >= 20 - heldAtOutage - 2,
                "the drops of the outage (20 or more; those in flight at the outage possibly delivered, \(heldAtOutage) were held just before): \(missing)")
            if let low = droppedAway.first, let high = droppedAway.last {
                #expect(
                    droppedAway == Array(low...high),
                    """
                    dropped messages are not one run: \(missing) (sealed before the hub's return: below \(sealedAway)); \
                    before the outage the operator had \(before.telemetry.withLock { $0.map(\.seq) }); \
                    the uplink logged: \(plant.log.lines.filter { $0.contains("uplink") || $0.contains("outbox") }.suffix(20))
                    """)
            }
            if let lastMissing = missing.last {
                // The newest messages at the hub's return (max_bytes holds a few) and any after it.
                #expect(last - lastMissing >= 2, "too few of the newest delivered after the drops")
            }
            #expect(all.seqs.last == last)
            // Nothing disappeared unaccounted for: every reading polled was delivered or counted as dropped.
            let produced = try polls(gateway).values.reduce(0, +) * 3
            #expect(
                all.readingCount + stats.droppedReadings >= produced,
                "produced \(produced), delivered \(all.readingCount), dropped \(stats.droppedReadings)")
            #expect(stats.droppedReadings > 0 && stats.droppedReadings % 3 == 0)
            // Logged once for the whole episode, not per message.
            #expect(
                plant.log.messages(at: .warning).filter { $0.hasPrefix("outbox full") }
                    == ["outbox full: oldest telemetry dropped beyond max_bytes"])
        }
    }

    @Test("SIGKILL under load, five times: the outbox reopens cleanly each time and nothing that was in it is lost; seq never repeats or skips")
    func killNine() async throws {
        try await Plant.run(mapYAML: fiveDevicesYAML) { plant in
            let dir = try TemporaryDirectory(prefix: "edgegate-crash")
            defer { dir.remove() }
            try fiveDevicesYAML.replacingOccurrences(of: "PORT", with: "\(plant.modbusPort)")
                .write(toFile: dir.file("meters.yaml"), atomically: true, encoding: .utf8)
            let outbox = dir.file("var/outbox.sqlite")
            let configuration = try Daemon.writeConfiguration(
                for: plant, devicemaps: "meters.yaml", in: dir,
                extra: "outbox: { path: var/outbox.sqlite, max_bytes: 64MB }")
            let view = try await OperatorView(hub: plant.hub)
            let collecting = Task { await view.collect() }
            var mustArrive = Set<Int>()
            var logs: [Daemon] = []
            for round in 1...5 {
                // A hub left stopped by a round that threw (its wait timed out) would ignore the
                // SIGTERM of the plant's stop for the whole grace period, and hold everything
                // that waits for it: it is always let go before the round ends.
                defer { plant.hub.hub.process.signal(SIGCONT) }
                let daemon = try await Daemon.start(configuration: configuration, in: dir, logName: "daemon-\(round).log")
                logs.append(daemon)
                try await Task.sleep(for: .milliseconds(Int.random(in: 700...2_000)))
                if round % 2 == 0 {
                    // The hub stops answering for a while: a backlog builds up in the outbox.
                    plant.hub.hub.process.signal(SIGSTOP)
                    try await Task.sleep(for: .milliseconds(Int.random(in: 1_000...2_000)))
                }
                daemon.process.signal(SIGKILL)
                let status = try await withTimeout(.seconds(10), "killed daemon exits") { await daemon.process.wait() }
                plant.hub.hub.process.signal(SIGCONT)
                #expect(status == 128 + SIGKILL, "round \(round): exit status \(status)")
                // What the killed daemon left in the outbox, read from a copy so that the next
                // daemon, not this test, recovers the file itself.
                mustArrive.formUnion(try Self.outboxContent(outbox, copyIn: dir, round: round).seqs)
            }
            let final = try await Daemon.start(configuration: configuration, in: dir, logName: "daemon-final.log")
            logs.append(final)
            try await Task.sleep(for: .seconds(1))
            #expect(try await final.stop() == 0)
            let (left, next) = try Self.outboxContent(outbox, copyIn: dir, round: 0)
            #expect(left.isEmpty, "still in the outbox after a clean stop: \(left.sorted())")
            let last = next - 1
            _ = try await waitFor("the last message reaches the operator", timeout: .seconds(20)) {
                view.telemetry.withLock { $0.contains { $0.seq == last } } ? true : nil
            }
            await view.connection.disconnect()
            _ = await collecting.value

            let delivered = Delivered(view)
            #expect(delivered.seqs.first == 1)
            #expect(delivered.seqs.last == last)
            #expect(delivered.missing.isEmpty, "missing seq: \(delivered.missing)")
            #expect(delivered.conflicting.isEmpty, "seqs used twice for different messages: \(delivered.conflicting)")
            #expect(
                mustArrive.subtracting(delivered.seqs).isEmpty, "in the outbox at a kill, never delivered: \(mustArrive.subtracting(delivered.seqs).sorted())")
            // The kills with the hub stopped left a backlog behind: the check above had something to check.
            #expect(mustArrive.count >= 10, "only \(mustArrive.count) messages were in the outbox at the kills")
            // Each start opened the outbox cleanly: no complaint about it, and what the killed
            // daemon left was found and sent first.
            for daemon in logs {
                let problems = daemon.log.split(separator: "\n").filter { line in
                    line.contains(" critical ") || (line.contains(" error ") || line.contains(" warning ")) && line.contains("outbox")
                }
                #expect(problems.isEmpty, "\(daemon.logFile): \(problems)")
            }
            #expect(logs.dropFirst().contains { $0.log.contains("outbox holds telemetry from before the restart") })
            let damaged = try FileManager.default.contentsOfDirectory(atPath: dir.file("var")).filter { $0.contains("damaged") }
            #expect(damaged.isEmpty)
        }
    }

    /// The seqs held in an outbox file and its next seq, read from a copy of the file and its
    /// write-ahead log.
    static func outboxContent(_ path: String, copyIn dir: TemporaryDirectory, round: Int) throws -> (seqs: Set<Int>, next: Int) {
        let copy = dir.file("copy-\(round).sqlite")
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        if FileManager.default.fileExists(atPath: path + "-wal") {
            try FileManager.default.copyItem(atPath: path + "-wal", toPath: copy + "-wal")
        }
        let db = try SQLiteDatabase.open(copy)
        var seqs = Set<Int>()
        try db.prepare("SELECT seq FROM telemetry").forEachRow { row in
            seqs.insert(Int(row.int64(0)))
            return true
        }
        let next = Int(try db.singleText("SELECT value FROM meta WHERE key = 'next_seq'") ?? "") ?? 0
        return (seqs, next)
    }
}
