import Foundation
import GatewayCore

/// A window point's state: fed readings with their source timestamps, asked for the windows
/// that are due as wall-clock time advances. A pure state machine (no clock, no I/O), `Codable`
/// so that it survives a restart.
///
/// **Windows.** Time is cut into panes `[k·every, (k+1)·every)` from the Unix epoch; a window
/// is the `size / every` panes before its end, and every output is stamped at its end. A
/// reading belongs to the panes (and so the windows) its source timestamp `t` falls in.
///
/// **Aggregates** are over the good readings of the window (quality `.good` and a finite
/// numeric value): `avg` the arithmetic mean, `min`, `max`, `sum`, `count`, `first`/`last` by
/// timestamp, `stddev` the sample standard deviation (n − 1, two readings at least). `rate`
/// (per second) takes each consecutive pair of good readings (p, c), ordered by timestamp, whose
/// c falls in the window, p possibly the last good reading before it: Σ increase(p → c) ÷
/// Σ (c.t − p.t), the increase from `CounterIncrease` with the spec's modulus. `count` is
/// `.int`; `first`, `last`, `min`, `max` are `.int` for an integer input; the rest (`sum` too)
/// are `.double`.
///
/// **Quality.** The input is a step function: each reading, whatever its quality, holds from
/// its timestamp to the next reading's (the last one until the window's end; before the very
/// first reading nothing is covered). The window's coverage is the share of its time held by
/// good readings: all of it → good; part of it → `uncertain("inputs good for 83% of the
/// window; bad: <reason of the last bad reading that held in the window>")`, the percentage
/// rounded down and never 100 when not all; no good reading in the window → bad (value nil,
/// `count` 0); a `stddev` of one reading or a `rate` without a pair → bad.
///
/// **Emission and late readings.** A window is emitted once `now` ≥ end + grace, each due window
/// in order, empty ones too from the first window that holds the first reading on. A pane
/// closes when the first window that covers it is emitted: its raw readings are folded into a
/// small summary, and a reading arriving for a closed pane is late, counted in `lateReadings`
/// and not used. (For a tumbling window that is exactly "its window was emitted"; for a
/// hopping one a reading is not used in the later windows either, so that consecutive windows
/// never disagree about the same stretch of time.) Out-of-order readings for open panes are
/// inserted in timestamp order and used.
///
/// **Bounds.** Raw readings are kept for open panes only (normally the last `every` + grace),
/// at most `readingsPerPaneLimit` per pane and `openPaneLimit` open panes (readings stamped far
/// in the future would otherwise open panes without end); readings past those limits are
/// counted in `droppedReadings`, and those dropped from an existing pane make its windows
/// uncertain. Closed panes are summaries of a fixed size, kept while a window still needs them.
struct WindowState: Sendable, Codable {
    /// Raw readings kept per open pane; the rest are dropped and counted.
    static let readingsPerPaneLimit = 100_000
    /// Open panes at most; readings for further panes are dropped and counted.
    static let openPaneLimit = 1_000
    /// Windows emitted by one `advance` at most.
    static let windowsPerAdvanceLimit: Int64 = 100_000

    let spec: WindowSpec
    /// Readings that arrived after their pane had closed, not used.
    private(set) var lateReadings = 0
    /// Readings over `readingsPerPaneLimit` or `openPaneLimit`, not used.
    private(set) var droppedReadings = 0

    /// Panes that may still receive readings, by index.
    private var open: [OpenPane] = []
    /// Summaries of closed panes that a window still needs, contiguous by index.
    private var closed: [PaneSummary] = []
    /// The end (as a pane index) of the last window emitted; nil before the first.
    private var emittedEnd: Int64?
    /// The last reading of the closed panes, which holds into the next pane.
    private var held: Held?
    /// The last good reading of the closed panes, the first `p` of the next rate pair.
    private var lastGood: Sample?

    init(spec: WindowSpec) {
        _ = spec.panesPerWindow
        self.spec = spec
    }

    /// One input reading; value nil or non-numeric counts as bad (the reason is the reading's).
    mutating func add(_ value: Value?, quality: Quality, at timestamp: Date) {
        let t = timestamp.timeIntervalSince1970
        guard t.isFinite, abs(t) < 1e15 else {
            droppedReadings += 1
            return
        }
        let k = paneIndex(of: t)
        if let emittedEnd, k < emittedEnd {
            lateReadings += 1
            return
        }
        let raw: Raw
        switch (quality, value?.numeric) {
        case (.good, let v?) where v.isFinite:
            raw = Raw(t: t, v: v, bad: nil)
        case (.good, _):
            raw = Raw(t: t, v: nil, bad: value.map { "not a number: \($0)" } ?? "no value")
        case (.uncertain(let reason), _), (.bad(let reason), _):
            raw = Raw(t: t, v: nil, bad: reason)
        }
        var lo = 0
        var hi = open.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if open[mid].index < k { lo = mid + 1 } else { hi = mid }
        }
        if lo == open.count || open[lo].index != k {
            guard open.count < Self.openPaneLimit else {
                droppedReadings += 1
                return
            }
            open.insert(OpenPane(index: k), at: lo)
        }
        if open[lo].readings.count >= Self.readingsPerPaneLimit {
            open[lo].dropped += 1
            droppedReadings += 1
        } else {
            open[lo].insert(raw)
        }
    }

    /// Every window whose end + grace ≤ now, oldest first, and forgets what no later window needs.
    mutating func advance(to now: Date) -> [WindowOutput] {
        guard let start = emittedEnd ?? open.first?.index else { return [] }
        let due = lastDueEnd(at: now.timeIntervalSince1970)
        guard due > start else { return [] }
        // A clock that jumped years ahead must not hold the caller for hours: the rest comes
        // with the next call, which `nextDue` (then in the past) asks for at once.
        let last = Swift.min(due, start + Self.windowsPerAdvanceLimit)
        var outputs: [WindowOutput] = []
        outputs.reserveCapacity(Int(last - start))
        let panes = spec.panesPerWindow
        for end in (start + 1)...last {
            close(pane: end - 1)
            outputs.append(window(endingAt: end))
            emittedEnd = end
            // The next window, ending at end + 1, starts with pane end + 1 − panes.
            let keep = end + 1 - panes
            if let drop = closed.firstIndex(where: { $0.index >= keep }) {
                closed.removeFirst(drop)
            } else {
                closed.removeAll()
            }
        }
        return outputs
    }

    /// The next instant at which `advance` would emit something (the next end + grace), for the lead's timer.
    var nextDue: Date? {
        guard let start = emittedEnd ?? open.first?.index else { return nil }
        return Date(timeIntervalSince1970: Double(start + 1) * every + grace)
    }

    /// Readings held in open panes, and pane summaries kept: what the state's size grows with.
    var footprint: (rawReadings: Int, openPanes: Int, closedPanes: Int) {
        (open.reduce(0) { $0 + $1.readings.count }, open.count, closed.count)
    }

    private var every: Double { spec.every.seconds }
    private var grace: Double { spec.grace.seconds }

    /// The pane that holds `t`: k with k·every ≤ t < (k+1)·every, the products exact.
    private func paneIndex(of t: Double) -> Int64 {
        var k = Int64((t / every).rounded(.down))
        if t < Double(k) * every { k -= 1 }
        if t >= Double(k + 1) * every { k += 1 }
        return k
    }

    /// The largest window end (a pane index) with end·every + grace ≤ now.
    private func lastDueEnd(at now: Double) -> Int64 {
        let estimate = ((now - grace) / every).rounded(.down)
        guard estimate.isFinite, abs(estimate) < 1e15 else { return estimate > 0 ? Int64(1e15) : Int64(-1e15) }
        var end = Int64(estimate)
        while Double(end + 1) * every + grace <= now { end += 1 }
        while Double(end) * every + grace > now { end -= 1 }
        return end
    }

    /// Folds pane `k`'s raw readings (none if it never had any) into its summary, carrying the
    /// held reading and the last good one on to the next pane.
    private mutating func close(pane k: Int64) {
        var pane = OpenPane(index: k)
        if let first = open.first, first.index == k {
            pane = open.removeFirst()
        }
        assert(open.first.map { $0.index > k } ?? true, "an open pane before a closed one")
        let start = Double(k) * every
        let end = Double(k + 1) * every
        var summary = PaneSummary(index: k)
        summary.dropped = pane.dropped
        var cursor = start
        var holdsGood = held?.good ?? false
        var full = true
        var covered = 0.0
        if let held, !held.good { summary.lastBad = BadMark(t: held.t, reason: held.reason ?? "") }
        for r in pane.readings {
            if holdsGood {
                covered += r.t - cursor
            } else if r.t > cursor {
                full = false
            }
            cursor = r.t
            if let v = r.v {
                summary.add(v, at: r.t)
                if let p = lastGood {
                    summary.increase += CounterIncrease.between(p.v, v, modulus: spec.counterModulus)
                    summary.increaseSeconds += r.t - p.t
                    summary.pairs += 1
                }
                lastGood = Sample(t: r.t, v: v)
                holdsGood = true
                held = Held(t: r.t, good: true, reason: nil)
            } else {
                summary.lastBad = BadMark(t: r.t, reason: r.bad ?? "")
                holdsGood = false
                held = Held(t: r.t, good: false, reason: r.bad)
            }
        }
        if holdsGood {
            covered += end - cursor
        } else if end > cursor {
            full = false
        }
        summary.full = full
        // Full is decided by which readings held, not by a sum of differences that rounding
        // may leave a hair under the pane's length.
        summary.covered = full ? end - start : Swift.min(covered, end - start)
        closed.append(summary)
    }

    /// The output of the window ending at pane index `end`, from the summaries of its panes.
    private func window(endingAt end: Int64) -> WindowOutput {
        let panes = spec.panesPerWindow
        let first = end - panes
        var combined = PaneSummary(index: first)
        var present: Int64 = 0
        var covered = 0.0
        var full = true
        for pane in closed where pane.index >= first && pane.index < end {
            combined.merge(pane)
            present += 1
            covered += pane.covered
            full = full && pane.full
        }
        full = full && present == panes
        let stamp = Date(timeIntervalSince1970: Double(end) * every)
        let badSuffix = combined.lastBad.map { "; bad: \($0.reason)" } ?? ""

        guard combined.count > 0 else {
            let value: Value? = spec.aggregate == .count ? .int(0) : nil
            return WindowOutput(end: stamp, value: value, quality: .bad("no good reading in the window" + badSuffix))
        }
        let value: Value?
        var missing = ""
        switch spec.aggregate {
        case .count: value = .int(Int64(combined.count))
        case .sum: value = .double(combined.sum)
        case .avg: value = .double(combined.sum / Double(combined.count))
        case .min: value = number(combined.min)
        case .max: value = number(combined.max)
        case .first: value = combined.first.map { number($0.v) }
        case .last: value = combined.last.map { number($0.v) }
        case .stddev:
            if combined.count >= 2 {
                value = .double((combined.m2 / Double(combined.count - 1)).squareRoot())
            } else {
                value = nil
                missing = "one good reading in the window: a standard deviation needs two"
            }
        case .rate:
            if combined.pairs > 0, combined.increaseSeconds > 0 {
                value = .double(combined.increase / combined.increaseSeconds)
            } else {
                value = nil
                missing = "no two good readings to take a rate from"
            }
        }
        guard let value else {
            return WindowOutput(end: stamp, value: nil, quality: .bad(missing + badSuffix))
        }
        var doubts: [String] = []
        if !full {
            let total = Double(panes) * every
            let percent = Swift.max(0, Swift.min(99, Int((covered / total * 100).rounded(.down))))
            doubts.append("inputs good for \(percent)% of the window" + badSuffix)
        }
        if combined.dropped > 0 {
            doubts.append("\(combined.dropped) readings not used: over \(Self.readingsPerPaneLimit) in \(Value.format(every)) s")
        }
        return WindowOutput(end: stamp, value: value, quality: doubts.isEmpty ? .good : .uncertain(doubts.joined(separator: "; ")))
    }

    private func number(_ v: Double) -> Value {
        if spec.inputIsInteger, let i = Int64(exactly: v) { return .int(i) }
        return .double(v)
    }
}

/// A good reading's timestamp and value.
private struct Sample: Sendable, Codable {
    var t: Double
    var v: Double
}

/// The last reading of the closed panes: whether it was good, and why not.
private struct Held: Sendable, Codable {
    var t: Double
    var good: Bool
    var reason: String?
}

/// The last bad reading that held in a pane, for the reason an uncertain window gives.
private struct BadMark: Sendable, Codable {
    var t: Double
    var reason: String
}

/// A reading of an open pane: a value when good, else the reason it is not.
private struct Raw: Sendable, Codable {
    var t: Double
    var v: Double?
    var bad: String?
}

/// A pane that may still receive readings, which it keeps in timestamp order.
private struct OpenPane: Sendable, Codable {
    var index: Int64
    var readings: [Raw] = []
    var dropped = 0

    /// Inserts after the readings with the same or an earlier timestamp (arrival order breaks ties).
    mutating func insert(_ raw: Raw) {
        if let last = readings.last, last.t > raw.t {
            var lo = 0
            var hi = readings.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if readings[mid].t <= raw.t { lo = mid + 1 } else { hi = mid }
            }
            readings.insert(raw, at: lo)
        } else {
            readings.append(raw)
        }
    }
}

/// What a closed pane contributes to a window: its good readings' partial aggregates (mean
/// and squared deviations as Welford's, merged by Chan's formula), its rate pairs, and how much
/// of it good readings held.
private struct PaneSummary: Sendable, Codable {
    var index: Int64
    var count = 0
    var sum = 0.0
    var mean = 0.0
    var m2 = 0.0
    /// Meaningful when `count` > 0 (JSON has no infinities to start from).
    var min = 0.0
    var max = 0.0
    var first: Sample?
    var last: Sample?
    var increase = 0.0
    var increaseSeconds = 0.0
    var pairs = 0
    var covered = 0.0
    var full = false
    var lastBad: BadMark?
    var dropped = 0

    init(index: Int64) {
        self.index = index
    }

    /// One good reading, in timestamp order.
    mutating func add(_ v: Double, at t: Double) {
        count += 1
        sum += v
        let delta = v - mean
        mean += delta / Double(count)
        m2 += delta * (v - mean)
        min = count == 1 ? v : Swift.min(min, v)
        max = count == 1 ? v : Swift.max(max, v)
        if first == nil { first = Sample(t: t, v: v) }
        last = Sample(t: t, v: v)
    }

    /// Adds a later pane's contribution.
    mutating func merge(_ other: PaneSummary) {
        if other.count > 0 {
            let n = Double(count + other.count)
            let delta = other.mean - mean
            m2 += other.m2 + delta * delta * Double(count) * Double(other.count) / n
            mean += delta * Double(other.count) / n
            min = count == 0 ? other.min : Swift.min(min, other.min)
            max = count == 0 ? other.max : Swift.max(max, other.max)
            count += other.count
            sum += other.sum
            if first == nil { first = other.first }
            last = other.last
        }
        increase += other.increase
        increaseSeconds += other.increaseSeconds
        pairs += other.pairs
        if let bad = other.lastBad, bad.t >= (lastBad?.t ?? -Double.infinity) { lastBad = bad }
        dropped += other.dropped
    }
}
