import Foundation
import GatewayCore
import TestSupport
import Testing

@testable import DerivedAdapter

/// A multiple of an hour since the epoch, so that windows of a few seconds or minutes start at
/// its offsets 0, 10, 300...
private let base = 1_800_000_000.0

private func at(_ seconds: Double) -> Date { Date(timeIntervalSince1970: base + seconds) }

private func state(
    _ aggregate: WindowAggregate, size: Int, every: Int? = nil, grace: Double = 2, modulus: Double? = nil, integer: Bool = false
) -> WindowState {
    WindowState(
        spec: WindowSpec(
            aggregate: aggregate, size: .seconds(size), every: every.map { .seconds($0) }, grace: .seconds(grace),
            counterModulus: modulus, inputIsInteger: integer))
}

extension WindowState {
    fileprivate mutating func add(_ stream: [(Double, Double?)], reason: String = "timeout") {
        for (t, v) in stream {
            if let v { add(.double(v), quality: .good, at: at(t)) } else { add(nil, quality: .bad(reason), at: at(t)) }
        }
    }
}

private func approximately(_ value: Value?, _ expected: Double) -> Bool {
    guard case .double(let v) = value else { return false }
    return abs(v - expected) <= 1e-12 * max(1, abs(expected))
}

@Suite("time windows: aggregates, kinds, grace, late readings, coverage, counters, state")
struct WindowTests {
    /// Window [0, 10): 4 at 0, 8 at 2, 6 at 5, 2 at 9, all good; then 40 at 12.
    private static let tumblingStream: [(Double, Double?)] = [(0, 4), (2, 8), (5, 6), (9, 2), (12, 40)]

    @Test("each aggregate of a tumbling window, stamped at its end, from the good readings in [start, end)")
    func tumblingAggregates() {
        // Sample standard deviation of 4 8 6 2: mean 5, squared deviations 1 9 1 9 → √(20 / 3).
        let expected: [WindowAggregate: Value] = [
            .avg: .double(5), .min: .double(2), .max: .double(8), .sum: .double(20), .count: .int(4),
            .first: .double(4), .last: .double(2), .stddev: .double((20.0 / 3).squareRoot()),
        ]
        for aggregate in WindowAggregate.allCases where aggregate != .rate {
            var s = state(aggregate, size: 10)
            s.add(Self.tumblingStream)
            let outputs = s.advance(to: at(12))
            #expect(outputs.count == 1, "\(aggregate)")
            #expect(outputs.first?.end == at(10), "\(aggregate)")
            #expect(outputs.first?.quality == .good, "\(aggregate)")
            if aggregate == .stddev {
                #expect(approximately(outputs.first?.value, (20.0 / 3).squareRoot()))
            } else {
                #expect(outputs.first?.value == expected[aggregate], "\(aggregate)")
            }
        }
    }

    @Test("an integer input gives whole-number first, last, min and max; sum and avg stay doubles")
    func integerKinds() {
        for (aggregate, expected) in [(WindowAggregate.min, Value.int(2)), (.max, .int(8)), (.first, .int(4)), (.last, .int(2)), (.sum, .double(20))] {
            var s = state(aggregate, size: 10, integer: true)
            for (t, v) in Self.tumblingStream { s.add(.int(Int64(v!)), quality: .good, at: at(t)) }
            #expect(s.advance(to: at(12)).first?.value == expected, "\(aggregate)")
        }
    }

    @Test("a hopping window ends at every multiple of every and covers the size before it, across panes")
    func hopping() {
        // 1 at 0, 2 at 1, …, 8 at 7; size 6, every 2: windows [−4, 2), [−2, 4), [0, 6), [2, 8).
        let stream: [(Double, Double?)] = (0..<8).map { (Double($0), Double($0 + 1)) }
        var sum = state(.sum, size: 6, every: 2, grace: 1)
        var avg = state(.avg, size: 6, every: 2, grace: 1)
        var stddev = state(.stddev, size: 6, every: 2, grace: 1)
        sum.add(stream)
        avg.add(stream)
        stddev.add(stream)
        let sums = sum.advance(to: at(9))
        #expect(sums.map(\.end) == [at(2), at(4), at(6), at(8)])
        #expect(sums.map(\.value) == [.double(3), .double(10), .double(21), .double(33)])
        // Before the first reading nothing is covered: [−4, 0) of [−4, 2), [−2, 0) of [−2, 4).
        #expect(sums.map(\.quality) == [.uncertain("inputs good for 33% of the window"), .uncertain("inputs good for 66% of the window"), .good, .good])
        #expect(avg.advance(to: at(9)).map(\.value) == [.double(1.5), .double(2.5), .double(3.5), .double(5.5)])
        // 1…6 and 3…8: squared deviations from the mean sum to 17.5 over 5 degrees of freedom.
        let deviations = stddev.advance(to: at(9))
        #expect(approximately(deviations[2].value, 3.5.squareRoot()) && approximately(deviations[3].value, 3.5.squareRoot()))
        #expect(approximately(deviations[1].value, (5.0 / 3).squareRoot()))
    }

    @Test("windows are aligned to the epoch, not to the first reading")
    func alignment() {
        var s = state(.count, size: 300)
        s.add(.double(1), quality: .good, at: at(123.4))
        s.add(.double(1), quality: .good, at: at(299.9))
        s.add(.double(1), quality: .good, at: at(300))
        #expect(s.nextDue == at(302))
        let outputs = s.advance(to: at(1000))
        #expect(outputs.map(\.end) == [at(300), at(600), at(900)])
        #expect(outputs.map(\.value) == [.int(2), .int(1), .int(0)])
        #expect(outputs[0].quality == .uncertain("inputs good for 58% of the window"))
        #expect(outputs[1].quality == .good)
        #expect(outputs[2].quality == .bad("no good reading in the window"))
        let hopping = state(.count, size: 60, every: 20)
        var h = hopping
        h.add(.double(1), quality: .good, at: at(45))
        #expect(h.advance(to: at(130)).map(\.end) == [at(60), at(80), at(100), at(120)])
    }

    @Test("a window waits for its grace: emitted at end + grace, with what arrived meanwhile")
    func grace() {
        var s = state(.sum, size: 10, grace: 3)
        #expect(s.nextDue == nil)
        #expect(s.advance(to: at(100)).isEmpty)
        s.add(.double(1), quality: .good, at: at(0))
        #expect(s.nextDue == at(13))
        #expect(s.advance(to: at(12.999)).isEmpty)
        s.add(.double(2), quality: .good, at: at(9.5))
        s.add(.double(5), quality: .good, at: at(10.5))
        let outputs = s.advance(to: at(13))
        #expect(outputs.map(\.value) == [.double(3)])
        #expect(s.nextDue == at(23))
    }

    @Test("a reading whose pane closed is late: counted and not used, in tumbling and hopping windows")
    func lateReadings() {
        var s = state(.sum, size: 10)
        s.add([(0, 1), (5, 2)])
        #expect(s.advance(to: at(12)).map(\.value) == [.double(3)])
        s.add(.double(100), quality: .good, at: at(9))
        s.add(.double(4), quality: .good, at: at(11))
        #expect(s.lateReadings == 1)
        #expect(s.advance(to: at(22)).map(\.value) == [.double(4)])

        // Size 6 every 2: the reading at 1 arrives after [−4, 2) was emitted; [−2, 4) and
        // [0, 6), which also hold it, do not use it either.
        var h = state(.sum, size: 6, every: 2, grace: 1)
        h.add([(0, 1), (2, 2)])
        #expect(h.advance(to: at(3)).map(\.value) == [.double(1)])
        h.add(.double(100), quality: .good, at: at(1))
        h.add(.double(10), quality: .good, at: at(3))
        #expect(h.lateReadings == 1)
        #expect(h.advance(to: at(7)).map(\.value) == [.double(13), .double(13)])
    }

    @Test("out-of-order readings of an open window are used in timestamp order")
    func outOfOrder() {
        var first = state(.first, size: 10)
        var last = state(.last, size: 10)
        var rate = state(.rate, size: 10)
        for (t, v) in [(5.0, 50.0), (2, 20), (8, 80), (0, 0)] {
            first.add(.double(v), quality: .good, at: at(t))
            last.add(.double(v), quality: .good, at: at(t))
            rate.add(.double(v), quality: .good, at: at(t))
        }
        #expect(first.advance(to: at(12)).map(\.value) == [.double(0)])
        #expect(last.advance(to: at(12)).map(\.value) == [.double(80)])
        // In order 0 20 50 80 at 0 2 5 8: 80 in 8 s. Taken in arrival order it would see resets.
        #expect(rate.advance(to: at(12)).map(\.value) == [.double(10)])
        #expect(first.lateReadings == 0)
    }

    @Test("coverage: the share of the window held by good readings, rounded down, with the last bad reason; bad with no good reading")
    func coverage() {
        // Good at 0, bad from 3 to 5.5: 7.5 s of 10.
        var s = state(.avg, size: 10)
        s.add([(0, 4), (3, nil), (5.5, 6)])
        #expect(s.advance(to: at(12)) == [WindowOutput(end: at(10), value: .double(5), quality: .uncertain("inputs good for 75% of the window; bad: timeout"))])

        // 10 s of 12 is 83.3 %: 83; the bad reading holds on into the next window.
        var rounded = state(.max, size: 12)
        rounded.add([(0, 1), (10, nil)], reason: "offline")
        rounded.add(.double(7), quality: .good, at: at(18))
        let outputs = rounded.advance(to: at(26))
        #expect(outputs[0].quality == .uncertain("inputs good for 83% of the window; bad: offline"))
        #expect(outputs[1] == WindowOutput(end: at(24), value: .double(7), quality: .uncertain("inputs good for 50% of the window; bad: offline")))

        // A thousandth of a second bad in 1000 s is not 100 %.
        var almost = state(.count, size: 1000)
        almost.add([(0, 1), (500, nil), (500.001, 1)])
        #expect(almost.advance(to: at(1002)).first?.quality == .uncertain("inputs good for 99% of the window; bad: timeout"))

        // Only bad readings, or a good value that is no number, or an uncertain reading: bad.
        var none = state(.count, size: 10)
        none.add(nil, quality: .bad("timeout"), at: at(1))
        none.add(.bool(true), quality: .good, at: at(2))
        none.add(.double(3), quality: .uncertain("stale"), at: at(3))
        #expect(none.advance(to: at(12)) == [WindowOutput(end: at(10), value: .int(0), quality: .bad("no good reading in the window; bad: stale"))])
        var notNumber = state(.avg, size: 10)
        notNumber.add(.bool(true), quality: .good, at: at(2))
        #expect(
            notNumber.advance(to: at(12)) == [WindowOutput(end: at(10), value: nil, quality: .bad("no good reading in the window; bad: not a number: true"))])

        // A good reading held through a window without readings is no reading in that window.
        var gap = state(.last, size: 10)
        gap.add([(5, 1), (25, 2)])
        let gapOutputs = gap.advance(to: at(32))
        #expect(gapOutputs.map(\.value) == [.double(1), nil, .double(2)])
        #expect(gapOutputs[1].quality == .bad("no good reading in the window"))

        // A stddev of one reading has no value.
        var single = state(.stddev, size: 10)
        single.add([(0, 3)])
        #expect(single.advance(to: at(12)).first?.quality == .bad("one good reading in the window: a standard deviation needs two"))
    }

    @Test("rate: a uint16 counter wrapping past 65535, a reset, a bad reading between, and the pair across a window's start")
    func rate() {
        var s = state(.rate, size: 10, modulus: 65_536, integer: true)
        let stream: [(Double, Int64?)] = [(0, 65_530), (2, 65_534), (4, 2), (6, 10), (7, nil), (8, 5), (10, 9), (15, 19)]
        for (t, v) in stream {
            if let v { s.add(.int(v), quality: .good, at: at(t)) } else { s.add(nil, quality: .bad("timeout"), at: at(t)) }
        }
        // 4, then 4 across the wrap, 8, then a reset to 5 (a fall of 5, not half the range): 21 in 8 s.
        // [10, 20): 9 − 5 over 2 s from the last good reading before it, 10 in 5 s: 14 in 7 s.
        let outputs = s.advance(to: at(22))
        #expect(outputs.map(\.value) == [.double(21.0 / 8), .double(2)])
        #expect(outputs[0].quality == .uncertain("inputs good for 90% of the window; bad: timeout"))

        // Without a modulus the fall at the wrap is a reset too: 4, 2, 8, 5 = 19 in 8 s.
        var plain = state(.rate, size: 10)
        for (t, v) in stream { if let v { plain.add(.int(v), quality: .good, at: at(t)) } }
        #expect(plain.advance(to: at(12)).map(\.value) == [.double(19.0 / 8)])

        var lone = state(.rate, size: 10)
        lone.add([(3, 7)])
        #expect(lone.advance(to: at(12)).first?.quality == .bad("no two good readings to take a rate from"))
    }

    @Test("over the limit of raw readings per pane the rest are dropped, counted, and the window is uncertain")
    func bounded() {
        var s = state(.count, size: 10)
        s.add(.double(0), quality: .good, at: at(0))
        for i in 1..<(WindowState.readingsPerPaneLimit + 5) {
            s.add(.double(1), quality: .good, at: at(Double(i) * 9.0 / Double(WindowState.readingsPerPaneLimit + 5)))
        }
        #expect(s.droppedReadings == 5)
        let outputs = s.advance(to: at(12))
        #expect(
            outputs == [
                WindowOutput(end: at(10), value: .int(Int64(WindowState.readingsPerPaneLimit)), quality: .uncertain("5 readings not used: over 100000 in 10 s"))
            ])
    }

    @Test("the state encoded and decoded in mid-stream gives the same windows as an uninterrupted run")
    func codableRoundTrip() throws {
        var random = SeededRandom(seed: 16)
        let events = WindowStream.generate(seconds: 1800, random: &random).events(grace: 2, random: &random)
        for aggregate in WindowAggregate.allCases {
            let spec = WindowSpec(aggregate: aggregate, size: .seconds(60), every: .seconds(10), counterModulus: 65_536)
            var straight = WindowState(spec: spec)
            var restarted = WindowState(spec: spec)
            var expected: [WindowOutput] = []
            var got: [WindowOutput] = []
            for (i, event) in events.enumerated() {
                expected += straight.advance(to: event.arrival)
                got += restarted.advance(to: event.arrival)
                straight.add(event.value, quality: event.quality, at: event.timestamp)
                restarted.add(event.value, quality: event.quality, at: event.timestamp)
                if i % 97 == 0 {
                    let data = try JSONEncoder().encode(restarted)
                    restarted = try JSONDecoder().decode(WindowState.self, from: data)
                    #expect(restarted.spec == spec)
                }
            }
            let end = events.last!.arrival.addingTimeInterval(100)
            expected += straight.advance(to: end)
            got += restarted.advance(to: end)
            #expect(got == expected, "\(aggregate)")
            #expect(expected.count > 170, "\(aggregate): \(expected.count) windows")
            #expect(restarted.lateReadings == straight.lateReadings)
        }
    }

    @Test("state stays the same size over ten hours: panes no window needs are dropped")
    func memoryBound() async throws {
        let run = await inBackground { () -> (closed: Int, open: Int, raw: Int, sizes: [Int]) in
            var s = state(.avg, size: 300, every: 10)
            var most = (closed: 0, open: 0, raw: 0, sizes: [Int]())
            for second in 0..<36_000 {
                s.add(.double(Double(second % 97)), quality: second % 50 == 0 ? .bad("timeout") : .good, at: at(Double(second) + 0.5))
                _ = s.advance(to: at(Double(second) + 1.5))
                let footprint = s.footprint
                most.closed = max(most.closed, footprint.closedPanes)
                most.open = max(most.open, footprint.openPanes)
                most.raw = max(most.raw, footprint.rawReadings)
                if second % 600 == 599 { most.sizes.append((try? JSONEncoder().encode(s).count) ?? 0) }
            }
            return most
        }
        // 29 summaries before the current pane; the pane in its grace (10 readings) and the
        // current one (1 reading by then).
        #expect(run.closed == 29 && run.open == 2 && run.raw == 11, "\(run)")
        #expect(run.sizes.count == 60)
        // The first ten minutes fill the 29 summaries a window needs; from then on the size only
        // wanders with the digits of the numbers.
        let settled = run.sizes.dropFirst()
        #expect(settled.min()! > 0 && settled.max()! < settled.min()! + settled.min()! / 10, "\(run.sizes)")
    }
}
