import DevTools
import DeviceMaps
import Foundation
import GatewayCore
import Logging
import ModbusAdapter
import TestSupport
import Testing

/// Backpressure from the telemetry pipeline: while the sink says it is not ready, the devices
/// are not read (the cycle is skipped and counted), writes still run, and polls resume when
/// it is ready again.
@Suite("Modbus polls skipped while the pipeline is busy", .serialized)
struct BusySkipTests {
    /// The read requests the simulator answered (FC 1-4).
    func reads(_ simulator: ModbusSimulator) -> Int {
        let counts = simulator.requestCounts
        return (1...4).reduce(0) { $0 + (counts[UInt8($1)] ?? 0) }
    }

    @Test(
        "while the sink is not ready no device is read and busy skips are counted per device, logged once for the adapter; a write still runs; polls resume once it is ready"
    )
    func skipsWhileBusy() async throws {
        let portA = try freeLoopbackPort(), portB = try freeLoopbackPort()
        let deviceA = boiler(id: "boiler-a", port: portA), deviceB = boiler(id: "boiler-b", port: portB)
        let simulatorA = try ModbusSimulator(devices: [deviceA], port: portA, animated: false, logger: testLogger)
        let simulatorB = try ModbusSimulator(devices: [deviceB], port: portB, animated: false, logger: testLogger)
        try simulatorA.start()
        defer { simulatorA.stop() }
        try simulatorB.start()
        defer { simulatorB.stop() }
        let client = try RawClient(port: portA)

        let log = LogCapture()
        let adapter = ModbusAdapter(devices: [deviceA, deviceB], logger: log.logger, reconnect: fastReconnect)
        let collector = ReadingCollector()
        func busySkips(_ device: String) -> Int { adapter.statistics(device: device)?.busySkips ?? 0 }
        try await whileRunning(adapter, into: collector) {
            for device in ["boiler-a", "boiler-b"] {
                _ = try #require(await collector.waitForBatch(timeout: .seconds(20), allGood(device)))
            }
            #expect(busySkips("boiler-a") == 0 && busySkips("boiler-b") == 0)

            collector.setReady(false)
            // Once each connection has skipped a cycle it has seen the sink say no, and every
            // later cycle asks again: from here on nothing may be read or emitted.
            try #require(await eventually(timeout: .seconds(20)) { busySkips("boiler-a") >= 1 && busySkips("boiler-b") >= 1 })
            collector.reset()
            let readsA = reads(simulatorA), readsB = reads(simulatorB)
            let polls = (adapter.statistics(device: "boiler-a")?.polls, adapter.statistics(device: "boiler-b")?.polls)
            let skipsA = busySkips("boiler-a"), skipsB = busySkips("boiler-b")
            try #require(
                await eventually(timeout: .seconds(20)) {
                    busySkips("boiler-a") >= skipsA + 3 && busySkips("boiler-b") >= skipsB + 3
                }, "busy skips: \(busySkips("boiler-a")), \(busySkips("boiler-b"))")
            #expect(collector.all.isEmpty, "\(collector.all.count) batches while not ready")
            #expect(reads(simulatorA) == readsA && reads(simulatorB) == readsB)
            #expect(adapter.statistics(device: "boiler-a")?.polls == polls.0 && adapter.statistics(device: "boiler-b")?.polls == polls.1)

            // Commands are not telemetry: a write goes through while polls are held back.
            #expect(try await adapter.write(device: "boiler-a", values: ["setpoint": .double(42.5)]) == ["setpoint": .double(42.5)])
            #expect(try client.holding(1) == [425])
            #expect(collector.all.isEmpty)

            collector.setReady(true)
            let resumed = try #require(await collector.waitForBatch(timeout: .seconds(20), allGood("boiler-a")))
            #expect(byPoint(resumed)["setpoint"]?.value == .double(42.5))
            _ = try #require(await collector.waitForBatch(timeout: .seconds(20), allGood("boiler-b")))
        }
        // One report for the whole adapter (the next would come a minute later), not one per device or cycle.
        let reports = log.messages(at: .warning).filter { $0.contains("telemetry pipeline busy") }
        #expect(reports.count == 1, "\(reports)")
        #expect(reports.first?.contains("Modbus poll cycle(s)") == true, "\(reports)")
    }
}
