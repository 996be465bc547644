import CModbus
import DeviceMaps
import GatewayCore
import TestSupport
import Testing

@testable import ModbusAdapter

#if canImport(Glibc)
import Glibc
#endif

/// A device's holding registers as its firmware answers them: a request that touches a
/// missing address, or is longer than the device takes, gets exception 2 (illegal data
/// address); every other register holds its own address, so a wrong slice shows.
private struct RegisterSpace {
    var missing: Set<Int> = []
    var longest = 125
    /// Every request, in order, and whether it was answered.
    var requests: [(start: Int, count: Int, answered: Bool)] = []
    /// Set to fail the request with this number (0-based) with a timeout.
    var timeoutAt: Int?

    mutating func read(_ block: ReadBlock) throws(ModbusFailure) -> BlockData {
        if let timeoutAt, requests.count == timeoutAt {
            requests.append((block.start, block.count, false))
            throw ModbusFailure(code: ETIMEDOUT, function: 3)
        }
        let refused = block.count > longest || (block.start..<block.end).contains(where: missing.contains)
        requests.append((block.start, block.count, !refused))
        if refused { throw ModbusFailure(code: CModbus_EMBXILADD, function: 3) }
        return .registers((block.start..<block.end).map { UInt16($0) })
    }

    var failures: Int { requests.filter { !$0.answered }.count }
}

private func point(_ name: String, _ offset: Int, _ type: ModbusDataType = .uint16) -> PointDefinition {
    PointDefinition(name: name, address: ModbusAddress(table: .holding, offset: offset, type: type))
}

/// Per point: "read <registers>", "refused", "failed" or "not read"; a point reported twice
/// shows as a list.
private func results(_ outcome: DeviceReads.Outcome) -> [String: String] {
    var results: [String: String] = [:]
    func put(_ name: String, _ text: String) {
        results[name] = results[name].map { "\($0) + \(text)" } ?? text
    }
    for event in outcome.events {
        switch event {
        case .read(let block, .registers(let registers)):
            for p in block.points { put(p.name, "read \(Array(registers[block.slice(of: p)]))") }
        case .read(let block, .bits):
            for p in block.points { put(p.name, "bits?") }
        case .failed(let block, _):
            for p in block.points { put(p.name, "failed") }
        case .refused(let p, _):
            put(p.name, "refused")
        case .notRead(let points):
            for p in points { put(p.name, "not read") }
        }
    }
    return results
}

@Suite("Illegal data address: finding what a device refuses")
struct IllegalAddressTests {
    /// a b c c hole d . . e e . . f at 100…112: a hole under `hole` (104) and one in the gap
    /// between e and f (110).
    let points = [
        point("a", 100), point("b", 101), point("c", 102, .int32), point("hole", 104), point("d", 105),
        point("e", 108, .float32), point("f", 112),
    ]
    let t0 = ContinuousClock.now

    @Test("only the refused point is bad, a refused gap is no longer bridged, and the next poll sends only requests that work")
    func holeUnderPointAndInGap() {
        var space = RegisterSpace(missing: [104, 110])
        var reads = DeviceReads(points: points, rules: ReadRules(maxGap: 10))
        #expect(reads.plan.map { [$0.start, $0.count] } == [[100, 13]])

        let first = reads.poll(now: t0) { block throws(ModbusFailure) in try space.read(block) }
        #expect(
            results(first) == [
                "a": "read [100]", "b": "read [101]", "c": "read [102, 103]", "hole": "refused", "d": "read [105]",
                "e": "read [108, 109]", "f": "read [112]",
            ])
        #expect(first.lost == nil)
        // The merged request was sent once; what followed found the two holes.
        #expect(space.requests.filter { $0.start == 100 && $0.count == 13 }.count == 1)
        #expect(
            first.lessons == [
                "40101–40113 (holding registers 100–112) answered illegal data address; reading them as 3 requests; "
                    + "refused: hole at 40105 (holding register 104); not bridged: 40111–40112 (holding registers 110–111)"
            ])
        guard case .refused(_, let failure)? = first.events.last else {
            Issue.record("no refusal in \(first.events)")
            return
        }
        #expect(failure.exceptionCode == 2)

        // Register 104 is a barrier, 106–107 (never refused) are still bridged, 110–111 not.
        #expect(reads.plan.map { [$0.start, $0.count] } == [[100, 4], [105, 5], [112, 1]])
        space.requests.removeAll()
        let second = reads.poll(now: t0 + .seconds(1)) { block throws(ModbusFailure) in try space.read(block) }
        #expect(space.requests.map { [$0.start, $0.count] } == [[100, 4], [105, 5], [112, 1]])
        #expect(space.failures == 0)
        #expect(results(second) == results(first))
        #expect(second.lessons.isEmpty)
    }

    @Test("unnamed registers the device refuses make no point bad")
    func holeInGap() {
        var space = RegisterSpace(missing: [3])
        var reads = DeviceReads(points: [point("p", 0), point("q", 5)], rules: ReadRules(maxGap: 10))
        let first = reads.poll(now: t0) { block throws(ModbusFailure) in try space.read(block) }
        #expect(results(first) == ["p": "read [0]", "q": "read [5]"])
        #expect(
            first.lessons == [
                "40001–40006 (holding registers 0–5) answered illegal data address; reading them as 2 requests; "
                    + "not bridged: 40002–40005 (holding registers 1–4)"
            ])
        #expect(space.requests.map { [$0.start, $0.count] } == [[0, 6], [0, 1], [5, 1]])
    }

    @Test("a device that refuses long requests gets shorter ones")
    func lengthLimit() {
        var space = RegisterSpace(longest: 8)
        var reads = DeviceReads(points: (0..<12).map { point("r\($0)", $0) }, rules: ReadRules(maxGap: 0))
        let first = reads.poll(now: t0) { block throws(ModbusFailure) in try space.read(block) }
        #expect(
            Set(results(first).values) == [
                "read [0]", "read [1]", "read [2]", "read [3]", "read [4]", "read [5]",
                "read [6]", "read [7]", "read [8]", "read [9]", "read [10]", "read [11]",
            ])
        #expect(
            first.lessons == [
                "40001–40012 (holding registers 0–11) answered illegal data address; reading them as 2 requests; "
                    + "at most 8 registers per request"
            ])
        #expect(reads.plan.map(\.count) == [8, 4])
        space.requests.removeAll()
        _ = reads.poll(now: t0 + .seconds(1)) { block throws(ModbusFailure) in try space.read(block) }
        #expect(space.requests.map { [$0.start, $0.count] } == [[0, 8], [8, 4]])
        #expect(space.failures == 0)
    }

    @Test("what was learned is set aside after the relearn interval: the full plan is tried again")
    func relearn() {
        var space = RegisterSpace(missing: [104, 110])
        var reads = DeviceReads(points: points, rules: ReadRules(maxGap: 10))
        _ = reads.poll(now: t0) { block throws(ModbusFailure) in try space.read(block) }
        let learned = reads.learned
        #expect(reads.relearnAt == t0 + DeviceReads.relearnInterval)

        // Still refused at the next try: the same knowledge, nothing logged, the clock restarts.
        let later = t0 + DeviceReads.relearnInterval
        space.requests.removeAll()
        let again = reads.poll(now: later) { block throws(ModbusFailure) in try space.read(block) }
        #expect(space.requests.first.map { [$0.start, $0.count] } == [100, 13])
        #expect(reads.learned == learned)
        #expect(again.lessons.isEmpty)
        #expect(reads.relearnAt == later + DeviceReads.relearnInterval)

        // The firmware now has every register: back to one request, said once.
        space.missing = []
        space.requests.removeAll()
        let back = reads.poll(now: later + DeviceReads.relearnInterval) { block throws(ModbusFailure) in try space.read(block) }
        #expect(space.requests.map { [$0.start, $0.count] } == [[100, 13]])
        #expect(results(back)["hole"] == "read [104]")
        #expect(back.lessons == ["reads as planned again (1 request): what it refused before now answers"])
        #expect(reads.learned.isEmpty && reads.relearnAt == nil)
    }

    @Test("a lost connection during the search ends the poll: the rest is reported not read, and the next poll searches on")
    func lostDuringSearch() {
        var space = RegisterSpace(missing: [104, 110])
        space.timeoutAt = 2
        var reads = DeviceReads(points: points, rules: ReadRules(maxGap: 10))
        let first = reads.poll(now: t0) { block throws(ModbusFailure) in try space.read(block) }
        #expect(space.requests.count == 3)
        #expect(first.lost?.code == ETIMEDOUT)
        let outcome = results(first)
        #expect(outcome.count == points.count)
        #expect(outcome.values.allSatisfy { $0 == "failed" || $0 == "not read" }, "\(outcome)")

        space.timeoutAt = nil
        let second = reads.poll(now: t0 + .seconds(1)) { block throws(ModbusFailure) in try space.read(block) }
        #expect(results(second)["hole"] == "refused")
        #expect(results(second).filter { $0.value.hasPrefix("read") }.count == points.count - 1)
    }

    @Test("other exceptions are not searched: the request's points share them")
    func otherException() {
        var requests = 0
        var reads = DeviceReads(points: points, rules: ReadRules(maxGap: 10))
        let outcome = reads.poll(now: t0) { _ throws(ModbusFailure) -> BlockData in
            requests += 1
            throw ModbusFailure(code: CModbus_EMBXSFAIL, function: 3)
        }
        #expect(requests == 1)
        #expect(Set(results(outcome).values) == ["failed"])
        #expect(reads.learned.isEmpty)
    }

    @Test("random register spaces: each point is reported once, refused exactly when its own registers are missing, and the next poll never fails")
    func randomSpaces() {
        var random = SplitMix64(seed: 11)
        for round in 0..<300 {
            let types: [ModbusDataType] = [.uint16, .uint16, .int32, .float64]
            let points = (0..<2 + random.below(14)).map { point("p\($0)", random.below(60), types[random.below(types.count)]) }
            var space = RegisterSpace(
                missing: Set((0..<random.below(5)).map { _ in random.below(64) }),
                longest: random.below(3) == 0 ? 6 + random.below(20) : 125)
            var reads = DeviceReads(points: points, rules: ReadRules(maxGap: random.below(12), maxRegistersPerRequest: 4 + random.below(122)))
            let first = results(reads.poll(now: t0) { block throws(ModbusFailure) in try space.read(block) })
            for p in points {
                let own = p.modbus.offset..<p.modbus.offset + p.modbus.registerCount
                let expected =
                    own.contains(where: space.missing.contains) || own.count > space.longest
                    ? "refused" : "read \(own.map { UInt16($0) })"
                #expect(first[p.name] == expected, "round \(round), \(p.name) at \(own), missing \(space.missing.sorted()), longest \(space.longest)")
            }
            space.requests.removeAll()
            let second = results(reads.poll(now: t0 + .seconds(1)) { block throws(ModbusFailure) in try space.read(block) })
            #expect(space.failures == 0, "round \(round): \(space.requests)")
            #expect(space.requests.count == reads.plan.count)
            #expect(second == first, "round \(round)")
        }
    }

    @Test("docs/devicemaps.md's example: a string the device lacks is refused, the energy value next to it read alone")
    func documentedLesson() {
        func input(_ name: String, _ offset: Int, _ type: ModbusDataType, length: Int = 0) -> PointDefinition {
            PointDefinition(name: name, address: ModbusAddress(table: .input, offset: offset, type: type, length: length))
        }
        var space = RegisterSpace(missing: Set(80..<88))
        var reads = DeviceReads(
            points: [
                input("voltage", 0, .float32), input("current", 6, .float32), input("power", 12, .float32),
                input("energy", 72, .float64), input("model", 80, .string, length: 8),
            ],
            rules: ReadRules(maxGap: 4, maxRegistersPerRequest: 60))
        let outcome = reads.poll(now: t0) { block throws(ModbusFailure) in try space.read(block) }
        #expect(
            outcome.lessons == [
                "30073–30088 (input registers 72–87) answered illegal data address; reading them as 1 request; "
                    + "refused: model at 30081–30088 (input registers 80–87)"
            ])
        #expect(results(outcome)["model"] == "refused")
        #expect(results(outcome)["energy"] == "read [72, 73, 74, 75]")
    }
}
