import DeviceMaps
import GatewayCore

/// A production machine the simulator plays, for OEE demos and tests: its state point runs
/// through a fixed cycle of its enum's options, and its part counters advance while it runs.
///
/// A device is a machine when one of its read-only integer points has an `enum` with an option
/// named `running`: that point is its state. The cycle starts with the simulator (t = 0) and
/// repeats every 125 s:
///
/// | from  | to    | state                                                  |
/// |-------|-------|--------------------------------------------------------|
/// | 0 s   | 50 s  | `running`                                              |
/// | 50 s  | 60 s  | an unplanned stop: `stopped`, else `fault`             |
/// | 60 s  | 110 s | `running`                                              |
/// | 110 s | 125 s | a planned stop: `changeover`, else `break`, else `planned_stop` |
///
/// A stop whose option the enum lacks is left out (the machine runs on through it).
///
/// Its counters are its other read-only integer points with the unit `count` or a name ending
/// in `_count`. While it runs it makes one part every 2.5 s of run time (an ideal cycle of 2 s
/// would make 25 % more); every 25th part is a reject. A counter whose name contains `good`
/// counts the good parts, one whose name contains `reject` or `scrap` the rejects, any other
/// every part. So each running phase adds exactly 20 parts, and a cycle 40. Counters of 16- or
/// 32-bit integer types start 45 parts below the largest value their type holds and wrap to
/// its smallest, as a real register does: a uint16 counter starts at 65490 and wraps about
/// 2 min 20 s into a run.
struct SimulatedMachine: Sendable, Hashable {
    /// What a machine point shows.
    enum Role: Sendable, Hashable {
        case state
        case totalCount
        case goodCount
        case rejectCount
    }

    /// One phase of the cycle: the state's value and how long it lasts.
    struct Phase: Sendable, Hashable {
        var state: Double
        var running: Bool
        var seconds: Double
    }

    static let runSeconds = 50.0
    static let unplannedStopSeconds = 10.0
    static let plannedStopSeconds = 15.0
    /// Run time per part: a little slower than an ideal 2 s cycle, so performance is 0.8.
    static let partSeconds = 2.5
    /// Every this-many-th part is a reject.
    static let rejectEvery = 25
    /// How many parts before their type's wrap the counters start.
    static let partsBeforeWrap = 45.0

    static let unplannedStopNames = ["stopped", "fault"]
    static let plannedStopNames = ["changeover", "break", "planned_stop"]

    /// The phases of one cycle, in order; the first is running.
    let phases: [Phase]

    /// The machine of `options` (a state point's enum), nil without a `running` option.
    init?(options: [EnumOption]) {
        func value(_ names: [String]) -> Double? {
            for name in names {
                if let option = options.first(where: { $0.label == name }), let number = option.value.numeric { return number }
            }
            return nil
        }
        guard let running = value(["running"]) else { return nil }
        var phases = [Phase(state: running, running: true, seconds: Self.runSeconds)]
        if let stop = value(Self.unplannedStopNames) {
            phases.append(Phase(state: stop, running: false, seconds: Self.unplannedStopSeconds))
        }
        phases.append(Phase(state: running, running: true, seconds: Self.runSeconds))
        if let stop = value(Self.plannedStopNames) {
            phases.append(Phase(state: stop, running: false, seconds: Self.plannedStopSeconds))
        }
        self.phases = phases
    }

    /// The machine a device is, with the role of each of its points by name; nil when the
    /// device is no machine.
    static func of(_ device: DeviceDefinition) -> (machine: SimulatedMachine, roles: [String: Role])? {
        func readOnlyInteger(_ point: PointDefinition) -> Bool {
            !point.access.isWritable && point.address.rawKind == .integer && !point.modbus.table.isBitTable
        }
        guard let state = device.points.first(where: { readOnlyInteger($0) && $0.options.contains { $0.label == "running" } }),
            let machine = SimulatedMachine(options: state.options)
        else { return nil }
        var roles = [state.name: Role.state]
        for point in device.points where point.name != state.name && readOnlyInteger(point) {
            guard point.unit?.lowercased() == "count" || point.name.hasSuffix("_count") else { continue }
            let name = point.name.lowercased()
            if name.contains("good") {
                roles[point.name] = .goodCount
            } else if name.contains("reject") || name.contains("scrap") {
                roles[point.name] = .rejectCount
            } else {
                roles[point.name] = .totalCount
            }
        }
        return (machine, roles)
    }

    var cycleSeconds: Double { phases.reduce(0) { $0 + $1.seconds } }

    /// The phase at `t` seconds after the start, and the run time before it in this cycle.
    private func phase(at t: Double) -> (phase: Phase, start: Double, runBefore: Double) {
        let within = t.truncatingRemainder(dividingBy: cycleSeconds)
        var start = 0.0, runBefore = 0.0
        for phase in phases {
            if within < start + phase.seconds { return (phase, start, runBefore) }
            start += phase.seconds
            if phase.running { runBefore += phase.seconds }
        }
        // Only rounding gets here: the cycle's last instant.
        return (phases[phases.count - 1], start - phases[phases.count - 1].seconds, runBefore)
    }

    /// The state's value at `t` seconds after the start.
    func state(at t: Double) -> Double {
        phase(at: max(t, 0)).phase.state
    }

    /// The parts made (good and rejects) in the first `t` seconds.
    func parts(at t: Double) -> Int {
        let t = max(t, 0)
        let runPerCycle = phases.filter(\.running).reduce(0) { $0 + $1.seconds }
        let cycles = (t / cycleSeconds).rounded(.down)
        let (phase, start, runBefore) = self.phase(at: t)
        var run = cycles * runPerCycle + runBefore
        if phase.running { run += t - cycles * cycleSeconds - start }
        return Int((run / Self.partSeconds).rounded(.down))
    }

    /// What a point of `role` shows at `t`: the state's value, or a count (before wrapping).
    func value(of role: Role, at t: Double) -> Double {
        let parts = self.parts(at: t)
        switch role {
        case .state: return state(at: t)
        case .totalCount: return Double(parts)
        case .goodCount: return Double(parts - parts / Self.rejectEvery)
        case .rejectCount: return Double(parts / Self.rejectEvery)
        }
    }

    /// Where a counter of `point` starts, in raw units, and the raw range it wraps in (nil: it
    /// does not wrap, and starts at 0).
    static func counterStart(_ point: PointDefinition) -> (start: Double, wrap: ClosedRange<Double>?) {
        guard let range = point.address.rawRange, range.upperBound - range.lowerBound <= Double(UInt32.max) else { return (0, nil) }
        return (range.upperBound - partsBeforeWrap, range)
    }
}
