import Foundation
public import GatewayCore
import HTTPTypes
import Hummingbird
public import Logging
import NIOCore
public import ServiceLifecycle
public import Uplink

/// What the admin endpoint reads and drives of a running gateway (`Gateway.adminSource` makes
/// one from the gateway's parts).
public struct AdminSource: Sendable {
    /// The gateway id.
    public var gatewayID: String
    /// The devices of the device maps in force (the router's).
    public var devices: @Sendable () -> [DeviceDescriptor]
    /// Admits a command (the router's `submit`: validation, ledger, audit).
    public var submit: @Sendable (Command) -> Task<CommandResult, Never>
    /// The uplink's counters.
    public var uplinkStatistics: @Sendable () -> UplinkStatistics
    /// Whether the uplink has a session with the hub.
    public var uplinkConnected: @Sendable () -> Bool
    /// Latest readings, device states, readiness, events.
    public var live: LiveState
    /// Seconds since the oldest message in the outbox was sealed; nil when it holds none.
    public var outboxOldestAge: @Sendable () -> Double?
    /// Which hub, connected since when, reconnects, last error.
    public var uplinkLink: @Sendable () -> UplinkLink?
    /// Each device's polls by result.
    public var pollCounts: @Sendable () -> [String: PollCounts]

    /// Creates a source.
    public init(
        gatewayID: String, devices: @escaping @Sendable () -> [DeviceDescriptor],
        submit: @escaping @Sendable (Command) -> Task<CommandResult, Never>,
        uplinkStatistics: @escaping @Sendable () -> UplinkStatistics,
        uplinkConnected: @escaping @Sendable () -> Bool, live: LiveState,
        outboxOldestAge: @escaping @Sendable () -> Double? = { nil },
        uplinkLink: @escaping @Sendable () -> UplinkLink? = { nil },
        pollCounts: @escaping @Sendable () -> [String: PollCounts] = { [:] }
    ) {
        self.gatewayID = gatewayID
        self.devices = devices
        self.submit = submit
        self.uplinkStatistics = uplinkStatistics
        self.uplinkConnected = uplinkConnected
        self.live = live
        self.outboxOldestAge = outboxOldestAge
        self.uplinkLink = uplinkLink
        self.pollCounts = pollCounts
    }
}

/// The admin HTTP endpoint (Hummingbird), run as a service in the gateway's service group:
/// `/healthz`, `/readyz`, `/metrics` (the text it is given), and the JSON API under
/// `/api/v1` (docs/operations.md, "Admin endpoint").
///
/// Every write needs the bearer token; on a non-loopback address every request does. A port
/// that cannot be bound is logged as an error and the gateway keeps running without the
/// endpoint: the readings and commands through the hub matter more than the admin view.
public struct AdminServer: Service {
    /// Largest request body accepted (a command is a few hundred bytes).
    public static let maxBodyBytes = 64 * 1024
    /// A heartbeat older than this makes `/healthz` answer 503.
    public static let healthLimit = Duration.seconds(10)

    let address: AdminAddress
    let handler: AdminHandler
    let logger: Logger

    /// Creates the server.
    /// - Parameters:
    ///   - address: where to listen.
    ///   - token: the bearer token; nil: no writes, and only a loopback address is accepted
    ///     by `AdminSettings.parse`.
    ///   - version: the gateway's version, for `/api/v1/status`.
    ///   - metrics: the Prometheus text exposition for `/metrics`; nil: 404.
    public init(
        address: AdminAddress, token: AdminToken?, source: AdminSource, version: String,
        metrics: (@Sendable () -> [UInt8])? = nil, logger: Logger
    ) {
        self.address = address
        self.handler = AdminHandler(
            source: source, token: token, tokenForReads: !address.isLoopback, version: version, metrics: metrics, logger: logger)
        self.logger = logger
    }

    /// Serves until the group shuts down; a listener that cannot start is logged, not fatal.
    public func run() async throws {
        let router = Router(context: AdminRequestContext.self)
        handler.register(on: router)
        let logger = self.logger
        let address = self.address
        var httpLogger = logger
        // Hummingbird's own per-request lines are noise at the daemon's levels.
        httpLogger.logLevel = max(logger.logLevel, .notice)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                logger.info("admin endpoint listening", metadata: ["address": "\(AdminAddress(host: address.host, port: port))"])
            },
            logger: httpLogger)
        let live = handler.source.live
        do {
            try await withGracefulShutdownHandler {
                try await app.run()
            } onGracefulShutdown: {
                // Event streams never end on their own; the server waits for open responses.
                live.finishSubscriptions()
            }
        } catch {
            guard !Task.isCancelled else { return }
            logger.error(
                "admin endpoint cannot listen; the gateway runs without it",
                metadata: ["address": "\(address)", "error": "\(error)"])
            await waitUntilGracefulShutdown()
        }
    }

    private func waitUntilGracefulShutdown() async {
        try? await gracefulShutdown()
    }
}

/// The request context: Hummingbird's basics and the client's address, for `by` in commands.
struct AdminRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// `127.0.0.1`, `::1`, or `unknown`.
    var clientAddress: String { remoteAddress?.ipAddress ?? "unknown" }
}
