import GatewayCore
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
    private let byDevice = Mutex<[String: PollStatistics]>([:])
    private let busy: BusySkipReport

    /// - Parameter logger: where the busy report goes (the adapter's logger: a whole site
    ///   skips together, so the report is one line for all connections).
    init(logger: Logger) {
        busy = BusySkipReport(cycles: "Modbus poll", sources: "device(s)", logger: logger)
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
        busy.record(device)
    }

    /// The statistics of one device; nil before its first poll or skipped cycle.
    func statistics(_ device: String) -> PollStatistics? {
        byDevice.withLock { $0[device] }
    }
}
