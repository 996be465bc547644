import ArgumentParser
import DeviceMaps
import Foundation
import GatewayCore
import Logging
import ServiceLifecycle
import Synchronization

/// Logging options every long-running command shares.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    /// Bootstraps swift-log once (only the executable does this) and returns a logger.
    func makeLogger(_ label: String) -> Logger {
        LoggingBootstrap.once(level: logLevel)
        return Logger(label: label)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

enum LoggingBootstrap {
    private static let bootstrapped = Atomic<Bool>(false)

    static func once(level: Logger.Level) {
        // swift-log allows one bootstrap per process; the demo and tests may ask twice.
        guard bootstrapped.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// A duration on the command line: `500ms`, `5s`, `2m`.
struct DurationArgument: ExpressibleByArgument, Sendable {
    let duration: Duration

    init(_ duration: Duration) { self.duration = duration }

    init?(argument: String) {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, factor) in units where argument.hasSuffix(suffix) {
            let number = argument.dropLast(suffix.count)
            // "5ms" also ends in "s": only accept a suffix whose remainder is a plain number.
            guard let n = Double(number), n >= 0, n * factor < 1e9 else { continue }
            duration = .milliseconds(Int64((n * factor * 1000).rounded()))
            return
        }
        return nil
    }

    var defaultValueDescription: String { "\(duration)" }
}

/// Input errors the CLI reports with exit code 2 (DESIGN.md): invalid maps or configuration.
struct InputError: Error, CustomStringConvertible {
    let description: String
}

/// Prints diagnostics and stops with exit code 2.
func failInput(_ text: String) -> ExitCode {
    FileHandle.standardError.write(Data((text + "\n").utf8))
    return ExitCode(2)
}

/// Prints a failure and stops with exit code 1.
func failOperation(_ text: String) -> ExitCode {
    FileHandle.standardError.write(Data((text + "\n").utf8))
    return ExitCode(1)
}

/// A service that starts something, waits for the group's graceful shutdown, then stops it.
struct ForegroundService: Service {
    let stop: @Sendable () async -> Void

    func run() async throws {
        try? await gracefulShutdown()
        await stop()
    }
}

/// Runs services until SIGINT or SIGTERM, shutting them down in reverse order.
func runUntilSignalled(_ services: [any Service], logger: Logger) async throws {
    let group = ServiceGroup(configuration: .init(
        services: services.map { .init(service: $0) },
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
    try await group.run()
}
