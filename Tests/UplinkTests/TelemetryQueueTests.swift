import Foundation
import GatewayCore
import Logging
import Storage
import TestSupport
import Testing

@testable import Uplink

@Suite("Telemetry queue", .timeLimit(.minutes(1)))
struct TelemetryQueueTests {
    func readings(_ n: Int, device: String = "d") -> [Reading] {
        (0..<n).map { Reading(device: device, point: "p\($0)", value: .int(Int64($0)), unit: nil, quality: .good, timestamp: Date()) }
    }

    func decode(_ batch: TelemetryBatch) throws -> (seq: Int, points: [String]) {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(batch.payload)) as? [String: Any])
        let list = try #require(json["readings"] as? [[String: Any]])
        return ((json["seq"] as! NSNumber).intValue, list.map { $0["point"] as! String })
    }

    /// A queue over an in-memory outbox.
    func queue(maxMessageBytes: Int = 256 * 1024, maxBytes: Int = 1 << 20) throws -> TelemetryQueue {
        let store = try OutboxStore.open(OutboxConfiguration(path: SQLiteDatabase.inMemory, maxBytes: maxBytes), logger: Logger(label: "t"))
        return TelemetryQueue(gateway: "gw", maxMessageBytes: maxMessageBytes, store: store)
    }

    @Test("readings are sealed into numbered messages that keep their order")
    func sealAndOrder() async throws {
        let queue = try queue()
        queue.append(readings(3))
        #expect(await queue.seal() == 1)
        queue.append(readings(2))
        #expect(await queue.seal() == 1)
        let first = try #require(await queue.batch(after: nil))
        let second = try #require(await queue.batch(after: first.seq))
        #expect(try decode(first).seq == 1)
        #expect(try decode(first).points == ["p0", "p1", "p2"])
        #expect(try decode(second).seq == 2)
        #expect(await queue.batch(after: second.seq) == nil)
    }

    @Test("a message never exceeds the size bound; readings split across messages in order")
    func sizeBound() async throws {
        let queue = try queue(maxMessageBytes: 2_000)
        queue.append(readings(100))
        let count = await queue.seal()
        #expect(count > 1)
        var seq: UInt64? = nil
        var points: [String] = []
        while let batch = await queue.batch(after: seq) {
            #expect(batch.payload.count <= 2_000)
            points += try decode(batch).points
            seq = batch.seq
        }
        #expect(points == (0..<100).map { "p\($0)" })
    }

    @Test("acknowledged messages leave the queue; unacknowledged ones stay for a resend")
    func acknowledge() async throws {
        let queue = try queue()
        for _ in 0..<3 { queue.append(readings(1)); queue.sealNow() }
        let head = try #require(await queue.batch(after: nil))
        await queue.acknowledge(head.seq, bytes: head.payload.count)
        #expect(queue.statistics.queuedMessages == 2)
        #expect(queue.statistics.acknowledgedMessages == 1)
        // After a reconnect the sender starts again from the oldest unacknowledged message.
        #expect(await queue.batch(after: nil)?.seq == head.seq + 1)
    }

    @Test("beyond the byte bound the oldest messages are dropped and counted")
    func dropOldest() async throws {
        let queue = try queue(maxBytes: 1_000)
        for _ in 0..<20 { queue.append(readings(3)); queue.sealNow() }
        let stats = queue.statistics
        #expect(stats.droppedMessages > 0)
        #expect(stats.droppedReadings == stats.droppedMessages * 3)
        #expect(stats.queuedBytes <= 1_000)
        #expect(stats.queuedMessages + stats.droppedMessages == 20)
        // The newest survive.
        var last: UInt64 = 0
        var seq: UInt64? = nil
        while let b = await queue.batch(after: seq) { last = b.seq; seq = b.seq }
        #expect(last == 20)
    }

    @Test("a waiting sender wakes when a message is sealed")
    func wakeUp() async throws {
        let queue = try queue()
        async let waited: Void = queue.waitForBatch(after: nil)
        try await Task.sleep(for: .milliseconds(20))
        queue.append(readings(1))
        await queue.seal()
        await waited
        #expect(await queue.batch(after: nil) != nil)
    }

    @Test("concurrent seals never give two messages the same seq")
    func concurrentSeals() async throws {
        let queue = try queue(maxMessageBytes: 600, maxBytes: 1 << 24)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for _ in 0..<50 {
                        queue.append(self.readings(7))
                        // Both paths: the serial I/O queue and the caller's thread.
                        if task % 2 == 0 { await queue.seal() } else { queue.sealNow() }
                    }
                }
            }
        }
        var seqs: [UInt64] = []
        var last: UInt64? = nil
        while let b = await queue.batch(after: last) { seqs.append(b.seq); last = b.seq }
        #expect(Set(seqs).count == seqs.count)
        #expect(seqs == Array(1...UInt64(seqs.count)))
        #expect(queue.statistics.queuedMessages == seqs.count)
    }

    @Test("a sender that parks after the uplink began stopping returns at once")
    func interruptIsSticky() async throws {
        let queue = try queue()
        queue.interrupt()
        await queue.waitForBatch(after: nil)
        #expect(await queue.batch(after: nil) == nil)
    }

    /// The documented telemetry form (docs/protocol.md), written the plain way: `String`s,
    /// `Value.format`, scalar-by-scalar escaping (the encoder before it wrote bytes).
    static func referenceMessage(gateway: String, seq: UInt64, readings: ArraySlice<Reading>) -> [UInt8] {
        let quoted = ReferenceJSON.quoted
        func value(_ r: Reading) -> String {
            if case .bad = r.quality { return "null" }
            switch r.value {
            case nil: return "null"
            case .bool(let b)?: return b ? "true" : "false"
            case .int(let i)?: return String(i)
            case .double(let d)?: return d.isFinite ? Value.format(d) : "null"
            case .string(let s)?: return quoted(s)
            }
        }
        let items = readings.map { r in
            var item = "{\"device\":\(quoted(r.device)),\"point\":\(quoted(r.point)),\"value\":\(value(r))"
            if let unit = r.unit { item += ",\"unit\":\(quoted(unit))" }
            item += ",\"quality\":\(quoted(r.quality.name))"
            if let reason = r.quality.reason { item += ",\"reason\":\(quoted(reason))" }
            return item + ",\"ts\":\(quoted(Timestamp.rfc3339(r.timestamp)))}"
        }
        return Array("{\"gateway\":\(quoted(gateway)),\"seq\":\(seq),\"readings\":[\(items.joined(separator: ","))]}".utf8)
    }

    @Test("sealed messages are byte for byte the documented form, cut as late as the size bound allows, across several deliveries")
    func bytesExactly() async throws {
        let store = try OutboxStore.open(OutboxConfiguration(path: SQLiteDatabase.inMemory, maxBytes: 1 << 24), logger: Logger(label: "t"))
        let queue = TelemetryQueue(gateway: "gw \"1\"", maxMessageBytes: 1_500, store: store)
        let base = Date(timeIntervalSince1970: 1_795_442_400.123)
        let values: [Value?] = [
            .double(21.5), .double(0.1 + 0.2), .double(-1.0 / 3), .double(1e20), .double(.nan), .int(-32768),
            .int(Int64.max), .bool(true), .string("on \"auto\"\n"), nil,
        ]
        let qualities: [Quality] = [.good, .uncertain("stale \\ value"), .bad("timeout\tafter 300 ms"), .good]
        var all: [Reading] = []
        for delivery in 0..<12 {
            let time = base.addingTimeInterval(Double(delivery) * 0.1)
            let batch = (0..<(delivery * 3 % 17 + 1)).map { i in
                // Mostly one device per delivery, as a poll has; some deliveries mix two.
                Reading(
                    device: delivery % 3 == 0 && i % 2 == 1 ? "zählér \u{1}\(delivery)" : "boiler-\(delivery)", point: "p\(i)",
                    value: values[(delivery + i) % values.count], unit: i % 3 == 0 ? nil : "m³/h",
                    quality: qualities[(delivery * i) % qualities.count],
                    // Mostly one timestamp per delivery, as a poll has; sometimes not.
                    timestamp: i % 5 == 4 ? time.addingTimeInterval(0.001) : time)
            }
            all += batch
            queue.append(batch)
        }
        #expect(await queue.seal() > 1)
        var offset = 0
        var seq: UInt64?
        while let batch = await queue.batch(after: seq) {
            let count = try #require((try JSONSerialization.jsonObject(with: Data(batch.payload)) as? [String: Any])?["readings"] as? [Any]).count
            let expected = Self.referenceMessage(gateway: "gw \"1\"", seq: batch.seq, readings: all[offset..<(offset + count)])
            #expect(
                batch.payload == expected,
                "message \(batch.seq):\n\(String(decoding: batch.payload, as: UTF8.self))\n≠\n\(String(decoding: expected, as: UTF8.self))")
            #expect(batch.readingCount == count)
            #expect(batch.payload.count <= 1_500)
            if offset + count < all.count {
                // Cut as late as allowed: the next reading would not have fitted.
                let longer = Self.referenceMessage(gateway: "gw \"1\"", seq: batch.seq, readings: all[offset..<(offset + count + 1)])
                #expect(longer.count >= 1_500 - 64 + ("{\"gateway\":\"gw \\\"1\\\"\",\"seq\":\(batch.seq),\"readings\":[]}".utf8.count))
            }
            offset += count
            seq = batch.seq
        }
        #expect(offset == all.count)
    }

    @Test("during a session, what is held before the hub's acknowledgement closes the gate at the hold limit; acknowledgements open it")
    func holdLimit() async throws {
        let store = try OutboxStore.open(OutboxConfiguration(path: SQLiteDatabase.inMemory, maxBytes: 1 << 24), logger: Logger(label: "t"))
        let queue = TelemetryQueue(gateway: "gw", maxMessageBytes: 2_000, store: store, holdLimit: 20_000)
        queue.sessionStarted()
        var appended = 0
        while queue.isReady {
            queue.append(readings(10))
            appended += 1
            #expect(appended < 1_000, "the gate never closed")
            if appended >= 1_000 { return }
        }
        // Sealing moves the bytes into the outbox; unacknowledged, they still count.
        #expect(await queue.seal() > 0)
        #expect(!queue.isReady)
        var seq: UInt64?
        while let batch = await queue.batch(after: seq) {
            await queue.acknowledge(batch.seq, bytes: batch.payload.count)
            seq = batch.seq
        }
        #expect(queue.isReady)
        #expect(queue.statistics.queuedMessages == 0)
        #expect(queue.statistics.droppedMessages == 0)
    }

    @Test("between sessions the outbox takes what is sealed (store and forward): the gate stays open once sealed")
    func holdLimitWithoutSession() async throws {
        let store = try OutboxStore.open(OutboxConfiguration(path: SQLiteDatabase.inMemory, maxBytes: 1 << 24), logger: Logger(label: "t"))
        let queue = TelemetryQueue(gateway: "gw", maxMessageBytes: 2_000, store: store, holdLimit: 20_000)
        while queue.isReady { queue.append(readings(10)) }
        // Pending in memory: closed until sealed.
        #expect(!queue.isReady)
        await queue.seal()
        #expect(queue.isReady)
        #expect(queue.statistics.queuedMessages > 0)
    }

    @Test("during a session the outbox drops nothing for max_bytes, so a message in flight is never both dropped and acknowledged")
    func noDropsDuringSession() async throws {
        let queue = try queue(maxMessageBytes: 600, maxBytes: 1_000)
        queue.sessionStarted()
        for _ in 0..<10 { queue.append(readings(3)); queue.sealNow() }
        #expect(queue.statistics.droppedMessages == 0)
        var seq: UInt64?
        var delivered = 0
        while let batch = await queue.batch(after: seq) {
            await queue.acknowledge(batch.seq, bytes: batch.payload.count)
            delivered += 1
            seq = batch.seq
        }
        #expect(delivered == 10)
        // The session ends (the hub is away): the bound applies again at the next write.
        queue.sessionEnded()
        for _ in 0..<10 { queue.append(readings(3)); queue.sealNow() }
        #expect(queue.statistics.droppedMessages > 0)
    }
}
