import ArgumentParser
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Logging
import ServiceLifecycle
import UnixSignals
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

    var defaultValueDescription: String { duration.mapText }
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

/// Loads the device maps of `paths` with every protocol of this build, or stops with exit
/// code 2 and every diagnostic.
func loadDeviceMaps(_ paths: [String]) throws -> DeviceMap {
    do {
        return try DeviceMapLoader.standard.load(paths: paths)
    } catch {
        throw failInput(error.description)
    }
}

/// A service that starts something, waits for the group's graceful shutdown, then stops it.
struct ForegroundService: Service {
    let stop: @Sendable () async -> Void

    func run() async throws {
        try? await gracefulShutdown()
        await stop()
    }
}

/// Runs the services `setup` returns until SIGINT or SIGTERM, shutting them down in reverse
/// order.
///
/// The signals are caught from before `setup` runs: one that arrives while `setup` starts
/// things (a hub, a simulator) shuts them down cleanly once they run, instead of killing the
/// process and leaving a child such as mosquitto behind.
func runUntilSignalled(logger: Logger, _ setup: () async throws -> [any Service]) async throws {
    let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
    let latch = ShutdownLatch()
    let watcher = Task {
        for await signal in signals {
            logger.info("shutting down", metadata: ["signal": "\(signal)"])
            await latch.signal()
        }
    }
    defer { watcher.cancel() }
    let services = try await setup()
    let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
    await latch.attach(group)
    try await group.run()
}

/// Remembers a shutdown request until the service group exists, then forwards it.
private actor ShutdownLatch {
    private var group: ServiceGroup?
    private var signalled = false

    func signal() async {
        signalled = true
        await group?.triggerGracefulShutdown()
    }

    func attach(_ group: ServiceGroup) async {
        self.group = group
        // Before `run`, the group remembers the request and shuts down right after starting.
        if signalled { await group.triggerGracefulShutdown() }
    }
}
