import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Logging
import ModbusAdapter
import TestSupport
import Testing

/// Request planning and write function codes against pymodbus (Peers/pymodbus_server.py),
/// an independent server whose register space can have holes.
@Suite("Request planning and writes against pymodbus", .serialized, .timeLimit(.minutes(1)))
struct RequestPlanningTests {
    private func load(_ yaml: String) throws -> [DeviceDefinition] {
        let (map, diagnostics) = DeviceMapLoader.standard.parse(yaml: yaml, file: "planning.yaml")
        guard let map else { throw ProbeError("planning.yaml does not validate: \(diagnostics)") }
        return map.devices
    }

    @Test("a merged read over missing registers is split: only the point on a missing register is bad, and the split is remembered")
    func illegalAddressSplit() async throws {
        // Holding 100–127 hold their own address; 104 (under `hole`) and 110 (between e and f) do not exist.
        let server = try await PymodbusPeer.start(["--holes", "104,110"])
        defer { server.stop() }
        let devices = try load(
            """
            devices:
              - id: meter-7
                protocol: modbus
                connection: { host: 127.0.0.1, port: \(server.port), timeout: 500ms }
                poll: 50ms
                points:
                  a:    { table: holding, address: 100 }
                  b:    { table: holding, address: 101 }
                  c:    { table: holding, address: 102, type: uint32 }
                  hole: { table: holding, address: 104 }
                  d:    { table: holding, address: 105 }
                  e:    { table: holding, address: 108, type: uint32 }
                  f:    { table: holding, address: 112 }
            """)
        #expect(ReadPlan.blocks(for: devices[0]).map { [$0.start, $0.count] } == [[100, 13]])
        let log = LogCapture()
        let adapter = ModbusAdapter(devices: devices, logger: log.logger)
        let latest = LatestReadings()
        let running = Task { try await adapter.run(sink: latest.sink) }
        defer { running.cancel() }

        let readings = try await latest.wait(for: "a reading of every point") { $0.count == 7 }
        #expect(readings["hole"]?.value == nil)
        #expect(readings["hole"]?.quality == .bad("illegal data address 40105 (holding register 104) on meter-7 (Modbus exception 2)"))
        let expected: [String: Value] = [
            "a": .int(100), "b": .int(101), "c": .int(102 << 16 | 103), "d": .int(105),
            "e": .int(108 << 16 | 109), "f": .int(112),
        ]
        for (name, value) in expected {
            #expect(readings[name]?.value == value, "\(name)")
            #expect(readings[name]?.quality == .good, "\(name)")
        }

        // Several polls later, the failing merged request was still sent only once.
        let learned = [[100, 4], [105, 5], [112, 1]]
        _ = try await waitFor("five polls with the learned requests") { () -> Bool? in
            server.readRequests().filter { [$0.address, $0.count] == [100, 4] }.count >= 5 ? true : nil
        }
        let requests = server.readRequests()
        #expect(requests.filter { [$0.address, $0.count] == [100, 13] }.count == 1)
        #expect(requests.filter { [$0.address, $0.count] == [104, 1] }.count == 1)
        #expect(requests.allSatisfy { $0.code == 3 })
        // The last two complete polls (each ends with 112) sent exactly the learned requests.
        let spans = requests.map { [$0.address, $0.count] }
        let last = try #require(spans.lastIndex(of: [112, 1]))
        #expect(Array(spans[(last - 5)...last]) == learned + learned, "\(spans)")
        // (The split poll may outlast the 50 ms period on a loaded machine: an overrun warning
        // is about time, not about the split.)
        #expect(
            log.warningsBesidesOverruns == [
                "meter-7: 40101–40113 (holding registers 100–112) answered illegal data address; reading them as 3 requests; "
                    + "refused: hole at 40105 (holding register 104); not bridged: 40111–40112 (holding registers 110–111)"
            ])
    }

    @Test("adjacent points of one command go in one request (FC 15, FC 16); write_multiple: false writes with FC 5 and FC 6, lowest address first")
    func writeFunctionCodes() async throws {
        let server = try await PymodbusPeer.start()
        defer { server.stop() }
        // Two units behind one server (pymodbus answers every unit id from one register space).
        func device(_ id: String, unit: Int, multiple: Bool) -> String {
            """
              - id: \(id)
                protocol: modbus
                connection: { host: 127.0.0.1, port: \(server.port), unit_id: \(unit), write_multiple: \(multiple) }
                poll: 1s
                points:
                  fan:    { table: coil, address: 4, access: readwrite }
                  light:  { table: coil, address: 5, access: readwrite }
                  speed:  { table: holding, address: 100, access: readwrite }
                  limit:  { table: holding, address: 101, access: readwrite }
                  target: { table: holding, address: 102, type: uint32, access: readwrite }
            """
        }
        let devices = try load("devices:\n" + device("modern", unit: 1, multiple: true) + "\n" + device("legacy", unit: 2, multiple: false))
        let adapter = ModbusAdapter(devices: devices, logger: LogCapture().logger)
        let latest = LatestReadings()
        let running = Task { try await adapter.run(sink: latest.sink) }
        defer { running.cancel() }
        let probe = try ProbeClient(port: server.port)
        // Writes go to a running connection thread: wait for it to poll.
        _ = try await latest.wait(for: "the first polls") { $0.count == 5 }

        let both: [String: Value] = ["fan": .bool(true), "light": .bool(true)]
        let target: [String: Value] = ["target": .int(0x0001_0002)]
        let pair: [String: Value] = ["speed": .int(7), "limit": .int(9)]
        #expect(try await adapter.write(device: "modern", values: both) == both)
        #expect(try await adapter.write(device: "modern", values: target) == target)
        #expect(try await adapter.write(device: "modern", values: pair) == pair)
        let modern = server.writeRequests()
        #expect(modern.map { [$0.code, $0.address] } == [[15, 4], [16, 102], [16, 100]])
        #expect(try probe.coil(4) && probe.coil(5))
        #expect(try probe.holding(100, count: 4) == [7, 9, 1, 2])

        let off: [String: Value] = ["fan": .bool(false), "light": .bool(false)]
        let next: [String: Value] = ["target": .int(0x0003_0004)]
        #expect(try await adapter.write(device: "legacy", values: off) == off)
        #expect(try await adapter.write(device: "legacy", values: next) == next)
        #expect(try await adapter.write(device: "legacy", values: pair) == pair)
        #expect(
            server.writeRequests().dropFirst(modern.count).map { [$0.code, $0.address] }
                == [[5, 4], [5, 5], [6, 102], [6, 103], [6, 100], [6, 101]])
        #expect(try !probe.coil(4) && !probe.coil(5))
        #expect(try probe.holding(102, count: 2) == [3, 4])
    }

    @Test("write_multiple: false: when the second register of a value is refused, the failure says the device holds part of the new value")
    func partialWrite() async throws {
        let server = try await PymodbusPeer.start(["--holes", "103"])
        defer { server.stop() }
        let devices = try load(
            """
            devices:
              - id: legacy
                protocol: modbus
                connection: { host: 127.0.0.1, port: \(server.port), write_multiple: false }
                poll: 1s
                points:
                  speed:  { table: holding, address: 100, access: readwrite }
                  target: { table: holding, address: 102, type: uint32, access: write }
            """)
        let adapter = ModbusAdapter(devices: devices, logger: LogCapture().logger)
        let latest = LatestReadings()
        let running = Task { try await adapter.run(sink: latest.sink) }
        defer { running.cancel() }
        _ = try await latest.wait(for: "the first poll") { $0["speed"] != nil }

        do {
            _ = try await adapter.write(device: "legacy", values: ["speed": .int(5), "target": .int(0x0007_0008)])
            Issue.record("the write succeeded")
        } catch {
            #expect(
                error
                    == .failed(
                        "legacy.target: write failed: illegal data address 40104 (holding register 103) on legacy (Modbus exception 2); "
                            + "registers are written one at a time (write_multiple: false) and 1 of its 2 were written, "
                            + "so the device holds part of the new value (already written: legacy.speed)"))
        }
        #expect(server.writeRequests().map { [$0.code, $0.address] } == [[6, 100], [6, 102], [6, 103]])
        #expect(try ProbeClient(port: server.port).holding(100, count: 3) == [5, 101, 7])
    }
}
