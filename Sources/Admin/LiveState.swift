public import Foundation
public import GatewayCore
import Synchronization

/// What the admin endpoint shows of a running gateway: the latest reading of every point,
/// each device's state, recent command results, the gateway's readiness and heartbeat, and the
/// event stream to its SSE clients.
///
/// It sits on the reading path (`observe(_:)` for every batch an adapter emits), so it costs
/// one lock per batch and builds no text there; everything it keeps is bounded: one entry per
/// device and point, 60 one-minute buckets of command counts, a bounded buffer per event
/// client (a slow client loses its oldest events, never slows the readings).
public final class LiveState: Sendable {
    /// A device as the readings show it.
    public struct DeviceState: Sendable {
        /// The latest reading of each point.
        public var points: [String: Reading] = [:]
        /// When the latest reading arrived (its timestamp).
        public var lastReading: Date?
        /// Up when its latest poll gave at least one reading that is not bad; down when all
        /// were bad; nil before the first.
        public var up: Bool?
        /// The reason of the latest bad reading, and its time.
        public var lastError: String?
        /// When `lastError` happened.
        public var lastErrorAt: Date?
        /// The recent values of its numeric points, for their trend lines.
        var trends: [String: TrendRing] = [:]
    }

    /// Whether the gateway serves: starting (maps not yet running), ready, stopping.
    public enum Phase: UInt8, Sendable {
        /// Assembled, services not yet started.
        case starting
        /// Maps loaded, outbox open, services running.
        case ready
        /// Shutting down.
        case stopping
    }

    /// Most event clients at once: each holds a buffer.
    public let maxSubscribers: Int
    /// Events each client's buffer holds before its oldest are dropped.
    public let subscriberBuffer: Int

    private let devices = Mutex<[String: DeviceState]>([:])
    private let subscribers = Mutex<[Int: EventSubscription]>([:])
    private let subscriberCount = Atomic<Int>(0)
    private let nextSubscriber = Atomic<Int>(0)
    private let commandCounts = Mutex(CommandCounts())
    private let history: Mutex<CommandHistory>
    private let rate = Mutex(ReadingRate())
    private let reload = Mutex<ReloadRecord?>(nil)
    private let polls = Mutex<[String: Duration]>([:])
    private let phaseValue = Atomic<UInt8>(Phase.starting.rawValue)
    private let lastBeat: Atomic<Int64>
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant
    /// When the gateway started (wall clock).
    public let startedAt: Date

    /// Commands the history keeps.
    public let historyCapacity: Int

    /// Creates an empty state.
    public init(maxSubscribers: Int = 16, subscriberBuffer: Int = 1024, historyCapacity: Int = 500) {
        self.history = Mutex(CommandHistory(capacity: historyCapacity))
        self.historyCapacity = historyCapacity
        self.maxSubscribers = maxSubscribers
        self.subscriberBuffer = subscriberBuffer
        self.origin = clock.now
        self.startedAt = Date()
        self.lastBeat = Atomic(0)
    }

    // MARK: - Readings

    /// Records a batch of readings (the reading sink's tap): one lock for the batch, and the
    /// batch handed as is to the event clients, if any.
    public func observe(_ readings: [Reading]) {
        guard !readings.isEmpty else { return }
        let second = Int64(Date().timeIntervalSince1970)
        rate.withLock { $0.add(readings.count, at: second) }
        let changes = devices.withLock { devices -> [AdminEvent] in
            var changes: [AdminEvent] = []
            // A poll's readings are one device's, side by side: one verdict per run of a device.
            var index = 0
            while index < readings.count {
                let device = readings[index].device
                // Updated in place: a copy of the state would copy its points on every batch.
                let (wasUp, isUp, lastError) = Self.apply(readings, from: &index, to: &devices[device, default: DeviceState()])
                if wasUp != isUp {
                    changes.append(.device(id: device, up: isUp, reason: isUp ? nil : lastError))
                }
            }
            return changes
        }
        guard subscriberCount.load(ordering: .relaxed) > 0 else { return }
        publish(.readings(readings))
        for change in changes { publish(change) }
    }

    /// Applies the run of readings of one device that starts at `index`, and moves `index`
    /// past it; returns whether the device was up before and is up now, and its last error.
    private static func apply(
        _ readings: [Reading], from index: inout Int, to state: inout DeviceState
    ) -> (wasUp: Bool?, isUp: Bool, lastError: String?) {
        let device = readings[index].device
        let wasUp = state.up
        var anyUsable = false
        while index < readings.count, readings[index].device == device {
            let r = readings[index]
            state.points[r.point] = r
            if case .bad(let reason) = r.quality {
                state.lastError = reason
                state.lastErrorAt = r.timestamp
                // A bad reading breaks the line of a point that has one; it starts none.
                state.trends[r.point]?.record(nil, bucket: TrendRing.bucket(of: r.timestamp))
            } else {
                anyUsable = true
                if let number = r.value?.trendValue {
                    let bucket = TrendRing.bucket(of: r.timestamp)
                    state.trends[r.point, default: TrendRing(bucket: bucket)].record(number, bucket: bucket)
                }
            }
            if state.lastReading.map({ r.timestamp > $0 }) ?? true { state.lastReading = r.timestamp }
            index += 1
        }
        state.up = anyUsable
        return (wasUp, anyUsable, state.lastError)
    }

    /// Every device's state, by id.
    public var deviceStates: [String: DeviceState] { devices.withLock { $0 } }

    /// One device's state; nil before its first reading.
    public func deviceState(_ id: String) -> DeviceState? { devices.withLock { $0[id] } }

    /// The recent values of a device's numeric points, for trend lines: per point, the start
    /// of each `trendStep` bucket (unix seconds) with a reading in the last `trendWindow`, and
    /// the last value in it (nil: bad). Points in no particular order.
    public func trends(_ id: String) -> [(point: String, samples: [(seconds: Int64, value: Float?)])] {
        let now = TrendRing.bucket(of: Date())
        let rings = devices.withLock { $0[id]?.trends } ?? [:]
        return rings.map { ($0.key, $0.value.samples(now: now)) }.filter { !$0.samples.isEmpty }
    }

    /// Seconds per trend bucket.
    public static var trendStep: Int { Int(TrendRing.step) }
    /// Seconds of trend kept.
    public static var trendWindow: Int { Int(TrendRing.step) * TrendRing.count }

    /// Readings the adapters delivered per second, over the last ten seconds.
    public var readingsPerSecond: Double {
        let now = Int64(Date().timeIntervalSince1970)
        let start = Int64(startedAt.timeIntervalSince1970)
        return rate.withLock { $0.perSecond(at: now, start: start) }
    }

    /// Sets each device's poll period, as the device maps in force say (at start and after
    /// each reload).
    public func describe(polls periods: [String: Duration]) {
        polls.withLock { $0 = periods }
    }

    /// The poll period of each device, by id.
    public var pollPeriods: [String: Duration] { polls.withLock { $0 } }

    /// Remembers the outcome of a reload of the device maps.
    public func recordReload(_ record: ReloadRecord) {
        reload.withLock { $0 = record }
    }

    /// The latest reload of the device maps; nil when there was none since the start.
    public var lastReload: ReloadRecord? { reload.withLock { $0 } }

    /// Forgets devices that are no longer in the device maps (after a reload).
    public func retain(devices ids: Set<String>) {
        devices.withLock { devices in
            for id in devices.keys where !ids.contains(id) { devices[id] = nil }
        }
    }

    // MARK: - Commands

    /// Records a command's result (the router's observer): counted for the last hour, kept
    /// in the history, and sent to the event clients.
    public func record(_ command: Command, _ result: CommandResult, duration: Duration) {
        let minute = Int64(Date().timeIntervalSince1970 / 60)
        commandCounts.withLock { $0.add(result.status, minute: minute) }
        let record = CommandRecord(command: command, result: result, duration: duration)
        history.withLock { $0.add(record) }
        if subscriberCount.load(ordering: .relaxed) > 0 {
            publish(.command(record))
        }
    }

    /// The latest commands answered, newest first, at most `limit` (and `historyCapacity`).
    public func recentCommands(_ limit: Int) -> [CommandRecord] {
        history.withLock { $0.latest(limit) }
    }

    /// Commands answered in the last hour, by status.
    public var commandsLastHour: [CommandStatus: Int] {
        let minute = Int64(Date().timeIntervalSince1970 / 60)
        return commandCounts.withLock { $0.total(since: minute - 59) }
    }

    // MARK: - Readiness and heartbeat

    /// The gateway's phase.
    public var phase: Phase { Phase(rawValue: phaseValue.load(ordering: .relaxed)) ?? .starting }

    /// Moves to a phase (the gateway's own service does, at start and at shutdown).
    public func enter(_ phase: Phase) {
        phaseValue.store(phase.rawValue, ordering: .relaxed)
    }

    /// Marks the gateway's loop as alive now.
    public func beat() {
        lastBeat.store(Int64((clock.now - origin) / .milliseconds(1)), ordering: .relaxed)
    }

    /// Time since the last heartbeat.
    public var sinceLastBeat: Duration {
        (clock.now - origin) - .milliseconds(lastBeat.load(ordering: .relaxed))
    }

    /// Time since the gateway started.
    public var uptime: Duration { clock.now - origin }

    // MARK: - Events

    /// Sends an event to every client (status changes come from the gateway's service): one
    /// `PublishedEvent` for all of them, so that it is encoded once however many listen.
    public func publish(_ event: AdminEvent) {
        let current = subscribers.withLock { Array($0.values) }
        guard !current.isEmpty else { return }
        let published = PublishedEvent(event)
        for subscription in current { subscription.send(published) }
    }

    /// A new event client, or nil when `maxSubscribers` are connected.
    public func subscribe() -> EventSubscription? {
        let id = nextSubscriber.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream<PublishedEvent>.makeStream(bufferingPolicy: .bufferingNewest(subscriberBuffer))
        let subscription = EventSubscription(events: stream, continuation: continuation)
        let admitted = subscribers.withLock { subscribers -> Bool in
            guard subscribers.count < maxSubscribers else { return false }
            subscribers[id] = subscription
            return true
        }
        guard admitted else { return nil }
        subscriberCount.add(1, ordering: .relaxed)
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            if self.subscribers.withLock({ $0.removeValue(forKey: id) }) != nil {
                self.subscriberCount.subtract(1, ordering: .relaxed)
            }
        }
        return subscription
    }

    /// Ends every event stream (the server is shutting down).
    public func finishSubscriptions() {
        let current = subscribers.withLock { Array($0.values) }
        for subscription in current { subscription.finish() }
    }

    /// Event clients connected now.
    public var subscriberTotal: Int { subscriberCount.load(ordering: .relaxed) }
}

/// One event of the admin event stream.
public enum AdminEvent: Sendable {
    /// Readings as an adapter delivered them.
    case readings([Reading])
    /// A command's result, with what was asked and how long it took.
    case command(CommandRecord)
    /// A device went up or down.
    case device(id: String, up: Bool, reason: String?)
    /// The uplink connected or disconnected.
    case uplink(connected: Bool)
    /// The gateway's phase changed.
    case phase(LiveState.Phase)
}

extension Value {
    /// The number a trend line draws: integers and doubles; bools and text draw none.
    fileprivate var trendValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d.isFinite ? d : nil
        case .bool, .string: return nil
        }
    }
}

/// An event as sent to every client, encoded for the stream by the first client that writes
/// it and reused by the others: a batch of 10,000 readings is turned into text once, not once
/// per open console; and not on the reading path, which only hands the batch on.
public final class PublishedEvent: Sendable {
    /// The event.
    public let event: AdminEvent
    private let encoded = Mutex<[UInt8]?>(nil)

    init(_ event: AdminEvent) {
        self.event = event
    }

    /// `event: NAME` and its `data:` line.
    var frame: [UInt8] {
        encoded.withLock { encoded in
            if let encoded { return encoded }
            let bytes = AdminEvents.encode(event)
            encoded = bytes
            return bytes
        }
    }
}

/// One event client's buffer: the newest `subscriberBuffer` events; the oldest are dropped
/// when the client reads too slowly, and counted for its next `lagged` event.
public final class EventSubscription: Sendable {
    /// The events, in order.
    public let events: AsyncStream<PublishedEvent>
    private let continuation: AsyncStream<PublishedEvent>.Continuation
    private let dropped = Atomic<Int>(0)

    init(events: AsyncStream<PublishedEvent>, continuation: AsyncStream<PublishedEvent>.Continuation) {
        self.events = events
        self.continuation = continuation
    }

    func send(_ event: PublishedEvent) {
        if case .dropped = continuation.yield(event) {
            dropped.add(1, ordering: .relaxed)
        }
    }

    /// Events dropped since the last call.
    public func takeDropped() -> Int { dropped.exchange(0, ordering: .relaxed) }

    /// Ends the stream (the client left).
    public func finish() { continuation.finish() }
}

/// Command results per minute, for the last hour.
struct CommandCounts {
    private var minutes = [Int64](repeating: -1, count: 60)
    private var counts = [[CommandStatus: Int]](repeating: [:], count: 60)

    mutating func add(_ status: CommandStatus, minute: Int64) {
        let slot = Int(minute % 60)
        if minutes[slot] != minute {
            minutes[slot] = minute
            counts[slot] = [:]
        }
        counts[slot][status, default: 0] += 1
    }

    func total(since first: Int64) -> [CommandStatus: Int] {
        var total: [CommandStatus: Int] = [:]
        for slot in 0..<60 where minutes[slot] >= first {
            total.merge(counts[slot], uniquingKeysWith: +)
        }
        return total
    }
}
