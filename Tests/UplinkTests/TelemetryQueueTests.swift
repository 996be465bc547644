import Foundation
import GatewayCore
import Testing
@testable import Uplink

@Suite("Telemetry queue")
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
        let queue = TelemetryQueue(gateway: "gw", maxMessageBytes: 256 * 1024, maxQueuedBytes: 1 << 20)
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
        let queue = TelemetryQueue(gateway: "gw", maxMessageBytes: 2_000, maxQueuedBytes: 1 << 20)
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
        let queue = TelemetryQueue(gateway: "gw", maxMessageBytes: 256 * 1024, maxQueuedBytes: 1 << 20)
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
        let queue = TelemetryQueue(gateway: "gw", maxMessageBytes: 256 * 1024, maxQueuedBytes: 1_000)
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
        let queue = TelemetryQueue(gateway: "gw", maxMessageBytes: 256 * 1024, maxQueuedBytes: 1 << 20)
        async let waited: Void = queue.waitForBatch(after: nil)
        try await Task.sleep(for: .milliseconds(20))
        queue.append(readings(1))
        queue.seal()
        await waited
        #expect(queue.batch(after: nil) != nil)
    }
}
