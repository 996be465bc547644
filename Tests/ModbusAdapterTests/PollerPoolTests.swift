import DevTools
import DeviceMaps
import Foundation
import GatewayCore
import TestSupport
import Testing

@testable import ModbusAdapter

/// The names of this process's threads that run Modbus connections, from the kernel's view
/// (`/proc/self/task/*/comm`, at most 15 characters): the poller pool's, or a thread per
/// connection named after its endpoint (`modbus 127.0.0.`). Not the simulators' (`modbus-sim`)
/// nor the scanner's (`modbus scan`).
/// Keyed by thread id.
func modbusConnectionThreads() throws -> [Int: String] {
    var threads: [Int: String] = [:]
    for task in try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") {
        // A thread may end between the listing and the read.
        guard let id = Int(task),
            let name = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8).trimmingCharacters(in: .newlines),
            name.hasPrefix("modbus"), !name.hasPrefix("modbus-sim"), !name.hasPrefix("modbus scan")
        else { continue }
        threads[id] = name
    }
    return threads
}

/// Many connections on a bounded number of threads.
@Suite("Modbus connections on the poller pool", .serialized)
struct PollerPoolTests {
    @Test("more connections than pollThreadLimit (40 on a small machine) are polled, and written to, by at most pollThreadLimit threads of the process")
    func manyConnections() async throws {
        let limit = ModbusAdapter.pollThreadLimit
        // The point is more connections than threads.
        let connections = max(40, limit + 8)
        var devices: [DeviceDefinition] = []
        var simulators: [ModbusSimulator] = []
        defer { for simulator in simulators { simulator.stop() } }
        for n in 1...connections {
            let port = try freeLoopbackPort()
            let device = boiler(id: "boiler-\(n)", port: port, poll: .milliseconds(200))
            let simulator = try ModbusSimulator(devices: [device], port: port, animated: false, logger: testLogger)
            try simulator.start()
            simulators.append(simulator)
            devices.append(device)
        }
        let adapter = ModbusAdapter(devices: devices, logger: testLogger, reconnect: fastReconnect)
        let collector = ReadingCollector()
        // Every thread that ran a connection at some point, by thread id.
        var seen: [Int: String] = [:]
        try await whileRunning(adapter, into: collector) {
            // Sampled while the connections start, connect and poll: the busiest time.
            var pending = Set(devices.map(\.id))
            let deadline = ContinuousClock.now + .seconds(60)
            while !pending.isEmpty, ContinuousClock.now < deadline {
                seen.merge(try modbusConnectionThreads()) { $1 }
                for batch in collector.all where allGood(batch.first?.device ?? "")(batch) {
                    pending.remove(batch.first?.device ?? "")
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(pending.isEmpty, "never polled: \(pending.sorted())")

            // A write to every device at once: each completes, on its own connection.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (n, device) in devices.enumerated() {
                    group.addTask {
                        let setpoint = Double(20 + n % 50)
                        let values = try await adapter.write(device: device.id, values: ["setpoint": .double(setpoint)])
                        #expect(values == ["setpoint": .double(setpoint)], "\(device.id)")
                    }
                }
                try await group.waitForAll()
            }
            seen.merge(try modbusConnectionThreads()) { $1 }
            for (n, simulator) in simulators.enumerated() {
                #expect(simulator.requestCounts[6] == 1, "boiler-\(n + 1)")
            }
        }
        // The pool's threads live as long as the process and are shared by every adapter (and
        // suite) of it: at most `limit`, each named for itself. A thread per connection would
        // show as threads named after their endpoints, outside the pool.
        let pool = PollerPool.shared.kernelThreadIDs
        #expect(!pool.isEmpty)
        #expect(pool.count <= limit, "\(pool.count) pool threads")
        let outside = seen.filter { !$0.value.hasPrefix("modbus-poll-") }
        #expect(outside.isEmpty, "connection threads outside the pool: \(outside.values.sorted())")
        let names = try pool.compactMap { id in
            try modbusConnectionThreads()[Int(id)]
        }
        #expect(names.count == pool.count, "every pool thread named modbus-poll-N: \(names)")
        #expect(Set(names).count == names.count, "each its own name: \(names.sorted())")
    }
}
