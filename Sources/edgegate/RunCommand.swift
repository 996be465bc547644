import Admin
import ArgumentParser
import CommandSupport
import DeviceMaps
import Gateway
import Logging
import MQTTClient
import MetricsExposition
import ServiceLifecycle
import UnixSignals
import Uplink

/// `edgegate run --config FILE`: the daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the gateway daemon until SIGTERM or SIGINT.",
        discussion: """
            A configuration or device map that does not validate stops it at start-up with exit code 2 and its diagnostics, \
            and so does an unsafe admin section (a token file others can read, or an empty one). \
            While it runs, it reloads the device maps on SIGHUP and when a map file changes; a version that does not \
            validate is rejected with its diagnostics and the running configuration stays.
            """)

    @Option(name: .shortAndLong, help: "The gateway configuration file (YAML).")
    var config: String

    @Option(help: "How often the device-map files are checked for changes; 0s: only reload on SIGHUP.")
    var mapWatchInterval = DurationArgument(.seconds(1))

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.makeLogger("edgegate")
        let configuration: GatewayConfiguration
        let map: DeviceMap
        do {
            configuration = try GatewayConfiguration.load(file: config)
            map = try DeviceMapLoader.standard.load(paths: configuration.devicemaps)
        } catch {
            throw failInput(error.description)
        }
        let adminToken: AdminToken?
        do {
            adminToken = try configuration.admin.readToken()
        } catch {
            throw failInput(error.description)
        }
        // Before the gateway: its parts count through `MetricsSystem` from the start.
        let metrics = MetricsExposition(version: Edgegate.configuration.version)
        metrics.bootstrap()
        // Under systemd (Type=notify): readiness, status, watchdog keep-alives, reloads, stopping.
        let notifier = SystemdNotifier()
        let gateway: Gateway
        do {
            let interval = mapWatchInterval.duration
            gateway = try Gateway(
                configuration: configuration, deviceMap: map, logger: logger,
                watch: DeviceMapWatch(
                    paths: configuration.devicemaps,
                    interval: interval > .zero ? interval : nil,
                    signals: [.sighup], configurationFile: config, reloading: notifier.reloadObserver))
        } catch {
            throw failInput(error.description)
        }
        // `metrics.scrape` is what GET /metrics serves.
        metrics.attach(gateway)
        logger.info(
            "gateway starting",
            metadata: [
                "gateway": "\(configuration.gatewayID)", "devices": "\(map.devices.count)",
                "hub": "\(configuration.uplink.link.connection.host):\(configuration.uplink.link.connection.port)",
                "profile": "\(configuration.uplink.profile.name)",
            ])
        // Services stop in reverse order: systemd hears STOPPING=1 first, then the admin
        // endpoint closes, then the gateway drains.
        let admin: [any Service] =
            configuration.admin.listen.map { address in
                [
                    AdminServer(
                        address: address, token: adminToken, source: gateway.adminSource, version: Edgegate.configuration.version,
                        metrics: { metrics.scrape() }, logger: logger)
                ]
            } ?? []
        let systemd = SystemdNotifyService(notifier: notifier, gateway: gateway, logger: logger)
        try await runUntilSignalled(logger: logger) { gateway.services + admin + [systemd] }
        logger.info("gateway stopped")
    }
}
