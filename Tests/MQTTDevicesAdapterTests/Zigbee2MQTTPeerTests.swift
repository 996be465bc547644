import DevTools
import DeviceMaps
import Foundation
import GatewayCore
import MQTTDevicesAdapter
import TestSupport
import Testing

/// paho-mqtt, an MQTT implementation of its own, plays zigbee2mqtt: what the adapter reads is
/// what a real zigbee2mqtt sends, not what our own client happens to agree with.
@Suite("zigbee2mqtt contact sensors through paho-mqtt", .timeLimit(.minutes(1)))
struct Zigbee2MQTTPeerTests {
    func publish(_ broker: TestSiteBroker, _ phase: String) async throws {
        let (status, output) = try await TestProcess.run(
            try peerPython(),
            [
                peerScript("zigbee2mqtt_publisher.py"), broker.host, "\(broker.port)", phase,
            ])
        guard status == 0 else { throw TestFailure("zigbee2mqtt_publisher.py \(phase) failed (\(status)): \(output)") }
    }

    @Test("the model profiles read retained state and availability (JSON and legacy), then an open event")
    func contactSensors() async throws {
        let broker = try await TestSiteBroker.start()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        do {
            try await publish(broker, "state")
            try """
            devices:
              - id: front_door
                profile: zigbee2mqtt-contact
                connection: { broker: "\(broker.url)", insecure: true, topic: "zigbee2mqtt/{id}" }
              - id: back_door
                profile: zigbee2mqtt-contact-basic
                connection: { broker: "\(broker.url)", insecure: true, topic: "zigbee2mqtt/{id}" }
            """.write(toFile: dir.file("site.yaml"), atomically: true, encoding: .utf8)
            let model = DocumentationSamples.repositoryRoot + "/devicemaps/models/zigbee2mqtt-contact.yaml"
            let (map, diagnostics) = mqttLoader.validate(paths: [model, dir.file("site.yaml")])
            #expect(diagnostics.isEmpty, "\(diagnostics)")
            let devices = try #require(map?.devices)
            let adapter = MQTTDevicesAdapter(devices: devices, logger: LogCapture().logger, reconnect: fastReconnect)
            let readings = ReadingCollector()
            let running = Task { try await adapter.run(sink: readings.sink) }
            defer { running.cancel() }

            func latest() -> [String: Reading] {
                var last: [String: Reading] = [:]
                for r in readings.all.joined() { last["\(r.device).\(r.point)"] = r }
                return last
            }
            // Retained messages count as readings: everything arrives without a new publish.
            let expectedCount = devices.map(\.points.count).reduce(0, +)
            #expect(await eventually(timeout: .seconds(20)) { latest().count == expectedCount })
            let state = latest()
            #expect(state.values.allSatisfy { $0.quality == .good }, "\(state.values.filter { $0.quality != .good })")
            #expect(state["front_door.contact"]?.value == .bool(true), "closed")
            #expect(state["front_door.battery"]?.value == .double(100) && state["front_door.battery"]?.unit == "%")
            #expect(state["front_door.voltage"]?.value == .int(3100) && state["front_door.voltage"]?.unit == "mV")
            #expect(state["front_door.linkquality"]?.value == .int(102))
            #expect(state["front_door.tamper"]?.value == .bool(false))
            #expect(state["front_door.battery_low"]?.value == .bool(false))
            #expect(state["front_door.available"]?.value == .bool(true), "JSON availability")
            #expect(state["back_door.available"]?.value == .bool(true), "legacy plain availability")
            #expect(state["back_door.voltage"]?.value == .int(2985))
            #expect(state["back_door.contact"]?.value == .bool(true))

            readings.reset()
            try await publish(broker, "open")
            let opened = try #require(
                await readings.waitForBatch(timeout: .seconds(20)) { batch in
                    batch.contains { $0.device == "front_door" && $0.point == "contact" }
                })
            #expect(opened.first { $0.point == "contact" }?.value == .bool(false), "open")
            #expect(opened.first { $0.point == "linkquality" }?.value == .int(99))
            #expect(!opened.contains { $0.point == "available" }, "availability has its own topic")
        } catch {
            await broker.stop()
            throw error
        }
        await broker.stop()
    }
}
