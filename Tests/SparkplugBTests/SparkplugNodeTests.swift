import CoreMetrics
import Foundation
import GatewayCore
import Logging
import MQTTClient
import MetricsTestKit
import SwiftProtobuf
import Synchronization
import TestSupport
import Testing
import Uplink

@testable import SparkplugB

/// The edge node's decisions on a real broker, message by message: what a host would see, read
/// back with the generated protobuf types.
@Suite("the Sparkplug edge node on a real broker")
struct SparkplugNodeTests {
    /// What a watcher subscribed to `spBv1.0/#` received, decoded.
    final class Received: Sendable {
        let messages = Mutex<[(type: String, device: String?, payload: SparkplugPayload)]>([])

        var all: [(type: String, device: String?, payload: SparkplugPayload)] { messages.withLock { $0 } }

        func add(_ message: MQTTMessage) {
            let levels = message.topic.split(separator: "/").map(String.init)
            guard levels.count >= 4, let payload = try? SparkplugPayload(serializedBytes: message.payload) else { return }
            messages.withLock { $0.append((levels[2], levels.count > 4 ? levels[4] : nil, payload)) }
        }

        /// Waits until `count` messages arrived after `start`, and returns those.
        func wait(for count: Int, after start: Int, _ what: String) async throws -> [(type: String, device: String?, payload: SparkplugPayload)] {
            try await waitFor(what) {
                let all = self.all
                return all.count >= start + count ? Array(all[start...]) : nil
            }
        }
    }

    static let d1 = DeviceDescriptor(
        id: "d1", protocolName: "modbus",
        points: [
            PointDescriptor(name: "t", kind: .number, unit: "°C", typeName: "int16"),
            PointDescriptor(name: "n", kind: .integer, typeName: "uint16"),
        ])
    static let d2 = DeviceDescriptor(id: "d2", protocolName: "modbus", points: [PointDescriptor(name: "x", kind: .bool, typeName: "bool")])

    func withNode(
        _ devices: [DeviceDescriptor], metrics: any MetricsFactory = MetricsSystem.factory,
        _ body: (SparkplugNode, MQTTConnection, Received) async throws -> Void
    ) async throws {
        let hub = try await TestHub.start()
        let received = Received()
        let watcher = try await MQTTConnection.connect(hub.options(identity: .operator, clientID: "watcher"), logger: Logger(label: "watcher"))
        let collecting = Task { for await message in watcher.messages { received.add(message) } }
        try await watcher.subscribe("spBv1.0/#", qos: 1)
        let node = SparkplugNode(
            group: "g", node: TestHub.gatewayID, primaryHost: nil, logger: Logger(label: "node"), now: Date.init, metrics: metrics)
        var options = hub.options(identity: .gateway, clientID: TestHub.gatewayID)
        options.will = node.nextWill()
        let connection = try await MQTTConnection.connect(options, logger: Logger(label: "node"))
        do {
            try await node.start(connection, devices: devices)
            _ = try await received.wait(for: 1 + devices.count, after: 0, "the birth")
            try await body(node, connection, received)
        } catch {
            await connection.disconnect()
            await watcher.disconnect()
            collecting.cancel()
            await hub.stop()
            throw error
        }
        await connection.disconnect()
        await watcher.disconnect()
        _ = await collecting.value
        await hub.stop()
    }

    /// One poll of `device` at `time` (seconds after an epoch of the test) as a telemetry message.
    func poll(_ device: String, _ values: [String: Value?], at time: Double, quality: Quality = .good) -> [Reading] {
        let date = Date(timeIntervalSince1970: 1_796_000_000 + time)
        return values.keys.sorted().map { point in
            Reading(device: device, point: point, value: quality == .good ? values[point]! : nil, unit: nil, quality: quality, timestamp: date)
        }
    }

    func message(_ readings: [Reading]) -> [UInt8] { MQTTWire.telemetry(gateway: TestHub.gatewayID, seq: 1, readings: readings) }

    /// Every message after the NBIRTH carries the seq after the one before, wrapping at 256.
    func expectSequence(_ received: Received) {
        let seqs = received.all.map { $0.payload.seq }
        for (a, b) in zip(seqs, seqs.dropFirst()) { #expect(b == (a + 1) % 256, "\(seqs)") }
    }

    @Test("three all-bad polls in a row: DDEATH; more bad polls: nothing; a usable poll: DBIRTH with its values, then data again")
    func unreachableDevice() async throws {
        try await withNode([Self.d1]) { node, connection, received in
            let start = received.all.count
            let bad = { (t: Double) in self.poll("d1", ["t": nil, "n": nil], at: t, quality: .bad("connection refused")) }
            _ = try node.send(message(bad(1)), replayed: false, on: connection)
            _ = try node.send(message(bad(2)), replayed: false, on: connection)
            var got = try await received.wait(for: 2, after: start, "two bad polls as data")
            #expect(got.map(\.type) == ["DDATA", "DDATA"])
            #expect(got[0].payload.metrics.allSatisfy { $0.isNull && $0.properties.values.first?.intValue == 0 })
            _ = try node.send(message(bad(3) + bad(4)), replayed: false, on: connection)
            got = try await received.wait(for: 4, after: start, "the third bad poll and the death")
            #expect(got[2...].map(\.type) == ["DDATA", "DDEATH"], "the third poll's data, then the death; the fourth poll sends nothing")

            let good = poll("d1", ["t": .double(21.5), "n": .int(7)], at: 5)
            node.observe(good)
            _ = try node.send(message(good), replayed: false, on: connection)
            got = try await received.wait(for: 5, after: start, "the birth")
            #expect(got[4].type == "DBIRTH")
            let byName = Dictionary(uniqueKeysWithValues: got[4].payload.metrics.map { ($0.name, $0) })
            #expect(byName["t"]?.doubleValue == 21.5 && byName["n"]?.intValue == 7, "the birth carries the values of the poll that revived it")
            _ = try node.send(message(poll("d1", ["t": .double(22), "n": .int(8)], at: 6)), replayed: false, on: connection)
            got = try await received.wait(for: 6, after: start, "data again")
            #expect(got[5].type == "DDATA" && got[5].payload.metrics.allSatisfy { !$0.hasName && $0.alias > 0 })
            expectSequence(received)
        }
    }

    @Test("replayed messages are historical and never kill a device; readings of a removed or unknown device come in a birth, data and death of their own")
    func replayedAndRetired() async throws {
        try await withNode([Self.d1, Self.d2]) { node, connection, received in
            var start = received.all.count
            let bad = (1...4).flatMap { poll("d1", ["t": nil, "n": nil], at: Double($0), quality: .bad("timeout")) }
            _ = try node.send(message(bad + poll("d1", ["t": .double(20), "n": .int(1)], at: 5)), replayed: true, on: connection)
            var got = try await received.wait(for: 1, after: start, "the replayed data")
            try await Task.sleep(for: .milliseconds(200))
            #expect(received.all.count == start + 1, "one DDATA, no death: \(received.all[start...].map(\.type))")
            #expect(got[0].payload.metrics.count == 10 && got[0].payload.metrics.allSatisfy(\.isHistorical))
            #expect(got[0].payload.metrics.last?.timestamp == 1_796_000_005_000, "original timestamps")

            start = received.all.count
            try node.update([Self.d1])
            got = try await received.wait(for: 1, after: start, "d2's death")
            #expect(got[0].type == "DDEATH" && got[0].device == "d2")

            start = received.all.count
            let leftovers = poll("d2", ["x": .bool(true)], at: 6) + poll("d9", ["y": .int(3)], at: 6) + poll("d1", ["t": .double(20.5), "n": .int(2)], at: 6)
            _ = try node.send(message(leftovers), replayed: false, on: connection)
            got = try await received.wait(for: 7, after: start, "the leftovers")
            #expect(got.map(\.type) == ["DBIRTH", "DDATA", "DDEATH", "DBIRTH", "DDATA", "DDEATH", "DDATA"])
            #expect(got.map(\.device) == ["d2", "d2", "d2", "d9", "d9", "d9", "d1"])
            #expect(got[1].payload.metrics.first?.booleanValue == true)
            #expect(got[3].payload.metrics.map(\.name) == ["y"] && got[3].payload.metrics.first?.datatype == 4, "an unknown device's points from its readings")
            #expect(got[4].payload.metrics.first?.intValue == 3 || got[4].payload.metrics.first?.longValue == 3)
            expectSequence(received)
        }
    }

    @Test("a DCMD naming no metric of the device, or an alias no birth gave, is refused before the router and counted")
    func refusedCommands() async throws {
        let metrics = TestMetrics()
        try await withNode([Self.d1], metrics: metrics) { node, connection, _ in
            var unknown = SparkplugPayload()
            var metric = SparkplugMetric()
            metric.alias = 999
            metric.doubleValue = 1
            unknown.metrics = [metric]
            let topic = "spBv1.0/g/DCMD/\(TestHub.gatewayID)/d1"
            #expect(node.command(from: MQTTMessage(topic: topic, payload: try unknown.serializedBytes(), qos: 0, retain: false)) == nil)
            #expect(node.command(from: MQTTMessage(topic: topic, payload: [0xFF, 0x01], qos: 0, retain: false)) == nil)
            var write = SparkplugPayload()
            metric = SparkplugMetric()
            metric.name = "t"
            metric.doubleValue = 23
            write.metrics = [metric]
            let incoming = try #require(node.command(from: MQTTMessage(topic: topic, payload: try write.serializedBytes(), qos: 0, retain: false)))
            let command = try incoming.command.get()
            #expect(command.device == "d1" && command.action == .write(["t": .double(23)]) && command.by == "sparkplug")
            #expect(
                node.command(from: MQTTMessage(topic: "spBv1.0/g/DCMD/\(TestHub.gatewayID)/nope", payload: try write.serializedBytes(), qos: 0, retain: false))
                    == nil)
            // Refused: the unknown alias, the payload that is no protobuf, the unknown device;
            // the router's own refusals are counted when it answers (`respond`).
            #expect(try metrics.expectCounter(MetricNames.sparkplugRefusedWrites).totalValue == 3)
            let refusal = CommandResult(id: command.id, status: .rejected, message: "t: 95 is above the maximum 90")
            try await incoming.respond(refusal, false, connection)
            #expect(try metrics.expectCounter(MetricNames.sparkplugRefusedWrites).totalValue == 4)
        }
    }
}
