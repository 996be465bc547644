import Admin
import DeviceMaps
import Foundation
import GatewayCore
public import Logging
public import ServiceLifecycle
public import UnixSignals

/// What the gateway watches to reload its device maps while it runs.
public struct DeviceMapWatch: Sendable {
    /// The device-map files and folders, as the configuration lists them.
    public var paths: [String]
    /// How often the files are checked for changes; nil: never (signals only).
    public var interval: Duration?
    /// Signals that ask for a reload (the daemon: SIGHUP). Trapped while the watcher runs.
    public var signals: [UnixSignal]
    /// The gateway configuration file: a change is logged, since it is not reloaded.
    public var configurationFile: String?
    /// Told when a reload begins and when it has ended, applied or rejected (`edgegate run`
    /// tells systemd `RELOADING=1`, then `READY=1`).
    public var reloading: ReloadObserver?

    /// Creates watch settings.
    public init(
        paths: [String], interval: Duration? = .seconds(1), signals: [UnixSignal] = [.sighup],
        configurationFile: String? = nil, reloading: ReloadObserver? = nil
    ) {
        self.paths = paths
        self.interval = interval
        self.signals = signals
        self.configurationFile = configurationFile
        self.reloading = reloading
    }
}

/// What hears of reloads of the device maps.
public struct ReloadObserver: Sendable {
    /// Called before a reload validates the maps.
    public var began: @Sendable () -> Void
    /// Called once it has been applied or rejected.
    public var ended: @Sendable () -> Void

    /// An observer.
    public init(began: @escaping @Sendable () -> Void, ended: @escaping @Sendable () -> Void) {
        self.began = began
        self.ended = ended
    }
}

/// Reloads the device maps when one of their files changes or a signal arrives, as a service.
///
/// Files are polled (size and modification time, then a hash of the content), which works on
/// every file system and through editors that replace a file instead of writing it: a file
/// added to or removed from a listed folder, or an edited file, is a change; a file rewritten
/// with the same content is not. A change is applied only once the files look the same on two
/// checks in a row, so an editor that saves in two steps causes one reload, not two.
///
/// A new version that does not validate changes nothing: a warning says the reload was
/// rejected, every diagnostic is logged (`file:line:column: error: message`), and the
/// running configuration stays until a later version validates.
public struct DeviceMapWatcher: Service {
    private let gateway: Gateway
    private let settings: DeviceMapWatch
    private let logger: Logger

    /// Creates the watcher of a gateway (`Gateway.services` does, when given watch settings).
    public init(gateway: Gateway, settings: DeviceMapWatch, logger: Logger) {
        self.gateway = gateway
        self.settings = settings
        self.logger = logger
    }

    private enum Trigger: Sendable {
        case tick
        case signal(UnixSignal)
    }

    /// Watches until the service group shuts down.
    public func run() async throws {
        // Taken first: the gateway started with the files as they are now.
        let initial = MapFiles(paths: settings.paths, configurationFile: settings.configurationFile)
        let (triggers, continuation) = AsyncStream.makeStream(of: Trigger.self, bufferingPolicy: .bufferingNewest(8))
        // Trapped here rather than in a child task, so that once the log line below is out a
        // signal reloads instead of taking its default action (SIGHUP ends a process).
        let signals = settings.signals.isEmpty ? nil : await UnixSignalsSequence(trapping: settings.signals)
        logger.info(
            "watching device maps for changes",
            metadata: [
                "paths": "\(settings.paths.joined(separator: ","))",
                "interval": "\(settings.interval?.mapText ?? "off")",
                "signals": "\(settings.signals.map { "\($0)" }.joined(separator: ","))",
            ])

        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                if let signals {
                    group.addTask {
                        for await signal in signals { continuation.yield(.signal(signal)) }
                    }
                }
                if let interval = settings.interval {
                    group.addTask {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: interval)
                            continuation.yield(.tick)
                        }
                    }
                }
                await handle(triggers, from: initial)
                group.cancelAll()
            }
        }
        continuation.finish()
    }

    /// Reacts to each trigger until the stream ends (its task cancelled).
    private func handle(_ triggers: AsyncStream<Trigger>, from initial: MapFiles) async {
        var files = initial
        var settling = SettledChange(applied: files.mapContent)
        var configurationContent = files.configurationContent
        for await trigger in triggers {
            files.refresh()
            if files.configurationContent != configurationContent {
                configurationContent = files.configurationContent
                logger.notice(
                    "the gateway configuration file changed; it is not reloaded: restart edgegate to apply it",
                    metadata: ["file": "\(settings.configurationFile ?? "")"])
            }
            switch trigger {
            case .signal(let signal):
                await reload(trigger: "\(signal)")
            case .tick:
                guard settling.isSettledChange(files.mapContent) else { continue }
                await reload(trigger: "file change")
            }
            settling.reloaded(files.mapContent)
        }
    }

    /// Validates the maps as they are on disk and applies them, or logs why not.
    private func reload(trigger: String) async {
        settings.reloading?.began()
        defer { settings.reloading?.ended() }
        let (map, diagnostics) = gateway.protocols.loader.validate(paths: settings.paths)
        guard let map else {
            let errors = diagnostics.filter { $0.severity == .error }.count
            gateway.countReload(
                ReloadRecord(
                    outcome: .rejected, trigger: trigger, message: "\(errors) error(s) in the device maps; the running configuration stays",
                    diagnostics: diagnostics.map(\.description)))
            logger.warning(
                "device-map reload rejected: the running configuration stays",
                metadata: [
                    "trigger": "\(trigger)", "errors": "\(errors)",
                ])
            log(diagnostics)
            return
        }
        log(diagnostics)
        do {
            try await gateway.reload(to: map, trigger: trigger)
        } catch {
            logger.warning(
                "device-map reload rejected: the running configuration stays",
                metadata: [
                    "trigger": "\(trigger)", "error": "\(error)",
                ])
        }
    }

    /// One line per diagnostic, in the compiler form editors and CI logs link.
    private func log(_ diagnostics: [Diagnostic]) {
        for diagnostic in diagnostics {
            logger.log(level: diagnostic.severity == .error ? .error : .warning, "\(diagnostic.description)")
        }
    }
}

/// Decides when changed files have settled enough to reload: when they differ from what the
/// last reload saw and look the same on two checks in a row. An editor that saves in two steps
/// (truncate, then write) is seen half-way at most once, so it causes one reload, not two.
struct SettledChange {
    /// The content the last reload saw (applied or rejected: a rejected version is not
    /// retried until it changes).
    private(set) var applied: [String: UInt64]
    /// A changed content seen on the previous check, waiting for a second look.
    private var candidate: [String: UInt64]?

    init(applied: [String: UInt64]) {
        self.applied = applied
    }

    /// Records one check; true when it is time to reload.
    mutating func isSettledChange(_ content: [String: UInt64]) -> Bool {
        if content == applied {
            candidate = nil
            return false
        }
        if content == candidate { return true }
        candidate = content
        return false
    }

    /// Records the content a reload saw (whatever triggered it).
    mutating func reloaded(_ content: [String: UInt64]) {
        applied = content
        candidate = nil
    }
}

/// The device-map files and the configuration file as last seen: size, modification time and
/// a hash of the content of each. The content is read again only when size or time changed.
struct MapFiles {
    struct Stamp: Equatable {
        var size: UInt64
        var modified: Date
        var hash: UInt64
    }

    let paths: [String]
    let configurationFile: String?
    private(set) var maps: [String: Stamp] = [:]
    private(set) var configuration: Stamp?

    init(paths: [String], configurationFile: String?) {
        self.paths = paths
        self.configurationFile = configurationFile
        refresh()
    }

    /// What decides whether the maps changed: which files there are and what they hold.
    var mapContent: [String: UInt64] { maps.mapValues(\.hash) }

    /// The configuration file's content hash; nil when it cannot be read.
    var configurationContent: UInt64? { configuration?.hash }

    /// Looks at the files again.
    mutating func refresh() {
        var next: [String: Stamp] = [:]
        for file in DeviceMapLoader.files(paths: paths) {
            if let stamp = Self.stamp(file, previous: maps[file]) { next[file] = stamp }
        }
        maps = next
        configuration = configurationFile.flatMap { Self.stamp($0, previous: configuration) }
    }

    private static func stamp(_ file: String, previous: Stamp?) -> Stamp? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
            let size = (attributes[.size] as? NSNumber)?.uint64Value,
            let modified = attributes[.modificationDate] as? Date
        else { return nil }
        if let previous, previous.size == size, previous.modified == modified { return previous }
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        return Stamp(size: size, modified: modified, hash: fnv1a(data))
    }

    /// 64-bit FNV-1a: stable, fast, and plenty to tell one version of a file from the next.
    static func fnv1a(_ data: Data) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}
