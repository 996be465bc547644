import DevTools
import DeviceMaps
import Foundation
import GatewayCore
import Logging
import ModbusAdapter
import TestSupport
import Testing

/// Fault isolation: one connection per thread, so a device that never answers costs only its
/// own connection's time; and a poll that overruns its period skips cycles instead of
/// queueing them.
@Suite("Modbus fault isolation", .serialized)
struct IsolationTests {
    static let period = Duration.milliseconds(200)
    /// hung-1's response timeout: each of its polls takes this long.
    static let hungTimeout = Duration.seconds(1)
    /// How long the devices are watched.
    static let window = Duration.seconds(3)

    /// Gaps between a device's consecutive polls, from the readings' source timestamps.
    func gaps(_ device: String, in batches: [[Reading]]) -> [Duration] {
        let times = batches.filter { $0.first?.device == device }.compactMap(\.first?.timestamp)
        return zip(times, times.dropFirst()).map { .milliseconds(Int(($1.timeIntervalSince($0) * 1000).rounded())) }
    }

    @Test("a device that never answers does not slow devices on other connections, which keep polling at their own period")
    func hungDevice() async throws {
        // hung-1's server accepts connections (the kernel does, through the backlog) but never answers.
        let silent = try HeldPort(listening: true)
        defer { silent.close() }
        let portA = try freeLoopbackPort(), portB = try freeLoopbackPort(), portHung = silent.port
        let healthyA = boiler(id: "boiler-a", port: portA, poll: Self.period)
        let healthyB = boiler(id: "boiler-b", port: portB, poll: Self.period)
        var hung = boiler(id: "hung-1", port: portHung, poll: Self.period)
        hung.modbusConnection.responseTimeout = Self.hungTimeout
        let simulatorA = try ModbusSimulator(devices: [healthyA], port: portA, animated: false, logger: testLogger)
        let simulatorB = try ModbusSimulator(devices: [healthyB], port: portB, animated: false, logger: testLogger)
        try simulatorA.start()
        defer { simulatorA.stop() }
        try simulatorB.start()
        defer { simulatorB.stop() }

        let log = LogCapture()
        let adapter = ModbusAdapter(devices: [healthyA, hung, healthyB], logger: log.logger, reconnect: fastReconnect)
        let collector = ReadingCollector()
        // The window as it really was: a loaded machine oversleeps.
        var watched = Self.window
        try await whileRunning(adapter, into: collector) {
            // Readiness only (a loaded machine may take seconds to start three servers and connect).
            let ready = await collector.waitForBatch(timeout: .seconds(20), allGood("boiler-b"))
            try #require(
                ready != nil,
                "boiler-b: \(collector.all.last { $0.first?.device == "boiler-b" } ?? []); batches: \(collector.all.count); log: \(log.lines.suffix(30))")
            _ = try #require(await collector.waitForBatch(timeout: .seconds(20)) { $0.first?.device == "hung-1" })
            collector.reset()
            let started = ContinuousClock.now
            try await Task.sleep(for: Self.window)
            watched = ContinuousClock.now - started
        }
        let batches = collector.all
        let hungStats = try #require(adapter.statistics(device: "hung-1"))
        for device in ["boiler-a", "boiler-b"] {
            // 15 cycles fit in the 3 s window. A healthy device that waited for hung-1's one-second
            // timeouts would poll about as often as hung-1 (3 times) with every gap a second or
            // more; a loaded machine loses a few cycles and stretches a few gaps, never most.
            // (The exact period is measured by the benchmarks, not here.)
            let polls = batches.filter { $0.first?.device == device }.count
            #expect(polls >= 10, "\(device): \(polls) polls in \(Self.window)")
            let gaps = gaps(device, in: batches).sorted()
            #expect(gaps.isEmpty || gaps[gaps.count / 2] < Self.hungTimeout / 2, "\(device): gaps \(gaps)")
            #expect(batches.filter { $0.first?.device == device }.joined().allSatisfy { $0.quality == .good })
            // A device behind hung-1 would skip about as many cycles as hung-1 does.
            let stats = try #require(adapter.statistics(device: device))
            #expect(stats.skippedCycles * 2 < hungStats.skippedCycles, "\(device): \(stats), hung-1: \(hungStats)")
        }
        let hungBatches = batches.filter { $0.first?.device == "hung-1" }
        #expect(!hungBatches.isEmpty)
        for reading in hungBatches.joined() {
            guard case .bad(let reason) = reading.quality else {
                Issue.record("hung-1 reading not bad: \(reading)")
                continue
            }
            #expect(reason.contains("127.0.0.1:\(portHung)"), "\(reason)")
        }
        // Its polls take a second against a 200 ms period: each one overruns, and the missed
        // cycles are skipped, not queued — roughly one poll per second, not five.
        #expect(hungStats.overruns >= 2 && hungStats.skippedCycles >= 2 * hungStats.overruns, "\(hungStats)")
        // At most one poll per timeout, plus the one under way at each end and one of slack.
        let most = Int((watched / Self.hungTimeout).rounded(.down)) + 3
        #expect(hungBatches.count <= most, "hung-1 polled \(hungBatches.count) times in \(watched)")
        // Logged once, not once per cycle (a reminder would come after a minute).
        let overrunLines = log.messages(at: .warning).filter { $0.contains("hung-1: poll cycle overran") }
        #expect(overrunLines.count == 1, "\(overrunLines)")
    }
}
