import ArgumentParser
import DevTools
import DeviceMaps
import Foundation
import GatewayCore
import Logging
import ModbusAdapter
import Synchronization

/// `edgegate-bench plan`: what request planning buys. N devices × R holding registers behind
/// one simulator port (one connection, N unit ids), polled by the real `ModbusAdapter` in
/// this process with the merged plan and with one request per point; then the register
/// codec's decode throughput. See docs/benchmarks.md.
struct PlanBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Poll cycle time and requests per cycle, merged plan vs one request per point, against the simulator; decode throughput.")

    @Option(help: "Devices (unit ids) behind the one simulator port.")
    var devices = 100

    @Option(help: "Holding registers (= uint16/int16 points) per device.")
    var registers = 100

    @Option(help: "Poll period of every device, in milliseconds (longer than a cycle of one request per point).")
    var pollMs = 1000

    @Option(help: "Cycles measured per plan, after one cycle of warm-up.")
    var cycles = 10

    @Option(help: "Points decoded for the decode throughput.")
    var decodes = 2_000_000

    func validate() throws {
        guard (2...247).contains(devices) else { throw ValidationError("--devices must be 2…247 (unit ids)") }
        guard (1...600).contains(registers) else { throw ValidationError("--registers must be 1…600") }
        guard pollMs >= 10, cycles >= 1, decodes >= 1 else { throw ValidationError("--poll-ms ≥ 10, --cycles ≥ 1, --decodes ≥ 1") }
    }

    func run() async throws {
        let logger = bootstrapBenchLogging()
        let loadBefore = Machine.loadAverage
        var r = Report()
        r.line("### edgegate-bench plan, \(ISO8601DateFormatter().string(from: Date()))")
        r.line("")
        r.line(
            "Scenario: \(devices) devices × \(registers) holding registers (uint16/int16 points) behind one simulator port "
                + "(one connection, unit ids 1…\(devices)), poll \(pollMs) ms, \(cycles) measured cycles per plan after one of warm-up.")
        r.line("")
        r.line("| plan | requests per cycle | poll cycle time p50 / max | readings per cycle |")
        r.line("|---|---|---|---|")
        for (name, gap, cap) in [
            ("merged (max_gap 10, max_registers_per_request 125)", 10, 125),
            ("one request per point (max_gap 0, max_registers_per_request 1)", 0, 1),
        ] {
            let figures = try await measure(maxGap: gap, maxRegisters: cap, logger: logger)
            benchStep("\(name): \(Report.f(figures.requestsPerCycle, 1)) requests per cycle")
            r.row(
                name,
                "\(Report.f(figures.requestsPerCycle, 1)) | \(Report.ms(percentile(figures.cycleMilliseconds, 50))) / "
                    + "\(Report.ms(figures.cycleMilliseconds.last)) | \(figures.readingsPerCycle)")
        }
        r.line("")
        r.line(
            "A cycle is one poll of every device; its time runs from the first device's batch of readings to the "
                + "last one's, × \(devices)/\(devices - 1) for the first device's own poll. A cycle longer than the poll "
                + "period (\(pollMs) ms) skips the next period's slot: raise --poll-ms to measure it.")
        r.line("")
        let decode = Self.decodeThroughput(count: decodes)
        r.line(
            "Decode throughput (`RegisterCodec.decode`, a mix of int16 with scale, uint32, float32 little word order, "
                + "float64, string[8] and a register bit): \(Report.f(decode / 1e6, 2)) million points/s over \(decodes) points.")
        r.line("")
        r.line(
            "Machine: \(Machine.cores) cores (nproc), \(Machine.cpuModel), Linux \(Machine.kernel); "
                + "load average before the run \(loadBefore), after \(Machine.loadAverage); build: \(Machine.buildConfiguration)")
        print(r.text)
    }

    struct Figures {
        var requestsPerCycle: Double
        /// Ascending.
        var cycleMilliseconds: [Double]
        var readingsPerCycle: Int
    }

    /// The device map: device k (unit k) has holding registers (k−1)·R … k·R−1.
    private func deviceMap(port: Int, maxGap: Int, maxRegisters: Int) throws -> [DeviceDefinition] {
        var lines = ["devices:"]
        for k in 1...devices {
            lines += [
                "  - id: dev-\(k)",
                "    protocol: modbus",
                "    connection: { host: 127.0.0.1, port: \(port), unit_id: \(k), max_gap: \(maxGap), max_registers_per_request: \(maxRegisters) }",
                "    poll: \(pollMs)ms",
                "    points:",
            ]
            for i in 0..<registers {
                let address = (k - 1) * registers + i
                lines.append(
                    i % 2 == 0
                        ? "      r\(i): { table: holding, address: \(address), type: int16, scale: 0.1 }"
                        : "      r\(i): { table: holding, address: \(address), type: uint16 }")
            }
        }
        let (map, diagnostics) = DeviceMapLoader.modbus.parse(yaml: lines.joined(separator: "\n"), file: "plan-bench.yaml")
        guard let map else { throw BenchError("the generated device map does not validate: \(diagnostics)") }
        return map.devices
    }

    /// Runs the adapter until `cycles + 1` complete cycles arrived. A cycle's time is from the
    /// first device's batch to the last one's, scaled by N/(N−1) for the first device's own
    /// poll (every device is due at the same instant and the thread polls them in order).
    private func measure(maxGap: Int, maxRegisters: Int, logger: Logger) async throws -> Figures {
        let port = try freeLoopbackPort()
        let definitions = try deviceMap(port: port, maxGap: maxGap, maxRegisters: maxRegisters)
        let simulator = try ModbusSimulator(devices: definitions, port: port, animated: false, logger: logger)
        try simulator.start()
        defer { simulator.stop() }
        let arrivals = CycleRecorder(devices: definitions.map(\.id))
        let adapter = ModbusAdapter(devices: definitions, logger: logger)
        let running = Task { try await adapter.run(sink: arrivals.sink) }
        defer { running.cancel() }

        let deadline = ContinuousClock.now + .milliseconds(pollMs) * (cycles + 3) + .seconds(30)
        var before: (requests: Int, polls: Int)?
        while arrivals.completeCycles < cycles + 1 {
            guard ContinuousClock.now < deadline else { throw BenchError("only \(arrivals.completeCycles) cycles before the deadline") }
            if before == nil, arrivals.completeCycles >= 1 { before = (simulator.requestCounts[3, default: 0], arrivals.polls) }
            try await Task.sleep(for: .milliseconds(5))
        }
        let after = (requests: simulator.requestCounts[3, default: 0], polls: arrivals.polls)
        running.cancel()
        _ = try? await running.value
        // Requests per device poll, counted after the warm-up cycle (a poll in flight at either
        // end adds at most one device's requests), times the devices.
        let start = before ?? (0, 0)
        let requestsPerPoll = Double(after.requests - start.requests) / Double(max(1, after.polls - start.polls))
        let spans = arrivals.cycleSpans().dropFirst().prefix(cycles)
        let scale = Double(devices) / Double(devices - 1)
        return Figures(
            requestsPerCycle: requestsPerPoll * Double(devices),
            cycleMilliseconds: spans.map { $0 * scale * 1000 }.sorted(),
            readingsPerCycle: arrivals.readingsPerCycle)
    }

    /// Points decoded per second by `RegisterCodec.decode`.
    static func decodeThroughput(count: Int) -> Double {
        func point(_ type: ModbusDataType, wordOrder: ByteOrder = .big, length: Int = 0, bit: Int? = nil, scale: Double = 1) -> PointDefinition {
            PointDefinition(
                name: "p", address: ModbusAddress(table: .holding, offset: 0, type: type, wordOrder: wordOrder, length: length, bit: bit),
                scale: scale)
        }
        let samples: [(PointDefinition, [UInt16])] = [
            (point(.int16, scale: 0.1), [215]),
            (point(.uint32), [0x0001, 0x1170]),
            (point(.float32, wordOrder: .little), [0x0000, 0x4148]),
            (point(.float64), [0x40C8, 0x1CD6, 0xC8B4, 0x3958]),
            (point(.string, length: 8), [0x534E, 0x2D34, 0x3200, 0, 0, 0, 0, 0]),
            (point(.bool, bit: 3), [0x0008]),
        ]
        var good = 0
        let start = ContinuousClock.now
        for i in 0..<count {
            let (p, registers) = samples[i % samples.count]
            if (try? RegisterCodec.decode(registers, for: p)) != nil { good += 1 }
        }
        let seconds = (ContinuousClock.now - start).seconds
        precondition(good == count, "a sample failed to decode")
        return Double(count) / seconds
    }
}

/// When each device's batches arrive, for cycle times.
final class CycleRecorder: Sendable {
    private struct State {
        var arrivals: [String: [ContinuousClock.Instant]] = [:]
        var readings = 0
        var batches = 0
    }

    private let devices: [String]
    private let state = Mutex(State())

    init(devices: [String]) {
        self.devices = devices
    }

    var sink: ReadingSink {
        ReadingSink { [self] batch in
            let now = ContinuousClock.now
            guard let device = batch.first?.device else { return }
            state.withLock {
                $0.arrivals[device, default: []].append(now)
                $0.readings += batch.count
                $0.batches += 1
            }
        }
    }

    /// Cycles every device has finished.
    var completeCycles: Int {
        state.withLock { s in devices.map { s.arrivals[$0]?.count ?? 0 }.min() ?? 0 }
    }

    /// Device polls so far (batches).
    var polls: Int {
        state.withLock { $0.batches }
    }

    /// Readings of one poll of every device.
    var readingsPerCycle: Int {
        state.withLock { $0.batches > 0 ? $0.readings * devices.count / $0.batches : 0 }
    }

    /// Per complete cycle: seconds from its first batch to its last.
    func cycleSpans() -> [Double] {
        state.withLock { s in
            (0..<(devices.map { s.arrivals[$0]?.count ?? 0 }.min() ?? 0)).map { cycle in
                let instants = devices.map { s.arrivals[$0]![cycle] }
                return (instants.max()! - instants.min()!).seconds
            }
        }
    }
}
