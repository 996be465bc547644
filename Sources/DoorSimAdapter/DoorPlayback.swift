public import Foundation
import GatewayCore

/// Real time for door simulations, so that tests can drive them with a clock they advance
/// by hand and the simulator and the adapter share one way of playing a schedule.
public protocol DoorClock: Sendable {
    /// Time elapsed since the clock's origin.
    var now: Duration { get }
    /// The wall-clock time of the origin, for reading timestamps.
    var origin: Date { get }
    /// Returns once `now` has reached `deadline`, at once if it has; throws
    /// `CancellationError` when the task is cancelled first.
    func sleep(until deadline: Duration) async throws
}

/// The real clock: `ContinuousClock` (which keeps counting while the system sleeps), with
/// its origin when it was created.
public struct SystemDoorClock: DoorClock {
    private let start: ContinuousClock.Instant
    /// When the clock was created.
    public let origin: Date

    /// A clock whose origin is now.
    public init() {
        start = .now
        origin = Date()
    }

    /// Time since creation.
    public var now: Duration { ContinuousClock.now - start }

    /// Sleeps on `ContinuousClock`.
    public func sleep(until deadline: Duration) async throws {
        try await Task.sleep(until: start + deadline, clock: .continuous)
    }
}

/// One door's schedule played against a clock: its events at their instants (simulated time
/// divided by `speed`) and a report of the current state every `period`, the first at the
/// start. Shared by the `door-sim` adapter (readings) and `edgegate sim doors` (MQTT messages).
public struct DoorPlayback: Sendable {
    /// What is due.
    public enum Step: Sendable, Hashable {
        /// An event of the schedule, already applied to `state`.
        case event(DoorEvent)
        /// The periodic report of the current state.
        case report
    }

    /// The state after every step taken so far.
    public private(set) var state: DoorState
    /// The clock's time at which the schedule starts.
    public let start: Duration
    /// Simulated time per real time: 60 plays a minute of the schedule in a second.
    public let speed: Double
    /// Real time between two reports.
    public let period: Duration
    private var events: DoorSchedule.Iterator
    private var upcoming: DoorEvent
    private var nextReport: Duration

    /// Starts `schedule` at `start` on the clock; the first report is due at `start`.
    /// - Precondition: `speed` and `period` are positive.
    public init(schedule: DoorSchedule, start: Duration, speed: Double, period: Duration) {
        precondition(speed > 0 && speed.isFinite && period > .zero, "speed \(speed), period \(period)")
        state = schedule.initialState
        self.start = start
        self.speed = speed
        self.period = period
        events = schedule.makeIterator()
        upcoming = events.next()!
        nextReport = start
    }

    /// When, on the clock, `event` happens. An event further out than about 285 years (a long
    /// draw at a low speed) is put at that horizon rather than overflowing: it never comes.
    public func time(of event: DoorEvent) -> Duration {
        let nanoseconds = (Double(event.milliseconds) * 1_000_000 / speed).rounded()
        return start + .nanoseconds(nanoseconds < Self.horizon ? Int64(nanoseconds) : Int64(Self.horizon))
    }

    /// The latest instant `time(of:)` gives, in nanoseconds after the start (below Int64.max).
    static let horizon = 9.0e18

    /// When the next step is due.
    public var nextDue: Duration { min(time(of: upcoming), nextReport) }

    /// Takes the earliest step due at `now` or before, with its instant on the clock; nil
    /// when nothing is due. A report and an event at the same instant: the event first.
    /// Reports that a later report overtakes before the next event (a clock that jumped, a
    /// process that was suspended) are left out: one report stands for them.
    public mutating func step(now: Duration) -> (step: Step, at: Duration)? {
        let eventAt = time(of: upcoming)
        if nextReport <= now && nextReport < eventAt {
            let limit = now < eventAt ? now : eventAt - .nanoseconds(1)
            let skipped = ((limit - nextReport) / period).rounded(.down)
            var at = nextReport + period * Int64(skipped)
            if at > limit { at -= period }
            nextReport = at + period
            return (.report, at)
        }
        guard eventAt <= now else { return nil }
        let event = upcoming
        state.apply(event)
        upcoming = events.next()!
        return (.event(event), eventAt)
    }

    /// Plays until the task is cancelled: sleeps until the next step is due and hands every
    /// due step, in order, to `body` with the state after it and its wall-clock time.
    /// Nothing reaches `body` once the task is cancelled.
    public mutating func play(on clock: any DoorClock, _ body: (Step, DoorState, Date) async -> Void) async {
        while !Task.isCancelled {
            while !Task.isCancelled, let (step, at) = step(now: clock.now) {
                await body(step, state, clock.origin.addingTimeInterval(at.seconds))
                // A long catch-up (a fast schedule, a clock that jumped) must not hold a thread
                // of the cooperative pool.
                await Task.yield()
            }
            do {
                try await clock.sleep(until: nextDue)
            } catch {
                return
            }
        }
    }
}
