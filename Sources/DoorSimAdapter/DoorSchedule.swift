import GatewayCore

/// How a simulated door behaves: how often it opens, for how long, and how its sensor's
/// battery and tamper switch behave. The `connection:` keys of a `door-sim` device and the
/// options of `edgegate sim doors` are these.
public struct DoorParameters: Sendable, Hashable {
    /// Mean time from one opening to the next (`open_every`). Longer than `openFor`.
    public var openEvery: Duration
    /// Mean time the door stays open (`open_for`).
    public var openFor: Duration
    /// Battery level at the start, in percent (`battery`, 0…100).
    public var battery: Int
    /// Battery drain in percent per day (`battery_drain`, 0 for none).
    public var batteryDrain: Double
    /// Probability that an opening also sets off the tamper switch (`tamper_rate`, 0…1).
    public var tamperRate: Double

    /// The defaults: an opening every 2 minutes on average, 20 seconds open, a full battery
    /// losing 0.1 % a day (a coin cell lasting about three years), one opening in fifty a tamper.
    public static let standard = DoorParameters(
        openEvery: .seconds(120), openFor: .seconds(20), battery: 100,
        batteryDrain: 0.1, tamperRate: 0.02)

    /// Creates parameters; `problem` says whether they make sense.
    public init(openEvery: Duration, openFor: Duration, battery: Int, batteryDrain: Double, tamperRate: Double) {
        self.openEvery = openEvery
        self.openFor = openFor
        self.battery = battery
        self.batteryDrain = batteryDrain
        self.tamperRate = tamperRate
    }

    /// The longest mean interval a schedule takes.
    public static let longest: Duration = .seconds(365 * 24 * 3600)

    /// Why a schedule cannot be made of these parameters, as a sentence naming the keys of
    /// the device map; nil when it can.
    public var problem: String? {
        if openFor <= .zero { return "'open_for' must be longer than zero" }
        if openEvery > Self.longest || openFor > Self.longest {
            return "'open_every' and 'open_for' must be at most 365 days (a door that opens less often is not worth simulating)"
        }
        if openEvery <= openFor {
            return
                "'open_every' (\(openEvery.mapText)) must be longer than 'open_for' (\(openFor.mapText)): it is the mean time from one opening to the next, open time included"
        }
        if !(0...100).contains(battery) { return "'battery' must be between 0 and 100 %, found \(battery)" }
        if !(batteryDrain >= 0 && batteryDrain.isFinite) { return "'battery_drain' must be 0 or more % per day, found \(batteryDrain)" }
        if !(0...1).contains(tamperRate) { return "'tamper_rate' must be between 0 and 1, found \(tamperRate)" }
        return nil
    }
}

/// What happens to a door at one instant.
public enum DoorEventKind: Sendable, Hashable {
    /// The door opened: the contact opens (`contact` false), the opening count goes up.
    case opened
    /// The door closed (`contact` true).
    case closed
    /// The tamper switch went on (true) or off (false).
    case tamper(Bool)
    /// The battery fell to this level, in percent.
    case battery(Int)
}

/// One event of a door's schedule.
public struct DoorEvent: Sendable, Hashable, CustomStringConvertible {
    /// Simulated milliseconds since the schedule's start.
    public var milliseconds: Int64
    /// What happens.
    public var kind: DoorEventKind

    /// Creates an event.
    public init(milliseconds: Int64, kind: DoorEventKind) {
        self.milliseconds = milliseconds
        self.kind = kind
    }

    /// Simulated time since the schedule's start.
    public var offset: Duration { .milliseconds(milliseconds) }

    /// `12345 opened`, `12345 tamper on`, `86400000 battery 99`: milliseconds and the event,
    /// as the saved golden sequences spell them.
    public var description: String {
        switch kind {
        case .opened: return "\(milliseconds) opened"
        case .closed: return "\(milliseconds) closed"
        case .tamper(let on): return "\(milliseconds) tamper \(on ? "on" : "off")"
        case .battery(let level): return "\(milliseconds) battery \(level)"
        }
    }
}

/// What a door sensor reports at one moment.
public struct DoorState: Sendable, Hashable {
    /// True while the door is open.
    public var open = false
    /// True while the tamper switch is set off.
    public var tamper = false
    /// Battery level in percent.
    public var battery: Int
    /// Openings since the schedule's start.
    public var openings: Int64 = 0

    /// A closed door with a battery at `battery` %.
    public init(battery: Int) {
        self.battery = battery
    }

    /// The contact as zigbee2mqtt reports it: true when the magnet is near, that is, closed.
    public var contact: Bool { !open }

    /// The battery voltage in millivolts, as a CR2032 cell's: 2500 mV empty to 3100 mV full,
    /// linear in between (SONOFF SNZB-04 reports 3100 mV at 100 %).
    public var voltage: Int { 2500 + 6 * battery }

    /// The sensor's low-battery flag: set at 20 % and below.
    public var batteryLow: Bool { battery <= 20 }

    /// The state after `event`.
    public mutating func apply(_ event: DoorEvent) {
        switch event.kind {
        case .opened:
            open = true
            openings += 1
        case .closed: open = false
        case .tamper(let on): tamper = on
        case .battery(let level): battery = level
        }
    }
}

/// The events of one simulated door, as a pure function of a seed, the door's name and its
/// parameters: the same three give the same sequence in every process on every machine.
///
/// - Openings: from one opening to the next takes an exponentially distributed time with
///   mean `openEvery`: the door stays open for an exponential time with mean `openFor`,
///   then closed for an exponential time with mean `openEvery − openFor`. Times are whole
///   simulated milliseconds, at least 1.
/// - Tamper: at an opening, with probability `tamperRate`, the tamper switch goes on at the
///   same instant (after `opened`) and off when the door closes (after `closed`).
/// - Battery: starting at `battery` %, it loses `batteryDrain` % a day, reported in whole
///   percent: level `battery − k` at k · 86 400 000 / `batteryDrain` ms, rounded, down to 0.
/// - Order: by time; at the same instant the door's own events come before a battery event.
///
/// Each opening draws three numbers from the door's `DoorRandom` stream (closed time, open
/// time, tamper), always all three, so one parameter does not shift the others' draws.
/// Everything is integer arithmetic except the exponential draw, whose logarithm and
/// products use only correctly rounded IEEE 754 operations (`DoorRandom.log`); Swift does
/// not fuse a multiplication and an addition unless asked to, so no FMA changes a bit.
public struct DoorSchedule: Sequence, Sendable, Hashable {
    /// The seed shared by a set of doors (`seed`).
    public var seed: UInt64
    /// The door's name, which selects its stream under the seed.
    public var door: String
    /// How it behaves.
    public var parameters: DoorParameters

    /// Creates a schedule.
    /// - Precondition: `parameters.problem` is nil.
    public init(seed: UInt64, door: String, parameters: DoorParameters = .standard) {
        precondition(parameters.problem == nil, parameters.problem ?? "")
        self.seed = seed
        self.door = door
        self.parameters = parameters
    }

    /// The state before the first event.
    public var initialState: DoorState { DoorState(battery: parameters.battery) }

    /// The events, in order, without end.
    public func makeIterator() -> Iterator {
        Iterator(self)
    }

    /// Walks a schedule's events; a copy continues from the same position.
    public struct Iterator: IteratorProtocol, Sendable, Hashable {
        private var random: DoorRandom
        private let openFor: Int64
        private let closedFor: Int64
        private let tamperRate: Double
        private let battery: Int
        private let batteryDrain: Double
        /// Events of the current opening not yet returned, in order.
        private var pending: [DoorEvent] = []
        /// When the door last closed (the schedule starts closed at 0).
        private var closedAt: Int64 = 0
        /// Battery drops so far.
        private var drops = 0

        init(_ schedule: DoorSchedule) {
            random = DoorRandom(seed: schedule.seed, door: schedule.door)
            let p = schedule.parameters
            openFor = Self.milliseconds(p.openFor)
            closedFor = Self.milliseconds(p.openEvery) - openFor
            tamperRate = p.tamperRate
            battery = p.battery
            batteryDrain = p.batteryDrain
        }

        private static func milliseconds(_ d: Duration) -> Int64 {
            let (seconds, attoseconds) = d.components
            return seconds * 1000 + attoseconds / 1_000_000_000_000_000
        }

        /// The next event.
        public mutating func next() -> DoorEvent? {
            if pending.isEmpty { planOpening() }
            if let drop = nextBatteryDrop(), drop.milliseconds < pending[0].milliseconds {
                drops += 1
                return drop
            }
            return pending.removeFirst()
        }

        /// Draws the next opening: closed time, open time, tamper.
        private mutating func planOpening() {
            let opened = closedAt + random.exponentialMilliseconds(mean: closedFor)
            let closed = opened + random.exponentialMilliseconds(mean: openFor)
            let tamper = random.unitInterval() <= tamperRate
            pending = [DoorEvent(milliseconds: opened, kind: .opened)]
            if tamper { pending.append(DoorEvent(milliseconds: opened, kind: .tamper(true))) }
            pending.append(DoorEvent(milliseconds: closed, kind: .closed))
            if tamper { pending.append(DoorEvent(milliseconds: closed, kind: .tamper(false))) }
            closedAt = closed
        }

        /// The next battery drop, nil when the battery is empty or does not drain.
        private func nextBatteryDrop() -> DoorEvent? {
            guard batteryDrain > 0, drops < battery else { return nil }
            let k = Double(drops + 1)
            let at = (k * 86_400_000 / batteryDrain).rounded()
            guard at < 9e18 else { return nil }
            return DoorEvent(milliseconds: Int64(at), kind: .battery(battery - drops - 1))
        }
    }
}
