import ArgumentParser
import DeviceMaps
import Simulators

/// `edgegate sim ...`: device simulators for demos and tests.
struct SimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Device simulators.",
        subcommands: [SimModbusCommand.self])
}

/// `edgegate sim modbus`: a Modbus TCP server whose registers follow a device map.
struct SimModbusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modbus",
        abstract: "Serve a device map's Modbus points over TCP: read-only values change over time, writes are kept.")

    @Option(help: "A device map file or folder.")
    var map: String

    @Option(help: "TCP port.")
    var port: Int = 1502

    @Option(help: "IPv4 address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Only the devices whose connection uses this port (default: every Modbus device of the map).")
    var devicesOnPort: Int?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.makeLogger("edgegate.sim")
        let deviceMap: DeviceMap
        do {
            deviceMap = try DeviceMapLoader.standard.load(paths: [map])
        } catch {
            throw failInput(error.description)
        }
        let devices = deviceMap.devices.filter { devicesOnPort == nil || $0.modbusConnection.port == devicesOnPort }
        try await runUntilSignalled(logger: logger) {
            let simulator = try ModbusSimulator(devices: devices, host: host, port: port, logger: logger)
            do {
                try simulator.start()
            } catch {
                throw failOperation("error: \(error)")
            }
            say("Modbus simulator on \(host):\(port) serving \(devices.map(\.id).joined(separator: ", ")); Ctrl-C stops it")
            return [ForegroundService { simulator.stop() }]
        }
    }
}
