import Logging
import Synchronization

/// How a device's polling has gone: the numbers an operator checks when values look stale.
public struct PollStatistics: Sendable, Hashable {
    /// Polls carried out (successful or not).
    public var polls = 0
    /// Polls that took longer than the device's period.
    public var overruns = 0
    /// Poll cycles skipped because a poll overran: they are dropped, never queued up.
    public var skippedCycles = 0
    /// Poll cycles skipped because the telemetry pipeline was busy (`ReadingSink.isReady`
    /// said no): the device was not read, so no reading was taken only to be dropped. Not
    /// overruns: the device and its connection were fine.
    public var busySkips = 0

    /// No polls yet.
    public init() {}
}

/// Poll statistics of every device of an adapter, written by the poller threads and
/// read by anyone; also the adapter's one report of skips while the pipeline is busy.
final class PollCounters: Sendable {
    private struct BusyReport {
        /// When the last report was logged; nil before the first.
        var logged: ContinuousClock.Instant?
        /// Skips since then, and of which devices.
        var skips = 0
        var devices: Set<String> = []
        var total = 0
    }

    private let byDevice = Mutex<[String: PollStatistics]>([:])
    private let busy = Mutex(BusyReport())
    private let logger: Logger

    /// - Parameter logger: where the busy report goes (the adapter's logger: a whole site
    ///   skips together, so the report is one line for all connections).
    init(logger: Logger) {
        self.logger = logger
    }

    /// Records one poll of `device` that made the schedule skip `skipped` cycles.
    func record(_ device: String, skipped: Int) -> PollStatistics {
        byDevice.withLock { all in
            var s = all[device, default: PollStatistics()]
            s.polls += 1
            if skipped > 0 {
                s.overruns += 1
                s.skippedCycles += skipped
            }
            all[device] = s
            return s
        }
    }

    /// Records a cycle of `device` skipped because the pipeline was busy, and logs the
    /// adapter's skips at the first one and then at most once a minute, with totals.
    func recordBusySkip(_ device: String) {
        byDevice.withLock { $0[device, default: PollStatistics()].busySkips += 1 }
        let now = ContinuousClock.now
        let report = busy.withLock { b -> (skips: Int, devices: Int, total: Int, first: Bool)? in
            b.skips += 1
            b.total += 1
            b.devices.insert(device)
            if let logged = b.logged, now - logged < .seconds(60) { return nil }
            let report = (b.skips, b.devices.count, b.total, b.logged == nil)
            b.logged = now
            b.skips = 0
            b.devices.removeAll()
            return report
        }
        guard let report else { return }
        logger.warning("telemetry pipeline busy: \(report.skips) Modbus poll cycle(s) of \(report.devices) device(s) skipped\(report.first ? "" : " in the last minute") instead of read; polls resume once it catches up, writes still run", metadata: [
            "busy_skips_total": "\(report.total)"])
    }

    /// The statistics of one device; nil before its first poll or skipped cycle.
    func statistics(_ device: String) -> PollStatistics? {
        byDevice.withLock { $0[device] }
    }
}
