import Foundation
import GatewayCore
import Testing

@testable import DerivedAdapter

/// 2027-01-15 08:00:00 UTC, a full hour: 1,800,000,000 = 500,000 × 3600.
private let hour = Date(timeIntervalSince1970: 1_800_000_000)

private func at(_ seconds: Double, from start: Date = hour) -> Date { start.addingTimeInterval(seconds) }

/// The outputs stamped at `time`, by suffix; a duplicate suffix at one instant fails the test.
private func emission(_ outputs: [OEEOutput], at time: Date) throws -> [String: OEEOutput] {
    let stamped = outputs.filter { $0.timestamp == time }
    let bySuffix = Dictionary(stamped.map { ($0.suffix, $0) }, uniquingKeysWith: { first, _ in first })
    try #require(stamped.count == 8 && bySuffix.count == 8, "one emission of 8 outputs at \(time), got \(stamped.count)")
    return bySuffix
}

private func number(_ output: OEEOutput?) -> Double? {
    output?.value?.numeric
}

private func oneHour(every: Double = 600, rejects: Bool = false, totalModulus: Double? = nil) -> OEESpec {
    OEESpec(
        running: [1], plannedStop: [3, 4], idealCycle: 2, period: .every(seconds: 3600), every: every, totalModulus: totalModulus,
        countsRejects: rejects)
}

/// A scripted reading, or the clock moving on.
private enum Step {
    case state(Double, Value?, Quality = .good)
    case total(Double, Value?, Quality = .good)
    case good(Double, Value?, Quality = .good)
    case advance(Double)

    var time: Double {
        switch self {
        case .state(let t, _, _), .total(let t, _, _), .good(let t, _, _), .advance(let t): return t
        }
    }
}

/// Plays `steps` as the lead does: its timer calls `advance` at every `nextDue` up to a step's time, then
/// once at that time, then the reading is fed.
private func run(_ steps: [Step], on machine: inout OEEState, from start: Date = hour) -> [OEEOutput] {
    var outputs: [OEEOutput] = []
    for step in steps {
        let time = at(step.time, from: start)
        while let due = machine.nextDue, due <= time { outputs += machine.advance(to: due) }
        outputs += machine.advance(to: time)
        switch step {
        case .state(let t, let v, let q): machine.state(v, quality: q, at: at(t, from: start))
        case .total(let t, let v, let q): machine.total(v, quality: q, at: at(t, from: start))
        case .good(let t, let v, let q): machine.good(v, quality: q, at: at(t, from: start))
        case .advance: break
        }
    }
    return outputs
}

/// One hour: running 0–20 min, unplanned stop (state 2) 20–28 min, running 28–48 min, planned stop
/// (state 3) 48–60 min; 1,100 parts of which 1,045 good; ideal cycle 2 s.
private let scriptedHour: [Step] = [
    .state(0, .int(1)), .total(0, .int(0)), .good(0, .int(0)),
    .total(600, .int(300)), .good(600, .int(290)),
    .state(1200, .int(2)), .total(1200, .int(600)), .good(1200, .int(570)),
    .state(1680, .int(1)),
    .total(2280, .int(800)), .good(2280, .int(760)),
    .state(2880, .double(3)), .total(2880, .int(1100)), .good(2880, .int(1045)),
    .total(3600, .int(1100)), .good(3600, .int(1045)),
    .advance(4200),
]

@Suite("OEE: availability, performance and quality of a machine from its state and counters, per period")
struct OEETests {
    @Test("a scripted hour gives exactly the hand-computed availability, performance, quality and OEE at its end")
    func scriptedHourFinal() throws {
        var machine = OEEState(spec: oneHour())
        let outputs = run(scriptedHour, on: &machine)
        let final = try emission(outputs, at: at(3600))
        // Run time: 20 min + 20 min = 2400 s. Planned: 3600 s − 12 min planned stop = 2880 s.
        #expect(final["_run_time"]?.value == .double(2400))
        #expect(final["_planned_time"]?.value == .double(2880))
        #expect(final["_total_count"]?.value == .int(1100))
        #expect(final["_good_count"]?.value == .int(1045))
        // A = 2400 / 2880 = 5/6
        #expect(number(final["_availability"]) == 0.8333333333333334)
        // P = 2 s × 1100 / 2400 s = 11/12
        #expect(number(final["_performance"]) == 0.9166666666666666)
        // Q = 1045 / 1100 = 0.95
        #expect(number(final["_quality"]) == 0.95)
        // OEE = 5/6 × 11/12 × 19/20 = 1045/1440 = 0.72569444…; the product of the three doubles above:
        #expect(number(final[""]) == 0.7256944444444443)
        #expect(abs((number(final[""]) ?? 0) - 1045.0 / 1440.0) < 1e-15)
        #expect(final.values.allSatisfy { $0.quality == .good })
    }

    @Test("the running period's values at every boundary, the final once at the end, then a fresh period from zero")
    func runningEmissionsAndFreshStart() throws {
        var machine = OEEState(spec: oneHour())
        let outputs = run(scriptedHour, on: &machine)
        let stamps = outputs.map(\.timestamp).reduce(into: [Date]()) { if $0.last != $1 { $0.append($1) } }
        // Boundaries every 10 min; 60 min is the period's end (its final, once), 70 min the next period's first.
        #expect(stamps == [600, 1200, 1800, 2400, 3000, 3600, 4200].map { at($0) })
        #expect(outputs.count == 7 * 8)

        // At 10 min the readings before 10 min count: running all along, no part counted yet.
        let first = try emission(outputs, at: at(600))
        #expect(first["_run_time"]?.value == .double(600))
        #expect(number(first["_availability"]) == 1)  // 600 / 600
        #expect(number(first["_performance"]) == 0)  // 2 × 0 / 600
        #expect(first["_quality"]?.value == nil)
        #expect(first["_quality"]?.quality == .bad("no parts counted yet"))
        #expect(first[""]?.quality == .bad("no parts counted yet"))

        // At 20 min: 300 parts (290 good) counted at 10 min.
        let second = try emission(outputs, at: at(1200))
        #expect(number(second["_performance"]) == 0.5)  // 2 × 300 / 1200
        #expect(number(second["_quality"]) == 0.9666666666666667)  // 290 / 300

        // At 30 min: 8 min of unplanned stop (20–28) are planned time, not run time.
        let third = try emission(outputs, at: at(1800))
        #expect(third["_run_time"]?.value == .double(1320))  // 1200 + (1800 − 1680)
        #expect(third["_planned_time"]?.value == .double(1800))
        #expect(number(third["_availability"]) == 1320.0 / 1800.0)

        // At 70 min: the planned stop goes on, nothing counted: every ratio is missing its denominator.
        let fresh = try emission(outputs, at: at(4200))
        #expect(fresh["_run_time"]?.value == .double(0))
        #expect(fresh["_planned_time"]?.value == .double(0))
        #expect(fresh["_total_count"]?.value == .int(0))
        #expect(fresh["_availability"]?.quality == .bad("no planned production time yet"))
        #expect(fresh["_performance"]?.quality == .bad("no run time yet"))
        #expect(fresh["_quality"]?.quality == .bad("no parts counted yet"))
        #expect(fresh[""]?.quality == .bad("no planned production time yet"))
        #expect(fresh[""]?.value == nil)
        #expect(machine.nextDue == at(4800))
    }

    @Test("running without a part: availability 1, performance 0, quality and OEE bad for want of parts")
    func zeroDenominators() throws {
        var machine = OEEState(spec: oneHour())
        let outputs = run([.state(0, .int(1)), .total(0, .int(7)), .total(300, .int(7)), .advance(600)], on: &machine)
        let values = try emission(outputs, at: at(600))
        #expect(number(values["_availability"]) == 1)
        #expect(number(values["_performance"]) == 0)
        #expect(values["_quality"]?.quality == .bad("no parts counted yet"))
        #expect(values[""]?.quality == .bad("no parts counted yet"))
        #expect(values["_total_count"]?.value == .int(0))
        #expect(values["_total_count"]?.quality == .good)

        var stopped = OEEState(spec: oneHour())
        let planned = try emission(run([.state(0, .int(4)), .advance(600)], on: &stopped), at: at(600))
        #expect(planned["_availability"]?.quality == .bad("no planned production time yet"))
        #expect(planned["_performance"]?.quality == .bad("no run time yet"))
        #expect(planned[""]?.quality == .bad("no planned production time yet"))

        var broken = OEEState(spec: oneHour())
        let unplanned = try emission(run([.state(0, .int(9)), .advance(600)], on: &broken), at: at(600))
        #expect(number(unplanned["_availability"]) == 0)  // 0 / 600
        #expect(unplanned["_performance"]?.quality == .bad("no run time yet"))
        #expect(unplanned[""]?.quality == .bad("no run time yet"))
    }

    @Test("shift periods in Europe/Berlin cross midnight and last 7 h and 9 h across the daylight-saving changes")
    func berlinShifts() throws {
        let shifts = OEEPeriod.shifts(minutesOfDay: [6 * 60, 14 * 60, 22 * 60], timeZone: "Europe/Berlin")
        let utc = ISO8601DateFormatter()
        func date(_ text: String) throws -> Date { try #require(utc.date(from: text)) }

        // An ordinary winter night: 22:00 CET (21:00Z) to 06:00 CET (05:00Z); 01:00 belongs to the shift begun the day before.
        #expect(
            shifts.span(containing: try date("2026-12-08T00:00:00Z")) == OEESpan(start: try date("2026-12-07T21:00:00Z"), end: try date("2026-12-08T05:00:00Z"))
        )
        // Summer afternoon: 14:00 CEST (12:00Z) to 22:00 CEST (20:00Z).
        #expect(
            shifts.span(containing: try date("2026-07-01T12:00:00Z")) == OEESpan(start: try date("2026-07-01T12:00:00Z"), end: try date("2026-07-01T20:00:00Z"))
        )
        // 29 March 2026, clocks 02:00 → 03:00: the night shift from 22:00 CET (21:00Z) to 06:00 CEST (04:00Z) is 7 h.
        let spring = shifts.span(containing: try date("2026-03-29T01:30:00Z"))
        #expect(spring == OEESpan(start: try date("2026-03-28T21:00:00Z"), end: try date("2026-03-29T04:00:00Z")))
        // 25 October 2026, clocks 03:00 → 02:00: 22:00 CEST (20:00Z) to 06:00 CET (05:00Z) is 9 h.
        let autumn = shifts.span(containing: try date("2026-10-25T01:30:00Z"))
        #expect(autumn == OEESpan(start: try date("2026-10-24T20:00:00Z"), end: try date("2026-10-25T05:00:00Z")))

        // The machine runs through the spring night: the final at 06:00 CEST has 7 h of run time, and the next shift starts from zero.
        var spec = oneHour(every: 3600)
        spec.period = shifts
        var machine = OEEState(spec: spec)
        let start = try date("2026-03-28T21:00:00Z")
        let outputs = run([.state(0, .int(1)), .advance(8 * 3600)], on: &machine, from: start)
        let final = try emission(outputs, at: spring.end)
        #expect(final["_run_time"]?.value == .double(7 * 3600))
        #expect(final["_planned_time"]?.value == .double(7 * 3600))
        let morning = try emission(outputs, at: try date("2026-03-29T05:00:00Z"))
        #expect(morning["_run_time"]?.value == .double(3600))  // 06:00–07:00 CEST

        var autumnMachine = OEEState(spec: spec)
        let autumnOutputs = run([.state(0, .int(1)), .advance(9 * 3600)], on: &autumnMachine, from: autumn.start)
        #expect(try emission(autumnOutputs, at: autumn.end)["_run_time"]?.value == .double(9 * 3600))
    }

    @Test("a uint16 total counter wrapping past 65535 and then reset counts every part once")
    func counterWrapAndReset() throws {
        var machine = OEEState(spec: oneHour(totalModulus: 65_536))
        let outputs = run(
            [
                .state(0, .int(1)), .total(0, .int(65_000)),
                .total(100, .int(65_535)),  // +535
                .total(200, .int(300)),  // wrap: 65535 → 0 is +1, then +300: +301
                .total(300, .int(50)),  // a fall of 250, far less than half the range: a reset, +50
                .total(400, .int(80)),  // +30
                .advance(600),
            ], on: &machine)
        // 535 + 301 + 50 + 30 = 916
        #expect(try emission(outputs, at: at(600))["_total_count"]?.value == .int(916))
    }

    @Test("with a reject counter, good = total − rejects, never below zero")
    func rejectCounter() throws {
        var machine = OEEState(spec: oneHour(rejects: true))
        let steps: [Step] = [
            .state(0, .int(1)), .total(0, .int(0)), .good(0, .int(0)),
            .total(1200, .int(1100)), .good(1200, .int(55)),
            .advance(1800),
            .good(2000, .int(3000)),  // a reject counter gone wild: 2,945 more rejects than parts
            .advance(2400),
        ]
        let outputs = run(steps, on: &machine)
        let values = try emission(outputs, at: at(1800))
        #expect(values["_good_count"]?.value == .int(1045))  // 1100 − 55
        #expect(number(values["_quality"]) == 0.95)  // 1045 / 1100
        let wild = try emission(outputs, at: at(2400))
        #expect(wild["_good_count"]?.value == .int(0))
        #expect(number(wild["_quality"]) == 0)
    }

    @Test("a bad state reading makes its interval unknown: uncertain with the share of known time, rounded down, and the reason")
    func badStateIsUnknownTime() throws {
        var machine = OEEState(spec: oneHour(every: 3600))
        let outputs = run(
            [.state(0, .int(1)), .state(600, nil, .bad("timeout")), .state(1200, .int(1)), .advance(3600)], on: &machine)
        let final = try emission(outputs, at: at(3600))
        // Known: 3600 − 600 = 3000 s of 3600 s = 83.3 % → 83
        #expect(final["_run_time"]?.value == .double(3000))
        #expect(final["_run_time"]?.quality == .uncertain("inputs known for 83% of the period; bad: state: timeout"))
        #expect(number(final["_availability"]) == 1)  // 3000 / 3000: of what is known, all ran
        #expect(final["_availability"]?.quality == .uncertain("inputs known for 83% of the period; bad: state: timeout"))
        // Without any parts the quality ratio stays bad for its own reason.
        #expect(final["_quality"]?.quality == .bad("no parts counted yet"))

        // Before the first state reading ever the time is unknown too, and a state that is no whole number is bad.
        var late = OEEState(spec: oneHour(every: 3600))
        let lateOutputs = run([.advance(0), .state(900, .int(1)), .state(1800, .double(1.5)), .advance(3600)], on: &late)
        let lateFinal = try emission(lateOutputs, at: at(3600))
        #expect(lateFinal["_run_time"]?.value == .double(900))  // 900–1800 only: 25 %
        #expect(lateFinal["_run_time"]?.quality == .uncertain("inputs known for 25% of the period; bad: state: 1.5 is not a machine state"))
    }

    @Test("a bad counter reading makes the period uncertain though all time is known; the next good reading counts from the last good one")
    func badCounterReading() throws {
        var machine = OEEState(spec: oneHour())
        let outputs = run(
            [
                .state(0, .int(1)), .total(0, .int(0)), .total(100, nil, .bad("crc error")), .total(200, .int(40)), .advance(600), .advance(3600),
                .advance(4200),
            ],
            on: &machine)
        let values = try emission(outputs, at: at(600))
        #expect(values["_total_count"]?.value == .int(40))
        #expect(values["_total_count"]?.quality == .uncertain("inputs known for 100% of the period; bad: total count: crc error"))
        // The next period had no bad reading.
        #expect(try emission(outputs, at: at(4200))["_run_time"]?.quality == .good)
    }

    @Test("an uncertain state reading counts as known but makes its period and the next one uncertain while it holds")
    func uncertainState() throws {
        var machine = OEEState(spec: oneHour(every: 3600))
        let outputs = run(
            [.state(0, .int(1)), .state(1800, .int(1), .uncertain("stale")), .advance(7200), .state(7300, .int(1)), .advance(14400)], on: &machine)
        let first = try emission(outputs, at: at(3600))
        #expect(first["_run_time"]?.value == .double(3600))
        #expect(first["_run_time"]?.quality == .uncertain("inputs known for 100% of the period; uncertain: state: stale"))
        #expect(try emission(outputs, at: at(7200))["_run_time"]?.quality == .uncertain("inputs known for 100% of the period; uncertain: state: stale"))
        // It still held at 2 h, for the first 100 s of the third hour; the fourth is good again.
        #expect(try emission(outputs, at: at(10800))["_run_time"]?.quality == .uncertain("inputs known for 100% of the period; uncertain: state: stale"))
        #expect(try emission(outputs, at: at(14400))["_run_time"]?.quality == .good)
    }

    @Test("a restart in mid-period keeps the period's times and counts; the same state after the restart continues the known time")
    func restartKeepsThePeriod() throws {
        let before: [Step] = Array(scriptedHour.prefix(8))  // up to the unplanned stop at 20 min
        let after: [Step] = Array(scriptedHour.dropFirst(8))
        var uninterrupted = OEEState(spec: oneHour())
        let expected = run(before + [.state(1500, .int(2))] + after, on: &uninterrupted)

        var machine = OEEState(spec: oneHour())
        var outputs = run(before, on: &machine)
        let saved = try JSONEncoder().encode(machine)
        var restarted = try JSONDecoder().decode(OEEState.self, from: saved)
        #expect(restarted.spec == oneHour())
        // Still in the unplanned stop after the restart: the gap since the last state reading is known.
        outputs += run([.state(1500, .int(2))] + after, on: &restarted)
        #expect(outputs == expected)
        #expect(try emission(outputs, at: at(3600))["_good_count"]?.value == .int(1045))
    }

    @Test("after a restart the gap is unknown when the state has changed, and counted as unknown until the first state reading")
    func restartGapIsUnknown() throws {
        var machine = OEEState(spec: oneHour(every: 300))
        var outputs = run([.state(0, .int(1)), .total(0, .int(0)), .state(1200, .int(1)), .total(1200, .int(500))], on: &machine)
        // The gateway stops at 20 min and comes back at 25 min.
        var restarted = try JSONDecoder().decode(OEEState.self, from: try JSONEncoder().encode(machine))
        outputs += run([.advance(1500), .state(1800, .int(2)), .total(1800, .int(650)), .advance(3600)], on: &restarted)

        let during = try emission(outputs, at: at(1500))
        #expect(during["_run_time"]?.value == .double(1200))
        // 1200 of 1500 s known
        #expect(during["_run_time"]?.quality == .uncertain("inputs known for 80% of the period"))
        let final = try emission(outputs, at: at(3600))
        // The state changed: 1200–1800 unknown; known 3600 − 600 = 3000 s (83 %), of which 1200 s running.
        #expect(final["_run_time"]?.value == .double(1200))
        #expect(final["_planned_time"]?.value == .double(3000))
        #expect(final["_total_count"]?.value == .int(650))
        #expect(final["_total_count"]?.quality == .uncertain("inputs known for 83% of the period"))
    }

    @Test("a jump over several periods closes each once, in order, with what is known")
    func jumpClosesEachPeriodOnce() throws {
        var machine = OEEState(spec: oneHour())
        _ = run([.state(0, .int(1)), .state(1800, .int(3))], on: &machine)
        // The gateway was stopped for three hours: the first call catches up.
        let outputs = machine.advance(to: at(3 * 3600 + 1300))
        let stamps = outputs.map(\.timestamp).reduce(into: [Date]()) { if $0.last != $1 { $0.append($1) } }
        #expect(stamps == [3600, 7200, 10800, 10800 + 1200].map { at($0) })
        #expect(outputs.count == 4 * 8)
        #expect(try emission(outputs, at: at(3600))["_run_time"]?.value == .double(1800))
        #expect(try emission(outputs, at: at(7200))["_planned_time"]?.value == .double(0))  // planned stop all hour
        #expect(try emission(outputs, at: at(10800))["_planned_time"]?.quality == .good)
        #expect(machine.advance(to: at(3 * 3600 + 1300)).isEmpty)
        #expect(machine.nextDue == at(3 * 3600 + 1800))
    }

    @Test("a late reading in the running period shows at the next emission; one from a closed period is ignored and counted")
    func lateReadings() throws {
        var machine = OEEState(spec: oneHour())
        var outputs = run([.state(0, .int(1)), .total(0, .int(0)), .advance(1200)], on: &machine)
        // Polled before 20 min, delivered after the emission at 20 min.
        machine.total(.int(100), quality: .good, at: at(1100))
        machine.state(.int(2), quality: .good, at: at(1100))
        outputs += machine.advance(to: at(1800))
        #expect(try emission(outputs, at: at(1200))["_total_count"]?.value == .int(0))
        let next = try emission(outputs, at: at(1800))
        #expect(next["_total_count"]?.value == .int(100))
        #expect(next["_run_time"]?.value == .double(1100))

        outputs += machine.advance(to: at(3700))
        machine.total(.int(160), quality: .good, at: at(3650))
        machine.total(.int(150), quality: .good, at: at(3500))  // older than the last total reading
        machine.total(.int(170), quality: .good, at: at(3800))
        #expect(machine.lateReadings == 0)
        #expect(machine.outOfOrderReadings == 1)
        machine.state(.int(1), quality: .good, at: at(3590))  // too late for the period it belongs to
        #expect(machine.lateReadings == 1)
        outputs += machine.advance(to: at(4200))
        let closed = try emission(outputs, at: at(3600))
        #expect(closed["_run_time"]?.value == .double(1100))
        let fresh = try emission(outputs, at: at(4200))
        #expect(fresh["_total_count"]?.value == .int(70))  // 100 → 160 → 170
        #expect(fresh["_run_time"]?.value == .double(600))  // the late state holds from the period's start
    }

    @Test("nextDue is the next boundary or the period's end, whichever comes first, and nil before anything")
    func nextDue() {
        var spec = oneHour(every: 7)
        spec.period = .every(seconds: 60)
        var machine = OEEState(spec: spec)
        #expect(machine.nextDue == nil)
        _ = machine.advance(to: at(50))
        // 1,800,000,000 = 7 × 257,142,857 + 1: the boundaries fall at 6, 13, … 55, 62 s past the hour.
        #expect(machine.nextDue == at(55))
        _ = machine.advance(to: at(57))
        #expect(machine.nextDue == at(60))  // the period ends before the boundary at 62
        machine.state(.int(1), quality: .good, at: at(61))
        #expect(machine.nextDue == at(61))  // the final of the period is waiting
    }
}
