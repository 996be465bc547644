public import Logging
import Synchronization

/// An adapter's count of poll cycles skipped because its sink was not ready (the telemetry
/// pipeline was behind), and its one report of them: a warning at the first skip, then at
/// most once a minute with what was skipped since and the total. One per adapter, for all its
/// devices together: a whole site skips together, so a line per device or cycle would be noise.
public final class BusySkipReport: Sendable {
    private struct State {
        /// When the last report was logged; nil before the first.
        var logged: ContinuousClock.Instant?
        /// Skips since then, and of which sources.
        var skips = 0
        var sources: Set<String> = []
        var total = 0
    }

    private let state = Mutex(State())
    private let cycles: String
    private let sources: String
    private let logger: Logger

    /// - Parameters:
    ///   - cycles: what a skipped cycle is, for the report (`Modbus poll`).
    ///   - sources: what was not read, plural (`device(s)`, `bridge(s)`).
    public init(cycles: String, sources: String, logger: Logger) {
        self.cycles = cycles
        self.sources = sources
        self.logger = logger
    }

    /// Cycles skipped since the adapter was made.
    public var total: Int { state.withLock { $0.total } }

    /// Counts one skipped cycle of `source` (a device or bridge), and logs when a report is due.
    public func record(_ source: String) {
        let now = ContinuousClock.now
        let report = state.withLock { s -> (skips: Int, sources: Int, total: Int, first: Bool)? in
            s.skips += 1
            s.total += 1
            s.sources.insert(source)
            if let logged = s.logged, now - logged < .seconds(60) { return nil }
            let report = (s.skips, s.sources.count, s.total, s.logged == nil)
            s.logged = now
            s.skips = 0
            s.sources.removeAll()
            return report
        }
        guard let report else { return }
        logger.warning(
            "telemetry pipeline busy: \(report.skips) \(cycles) cycle(s) of \(report.sources) \(sources) skipped\(report.first ? "" : " in the last minute") instead of read; polls resume once it catches up, writes still run",
            metadata: [
                "busy_skips_total": "\(report.total)"
            ])
    }
}
