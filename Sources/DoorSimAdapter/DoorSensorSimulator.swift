import Foundation
public import Logging
public import MQTTClient
import Synchronization

/// Door and contact sensors as zigbee2mqtt publishes them, for demos and for the MQTT device
/// adapter's tests: each door plays its `DoorSchedule` (the same seed, name and parameters
/// give the same events as a `door-sim` device) and publishes its whole state as JSON on
/// `<prefix>/<door>` at every event and every `reportEvery`, the first at the start:
///
///     {"battery":100,"battery_low":false,"contact":true,"linkquality":102,"tamper":false,"voltage":3100}
///
/// the message zigbee2mqtt sends for a SONOFF SNZB-04 (`contact` true = closed; `linkquality`
/// is a constant per door, taken from its name). Like zigbee2mqtt, it keeps a retained
/// `{"state":"online"}` on `<prefix>/<door>/availability` and on `<prefix>/bridge/state`,
/// whose last will (set on the connection) is `{"state":"offline"}`; a clean `stop()`
/// publishes offline on every door's availability and on the bridge state. State messages
/// go with QoS 1, not retained. A lost connection is reconnected with backoff while the
/// doors play on (what they publish meanwhile is dropped and counted).
public final class DoorSensorSimulator: Sendable {
    /// The doors, in the order given.
    public let doors: [String]
    /// The topic prefix (`zigbee2mqtt`).
    public let prefix: String

    private struct State {
        var connection: MQTTConnection?
        var tasks: [Task<Void, Never>] = []
        var started = false
        var stopped = false
        var dropped = 0
    }

    private let options: MQTTOptions
    private let schedules: [DoorSchedule]
    private let speed: Double
    private let reportEvery: Duration
    private let clock: any DoorClock
    private let logger: Logger
    private let state = Mutex(State())

    /// Creates a simulator; nothing connects until `start()`.
    /// - Parameters:
    ///   - options: the broker connection; its will is replaced by the bridge's offline state.
    ///   - doors: door names, unique, each one topic level.
    ///   - reportEvery: real time between two reports of an unchanged state.
    /// - Precondition: `parameters.problem` is nil, `speed` and `reportEvery` positive.
    public init(
        options: MQTTOptions, prefix: String = "zigbee2mqtt", doors: [String], seed: UInt64,
        parameters: DoorParameters = .standard, speed: Double = 1, reportEvery: Duration = .seconds(60),
        clock: any DoorClock = SystemDoorClock(), logger: Logger
    ) {
        var options = options
        options.will = MQTTMessage(
            topic: "\(prefix)/bridge/state", payload: Array(Self.availability(online: false).utf8),
            qos: 1, retain: true)
        self.options = options
        self.prefix = prefix
        self.doors = doors
        schedules = doors.map { DoorSchedule(seed: seed, door: $0, parameters: parameters) }
        self.speed = speed
        self.reportEvery = reportEvery
        self.clock = clock
        self.logger = logger
    }

    /// The state message of a door: zigbee2mqtt's keys, in its order.
    public static func payload(_ state: DoorState, linkquality: Int) -> String {
        #"{"battery":\#(state.battery),"battery_low":\#(state.batteryLow),"contact":\#(state.contact),"#
            + #""linkquality":\#(linkquality),"tamper":\#(state.tamper),"voltage":\#(state.voltage)}"#
    }

    /// `{"state":"online"}` or `{"state":"offline"}`.
    public static func availability(online: Bool) -> String {
        #"{"state":"\#(online ? "online" : "offline")"}"#
    }

    /// The link quality a door reports: 60…210, fixed by its name.
    public static func linkquality(door: String) -> Int {
        60 + Int(DoorRandom.fnv1a(door) % 151)
    }

    /// State messages that could not be published because the broker was away.
    public var droppedMessages: Int { state.withLock { $0.dropped } }

    /// Connects, publishes the retained online states and starts every door. Starting again,
    /// or after `stop()`, does nothing: one connection and one task per door, ever.
    /// - Throws: the connection's error when the broker cannot be reached or refuses (a
    ///   later `start()` may try again).
    public func start() async throws(MQTTError) {
        let claimed = state.withLock { s in
            if s.started || s.stopped { return false }
            s.started = true
            return true
        }
        guard claimed else { return }
        let connection: MQTTConnection
        do {
            connection = try await MQTTConnection.connect(options, logger: logger)
            try await announce(on: connection)
        } catch {
            state.withLock { $0.started = false }
            throw error
        }
        let start = clock.now
        let running = state.withLock { s in
            // A stop() during the connect: the doors never start.
            guard !s.stopped else { return false }
            s.connection = connection
            for (schedule, door) in zip(schedules, doors) {
                let initial = DoorPlayback(schedule: schedule, start: start, speed: speed, period: reportEvery)
                let topic = "\(prefix)/\(door)"
                let quality = Self.linkquality(door: door)
                s.tasks.append(
                    Task { [clock] in
                        var playback = initial
                        await playback.play(on: clock) { _, state, _ in
                            self.send(topic, Self.payload(state, linkquality: quality))
                        }
                    })
            }
            s.tasks.append(Task { await self.keepConnected() })
            return true
        }
        guard running else {
            await connection.disconnect()
            return
        }
        logger.info(
            "door sensors publishing",
            metadata: [
                "broker": "\(options.host):\(options.port)", "prefix": "\(prefix)",
                "doors": "\(doors.joined(separator: ", "))",
            ])
    }

    /// Stops the doors, publishes offline on every availability topic and the bridge state
    /// (retained), and disconnects. Safe to call twice.
    public func stop() async {
        let tasks = state.withLock { s -> [Task<Void, Never>]? in
            if s.stopped { return nil }
            s.stopped = true
            defer { s.tasks = [] }
            return s.tasks
        }
        guard let tasks else { return }
        for task in tasks {
            task.cancel()
            await task.value
        }
        // Read after the reconnecting task has ended: it may have replaced the connection.
        guard let connection = state.withLock({ $0.connection }) else { return }
        let offline = Array(Self.availability(online: false).utf8)
        do {
            for topic in doors.map({ "\(prefix)/\($0)/availability" }) + ["\(prefix)/bridge/state"] {
                try await connection.publish(topic, payload: offline, qos: 1, retain: true)
            }
        } catch {
            logger.warning("could not publish the offline state", metadata: ["error": "\(error)"])
        }
        await connection.disconnect()
        logger.info("door sensors stopped", metadata: ["dropped": "\(droppedMessages)"])
    }

    /// The retained online states: the bridge, then each door.
    private func announce(on connection: MQTTConnection) async throws(MQTTError) {
        let online = Array(Self.availability(online: true).utf8)
        for topic in ["\(prefix)/bridge/state"] + doors.map({ "\(prefix)/\($0)/availability" }) {
            try await connection.publish(topic, payload: online, qos: 1, retain: true)
        }
    }

    private func send(_ topic: String, _ payload: String) {
        guard let connection = state.withLock({ $0.connection }) else { return }
        do {
            _ = try connection.send(topic, payload: Array(payload.utf8), qos: 1, retain: false)
        } catch {
            let dropped = state.withLock { s in
                s.dropped += 1
                return s.dropped
            }
            // One line per hundred, not one per message, while the broker is away.
            if dropped % 100 == 1 {
                logger.warning("door state not published", metadata: ["topic": "\(topic)", "error": "\(error)", "dropped": "\(dropped)"])
            }
        }
    }

    /// Waits for the connection to end and, unless stopped, connects again with backoff
    /// (0.5 s doubling to 30 s) and announces the online states again.
    private func keepConnected() async {
        while !Task.isCancelled {
            guard let connection = state.withLock({ $0.connection }) else { return }
            let error = await connection.closed()
            if Task.isCancelled { return }
            logger.warning("lost the broker; reconnecting", metadata: ["error": "\(error.map { "\($0)" } ?? "closed")"])
            var delay = Duration.milliseconds(500)
            while !Task.isCancelled {
                try? await Task.sleep(for: delay)
                do {
                    let fresh = try await MQTTConnection.connect(options, logger: logger)
                    try await announce(on: fresh)
                    state.withLock { $0.connection = fresh }
                    logger.info("reconnected to the broker")
                    break
                } catch {
                    logger.debug("reconnect failed", metadata: ["error": "\(error)"])
                    delay = min(delay * 2, .seconds(30))
                }
            }
        }
    }
}
