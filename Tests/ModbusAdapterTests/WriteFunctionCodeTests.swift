import DevTools
import DeviceMaps
import GatewayCore
import ModbusAdapter
import TestSupport
import Testing

@Suite("Write function codes against the libmodbus simulator", .serialized, .timeLimit(.minutes(1)))
struct WriteFunctionCodeTests {
    /// The boiler with a `fan` coil next to `pump` (coil 0).
    private func device(port: Int, writeMultiple: Bool) -> DeviceDefinition {
        let fan = PointDefinition(name: "fan", address: ModbusAddress(table: .coil, offset: 1, type: .bool), access: .readwrite)
        var device = boiler(port: port, extra: [fan])
        device.modbusConnection.writeMultiple = writeMultiple
        return device
    }

    /// Runs `body` while the adapter polls the boiler on a fresh simulator, once it reads.
    private func withPolledBoiler(
        writeMultiple: Bool,
        _ body: (ModbusAdapter, ModbusSimulator, RawClient) async throws -> Void
    ) async throws {
        let port = try freeLoopbackPort()
        let device = device(port: port, writeMultiple: writeMultiple)
        let simulator = try ModbusSimulator(devices: [device], port: port, animated: false, logger: testLogger)
        try simulator.start()
        defer { simulator.stop() }
        let adapter = ModbusAdapter(devices: [device], logger: testLogger, reconnect: fastReconnect)
        let client = try RawClient(port: port)
        let collector = ReadingCollector()
        try await whileRunning(adapter, into: collector) { () async throws in
            _ = try #require(await collector.waitForBatch(allGood("boiler-1")))
            try await body(adapter, simulator, client)
        }
    }

    @Test("two adjacent coils of one command are one FC 15; a 32-bit value one FC 16")
    func multiple() async throws {
        try await withPolledBoiler(writeMultiple: true) { adapter, simulator, client async throws in
            let values: [String: Value] = ["pump": .bool(true), "fan": .bool(true)]
            #expect(try await adapter.write(device: "boiler-1", values: values) == values)
            #expect(simulator.requestCounts[15] == 1 && simulator.requestCounts[5] == nil)
            #expect(try client.coil(0) && client.coil(1))
            #expect(try await adapter.write(device: "boiler-1", values: ["preset": .int(-100_000)]) == ["preset": .int(-100_000)])
            #expect(simulator.requestCounts[16] == 1 && simulator.requestCounts[6] == nil)
        }
    }

    @Test("write_multiple: false: coils with FC 5, a 32-bit value as two FC 6 in address order, read back whole")
    func single() async throws {
        try await withPolledBoiler(writeMultiple: false) { adapter, simulator, client async throws in
            let values: [String: Value] = ["pump": .bool(true), "fan": .bool(true)]
            #expect(try await adapter.write(device: "boiler-1", values: values) == values)
            #expect(simulator.requestCounts[5] == 2 && simulator.requestCounts[15] == nil)
            #expect(try client.coil(0) && client.coil(1))
            // float32 in little word order: 3.25 = 0x40500000 → [0x0000, 0x4050].
            #expect(try await adapter.write(device: "boiler-1", values: ["gain": .double(3.25)]) == ["gain": .double(3.25)])
            #expect(simulator.requestCounts[6] == 2 && simulator.requestCounts[16] == nil)
            #expect(try client.holding(20, count: 2) == [0x0000, 0x4050])
        }
    }
}
