import Foundation
import GatewayCore

/// What an `oee:` point computes from: which machine states are which, the ideal cycle, the periods.
struct OEESpec: Sendable, Hashable, Codable {
    /// States that count as run time.
    var running: Set<Int64>
    /// States excluded from planned production time (breaks, planned maintenance). A state in both
    /// sets is running. Every other state is unplanned downtime.
    var plannedStop: Set<Int64>
    /// The ideal cycle time of one part, in seconds.
    var idealCycle: Double
    /// How time is cut into periods.
    var period: OEEPeriod
    /// Seconds between emissions of the running period's values, aligned to the Unix epoch.
    var every: Double = 10
    /// The wrap of the total counter (from its source type, `CounterIncrease.modulus(ofType:)`).
    var totalModulus: Double? = nil
    /// The wrap of the second counter.
    var goodModulus: Double? = nil
    /// True: the second counter counts rejects (good = total − rejects); false: it counts good parts.
    var countsRejects: Bool = false
}

/// One value of an OEE point: `suffix` is appended to the point's name (`""` for the OEE itself).
struct OEEOutput: Sendable, Hashable {
    var suffix: String
    var value: Value?
    var quality: Quality
    var timestamp: Date
}

/// The OEE computation of one derived point: a pure state machine fed the machine state and the
/// counters with their source timestamps, asked for outputs as time advances.
///
/// - **Formula**: Availability = run time ÷ planned production time; Performance = ideal cycle ×
///   total count ÷ run time; Quality = good count ÷ total count; OEE = A × P × Q. Performance is
///   reported as computed, above 1 when the ideal cycle is set slower than the machine runs: clamping
///   would hide a wrong setting.
/// - **Time**: the state is a step function: each state reading holds from its timestamp until the
///   next state reading. A bad state reading makes its interval unknown, as is the time before the
///   first state reading ever. Known time is the part of the period's elapsed time covered by good
///   state readings; planned time = known time − time in planned-stop states; run time = time in
///   running states. Integer states, whole doubles and bools (as 1 and 0) are states; anything else
///   is a bad reading.
/// - **Counts**: the increase between consecutive good readings of a counter (through
///   `CounterIncrease`, wraps and resets) belongs to the period of the later reading; the first
///   reading ever only sets the baseline. Good = total − rejects with a reject counter, never below 0.
/// - **Emission**: at every multiple of `every`, the running period's values so far stamped at that
///   instant; at a period's end its final values stamped at the end, exactly once; then the next
///   period starts from zero. A value at instant T includes the readings stamped before T. When
///   `advance` catches up over several boundaries at once (a restart, a late timer), each period
///   closed on the way gives its final values, in order, and the running period only its latest
///   values: the skipped ones only restated less of the same period, and a day's catch-up would
///   otherwise flood the pipeline with thousands of them.
/// - **Quality**: a ratio whose denominator is 0 is bad, saying what is missing (and the OEE with
///   it). Otherwise, when the known time is less than the elapsed time, or an input had a bad or
///   uncertain reading in the period, every output is uncertain: `inputs known for 83% of the period`
///   (rounded down), then `; bad: <input>: <reason>` and `; uncertain: <input>: <reason>` for the
///   last such reading.
/// - **Late readings**: a reading stamped before the last emission is applied to the running period
///   when it falls in it (it shows in the next emission). One whose period has closed is counted in
///   `lateReadings`; it still becomes the input's last reading, so that the running period is not
///   charged with what happened in the closed one (its state holds from the running period's start,
///   the counter's increase is not counted anywhere). A reading older than the last one of the same
///   input is ignored and counted in `outOfOrderReadings`.
/// - **Restart**: the state is `Codable`; a decoded state keeps the period's accumulated times and
///   counts and each input's last reading. The time from the last state reading before the stop to
///   the first after it is known only when that reading shows the same state (the machine went on as
///   it was); otherwise it is unknown, since nobody watched. Until that reading, the gap counts as
///   unknown in every emission.
/// - **Bounded**: only the running period's accumulators, the last reading of each input and the
///   emissions not yet returned by `advance` are kept.
struct OEEState: Sendable, Codable {
    /// What this computes.
    private(set) var spec: OEESpec
    /// Readings whose period had already closed when they arrived.
    private(set) var lateReadings = 0
    /// Readings older than the last reading of the same input, ignored.
    private(set) var outOfOrderReadings = 0

    /// Everything up to this instant has been emitted or queued; nil before the first reading or `advance`.
    private var clock: Date?
    private var period: OEESpan?
    private var totals = Accumulators()
    /// The state holding since the last state reading (or the period's start); nil before the first one.
    private var segment: Segment?
    private var lastStateAt: Date?
    private var totalCounter = Counter()
    private var secondCounter = Counter()
    /// Emissions computed but not yet returned by `advance`: finals of closed periods and the latest
    /// running values.
    private var pending: [Snapshot] = []

    init(spec: OEESpec) {
        self.spec = spec
    }

    /// The next instant at which `advance` has something to emit, for the caller's timer; nil before
    /// the first reading or `advance`.
    var nextDue: Date? {
        guard let clock, let period else { return nil }
        if !pending.isEmpty { return clock }
        return min(nextBoundary(after: clock), period.end)
    }

    /// A reading of the machine state.
    mutating func state(_ value: Value?, quality: Quality, at time: Date) {
        if let lastStateAt, time < lastStateAt {
            outOfOrderReadings += 1
            return
        }
        roll(to: time)
        lastStateAt = time
        guard let period else { return }
        var next = Segment(kind: .unknown, value: nil, since: time)
        if case .bad(let reason) = quality {
            next.badReason = "state: \(reason)"
        } else if let state = Self.state(of: value) {
            next.value = state
            next.kind = spec.running.contains(state) ? .running : spec.plannedStop.contains(state) ? .plannedStop : .unplannedStop
            if case .uncertain(let reason) = quality { next.doubtReason = "state: \(reason)" }
        } else {
            next.badReason = "state: " + (value.map { "\($0) is not a machine state" } ?? "no value")
        }
        if time < period.start {
            // Its period has closed; from the running period's start on, this state holds.
            lateReadings += 1
            next.since = period.start
        } else {
            if let segment {
                let kind = segment.resumed ? (segment.value != nil && segment.value == next.value ? segment.kind : .unknown) : segment.kind
                totals.add(kind, seconds: time.timeIntervalSince(segment.since))
            }
        }
        if let reason = next.badReason { totals.badReason = reason }
        if let doubt = next.doubtReason { totals.doubtReason = doubt }
        segment = next
    }

    /// A reading of the total counter.
    mutating func total(_ value: Value?, quality: Quality, at time: Date) {
        count(\.totalCounter, into: \.total, name: "total count", modulus: spec.totalModulus, value: value, quality: quality, at: time)
    }

    /// A reading of the good counter, or of the reject counter when `spec.countsRejects`.
    mutating func good(_ value: Value?, quality: Quality, at time: Date) {
        let name = spec.countsRejects ? "reject count" : "good count"
        count(\.secondCounter, into: \.second, name: name, modulus: spec.goodModulus, value: value, quality: quality, at: time)
    }

    /// Every emission due up to `now` (inclusive), in time order: the final values of each period
    /// that ended, and the running period's values at the latest `every` boundary passed.
    mutating func advance(to now: Date) -> [OEEOutput] {
        roll(to: now)
        let due = pending
        pending = []
        return due.flatMap { $0.outputs(spec) }
    }

    // MARK: - Internals

    private mutating func count(
        _ counter: WritableKeyPath<OEEState, Counter>, into sum: WritableKeyPath<Accumulators, Double>, name: String, modulus: Double?,
        value: Value?, quality: Quality, at time: Date
    ) {
        if let lastAt = self[keyPath: counter].lastAt, time < lastAt {
            outOfOrderReadings += 1
            return
        }
        roll(to: time)
        self[keyPath: counter].lastAt = time
        guard let period else { return }
        let closed = time < period.start
        if closed { lateReadings += 1 }
        let number: Double
        switch (quality, value?.numeric) {
        case (.bad(let reason), _):
            if !closed { totals.badReason = "\(name): \(reason)" }
            return
        case (_, nil):
            if !closed { totals.badReason = "\(name): " + (value.map { "\($0) is not a number" } ?? "no value") }
            return
        case (_, let v?) where !v.isFinite:
            if !closed { totals.badReason = "\(name): \(v) is not a number" }
            return
        case (_, let v?):
            number = v
        }
        if case .uncertain(let reason) = quality, !closed { totals.doubtReason = "\(name): \(reason)" }
        if let previous = self[keyPath: counter].last, !closed {
            totals[keyPath: sum] += CounterIncrease.between(previous, number, modulus: modulus)
        }
        self[keyPath: counter].last = number
    }

    /// Brings the clock to `t`: closes every period that ended by then (queuing its final values) and
    /// queues the running values at the latest boundary passed; the first call starts the period.
    private mutating func roll(to t: Date) {
        guard let clock, var period else {
            clock = t
            period = spec.period.span(containing: t)
            return
        }
        guard t > clock else { return }
        var now = clock
        while period.end <= t {
            if let last = pending.last, !last.final { pending.removeLast() }
            pending.append(snapshot(at: period.end, of: period, final: true))
            var next = spec.period.span(containing: period.end)
            if next.start != period.end { next.start = period.end }  // never a hole nor an overlap between periods
            segment?.since = next.start
            totals = Accumulators()
            // A bad or doubtful state that goes on taints the next period too.
            if let carried = segment {
                totals.badReason = carried.badReason
                totals.doubtReason = carried.doubtReason
            }
            period = next
            now = period.start
        }
        self.period = period
        let boundary = Date(timeIntervalSince1970: (t.timeIntervalSince1970 / every).rounded(.down) * every)
        if boundary > now, boundary > period.start, boundary <= t {
            if let last = pending.last, !last.final { pending.removeLast() }
            pending.append(snapshot(at: boundary, of: period, final: false))
        }
        self.clock = t
    }

    /// `spec.every`, guarded against a zero that would never advance.
    private var every: Double { spec.every > 0 ? spec.every : 10 }

    private func nextBoundary(after t: Date) -> Date {
        var index = (t.timeIntervalSince1970 / every).rounded(.down) + 1
        if index * every <= t.timeIntervalSince1970 { index += 1 }
        return Date(timeIntervalSince1970: index * every)
    }

    /// The period's values as of `instant`: what was accumulated plus the state holding since its last reading.
    private func snapshot(at instant: Date, of period: OEESpan, final: Bool) -> Snapshot {
        var at = totals
        if let segment {
            at.add(segment.resumed ? .unknown : segment.kind, seconds: instant.timeIntervalSince(max(segment.since, period.start)))
        }
        return Snapshot(
            at: instant, final: final, elapsed: instant.timeIntervalSince(period.start), totals: at)
    }

    /// The machine state a value stands for: integers, whole doubles, and bools as 1 and 0.
    static func state(of value: Value?) -> Int64? {
        switch value {
        case .int(let v): return v
        case .double(let d) where d == d.rounded() && abs(d) < 9.2e18: return Int64(d)
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
}

/// The state holding since `since`.
private struct Segment: Sendable, Codable {
    var kind: StateKind
    /// The state's value, to tell after a restart whether the machine went on in the same state.
    var value: Int64?
    var since: Date
    var badReason: String?
    var doubtReason: String?
    /// True from a restart until the next state reading: whether the gap was known is not decided yet.
    var resumed = false

    init(kind: StateKind, value: Int64?, since: Date) {
        self.kind = kind
        self.value = value
        self.since = since
    }

    private enum CodingKeys: String, CodingKey { case kind, value, since, badReason, doubtReason }

    /// Decoding is a restart: the gateway was down since the state was saved, so a known state is
    /// resumed until the next reading tells whether it went on.
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(StateKind.self, forKey: .kind)
        value = try c.decodeIfPresent(Int64.self, forKey: .value)
        since = try c.decode(Date.self, forKey: .since)
        badReason = try c.decodeIfPresent(String.self, forKey: .badReason)
        doubtReason = try c.decodeIfPresent(String.self, forKey: .doubtReason)
        resumed = kind != .unknown
    }
}

private enum StateKind: String, Sendable, Codable {
    case running, unplannedStop, plannedStop, unknown
}

private struct Counter: Sendable, Codable {
    /// The last good value, the baseline of the next increase.
    var last: Double?
    var lastAt: Date?
}

/// The running period's sums.
private struct Accumulators: Sendable, Codable {
    var known: Double = 0
    var plannedStop: Double = 0
    var run: Double = 0
    var total: Double = 0
    /// Good parts, or rejects with a reject counter.
    var second: Double = 0
    var badReason: String?
    var doubtReason: String?

    mutating func add(_ kind: StateKind, seconds: Double) {
        guard seconds > 0 else { return }
        switch kind {
        case .running:
            known += seconds
            run += seconds
        case .unplannedStop: known += seconds
        case .plannedStop:
            known += seconds
            plannedStop += seconds
        case .unknown: break
        }
    }
}

/// An emission computed and not yet returned: the numbers, turned into outputs on return.
private struct Snapshot: Sendable, Codable {
    var at: Date
    var final: Bool
    var elapsed: Double
    var totals: Accumulators

    func outputs(_ spec: OEESpec) -> [OEEOutput] {
        let planned = totals.known - totals.plannedStop
        let run = totals.run
        let total = totals.total
        let good = spec.countsRejects ? max(0, total - totals.second) : totals.second
        let quality: Quality
        // A millisecond of slack: sums of fractional durations may miss the elapsed time by a rounding error.
        if elapsed - totals.known > 0.001 || totals.badReason != nil || totals.doubtReason != nil {
            let share = elapsed > 0 ? Int((min(totals.known, elapsed) * 100 / elapsed).rounded(.down)) : 0
            var reason = "inputs known for \(share)% of the period"
            if let bad = totals.badReason { reason += "; bad: \(bad)" }
            if let doubt = totals.doubtReason { reason += "; uncertain: \(doubt)" }
            quality = .uncertain(reason)
        } else {
            quality = .good
        }
        let availability = planned > 0 ? Ratio.value(run / planned) : .missing("no planned production time yet")
        let performance = run > 0 ? Ratio.value(spec.idealCycle * total / run) : .missing("no run time yet")
        let share = total > 0 ? Ratio.value(good / total) : .missing("no parts counted yet")
        let oee: Ratio
        switch (availability, performance, share) {
        case (.value(let a), .value(let p), .value(let q)): oee = .value(a * p * q)
        case (.missing(let why), _, _), (_, .missing(let why), _), (_, _, .missing(let why)): oee = .missing(why)
        }
        func output(_ suffix: String, _ ratio: Ratio) -> OEEOutput {
            switch ratio {
            case .value(let v): return OEEOutput(suffix: suffix, value: .double(v), quality: quality, timestamp: at)
            case .missing(let why): return OEEOutput(suffix: suffix, value: nil, quality: .bad(why), timestamp: at)
            }
        }
        return [
            output("", oee),
            output("_availability", availability),
            output("_performance", performance),
            output("_quality", share),
            OEEOutput(suffix: "_run_time", value: .double(run), quality: quality, timestamp: at),
            OEEOutput(suffix: "_planned_time", value: .double(planned), quality: quality, timestamp: at),
            OEEOutput(suffix: "_total_count", value: .int(Self.whole(total)), quality: quality, timestamp: at),
            OEEOutput(suffix: "_good_count", value: .int(Self.whole(good)), quality: quality, timestamp: at),
        ]
    }
}

extension Snapshot {
    /// A count as an integer; sums of fractional counters are rounded, and no sum can trap the conversion.
    fileprivate static func whole(_ count: Double) -> Int64 {
        count < 9.2e18 ? Int64(count.rounded()) : Int64.max
    }
}

private enum Ratio {
    case value(Double)
    case missing(String)
}
