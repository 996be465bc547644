public import Logging
import Synchronization

/// Lets at most `burst` warnings through per `interval` and counts the rest, so that a
/// flood of bad input (a fuzzer, a misbehaving client) costs a few log lines, not one per
/// message. The first line after a quiet spell says how many were left out before it.
public final class LogThrottle: Sendable {
    private struct State {
        var windowStart: ContinuousClock.Instant?
        var inWindow = 0
        var suppressed = 0
    }

    private let burst: Int
    private let interval: Duration
    private let state = Mutex(State())

    /// Lets `burst` warnings through per `interval`.
    public init(burst: Int, interval: Duration) {
        self.burst = burst
        self.interval = interval
    }

    /// Logs a warning unless this window's burst is spent.
    public func log(_ logger: Logger, _ message: Logger.Message, metadata: Logger.Metadata) {
        let now = ContinuousClock.now
        let leftOut: Int? = state.withLock { s in
            if s.windowStart.map({ now - $0 >= interval }) ?? true {
                s.windowStart = now
                s.inWindow = 0
            }
            guard s.inWindow < burst else {
                s.suppressed += 1
                return nil
            }
            s.inWindow += 1
            defer { s.suppressed = 0 }
            return s.suppressed
        }
        guard let leftOut else { return }
        var metadata = metadata
        if leftOut > 0 { metadata["suppressed_before"] = "\(leftOut)" }
        logger.warning(message, metadata: metadata)
    }
}
