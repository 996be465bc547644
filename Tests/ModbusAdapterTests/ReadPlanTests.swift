import DeviceMaps
import GatewayCore
@testable import ModbusAdapter
import Testing

@Suite("Read planning and backoff")
struct ReadPlanTests {
    private func point(_ name: String, _ table: ModbusTable, _ offset: Int, _ type: ModbusDataType = .uint16,
                       access: Access = .read) -> PointDefinition {
        PointDefinition(name: name, address: ModbusAddress(table: table, offset: offset, type: type), access: access)
    }

    private func spans(_ blocks: [ReadBlock]) -> [String] {
        blocks.map { "\($0.table.rawValue) \($0.start)+\($0.count): \($0.points.map(\.name).joined(separator: ","))" }
    }

    @Test("adjacent points share a request, gaps and tables split")
    func merging() {
        let blocks = ReadPlan.blocks(for: [
            point("c", .holding, 3, .int32),   // 3–4, touches b
            point("a", .holding, 0),
            point("b", .holding, 1, .float32), // 1–2, touches a
            point("far", .holding, 10),        // gap at 5–9: separate request
            point("i", .input, 0),
            point("coil1", .coil, 1, .bool),
            point("coil0", .coil, 0, .bool),
        ])
        #expect(spans(blocks) == [
            "coil 0+2: coil0,coil1",
            "input 0+1: i",
            "holding 0+5: a,b,c",
            "holding 10+1: far",
        ])
    }

    @Test("overlapping points are read once")
    func overlap() {
        let blocks = ReadPlan.blocks(for: [point("whole", .holding, 0, .uint32), point("high", .holding, 0), point("low", .holding, 1)])
        #expect(spans(blocks) == ["holding 0+2: high,whole,low"])
        #expect(blocks[0].slice(of: blocks[0].points[2]) == 1..<2)
    }

    @Test("requests respect 125 registers and 2000 bits")
    func limits() {
        let registers = (0..<130).map { point("r\($0)", .holding, $0) }
        let blocks = ReadPlan.blocks(for: registers)
        #expect(blocks.map(\.count) == [125, 5])
        #expect(blocks[1].start == 125)

        // A two-register value that would straddle the limit starts a new request.
        let straddling = (0..<124).map { point("r\($0)", .input, $0) } + [point("wide", .input, 124, .float32)]
        #expect(ReadPlan.blocks(for: straddling).map(\.count) == [124, 2])

        let bits = (0..<2001).map { point("b\($0)", .discrete, $0, .bool) }
        #expect(ReadPlan.blocks(for: bits).map(\.count) == [2000, 1])
    }

    @Test("write-only points are not polled")
    func writeOnly() {
        let blocks = ReadPlan.blocks(for: [point("cmd", .holding, 0, access: .write), point("state", .holding, 1, access: .readwrite)])
        #expect(spans(blocks) == ["holding 1+1: state"])
    }

    @Test("an overrun poll skips the missed cycles and stays on its grid")
    func overrun() {
        let t0 = ContinuousClock.now
        let period = Duration.milliseconds(100)
        // On time: the next slot.
        #expect(ConnectionLoop.nextDue(after: t0, period: period, now: t0 + .milliseconds(30)) == t0 + .milliseconds(100))
        // The poll took 350 ms: slots 100, 200 and 300 are gone; no burst of catch-up polls.
        #expect(ConnectionLoop.nextDue(after: t0, period: period, now: t0 + .milliseconds(350)) == t0 + .milliseconds(400))
        // Exactly on a slot boundary counts as missed.
        #expect(ConnectionLoop.nextDue(after: t0, period: period, now: t0 + .milliseconds(200)) == t0 + .milliseconds(300))
        // A zero period is treated as 10 ms rather than spinning.
        #expect(ConnectionLoop.nextDue(after: t0, period: .zero, now: t0) == t0 + .milliseconds(10))
    }

    @Test("backoff doubles from the initial delay up to the cap and resets")
    func backoff() {
        var backoff = Backoff(policy: ReconnectPolicy(initialDelay: .milliseconds(500), maximumDelay: .seconds(30), jitter: 0.2))
        let waits = (0..<9).map { _ in backoff.next(random: 0) }
        #expect(waits == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16),
                          .seconds(30), .seconds(30), .seconds(30)])
        backoff.reset()
        #expect(backoff.next(random: 0) == .milliseconds(500))
        // Jitter spreads ±20 % but never beyond the cap.
        #expect(backoff.next(random: 1) == .milliseconds(1200))
        #expect(backoff.next(random: -1) == .milliseconds(1600))
        for _ in 0..<10 { _ = backoff.next(random: 1) }
        #expect(backoff.next(random: 1) == .seconds(30))
    }
}
