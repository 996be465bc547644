import DoorSimAdapter
import Foundation
import Testing

@Suite("Door schedule", .timeLimit(.minutes(1)))
struct DoorScheduleTests {
    /// The parameters of the golden file: tamper and battery events show up early.
    static let goldenParameters = DoorParameters(
        openEvery: .seconds(120), openFor: .seconds(20), battery: 100,
        batteryDrain: 500, tamperRate: 0.3)
    static let goldenPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden/seed-7-front.txt").path

    @Test("seed 7, door front: the first 20 events are the ones recorded in Golden/seed-7-front.txt")
    func golden() throws {
        let text = try String(contentsOfFile: Self.goldenPath, encoding: .utf8)
        let recorded = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
        let events = DoorSchedule(seed: 7, door: "front", parameters: Self.goldenParameters).prefix(20).map(\.description)
        #expect(recorded.count == 20)
        #expect(events == recorded, "\(events.joined(separator: "\n"))")
        // The recording covers every kind of event.
        for kind in ["opened", "closed", "tamper on", "tamper off", "battery"] {
            #expect(recorded.contains { $0.contains(kind) }, "\(kind)")
        }
    }

    @Test("the same seed, door and parameters give the same sequence; a copied iterator continues alike")
    func sameSeedSameSequence() {
        let a = Array(DoorSchedule(seed: 42, door: "back", parameters: Self.goldenParameters).prefix(2000))
        let b = Array(DoorSchedule(seed: 42, door: "back", parameters: Self.goldenParameters).prefix(2000))
        #expect(a == b)
        var iterator = DoorSchedule(seed: 42, door: "back", parameters: Self.goldenParameters).makeIterator()
        for _ in 0..<100 { _ = iterator.next() }
        var copy = iterator
        #expect((0..<50).map { _ in iterator.next() } == (0..<50).map { _ in copy.next() })
        #expect(iterator.next() == a[150])
    }

    @Test("another seed, another door or another parameter gives another sequence")
    func differentInputsDifferentSequences() {
        func first(_ seed: UInt64, _ door: String, _ p: DoorParameters = .standard) -> [DoorEvent] {
            Array(DoorSchedule(seed: seed, door: door, parameters: p).prefix(10))
        }
        let base = first(7, "front")
        #expect(first(8, "front") != base)
        #expect(first(7, "back") != base)
        #expect(first(7, "front2") != base)
        var slower = DoorParameters.standard
        slower.openEvery = .seconds(600)
        #expect(first(7, "front", slower) != base)
        // Doors under one seed do not open in step.
        #expect(first(0, "door-1").first?.milliseconds != first(0, "door-2").first?.milliseconds)
    }

    @Test("over 10,000 openings the means are those asked for, within 3 %, and tampers come at the asked rate")
    func statistics() {
        let p = DoorParameters(openEvery: .seconds(120), openFor: .seconds(20), battery: 100, batteryDrain: 0, tamperRate: 0.1)
        var openedAt: [Int64] = [], openFor: [Int64] = [], tampers = 0
        var lastOpened: Int64 = 0
        for event in DoorSchedule(seed: 2026, door: "stats", parameters: p) {
            switch event.kind {
            case .opened:
                if openedAt.count == 10_000 { break }
                openedAt.append(event.milliseconds)
                lastOpened = event.milliseconds
            case .closed:
                openFor.append(event.milliseconds - lastOpened)
            case .tamper(true): tampers += 1
            case .tamper(false), .battery: break
            }
            if openedAt.count == 10_000 && openFor.count == 10_000 { break }
        }
        let meanInterval = Double(openedAt.last! - openedAt.first!) / Double(openedAt.count - 1)
        let meanOpen = Double(openFor.reduce(0, +)) / Double(openFor.count)
        #expect(abs(meanInterval - 120_000) / 120_000 < 0.03, "mean interval \(meanInterval) ms")
        #expect(abs(meanOpen - 20_000) / 20_000 < 0.03, "mean open \(meanOpen) ms")
        #expect(abs(Double(tampers) / 10_000 - 0.1) < 0.01, "tampers \(tampers)")
        // Events are in time order, an opening always closes before the next one.
        #expect(zip(openedAt, openedAt.dropFirst()).allSatisfy { $0 < $1 })
        #expect(openFor.allSatisfy { $0 >= 1 })
    }

    @Test("the battery loses one percent at each multiple of a day / drain, down to 0 and no further")
    func batteryDrains() {
        // 4 % a day: one percent every 6 hours; no openings within the first days.
        let p = DoorParameters(openEvery: .seconds(86_400 * 30), openFor: .seconds(1), battery: 3, batteryDrain: 4, tamperRate: 0)
        let battery = DoorSchedule(seed: 1, door: "x", parameters: p).prefix(while: { $0.milliseconds < 86_400_000 * 30 })
            .filter { if case .battery = $0.kind { return true } else { return false } }
        #expect(
            battery == [
                DoorEvent(milliseconds: 21_600_000, kind: .battery(2)), DoorEvent(milliseconds: 43_200_000, kind: .battery(1)),
                DoorEvent(milliseconds: 64_800_000, kind: .battery(0)),
            ])
        var state = DoorState(battery: 3)
        for event in battery { state.apply(event) }
        #expect(state.battery == 0 && state.voltage == 2500 && state.batteryLow)
        #expect(DoorState(battery: 100).voltage == 3100 && !DoorState(battery: 21).batteryLow && DoorState(battery: 20).batteryLow)
    }

    @Test("without tamper rate and drain a door only opens and closes, alternately, starting closed")
    func onlyOpenings() {
        let p = DoorParameters(openEvery: .seconds(10), openFor: .seconds(2), battery: 50, batteryDrain: 0, tamperRate: 0)
        let kinds = DoorSchedule(seed: 3, door: "d", parameters: p).prefix(100).map(\.kind)
        #expect(kinds == (0..<50).flatMap { _ in [DoorEventKind.opened, .closed] })
    }

    @Test("DoorRandom.log agrees with the C library's log to within a few units in the last place")
    func logarithm() {
        var random = DoorRandom(seed: 99, door: "log")
        for _ in 0..<10_000 {
            let x = random.unitInterval()
            let ours = DoorRandom.log(x), libm = Foundation.log(x)
            #expect(abs(ours - libm) <= 4 * max(abs(libm), 1).ulp, "log(\(x)): \(ours) vs \(libm)")
        }
        #expect(DoorRandom.log(1) == 0)
        #expect(abs(DoorRandom.log(0x1p-53) - Foundation.log(0x1p-53)) < 1e-13)
    }

    @Test("parameters that make no schedule say why, naming the map's keys")
    func problems() {
        var p = DoorParameters.standard
        #expect(p.problem == nil)
        p.openFor = .seconds(120)
        #expect(p.problem?.contains("'open_every'") == true)
        p = .standard
        p.tamperRate = 1.5
        #expect(p.problem?.contains("'tamper_rate'") == true)
        p = .standard
        p.openEvery = .seconds(366 * 24 * 3600)
        #expect(p.problem?.contains("at most 365 days") == true)
    }

    @Test("at the slowest speed and the longest intervals, events beyond the horizon are put there instead of overflowing")
    func farEventsStayOnTheClock() {
        var p = DoorParameters.standard
        p.openEvery = DoorParameters.longest
        p.openFor = .seconds(24 * 3600)
        let schedule = DoorSchedule(seed: 3, door: "vault", parameters: p)
        let playback = DoorPlayback(schedule: schedule, start: .seconds(5), speed: DoorSimSyntax.minSpeed, period: .seconds(30))
        // Some of the first 2,000 events lie centuries out at this speed: each stays finite and in order.
        var last = Duration.zero
        var capped = 0
        for event in schedule.prefix(2_000) {
            let t = playback.time(of: event)
            #expect(t >= last)
            last = t
            if t == .seconds(5) + .nanoseconds(Int64(9.0e18)) { capped += 1 }
        }
        #expect(capped > 0, "no event reached the horizon; the test does not exercise it")
    }
}
