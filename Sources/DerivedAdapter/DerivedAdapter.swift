public import DeviceMaps
import Foundation
public import GatewayCore
public import Logging
import Synchronization

/// Derived devices (`protocol: derived`): points computed from other devices' readings as
/// they flow through the gateway — expressions at once, windows and OEE at their own times —
/// and emitted into the same pipeline as read ones (report filter, outbox, uplink, inventory,
/// console).
///
/// The gateway hands every batch of readings to `observe` (a `ReadingObserver`); expressions
/// are computed there, on the emitter's thread, in microseconds. `run` reports windows and
/// OEE when they are due and keeps their state in `derived-state.json` beside the outbox
/// (`StateKeeping`), written at most every 30 seconds and when the gateway stops, so that a
/// restart in the middle of a shift keeps the shift's OEE.
public final class DerivedAdapter: MapAdapter, ReadingObserver, StateKeeping {
    private struct State {
        var definitions: [DeviceDefinition]
        var engine: DerivedEngine
        var run = RunClaim(adapter: "derived")
        var folder: String?
        /// Whether the state file may be older than the state.
        var unsaved = false
        var lastSaved = Date.distantPast
    }

    private let state: Mutex<State>
    private let logger: Logger
    private let clock: @Sendable () -> Date
    /// How often the state file is written at most while windows or OEE report. Rarely: a
    /// site's windows make megabytes of state, flash wears, and a crash loses little (a
    /// counter's increase is taken from the saved reading to the next one; only when the state
    /// changed in between is unknown).
    static let saveInterval: TimeInterval = 30
    /// The state file's name, in the folder the gateway names.
    public static let stateFileName = "derived-state.json"

    /// Creates the adapter; windows and OEE report once `run` runs.
    public convenience init(devices: [DeviceDefinition], logger: Logger) {
        self.init(devices: devices, logger: logger, clock: { Date() })
    }

    /// Creates the adapter on `clock` (tests advance their own).
    init(devices: [DeviceDefinition], logger: Logger, clock: @escaping @Sendable () -> Date) {
        self.logger = logger
        self.clock = clock
        state = Mutex(State(definitions: devices, engine: DerivedEngine(devices: devices)))
    }

    /// The devices, an OEE point as its eight readings.
    public var devices: [DeviceDescriptor] {
        state.withLock { $0.definitions.map(Self.descriptor) }
    }

    static func descriptor(_ device: DeviceDefinition) -> DeviceDescriptor {
        var descriptor = device.descriptor
        descriptor.points = device.points.flatMap { point -> [PointDescriptor] in
            guard let derived = point.address as? DerivedPoint, case .oee = derived.definition else { return [point.descriptor] }
            return DerivedOEE.outputs.map { output in
                var d = point.descriptor
                d.name = point.name + output.suffix
                d.kind = output.kind
                d.unit = output.unit ?? (output.suffix.isEmpty ? point.unit : nil)
                d.typeName = output.suffix.isEmpty ? "oee" : "oee" + output.suffix.replacingOccurrences(of: "_", with: " ")
                return d
            }
        }
        return descriptor
    }

    /// Where the windows' and OEE's state is kept: read now, written while running.
    public func keepState(in folder: String) {
        let path = folder + "/" + Self.stateFileName
        let fresh: [String]? = state.withLock { s in
            s.folder = folder
            guard let data = FileManager.default.contents(atPath: path) else { return nil }
            do {
                let saved = try JSONDecoder().decode([String: DerivedEngine.SavedNode].self, from: data)
                return s.engine.restore(saved)
            } catch {
                logger.warning(
                    "derived state file unreadable: windows and OEE start fresh", metadata: ["file": "\(path)", "error": "\(error)"])
                return nil
            }
        }
        if let fresh {
            logger.info("derived state restored", metadata: ["file": "\(path)"])
            for point in fresh { logger.info("derived point changed since it was saved: its window starts fresh", metadata: ["point": "\(point)"]) }
        }
    }

    /// Reports windows and OEE when they are due until cancelled; then saves their state.
    public func run(sink: ReadingSink) async throws {
        try state.withLock { s throws(AdapterRunError) in try s.run.claim(sink) }
        defer {
            state.withLock { $0.run.release() }
            save(force: true)
        }
        while !Task.isCancelled {
            let now = clock()
            let (readings, due) = state.withLock { s -> ([Reading], Date?) in
                let readings = s.engine.advance(to: now)
                if !readings.isEmpty { s.unsaved = true }
                return (readings, s.engine.nextDue)
            }
            emit(readings, into: sink)
            save(force: false)
            // At most a second: a reload or a first reading may bring something due sooner.
            let wait = min(max((due ?? now.addingTimeInterval(1)).timeIntervalSince(clock()), 0.01), 1)
            try? await Task.sleep(for: .milliseconds(Int(wait * 1000)))
        }
    }

    /// Computes what the readings change at once and emits it; ignores the derived devices'
    /// own readings when they come back through the sink.
    public func observe(_ readings: [Reading]) {
        let now = clock()
        let (out, sink) = state.withLock { s in (s.engine.observe(readings, now: now), s.run.sink) }
        if let sink { emit(out, into: sink) }
    }

    /// One batch per device, as the other adapters emit.
    private func emit(_ readings: [Reading], into sink: ReadingSink) {
        guard !readings.isEmpty else { return }
        var batches: [String: [Reading]] = [:]
        var order: [String] = []
        for reading in readings {
            if batches[reading.device] == nil { order.append(reading.device) }
            batches[reading.device, default: []].append(reading)
        }
        for device in order { sink.emit(batches[device]!) }
    }

    /// Writes the state file when something changed and the last write is a while ago (or
    /// when `force`), atomically: a crash leaves the old file or the new one.
    private func save(force: Bool) {
        let now = clock()
        let snapshot: (String, [String: DerivedEngine.SavedNode])? = state.withLock { s in
            guard let folder = s.folder, s.unsaved || force, force || now.timeIntervalSince(s.lastSaved) >= Self.saveInterval else { return nil }
            s.unsaved = false
            s.lastSaved = now
            return (folder + "/" + Self.stateFileName, s.engine.saved)
        }
        guard let (path, saved) = snapshot, !saved.isEmpty || force else { return }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(saved).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            logger.warning("derived state file not written", metadata: ["file": "\(path)", "error": "\(error)"])
        }
    }

    /// A derived point is computed; nothing can be written to it.
    public func write(device: String, values: [String: Value]) async throws(WriteError) -> [String: Value] {
        let points = values.keys.sorted().map { "\(device).\($0)" }.joined(separator: ", ")
        throw .rejected("\(points.isEmpty ? device : points): derived points are computed from other points; write to those instead")
    }

    /// Switches to new derived devices: expressions compute from the readings already seen;
    /// a window or OEE whose definition is the same keeps its state, a changed one starts
    /// fresh (and says so).
    public func update(devices: [DeviceDefinition]) async {
        let fresh = state.withLock { s in
            var next = DerivedEngine(devices: devices)
            let fresh = s.engine.carry(into: &next)
            s.engine = next
            s.definitions = devices
            s.unsaved = true
            return fresh
        }
        for point in fresh { logger.info("derived point changed: its window starts fresh", metadata: ["point": "\(point)"]) }
    }
}
