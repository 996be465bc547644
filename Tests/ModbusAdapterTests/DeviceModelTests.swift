import DevTools
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Logging
import ModbusAdapter
import Synchronization
import TestSupport
import Testing

/// The manufacturer models in devicemaps/models/ are profiles only; each must validate, and a
/// device built on it must poll cleanly (every point good) against a simulator of the profile.
@Suite("Device models", .timeLimit(.minutes(1)))
struct DeviceModelTests {
    static let models = ["eastron-sdm630", "xy-md02", "siemens-logo8"]

    @Test("a device on the model's profile validates and reads every point", arguments: models)
    func model(_ name: String) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let port = try freeLoopbackPort()
        try """
        devices:
          - id: \(name)-1
            profile: \(name)
            connection: { host: 127.0.0.1, port: \(port), unit_id: 1 }
            poll: 100ms
        """.write(toFile: dir.file("site.yaml"), atomically: true, encoding: .utf8)
        let model = DocumentationSamples.repositoryRoot + "/devicemaps/models/\(name).yaml"
        let (map, diagnostics) = DeviceMapLoader.standard.validate(paths: [model, dir.file("site.yaml")])
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let device = try #require(map?.devices.first)
        #expect(device.points.count >= 4)

        let simulator = try ModbusSimulator(devices: [device], port: port, logger: Logger(label: "sim"))
        try simulator.start()
        defer { simulator.stop() }
        let adapter = ModbusAdapter(devices: [device], logger: Logger(label: "model"))
        let first = Mutex<[Reading]?>(nil)
        let running = Task { try await adapter.run(sink: ReadingSink { batch in first.withLock { $0 = $0 ?? batch } }) }
        defer { running.cancel() }
        let readings = try await waitFor("first poll of \(name)") { first.withLock { $0 } }
        #expect(readings.count == device.points.filter { $0.access.isReadable }.count)
        for reading in readings {
            #expect(reading.quality == .good, "\(name).\(reading.point): \(reading.quality)")
        }
    }
}
