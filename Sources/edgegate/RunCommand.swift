import ArgumentParser
import DeviceMaps
import Gateway
import Logging

/// `edgegate run --config FILE`: the daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the gateway daemon until SIGTERM or SIGINT.",
        discussion: "A configuration or device map that does not validate stops it at start-up with exit code 2 and its diagnostics.")

    @Option(name: .shortAndLong, help: "The gateway configuration file (YAML).")
    var config: String

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
        let gateway: Gateway
        do {
            gateway = try Gateway(configuration: configuration, deviceMap: map, logger: logger)
        } catch {
            throw failInput(error.description)
        }
        logger.info("gateway starting", metadata: [
            "gateway": "\(configuration.gatewayID)", "devices": "\(map.devices.count)",
            "hub": "\(configuration.uplink.host):\(configuration.uplink.port)"])
        try await runUntilSignalled(gateway.services, logger: logger)
        logger.info("gateway stopped")
    }
}
