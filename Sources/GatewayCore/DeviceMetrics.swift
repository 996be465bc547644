public import CoreMetrics
import Synchronization

/// The metrics of one device's polls, made once per device (when its adapter starts or takes
/// a new device set) and kept next to the device's poll schedule: recording is an atomic add
/// or a histogram observation, nothing is looked up or allocated per poll.
///
/// `edgegate_device_polls_total{device,result}` counts polls by `result`: `ok`, `error` (the
/// device or its connection failed, so some or all readings are bad) and `skipped` (the
/// telemetry pipeline was busy: `ReadingSink.isReady` said no and the device was not read).
/// `edgegate_poll_overruns_total{device}` counts polls that took longer than the device's
/// period, so that cycles were dropped. `edgegate_device_poll_duration_seconds{device}` is the
/// time one poll took, a histogram.
public struct PollMetrics: Sendable {
    /// The same counts, readable (the admin endpoint's device list shows them).
    let tally = PollTally()
    private let ok: Counter
    private let failed: Counter
    private let skipped: Counter
    private let overruns: Counter
    private let duration: CoreMetrics.Timer

    init(device: String, factory: any MetricsFactory) {
        let polls = MetricNames.devicePolls
        ok = Counter(label: polls, dimensions: [("device", device), ("result", "ok")], factory: factory)
        failed = Counter(label: polls, dimensions: [("device", device), ("result", "error")], factory: factory)
        skipped = Counter(label: polls, dimensions: [("device", device), ("result", "skipped")], factory: factory)
        overruns = Counter(label: MetricNames.pollOverruns, dimensions: [("device", device)], factory: factory)
        duration = CoreMetrics.Timer(label: MetricNames.pollDuration, dimensions: [("device", device)], factory: factory)
    }

    /// Records nothing: what a sink without metrics hands out (`map read`, tests of adapters).
    public static let disabled = PollMetrics(device: "", factory: NOOPMetricsHandler.instance)

    /// One poll carried out, successful (`ok`) or not, and how long it took.
    public func polled(ok: Bool, duration: Duration) {
        (ok ? self.ok : failed).increment()
        if ok { tally.ok.add(1, ordering: .relaxed) } else { tally.failed.add(1, ordering: .relaxed) }
        self.duration.recordNanoseconds(duration.nanoseconds)
    }

    /// One cycle not read because the telemetry pipeline was busy.
    public func skippedWhileBusy() {
        skipped.increment()
        tally.skipped.add(1, ordering: .relaxed)
    }

    /// One poll that overran the device's period.
    public func overran() {
        overruns.increment()
        tally.overruns.add(1, ordering: .relaxed)
    }

    func destroy() {
        for counter in [ok, failed, skipped, overruns] { counter.destroy() }
        duration.destroy()
    }
}

/// A device's polls so far, by result: what `PollMetrics` counts, kept where it can be read.
public struct PollCounts: Sendable, Hashable {
    /// Polls that read the device.
    public var ok = 0
    /// Polls that failed (some or all readings bad).
    public var failed = 0
    /// Cycles not read because the telemetry pipeline was busy.
    public var skipped = 0
    /// Polls that took longer than the device's period.
    public var overruns = 0

    /// No polls yet.
    public init() {}
}

/// The atomics behind `PollCounts`, shared by the copies of a device's `PollMetrics`.
final class PollTally: Sendable {
    let ok = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let skipped = Atomic<Int>(0)
    let overruns = Atomic<Int>(0)

    var counts: PollCounts {
        var c = PollCounts()
        c.ok = ok.load(ordering: .relaxed)
        c.failed = failed.load(ordering: .relaxed)
        c.skipped = skipped.load(ordering: .relaxed)
        c.overruns = overruns.load(ordering: .relaxed)
        return c
    }
}

/// The per-device metrics of a gateway: readings by quality, whether the device is up, and
/// its polls (`PollMetrics`, for the adapters that poll). Made once per device when the
/// gateway starts and on each reload (`update(devices:)`), never per reading; a device removed
/// by a reload takes its series with it, so the labels stay those of the devices in the maps.
///
/// `edgegate_readings_total{device,quality}` counts the readings the adapters delivered
/// (before report by exception), `quality` one of `good`, `uncertain`, `bad`.
/// `edgegate_device_up{device,protocol}` is 1 while the device's latest delivery had a reading
/// that is not `bad`, 0 when all its readings were `bad` (a connection down, a device that
/// does not answer, an MQTT device gone offline) and before its first delivery. Deciding it
/// from readings works for every protocol alike: a poller reports a failed poll as bad
/// readings, an MQTT device its availability.
public final class DeviceMetrics: Sendable {
    private struct Device: Sendable {
        let protocolName: String
        let up: Gauge
        let good: Counter
        let uncertain: Counter
        let bad: Counter
        let polls: PollMetrics

        init(id: String, protocolName: String, factory: any MetricsFactory) {
            self.protocolName = protocolName
            up = Gauge(label: MetricNames.deviceUp, dimensions: [("device", id), ("protocol", protocolName)], factory: factory)
            up.record(0)
            let readings = MetricNames.readings
            good = Counter(label: readings, dimensions: [("device", id), ("quality", "good")], factory: factory)
            uncertain = Counter(label: readings, dimensions: [("device", id), ("quality", "uncertain")], factory: factory)
            bad = Counter(label: readings, dimensions: [("device", id), ("quality", "bad")], factory: factory)
            polls = PollMetrics(device: id, factory: factory)
        }

        func destroy() {
            up.destroy()
            for counter in [good, uncertain, bad] { counter.destroy() }
            polls.destroy()
        }
    }

    private let factory: any MetricsFactory
    private let devices = Mutex<[String: Device]>([:])

    /// - Parameters:
    ///   - devices: each device's id and protocol name (`protocol:` in its map).
    ///   - factory: where the metrics go (the executable bootstraps `MetricsSystem`; a test
    ///     passes a registry of its own).
    public init(devices: [(id: String, protocolName: String)], factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        update(devices: devices)
    }

    /// Switches to a new device set: a new device gets its series, a removed one loses them,
    /// a device that stays (with the same protocol) keeps its counts.
    public func update(devices new: [(id: String, protocolName: String)]) {
        let factory = self.factory
        let wanted = Dictionary(new.map { ($0.id, $0.protocolName) }, uniquingKeysWith: { first, _ in first })
        devices.withLock { devices in
            // The old series go first: a device whose protocol changed keeps its readings'
            // labels, and a registry hands back a series it still holds under them.
            for (id, device) in devices where wanted[id] != device.protocolName { device.destroy() }
            devices = wanted.reduce(into: [:]) { next, entry in
                if let device = devices[entry.key], device.protocolName == entry.value {
                    next[entry.key] = device
                } else {
                    next[entry.key] = Device(id: entry.key, protocolName: entry.value, factory: factory)
                }
            }
        }
    }

    /// The poll metrics of `device`, to be kept by its poller; records nothing for a device
    /// the gateway does not know.
    public func polls(device: String) -> PollMetrics {
        devices.withLock { $0[device]?.polls } ?? .disabled
    }

    /// Each device's polls so far, by id (devices of protocols that do not poll count none).
    public var pollCounts: [String: PollCounts] {
        devices.withLock { $0.mapValues { $0.polls.tally.counts } }
    }

    /// Counts a delivery of readings and sets `device_up` from it: one lookup per device in
    /// the batch (a batch is one poll of one device, typically), an atomic add per quality.
    public func record(_ readings: [Reading]) {
        var start = readings.startIndex
        while start < readings.endIndex {
            let id = readings[start].device
            var good = 0
            var uncertain = 0
            var bad = 0
            var end = start
            while end < readings.endIndex, readings[end].device == id {
                switch readings[end].quality {
                case .good: good += 1
                case .uncertain: uncertain += 1
                case .bad: bad += 1
                }
                end += 1
            }
            if let device = devices.withLock({ $0[id] }) {
                if good > 0 { device.good.increment(by: good) }
                if uncertain > 0 { device.uncertain.increment(by: uncertain) }
                if bad > 0 { device.bad.increment(by: bad) }
                device.up.record(good + uncertain > 0 ? 1 : 0)
            }
            start = end
        }
    }
}

/// The names of edgegate's metrics, in one place: Prometheus conventions (base units,
/// `_seconds` for durations, `_total` only on counters). docs/operations.md describes each.
public enum MetricNames {
    /// Gauge, 1, labelled with the version.
    public static let buildInfo = "edgegate_build_info"
    /// Gauge: 1 while a device reports usable readings.
    public static let deviceUp = "edgegate_device_up"
    /// Counter of polls by result.
    public static let devicePolls = "edgegate_device_polls_total"
    /// Histogram of poll durations.
    public static let pollDuration = "edgegate_device_poll_duration_seconds"
    /// Counter of polls that overran their period.
    public static let pollOverruns = "edgegate_poll_overruns_total"
    /// Counter of readings by device and quality.
    public static let readings = "edgegate_readings_total"
    /// Gauge: 1 while a session with the hub is up.
    public static let uplinkConnected = "edgegate_uplink_connected"
    /// Counter of sessions with the hub started after the first.
    public static let uplinkReconnects = "edgegate_uplink_reconnects_total"
    /// Counter of telemetry messages the hub acknowledged.
    public static let telemetryAcked = "edgegate_telemetry_messages_acked_total"
    /// Gauge: messages held in the outbox.
    public static let outboxMessages = "edgegate_outbox_messages"
    /// Gauge: their payload bytes.
    public static let outboxBytes = "edgegate_outbox_bytes"
    /// Gauge: age of the oldest message held.
    public static let outboxOldestAge = "edgegate_outbox_oldest_age_seconds"
    /// Counter of readings dropped by a bound of the outbox, by `reason`.
    public static let outboxDroppedReadings = "edgegate_outbox_dropped_readings_total"
    /// Counter of commands answered, by status.
    public static let commands = "edgegate_commands_total"
    /// Histogram of command durations, arrival to answer.
    public static let commandDuration = "edgegate_command_duration_seconds"
    /// Counter of device-map reloads by result.
    public static let mapReloads = "edgegate_map_reloads_total"
    /// Counter of Sparkplug B writes (DCMD) refused, before or by the router.
    public static let sparkplugRefusedWrites = "edgegate_sparkplug_refused_writes_total"
}

extension Duration {
    /// Whole nanoseconds, for `Timer.recordNanoseconds`.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
