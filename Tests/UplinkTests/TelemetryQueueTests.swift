import Foundation
import GatewayCore
import Logging
import Testing
import Storage
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
}
