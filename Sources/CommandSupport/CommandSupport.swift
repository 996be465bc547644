public import ArgumentParser
public import DeviceMaps
import Foundation
import GatewayCore
public import Logging
public import ServiceLifecycle
import Synchronization
import UnixSignals

/// Logging options every long-running command shares.
public struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    public var logLevel: Logger.Level = .info

    @Option(help: "Log lines: text (for people) or json (one object per line, for journald, Loki, jq).")
    public var logFormat: LogFormat = .text

    /// Options at their defaults (the argument parser fills them in).
    public init() {}

    /// Bootstraps swift-log once (only the executable does this) and returns a logger.
    public func makeLogger(_ label: String) -> Logger {
        LoggingBootstrap.once(level: logLevel, format: logFormat)
        return Logger(label: label)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

enum LoggingBootstrap {
    private static let bootstrapped = Atomic<Bool>(false)

    static func once(level: Logger.Level, format: LogFormat) {
        // swift-log allows one bootstrap per process; the demo and tests may ask twice.
        guard bootstrapped.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        LoggingSystem.bootstrap { label -> any LogHandler in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

/// A duration on the command line: `500ms`, `5s`, `2m`.
public struct DurationArgument: ExpressibleByArgument, Sendable {
    /// The duration given.
    public let duration: Duration

    /// A default value.
    public init(_ duration: Duration) { self.duration = duration }

    /// Parses `500ms`, `5s`, `2m`, `1h`; nil for anything else.
    public init?(argument: String) {
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

    /// The default as `--help` shows it: `30s`.
    public var defaultValueDescription: String { duration.mapText }
}

/// Input errors the CLI reports with exit code 2 (docs/cli.md): invalid maps or configuration.
public struct InputError: Error, CustomStringConvertible {
    /// The diagnostics.
    public let description: String
}

/// Prints diagnostics and stops with exit code 2.
public func failInput(_ text: String) -> ExitCode {
    FileHandle.standardError.write(Data((text + "\n").utf8))
    return ExitCode(2)
}

/// Prints a failure and stops with exit code 1.
public func failOperation(_ text: String) -> ExitCode {
    FileHandle.standardError.write(Data((text + "\n").utf8))
    return ExitCode(1)
}

/// What the executable knows and the commands of its libraries (the protocols' own, such as
/// `sim modbus`) cannot: those libraries come before the list of protocols in the build.
public enum CommandLineContext {
    /// The loader for every protocol of this build; the executable binds it around parsing and
    /// running a command. (No protocol until then: a map then fails to load, loudly.)
    @TaskLocal public static var loader = DeviceMapLoader(protocols: [])
}

/// Loads the device maps of `paths` with every protocol of this build, or stops with exit
/// code 2 and every diagnostic.
public func loadDeviceMaps(_ paths: [String]) throws -> DeviceMap {
    do {
        return try CommandLineContext.loader.load(paths: paths)
    } catch {
        throw failInput(error.description)
    }
}

/// A service that starts something, waits for the group's graceful shutdown, then stops it.
public struct ForegroundService: Service {
    /// Stops what was started.
    public let stop: @Sendable () async -> Void

    /// A service that calls `stop` on shutdown.
    public init(stop: @escaping @Sendable () async -> Void) {
        self.stop = stop
    }

    /// Waits for the graceful shutdown, then stops.
    public func run() async throws {
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
public func runUntilSignalled(logger: Logger, _ setup: () async throws -> [any Service]) async throws {
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

/// Prints a line and flushes it at once. Live readings are the point of the demo, also when
/// its output goes to a pipe or a file, where stdout is otherwise fully buffered.
/// (`fflush(nil)` flushes every stream without naming the C global `stdout`.)
public func say(_ line: String) {
    print(line)
    fflush(nil)
}

/// Prints a value as pretty JSON with sorted keys, the form tools and diffs like.
public func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// A protocol's own commands on the edgegate command line: tools that talk to its devices
/// directly (`edgegate modbus scan`) and its device simulator (`edgegate sim modbus`).
public protocol CommandLineAbility: ProtocolAbility {
    /// Top-level commands, listed by `edgegate --help` after the protocol-free ones.
    var commands: [any ParsableCommand.Type] { get }
    /// Subcommands of `edgegate sim`.
    var simulatorCommands: [any ParsableCommand.Type] { get }
}

extension CommandLineAbility {
    /// None.
    public var commands: [any ParsableCommand.Type] { [] }
    /// None.
    public var simulatorCommands: [any ParsableCommand.Type] { [] }
}
