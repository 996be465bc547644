import Synchronization

/// How a device's polling has gone: the numbers an operator checks when values look stale.
public struct PollStatistics: Sendable, Hashable {
    /// Polls carried out (successful or not).
    public var polls = 0
    /// Polls that took longer than the device's period.
    public var overruns = 0
    /// Poll cycles skipped because a poll overran: they are dropped, never queued up.
    public var skippedCycles = 0

    /// No polls yet.
    public init() {}
}

/// Poll statistics of every device of an adapter, written by the connection threads and
/// read by anyone.
final class PollCounters: Sendable {
    private let byDevice = Mutex<[String: PollStatistics]>([:])

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

    /// The statistics of one device; nil before its first poll.
    func statistics(_ device: String) -> PollStatistics? {
        byDevice.withLock { $0[device] }
    }
}
