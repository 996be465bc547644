public import Logging
import Synchronization

/// Collects what a library logs, so tests can assert that it says why ("logs why").
public final class LogCapture: Sendable {
    private let entries = Mutex<[(level: Logger.Level, message: String, line: String)]>([])

    /// Creates an empty capture.
    public init() {}

    /// A logger at debug level whose lines land here.
    public var logger: Logger {
        var logger = Logger(label: "edgegate.tests.capture") { _ in Handler(capture: self) }
        logger.logLevel = .debug
        return logger
    }

    /// The messages (without metadata) logged at `level`, in order.
    public func messages(at level: Logger.Level) -> [String] {
        entries.withLock { $0.filter { $0.level == level }.map(\.message) }
    }

    /// The warnings, without the Modbus poll-overrun ones: those say the machine was slow (a
    /// loaded CI runner), which tests about something else must not fail on.
    public var warningsBesidesOverruns: [String] {
        messages(at: .warning).filter { !$0.contains("poll cycle overran") }
    }

    /// True when a logged line, message or metadata, contains `text`.
    public func contains(_ text: String) -> Bool {
        entries.withLock { $0.contains { $0.line.contains(text) } }
    }

    /// How many logged lines, message or metadata, contain `text`.
    public func count(_ text: String) -> Int {
        entries.withLock { $0.filter { $0.line.contains(text) }.count }
    }

    /// Every line so far, `level message key=value ...`, for failure messages.
    public var lines: [String] {
        entries.withLock { $0.map(\.line) }
    }

    fileprivate func append(_ level: Logger.Level, _ message: String, _ line: String) {
        entries.withLock { $0.append((level, message, line)) }
    }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let line = "\(event.level) \(event.message) " + all.keys.sorted().map { "\($0)=\(all[$0]!)" }.joined(separator: " ")
            capture.append(event.level, event.message.description, line)
        }
    }
}
