import Foundation
import GatewayCore
import Logging
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

    @Test("readings are sealed into numbered messages that keep their order")
    func sealAndOrder() throws {
        let queue = TelemetryQueue(gateway: "gw", maxMessageBytes: 256 * 1024, maxQueuedBytes: 1 << 20, sequence: SequenceStore(path: nil, logger: Logger(label: "t")))
        queue.append(readings(3))
        #expect(queue.seal() == 1)
        queue.append(readings(2))
        #expect(queue.seal() == 1)
        let first = try #require(queue.batch(after: nil))
        let second = try #require(queue.batch(after: first.seq))
        #expect(try decode(first).seq == 1)
        #expect(try decode(first).points == ["p0", "p1", "p2"])
        #expect(try decode(second).seq == 2)
        #expect(queue.batch(after: second.seq) == nil)
    }

    @Test("a message never exceeds the size bound; readings split across messages in order")
    func sizeBound() throws {
        let queue = TelemetryQueue(gateway: "gw", maxMessageBytes: 2_000, maxQueuedBytes: 1 << 20, sequence: SequenceStore(path: nil, logger: Logger(label: "t")))
        queue.append(readings(100))
        let count = queue.seal()
        #expect(count > 1)
        var seq: UInt64? = nil
        var points: [String] = []
        while let batch = queue.batch(after: seq) {
            #expect(batch.payload.count <= 2_000)
            points += try decode(batch).points
            seq = batch.seq
        }
        #expect(points == (0..<100).map { "p\($0)" })
    }

    @Test("acknowledged messages leave the queue; unacknowledged ones stay for a resend")
    func acknowledge() throws {
        let queue = TelemetryQueue(gateway: "gw", maxMessageBytes: 256 * 1024, maxQueuedBytes: 1 << 20, sequence: SequenceStore(path: nil, logger: Logger(label: "t")))
        for _ in 0..<3 { queue.append(readings(1)); queue.seal() }
        let head = try #require(queue.batch(after: nil))
        queue.acknowledge(head.seq)
        #expect(queue.statistics.queuedMessages == 2)
        #expect(queue.statistics.acknowledgedMessages == 1)
        // After a reconnect the sender starts again from the oldest unacknowledged message.
        #expect(queue.batch(after: nil)?.seq == head.seq + 1)
    }

    @Test("beyond the byte bound the oldest messages are dropped and counted")
    func dropOldest() throws {
        let queue = TelemetryQueue(gateway: "gw", maxMessageBytes: 256 * 1024, maxQueuedBytes: 1_000, sequence: SequenceStore(path: nil, logger: Logger(label: "t")))
        for _ in 0..<20 { queue.append(readings(3)); queue.seal() }
        let stats = queue.statistics
        #expect(stats.droppedMessages > 0)
        #expect(stats.droppedReadings == stats.droppedMessages * 3)
        #expect(stats.queuedBytes <= 1_000)
        #expect(stats.queuedMessages + stats.droppedMessages == 20)
        // The newest survive.
        var last: UInt64 = 0
        var seq: UInt64? = nil
        while let b = queue.batch(after: seq) { last = b.seq; seq = b.seq }
        #expect(last == 20)
    }

    @Test("a waiting sender wakes when a message is sealed")
    func wakeUp() async throws {
        let queue = TelemetryQueue(gateway: "gw", maxMessageBytes: 256 * 1024, maxQueuedBytes: 1 << 20, sequence: SequenceStore(path: nil, logger: Logger(label: "t")))
        async let waited: Void = queue.waitForBatch(after: nil)
        try await Task.sleep(for: .milliseconds(20))
        queue.append(readings(1))
        queue.seal()
        await waited
        #expect(queue.batch(after: nil) != nil)
    }

    @Test("concurrent seals never give two messages the same seq")
    func concurrentSeals() async throws {
        let queue = TelemetryQueue(gateway: "gw", maxMessageBytes: 600, maxQueuedBytes: 1 << 24, sequence: SequenceStore(path: nil, logger: Logger(label: "t")))
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<50 {
                        queue.append(self.readings(7))
                        queue.seal()
                    }
                }
            }
        }
        var seqs: [UInt64] = []
        var last: UInt64? = nil
        while let b = queue.batch(after: last) { seqs.append(b.seq); last = b.seq }
        #expect(Set(seqs).count == seqs.count)
        #expect(seqs == Array(1...UInt64(seqs.count)))
        #expect(queue.statistics.queuedMessages == seqs.count)
    }

    @Test("a sender that parks after the uplink began stopping returns at once")
    func interruptIsSticky() async {
        let queue = TelemetryQueue(gateway: "gw", maxMessageBytes: 256 * 1024, maxQueuedBytes: 1 << 20, sequence: SequenceStore(path: nil, logger: Logger(label: "t")))
        queue.interrupt()
        await queue.waitForBatch(after: nil)
        #expect(queue.batch(after: nil) == nil)
    }
}

@Suite("Sequence store")
struct SequenceStoreTests {
    func file() -> String {
        NSTemporaryDirectory() + "edgegate-seq-\(UUID().uuidString)/telemetry.seq"
    }

    @Test("a clean stop continues exactly where it left off")
    func cleanRestart() {
        let path = file()
        let first = SequenceStore(path: path, block: 100, logger: Logger(label: "t"))
        #expect(first.take(1) == 1)
        #expect(first.take(5) == 2)
        first.recordNext()
        let second = SequenceStore(path: path, block: 100, logger: Logger(label: "t"))
        #expect(second.take(1) == 7)
    }

    @Test("after a crash numbers resume beyond every number handed out, never repeating one")
    func crashRestart() {
        let path = file()
        let first = SequenceStore(path: path, block: 100, logger: Logger(label: "t"))
        var last: UInt64 = 0
        for _ in 0..<250 { last = first.take(1) }
        // No recordNext(): the process died.
        let second = SequenceStore(path: path, block: 100, logger: Logger(label: "t"))
        let resumed = second.take(1)
        #expect(resumed > last)
        #expect(resumed - last <= 101)
    }

    @Test("without a file numbers start at 1")
    func memoryOnly() {
        #expect(SequenceStore(path: nil, logger: Logger(label: "t")).take(3) == 1)
    }
}
