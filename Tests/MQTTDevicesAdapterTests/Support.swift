import DeviceMaps
import Foundation
import GatewayCore
import Logging
import MQTTClient
import MQTTDevicesAdapter
import TestSupport

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The loader for MQTT device maps.
let mqttLoader = DeviceMapLoader(protocols: [MQTTDeviceSyntax.self])

/// The devices of a map that must load without errors.
func devices(_ yaml: String, paths: [String] = []) throws -> [DeviceDefinition] {
    let (map, diagnostics) = mqttLoader.parse(yaml: yaml, file: "test.yaml")
    guard let map, !diagnostics.contains(where: { $0.severity == .error }) else {
        throw TestFailure("the test map does not load: \(diagnostics.map(\.description).joined(separator: "\n"))")
    }
    return map.devices
}

/// Reconnects quickly: tests stop and start brokers.
let fastReconnect = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(1), jitter: 0.1)

/// An adapter running against a site broker, with a raw MQTT client that plays the devices.
struct Rig: Sendable {
    let broker: TestSiteBroker
    let adapter: MQTTDevicesAdapter
    let readings: ReadingCollector
    let device: MQTTConnection
    let logs: LogCapture

    /// Publishes as a device does (QoS 1, acknowledged).
    func publish(_ topic: String, _ payload: String, retain: Bool = false) async throws {
        try await device.publish(topic, payload: Array(payload.utf8), qos: 1, retain: retain)
    }

    /// Publishes and returns the first batch of `deviceID` that arrives afterwards and holds `point`.
    func reading(_ deviceID: String, _ point: String, after topic: String, _ payload: String) async throws -> [String: Reading] {
        readings.reset()
        try await publish(topic, payload)
        guard
            let batch = await readings.waitForBatch(
                timeout: .seconds(20),
                { batch in
                    batch.contains { $0.device == deviceID && $0.point == point }
                })
        else {
            throw TestFailure("no reading of \(deviceID).\(point) after publishing \(payload) to \(topic)")
        }
        return Dictionary(batch.map { ($0.point, $0) }, uniquingKeysWith: { _, last in last })
    }
}

/// Starts a broker, an adapter for the map that `yaml` makes from the broker's URL, and a
/// device-side client; runs `body`; tears everything down.
/// `adjust` changes the loaded devices, for settings the loader refuses but code can make.
func withRig(
    tls: Bool = false, _ yaml: @Sendable (TestSiteBroker) -> String,
    adjust: @Sendable ([DeviceDefinition]) -> [DeviceDefinition] = { $0 },
    _ body: @Sendable (Rig) async throws -> Void
) async throws {
    let broker = try await TestSiteBroker.start(tls: tls)
    let logs = LogCapture()
    do {
        let adapter = MQTTDevicesAdapter(devices: adjust(try devices(yaml(broker))), logger: logs.logger, reconnect: fastReconnect)
        let readings = ReadingCollector()
        let running = Task { try await adapter.run(sink: readings.sink) }
        let device = try await MQTTConnection.connect(
            broker.options(clientID: "test-device-\(UUID().uuidString.prefix(8))"),
            logger: Logger(label: "test-device"))
        let rig = Rig(broker: broker, adapter: adapter, readings: readings, device: device, logs: logs)
        do {
            guard await eventually(timeout: .seconds(20), { adapter.connectedBrokers > 0 }) else {
                throw TestFailure("the adapter did not connect to \(broker.url): \(logs.lines.suffix(5))")
            }
            try await body(rig)
        } catch {
            running.cancel()
            _ = try? await running.value
            await device.disconnect()
            throw error
        }
        running.cancel()
        _ = try? await running.value
        await device.disconnect()
    } catch {
        await broker.stop()
        throw error
    }
    await broker.stop()
}
