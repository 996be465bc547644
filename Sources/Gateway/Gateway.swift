public import Admin
public import CoreMetrics
public import DeviceMaps
public import Foundation
public import GatewayCore
public import Logging
import MQTTClient
public import ServiceLifecycle
import Storage
import Synchronization
public import Uplink

/// Why a gateway could not be assembled from its configuration.
public enum GatewayError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The configuration names something this build cannot do.
    case unsupported(String)
    /// The outbox file cannot be opened (a damaged file is not this: it is moved aside).
    case outbox(String)
    /// The command ledger (`commands.sqlite` next to the outbox) cannot be opened.
    case commandLedger(String)

    /// A sentence for the operator.
    public var description: String {
        switch self {
        case .unsupported(let what), .outbox(let what), .commandLedger(let what): return what
        }
    }
}

/// A configured gateway: adapters for the device map, the command router joining commands
/// to devices, and the uplink. It only assembles; `services` run under a `ServiceGroup`.
/// `reload(to:trigger:)` switches it to a new version of the device maps while it runs.
public struct Gateway: Sendable {
    /// The northbound link.
    public let uplink: MQTTUplink
    /// The one place where commands reach devices.
    public let router: CommandRouter
    /// One adapter per protocol of `protocols`, in its order.
    public let adapters: [any MapAdapter]
    /// The protocols this gateway serves.
    public let protocols: ProtocolRegistry
    /// Report by exception, between the adapters and the uplink.
    public let reportFilter: ReportFilter
    /// What the admin endpoint shows: latest readings, device states, readiness, events.
    public let live: LiveState
    /// The gateway id of the configuration.
    public let gatewayID: String

    /// Readings by quality, devices up, polls: per device, following the maps.
    public let deviceMetrics: DeviceMetrics

    private let applied: AppliedMap
    private let watch: DeviceMapWatch?
    private let logger: Logger
    /// `edgegate_map_reloads_total{result}`: `ok` (applied) or `rejected` (the running maps stay).
    private let reloads: (ok: Counter, rejected: Counter)

    /// Builds the gateway; nothing connects until its services run.
    /// - Parameters:
    ///   - watch: when and what to reload while running (`edgegate run` watches the files of
    ///     `configuration.devicemaps` and reloads on SIGHUP); nil: only `reload(to:trigger:)`.
    ///   - tuning: adjusts the uplink's settings beyond the configuration file (tests, demo).
    ///   - wallClock: what SAS token expiries are counted from (tests pin it).
    ///   - protocols: the protocols served (a test adds its own to the standard ones).
    ///   - metrics: where every part of the gateway counts (the executable bootstraps
    ///     `MetricsSystem`; a test passes a factory with a registry of its own).
    /// - Throws: `GatewayError`; the outbox is opened (and checked) here, so a file that
    ///   cannot be opened stops the start-up with its reason.
    public init(
        configuration: GatewayConfiguration, deviceMap: DeviceMap, logger: Logger,
        watch: DeviceMapWatch? = nil,
        tuning: (inout MQTTUplinkConfiguration) -> Void = { _ in },
        wallClock: @escaping @Sendable () -> Date = { Date() },
        protocols: ProtocolRegistry = .standard,
        metrics: any MetricsFactory = MetricsSystem.factory
    ) throws(GatewayError) {
        try Self.checkProtocols(deviceMap, protocols)
        let adapters = protocols.makeAdapters(deviceMap.devices, logger: logger)
        // The outbox first: a start-up stopped by a file names the outbox before the ledger beside it.
        let outbox: OutboxStore
        do {
            outbox = try OutboxStore.open(configuration.outbox, logger: logger, metrics: metrics)
        } catch {
            throw .outbox("outbox: cannot open \(error)")
        }
        if configuration.outbox.isInMemory {
            logger.warning(
                "outbox is in memory (`path: :memory:`): telemetry not yet delivered is lost on a restart and seq starts again at 1; for tests and benchmarks only"
            )
        }
        if !configuration.outbox.isInMemory {
            let folder = (configuration.outbox.path as NSString).deletingLastPathComponent
            for case let keeper as any StateKeeping in adapters { keeper.keepState(in: folder.isEmpty ? "." : folder) }
        }
        let live = LiveState()
        let router = CommandRouter(
            adapters: adapters, ledger: try Self.commandLedger(configuration.outbox, configuration.commands, logger: logger),
            logger: logger, metrics: metrics, observer: { live.record($0, $1, duration: $2) })
        var link = configuration.uplink.link
        tuning(&link)
        let profile = configuration.uplink.profile.makeProfile(link: link, logger: logger, now: wallClock)
        self.uplink = MQTTUplink(
            configuration: link, outbox: outbox, devices: router.devices,
            handler: { router.submit($0) }, logger: logger, profile: profile, metrics: metrics)
        self.router = router
        self.adapters = adapters
        self.protocols = protocols
        self.reportFilter = ReportFilter(policies: Self.reportPolicies(deviceMap))
        self.live = live
        self.gatewayID = configuration.gatewayID
        self.applied = AppliedMap(deviceMap)
        self.watch = watch
        self.logger = logger
        self.deviceMetrics = DeviceMetrics(devices: Self.metricDevices(deviceMap), factory: metrics)
        live.describe(polls: Self.pollPeriods(deviceMap))
        self.reloads = (
            Counter(label: MetricNames.mapReloads, dimensions: [("result", "ok")], factory: metrics),
            Counter(label: MetricNames.mapReloads, dimensions: [("result", "rejected")], factory: metrics)
        )
    }

    private static func metricDevices(_ map: DeviceMap) -> [(id: String, protocolName: String)] {
        map.devices.map { ($0.id, $0.protocolName) }
    }

    private static func pollPeriods(_ map: DeviceMap) -> [String: Duration] {
        Dictionary(map.devices.map { ($0.id, $0.poll) }, uniquingKeysWith: { first, _ in first })
    }

    /// Brings the gauges that are read rather than counted up to date (the outbox's backlog
    /// and its age): what a metrics scrape calls first.
    public func updateMetrics() {
        uplink.updateMetrics()
    }

    /// Counts a reload of the device maps, applied or rejected, and keeps its outcome for
    /// the admin endpoint.
    func countReload(_ record: ReloadRecord) {
        (record.outcome == .applied ? reloads.ok : reloads.rejected).increment()
        live.recordReload(record)
    }

    /// The command ledger, `commands.sqlite` in the outbox's folder: commands answered are
    /// remembered there for `commands.remember` (24 hours; at most `max_ids`, 100,000), so a repeated id is answered
    /// `duplicate` also after a restart. With an in-memory outbox (tests, benchmarks) the
    /// router's in-memory window is all there is.
    static func commandLedger(
        _ outbox: OutboxConfiguration, _ commands: CommandSettings,
        logger: Logger
    ) throws(GatewayError) -> (any CommandLedger)? {
        guard !outbox.isInMemory else { return nil }
        let folder = (outbox.path as NSString).deletingLastPathComponent
        let path = folder.isEmpty ? "commands.sqlite" : folder + "/commands.sqlite"
        do {
            return try SQLiteCommandLedger(path: path, window: commands.remember, capacity: commands.maxIDs, logger: logger)
        } catch {
            throw .commandLedger("command ledger: cannot open \(error)")
        }
    }

    /// Device id → point → policy, for the points that have one (their own or their device's).
    static func reportPolicies(_ map: DeviceMap) -> [String: [String: ReportPolicy]] {
        Dictionary(map.devices.map { ($0.id, $0.reportPolicies) }, uniquingKeysWith: { a, _ in a })
            .filter { !$0.value.isEmpty }
    }

    /// The loader refuses unknown protocols; a map built in code must not lose devices silently either.
    private static func checkProtocols(_ deviceMap: DeviceMap, _ protocols: ProtocolRegistry) throws(GatewayError) {
        if let other = deviceMap.devices.first(where: { protocols.plugin(named: $0.protocolName) == nil }) {
            let known = protocols.plugins.map(\.name).joined(separator: ", ")
            throw .unsupported("device \(other.id): unknown protocol '\(other.protocolName)'; known: \(known)")
        }
    }

    /// The services in start order. The uplink comes first so that a graceful shutdown,
    /// which runs in reverse order, stops the adapters before the uplink drains; the device-map
    /// watcher (when configured) comes next to last, so reloads stop before anything else does,
    /// and the live state's loop last: readiness turns false first at shutdown.
    public var services: [any Service] {
        let filtered = uplink.sink.map { [reportFilter] in reportFilter.filter($0) }
        // The live state sees every reading, also those report by exception holds back: the
        // admin view shows the latest value and its time.
        // Derived devices see every reading too, and emit what they compute into this same
        // sink (they ignore their own readings when those come back).
        let observers = adapters.compactMap { $0 as? any ReadingObserver }
        let observed = ReadingSink(ready: { filtered.isReady }) { [live] readings in
            live.observe(readings)
            filtered.emit(readings)
            for observer in observers { observer.observe(readings) }
        }
        // Counted before the filter too: what the devices delivered, reported or not.
        let sink = observed.counting(into: deviceMetrics)
        let watcher: [any Service] = watch.map { [DeviceMapWatcher(gateway: self, settings: $0, logger: logger)] } ?? []
        let liveLoop = LiveStateService(live: live, uplinkConnected: { [uplink] in uplink.isConnected })
        return [uplink] + adapters.map { AdapterService(adapter: $0, sink: sink) } + watcher + [liveLoop]
    }

    /// What the admin endpoint reads and drives: this gateway's router, uplink and live state.
    public var adminSource: AdminSource {
        let router = self.router
        let uplink = self.uplink
        return AdminSource(
            gatewayID: gatewayID, devices: { router.devices }, submit: { router.submit($0) },
            uplinkStatistics: { uplink.statistics }, uplinkConnected: { uplink.isConnected }, live: live,
            outboxOldestAge: { uplink.outboxOldestAge }, uplinkLink: { uplink.link },
            pollCounts: { [deviceMetrics] in deviceMetrics.pollCounts })
    }

    /// Switches the running gateway to a new, validated version of the device maps, and logs
    /// one line saying what changed.
    ///
    /// Devices are compared by id, ignoring source locations (`DeviceMapDiff`): removed devices
    /// stop polling, added ones start, changed ones restart with their new definition, and
    /// unchanged ones keep polling without a gap, also when they share a connection with a
    /// changed device. Then the router validates commands against the new devices and the
    /// uplink republishes the retained inventory. Reloads run one at a time, in call order.
    /// - Parameter trigger: why the reload happens, for the log line (`SIGHUP`, `file change`).
    /// - Returns: what changed.
    /// - Throws: `GatewayError.unsupported` for a device this build cannot serve; nothing
    ///   changes then.
    @discardableResult
    public func reload(to deviceMap: DeviceMap, trigger: String = "request") async throws(GatewayError) -> DeviceMapDiff {
        do {
            try Self.checkProtocols(deviceMap, protocols)
        } catch {
            countReload(ReloadRecord(outcome: .rejected, trigger: trigger, message: error.description))
            throw error
        }
        let diff = await applied.replace(with: deviceMap) { diff in
            guard !diff.isEmpty else { return }
            // Before the adapters, which ask for the poll metrics of the devices they start.
            deviceMetrics.update(devices: Self.metricDevices(deviceMap))
            // Adapters first, router second: a command to an added device finds it running.
            await withTaskGroup(of: Void.self) { group in
                for (plugin, adapter) in zip(protocols.plugins, adapters) {
                    group.addTask { await adapter.update(devices: plugin.own(deviceMap.devices)) }
                }
            }
            let before = router.devices
            router.update(adapters: adapters)
            let after = router.devices
            if after != before { uplink.update(devices: after) }
            live.retain(devices: Set(after.map(\.id)))
            live.describe(polls: Self.pollPeriods(deviceMap))
            reportFilter.update(policies: Self.reportPolicies(deviceMap))
        }
        let changes = [("added", diff.added.map(\.id)), ("changed", diff.changed.map(\.id)), ("removed", diff.removed)]
            .filter { !$0.1.isEmpty }.map { "\($0.0) \($0.1.count) (\($0.1.joined(separator: ", ")))" }
        countReload(
            ReloadRecord(
                outcome: .applied, trigger: trigger,
                message: changes.isEmpty ? "no device changed" : changes.joined(separator: "; ")))
        logger.info(
            "device maps reloaded",
            metadata: [
                "trigger": "\(trigger)",
                "added": "\(Self.summary(diff.added.map(\.id)))", "changed": "\(Self.summary(diff.changed.map(\.id)))",
                "removed": "\(Self.summary(diff.removed))", "unchanged": "\(Self.summary(diff.unchanged))",
            ])
        return diff
    }

    /// `2 (a,b)` or `0`.
    private static func summary(_ ids: [String]) -> String {
        ids.isEmpty ? "0" : "\(ids.count) (\(ids.joined(separator: ",")))"
    }
}

/// The device map in force, replaced by one reload at a time.
private final class AppliedMap: Sendable {
    private struct State {
        var map: DeviceMap
        var busy = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(_ map: DeviceMap) {
        state = Mutex(State(map: map))
    }

    /// Waits for the reloads before it, runs `apply` with the difference to `map`, then makes
    /// `map` the current one. One at a time, because each diff must start from the version
    /// the previous reload left in force.
    func replace(with map: DeviceMap, _ apply: (DeviceMapDiff) async -> Void) async -> DeviceMapDiff {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let enter = state.withLock { s -> Bool in
                if !s.busy {
                    s.busy = true
                    return true
                }
                s.waiting.append(continuation)
                return false
            }
            if enter { continuation.resume() }
        }
        let diff = DeviceMapDiff(from: state.withLock { $0.map }, to: map)
        await apply(diff)
        state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.map = map
            if s.waiting.isEmpty {
                s.busy = false
                return nil
            }
            // The turn passes straight to the next caller; `busy` stays set.
            return s.waiting.removeFirst()
        }?.resume()
        return diff
    }
}

/// Runs one adapter as a service: until cancelled or gracefully shut down.
public struct AdapterService: Service {
    let adapter: any DeviceAdapter
    let sink: ReadingSink

    /// Wraps an adapter and the sink it feeds.
    public init(adapter: any DeviceAdapter, sink: ReadingSink) {
        self.adapter = adapter
        self.sink = sink
    }

    /// Runs the adapter until the service group stops it.
    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await adapter.run(sink: sink)
        }
    }
}
