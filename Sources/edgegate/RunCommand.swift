import Admin
import ArgumentParser
import CommandSupport
import DeviceMaps
import Gateway
import Logging
import MQTTClient
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
        let gateway: Gateway
        do {
            let interval = mapWatchInterval.duration
            gateway = try Gateway(
                configuration: configuration, deviceMap: map, logger: logger,
                watch: DeviceMapWatch(
                    paths: configuration.devicemaps,
                    interval: interval > .zero ? interval : nil,
                    signals: [.sighup], configurationFile: config))
        } catch {
            throw failInput(error.description)
        }
        logger.info(
            "gateway starting",
            metadata: [
                "gateway": "\(configuration.gatewayID)", "devices": "\(map.devices.count)",
                "hub": "\(configuration.uplink.link.connection.host):\(configuration.uplink.link.connection.port)",
                "profile": "\(configuration.uplink.profile.name)",
            ])
        // The admin endpoint stops first at shutdown (services stop in reverse order).
        let admin: [any Service] =
            configuration.admin.listen.map { address in
                [AdminServer(address: address, token: adminToken, source: gateway.adminSource, version: Edgegate.configuration.version, logger: logger)]
            } ?? []
        try await runUntilSignalled(logger: logger) { gateway.services + admin }
        logger.info("gateway stopped")
    }
}
