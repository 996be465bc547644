public import DeviceMaps
import Foundation
public import GatewayCore
public import Logging
import Synchronization

/// Simulated door and contact sensors (`protocol: door-sim`) for demos and tests: each device
/// plays its `DoorSchedule` (seeded, so runs repeat exactly) against a clock, and emits one
/// batch of readings, the whole current state, at every event of the schedule and every
/// `poll` period (real time), the first at its start. Readings are always `good`: a
/// simulated sensor has no link to lose.
///
/// Each device plays in a task of its own while `run` is active. `update(devices:)` leaves
/// an unchanged device playing on (same state, same position, no gap), starts a changed one
/// afresh and stops a removed one. Writes are refused: a door sensor only reports.
public final class DoorSimAdapter: MapAdapter {

    private struct Player {
        var definition: DeviceDefinition
        /// Set while `run` is active.
        var task: Task<Void, Never>?
    }

    private struct State {
        var devices: [DeviceDefinition] = []
        var players: [String: Player] = [:]
        /// Held while `run` is active, with the sink readings go to.
        var run = RunClaim(adapter: "door-sim")
    }

    private let state = Mutex(State())
    private let clock: any DoorClock
    private let logger: Logger

    /// Creates an adapter on `clock`; nothing plays until `run`.
    /// - Parameters:
    ///   - devices: `door-sim` devices, with their profiles expanded.
    ///   - clock: real time; tests pass a clock they advance by hand.
    public init(devices: [DeviceDefinition], clock: any DoorClock, logger: Logger) {
        self.clock = clock
        self.logger = logger
        state.withLock { s in
            s.devices = devices
            for device in devices { s.players[device.id] = Player(definition: device) }
        }
    }

    /// Creates an adapter on the system clock.
    public convenience init(devices: [DeviceDefinition], logger: Logger) {
        self.init(devices: devices, clock: SystemDoorClock(), logger: logger)
    }

    /// The devices, in map order.
    public var devices: [DeviceDescriptor] {
        state.withLock { $0.devices.map(\.descriptor) }
    }

    /// Plays every device until the task is cancelled, then stops them and returns once none
    /// emits any more.
    /// - Throws: `AdapterRunError.alreadyRunning` if this adapter is already running.
    public func run(sink: ReadingSink) async throws {
        try state.withLock { s throws(AdapterRunError) in
            try s.run.claim(sink)
            // Started under the lock, so that an update cannot replace a player in between.
            for id in s.players.keys { s.players[id]!.task = play(s.players[id]!.definition, sink: sink) }
        }
        logger.info("door-sim devices playing", metadata: ["devices": "\(state.withLock { $0.devices.map(\.id) }.joined(separator: ","))"])
        await waitUntilCancelled()
        let tasks = state.withLock { s in
            s.run.release()
            return s.players.keys.compactMap { id in
                defer { s.players[id]!.task = nil }
                return s.players[id]!.task
            }
        }
        for task in tasks {
            task.cancel()
            await task.value
        }
    }

    /// Switches to a new set of devices. Matched by id: a device whose definition is the same
    /// (source locations aside) plays on from where it is; a changed device starts its
    /// schedule again from the beginning; a removed one stops; an added one starts. Returns
    /// once every removed or changed device's old player has stopped, so none of them emits
    /// afterwards. When the adapter is not running, the devices are replaced for the next `run`.
    public func update(devices: [DeviceDefinition]) async {
        let stopping = state.withLock { s -> [Task<Void, Never>] in
            var players: [String: Player] = [:]
            var stopping: [Task<Void, Never>] = []
            for device in devices {
                if let player = s.players[device.id], player.definition.hasSameDefinition(as: device) {
                    players[device.id] = Player(definition: device, task: player.task)
                } else {
                    players[device.id] = Player(definition: device, task: s.run.sink.map { play(device, sink: $0) })
                }
            }
            for (id, player) in s.players where players[id]?.task != player.task {
                if let task = player.task { stopping.append(task) }
            }
            s.players = players
            s.devices = devices
            return stopping
        }
        for task in stopping {
            task.cancel()
            await task.value
        }
    }

    /// A door sensor has nothing to write: always refused, naming the device and the points.
    /// (The router refuses writes to read-only points before they get here; this answers
    /// any caller that asks anyway.)
    public func write(device: String, values: [String: Value]) async throws(WriteError) -> [String: Value] {
        let known = state.withLock { $0.players[device] != nil }
        guard known else { throw .rejected("no door-sim device '\(device)'") }
        let points = values.keys.sorted().map { "\(device).\($0)" }.joined(separator: ", ")
        throw .rejected("\(points.isEmpty ? device : points): a simulated door sensor only reports; it has nothing to write")
    }

    /// Starts playing one device from the beginning of its schedule, now.
    private func play(_ device: DeviceDefinition, sink: ReadingSink) -> Task<Void, Never> {
        let connection = device.doorSimConnection
        let start = DoorPlayback(
            schedule: connection.schedule(device: device.id), start: clock.now,
            speed: connection.speed, period: device.poll)
        let clock = self.clock
        let points = device.points.filter { $0.access.isReadable }
        logger.debug(
            "door-sim device starts",
            metadata: [
                "device": "\(device.id)", "seed": "\(connection.seed)", "door": "\(connection.door ?? device.id)", "speed": "\(connection.speed)",
            ])
        return Task {
            var playback = start
            await playback.play(on: clock) { _, state, date in
                sink.emit(
                    points.map { point in
                        Reading(
                            device: device.id, point: point.name, value: Self.value(point, in: state), unit: point.unit,
                            quality: .good, timestamp: date)
                    })
            }
        }
    }

    /// The point's engineering value: its field, with scale and offset for a number.
    static func value(_ point: PointDefinition, in state: DoorState) -> Value {
        let raw = point.doorSim.field.value(in: state)
        guard point.isScaled, let number = raw.numeric else { return raw }
        return .double(number * point.scale + point.offset)
    }
}
