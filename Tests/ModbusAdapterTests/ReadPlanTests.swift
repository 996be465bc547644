import DeviceMaps
import GatewayCore
import TestSupport
import Testing

@testable import ModbusAdapter

@Suite("Read planning and backoff")
struct ReadPlanTests {
    private func point(
        _ name: String, _ table: ModbusTable, _ offset: Int, _ type: ModbusDataType = .uint16,
        access: Access = .read
    ) -> PointDefinition {
        PointDefinition(name: name, address: ModbusAddress(table: table, offset: offset, type: type), access: access)
    }

    /// The plan without gap bridging unless asked for.
    private func plan(_ points: [PointDefinition], gap: Int = 0, cap: Int = 125) -> [ReadBlock] {
        ReadPlan.blocks(for: points, rules: ReadRules(maxGap: gap, maxRegistersPerRequest: cap))
    }

    private func spans(_ blocks: [ReadBlock]) -> [String] {
        blocks.map { "\($0.table.rawValue) \($0.start)+\($0.count): \($0.points.map(\.name).joined(separator: ","))" }
    }

    @Test("without max_gap, adjacent points share a request, gaps and tables split")
    func merging() {
        let blocks = plan([
            point("c", .holding, 3, .int32),  // 3–4, touches b
            point("a", .holding, 0),
            point("b", .holding, 1, .float32),  // 1–2, touches a
            point("far", .holding, 10),  // gap at 5–9: separate request
            point("i", .input, 0),
            point("coil1", .coil, 1, .bool),
            point("coil0", .coil, 0, .bool),
        ])
        #expect(
            spans(blocks) == [
                "coil 0+2: coil0,coil1",
                "input 0+1: i",
                "holding 0+5: a,b,c",
                "holding 10+1: far",
            ])
    }

    @Test("overlapping points are read once")
    func overlap() {
        let blocks = plan([point("whole", .holding, 0, .uint32), point("high", .holding, 0), point("low", .holding, 1)])
        #expect(spans(blocks) == ["holding 0+2: high,whole,low"])
        #expect(blocks[0].slice(of: blocks[0].points[2]) == 1..<2)
    }

    @Test("requests respect 125 registers and 2000 bits")
    func limits() {
        let registers = (0..<130).map { point("r\($0)", .holding, $0) }
        let blocks = plan(registers)
        #expect(blocks.map(\.count) == [125, 5])
        #expect(blocks[1].start == 125)

        // A two-register value that would straddle the limit starts a new request.
        let straddling = (0..<124).map { point("r\($0)", .input, $0) } + [point("wide", .input, 124, .float32)]
        #expect(plan(straddling).map(\.count) == [124, 2])

        let bits = (0..<2001).map { point("b\($0)", .discrete, $0, .bool) }
        #expect(plan(bits).map(\.count) == [2000, 1])
    }

    @Test("write-only points are not polled")
    func writeOnly() {
        let blocks = plan([point("cmd", .holding, 0, access: .write), point("state", .holding, 1, access: .readwrite)])
        #expect(spans(blocks) == ["holding 1+1: state"])
    }

    @Test("gaps of up to max_gap unnamed registers are bridged, longer ones split")
    func gaps() {
        let points = [point("a", .holding, 0), point("b", .holding, 4), point("c", .holding, 10, .uint32), point("d", .holding, 20)]
        // Gaps: 1–3 (3 registers), 5–9 (5), 12–19 (8).
        #expect(spans(plan(points, gap: 2)) == ["holding 0+1: a", "holding 4+1: b", "holding 10+2: c", "holding 20+1: d"])
        #expect(spans(plan(points, gap: 3)) == ["holding 0+5: a,b", "holding 10+2: c", "holding 20+1: d"])
        #expect(spans(plan(points, gap: 5)) == ["holding 0+12: a,b,c", "holding 20+1: d"])
        #expect(spans(plan(points, gap: 8)) == ["holding 0+21: a,b,c,d"])
        #expect(plan(points, gap: 8)[0].gap == 16)
        // Bits bridge gaps of bits the same way.
        let bits = [point("x", .coil, 0, .bool), point("y", .coil, 7, .bool)]
        #expect(spans(plan(bits, gap: 6)) == ["coil 0+8: x,y"])
        #expect(spans(plan(bits, gap: 5)) == ["coil 0+1: x", "coil 7+1: y"])
        // A write-only point is not read, so its register is a gap like any unnamed one.
        let around = [point("lo", .holding, 0), point("cmd", .holding, 1, access: .write), point("hi", .holding, 2)]
        #expect(spans(plan(around, gap: 0)) == ["holding 0+1: lo", "holding 2+1: hi"])
        #expect(plan(around, gap: 1).map(\.gap) == [1])
    }

    @Test("max_registers_per_request caps register requests, and bit requests at 16 bits per register")
    func requestCap() {
        let registers = (0..<10).map { point("r\($0)", .input, $0) }
        #expect(plan(registers, cap: 4).map(\.count) == [4, 4, 2])
        #expect(plan(registers, cap: 1).count == 10)
        // A 32-bit value never straddles two requests: it starts the next one.
        let mixed = [point("a", .holding, 0), point("b", .holding, 1), point("c", .holding, 2, .float32)]
        #expect(spans(plan(mixed, cap: 3)) == ["holding 0+2: a,b", "holding 2+2: c"])
        let bits = (0..<40).map { point("b\($0)", .discrete, $0, .bool) }
        #expect(plan(bits, cap: 2).map(\.count) == [32, 8])
        #expect(plan(bits, cap: 125).map(\.count) == [40])
        // A point wider than the cap (the loader refuses such maps) still gets its own request.
        #expect(spans(plan([point("wide", .holding, 0, .float64)], cap: 2)) == ["holding 0+4: wide"])
    }

    @Test("the sweep needs as few requests as an exhaustive search, on 400 random maps")
    func optimal() {
        var random = SplitMix64(seed: 4)
        for round in 0..<400 {
            let count = 1 + random.below(8)
            let widths = [1, 1, 1, 2, 2, 4]
            var points: [PointDefinition] = []
            for i in 0..<count {
                let width = widths[random.below(widths.count)]
                let type: ModbusDataType = width == 1 ? .uint16 : width == 2 ? .uint32 : .uint64
                points.append(point("p\(i)", .holding, random.below(40), type, access: random.below(8) == 0 ? .write : .read))
            }
            let rules = ReadRules(maxGap: random.below(6), maxRegistersPerRequest: 4 + random.below(12))
            let readable = points.filter(\.access.isReadable)
            let named = Set(readable.flatMap { $0.modbus.offset..<$0.modbus.offset + $0.modbus.registerCount })
            // Learned barriers sit on unnamed registers only (see LearnedLimits).
            var learned = LearnedLimits()
            if random.below(2) == 0 {
                learned.barriers[.holding] = Set((0..<50).filter { !named.contains($0) && random.below(6) == 0 })
            }
            let blocks = ReadPlan.blocks(for: points, rules: rules, learned: learned)
            let best = Self.fewestRequests(readable, rules: rules, barriers: learned.barriers[.holding] ?? [], named: named)
            #expect(
                blocks.count == best,
                "round \(round): \(spans(blocks)) for \(readable.map { "\($0.name)@\($0.modbus.offset)+\($0.modbus.registerCount)" }), gap \(rules.maxGap), cap \(rules.maxRegisters)"
            )
            // Every request keeps the rules, and every readable point is read exactly once.
            for block in blocks {
                #expect(block.count <= rules.maxRegisters)
                #expect(!(block.start..<block.end).contains { learned.barriers[.holding]?.contains($0) == true })
            }
            #expect(blocks.flatMap(\.points).map(\.name).sorted() == readable.map(\.name).sorted())
        }
    }

    /// The fewest requests that read `points`, any point to any request, by exhaustive search:
    /// a set of points may share a request when its span fits the cap and every run of
    /// unnamed registers inside it is at most `maxGap` long and free of barriers.
    static func fewestRequests(_ points: [PointDefinition], rules: ReadRules, barriers: Set<Int>, named: Set<Int>) -> Int {
        let n = points.count
        guard n > 0 else { return 0 }
        var valid = [Bool](repeating: false, count: 1 << n)
        for mask in 1..<(1 << n) {
            let members = (0..<n).filter { mask & (1 << $0) != 0 }.map { points[$0] }
            let start = members.map(\.modbus.offset).min()!
            let end = members.map { $0.modbus.offset + $0.modbus.registerCount }.max()!
            guard end - start <= rules.maxRegisters else { continue }
            var run = 0, ok = true
            for address in start..<end {
                if named.contains(address) { run = 0; continue }
                run += 1
                if run > rules.maxGap || barriers.contains(address) { ok = false; break }
            }
            valid[mask] = ok
        }
        var fewest = [Int](repeating: .max, count: 1 << n)
        fewest[0] = 0
        for mask in 1..<(1 << n) {
            let lowest = mask & -mask
            var sub = mask
            while sub > 0 {
                if sub & lowest != 0, valid[sub], fewest[mask ^ sub] != .max {
                    fewest[mask] = min(fewest[mask], fewest[mask ^ sub] + 1)
                }
                sub = (sub - 1) & mask
            }
        }
        return fewest[(1 << n) - 1]
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
        #expect(
            waits == [
                .milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16),
                .seconds(30), .seconds(30), .seconds(30),
            ])
        backoff.reset()
        #expect(backoff.next(random: 0) == .milliseconds(500))
        // Jitter spreads ±20 % but never beyond the cap.
        #expect(backoff.next(random: 1) == .milliseconds(1200))
        #expect(backoff.next(random: -1) == .milliseconds(1600))
        for _ in 0..<10 { _ = backoff.next(random: 1) }
        #expect(backoff.next(random: 1) == .seconds(30))
    }
}
