import ArgumentParser
import CommandSupport
import DeviceMaps

/// `edgegate sim modbus`: a Modbus TCP server, or a Modbus RTU bus on a serial device, whose
/// registers follow a device map.
struct SimModbusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modbus",
        abstract: "Serve a device map's Modbus points over TCP, or its RTU devices on a serial device: read-only values change over time, writes are kept.",
        discussion: """
            With --serial, each RTU device of the map answers under its unit id on the given \
            device, with the line settings of its bus in the map; unit ids no device has stay \
            silent. For a test without hardware, make a pseudo-terminal pair and give one end \
            here and the other to the gateway:
              socat -d -d pty,raw,echo=0,link=/tmp/sim pty,raw,echo=0,link=/tmp/gateway
            """)

    @Option(help: "A device map file or folder.")
    var map: String

    @Option(help: "TCP port.")
    var port: Int = 1502

    @Option(help: "IPv4 address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Only the devices whose connection uses this port (default: every Modbus device of the map).")
    var devicesOnPort: Int?

    @Option(help: "Serve the map's Modbus RTU devices on this serial device instead of TCP (e.g. one end of a socat pseudo-terminal pair).")
    var serial: String?

    @Option(help: "With --serial: only the RTU devices of this bus (their `serial:` in the map); needed when the map has several buses.")
    var devicesOnSerial: String?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if devicesOnSerial != nil && serial == nil {
            throw ValidationError("--devices-on-serial needs --serial, the device to serve them on")
        }
        if serial != nil && devicesOnPort != nil {
            throw ValidationError("--devices-on-port selects TCP devices; with --serial use --devices-on-serial")
        }
    }

    // Not optimized: Swift 6.3.1's CopyPropagation pass crashes on this function in release
    // builds ("Found ownership error": the connection's transport used after its borrow
    // ends). Nothing here is hot.
    @_optimize(none)
    func run() async throws {
        let logger = logging.makeLogger("edgegate.sim")
        let deviceMap = try loadDeviceMaps([map])
        let modbus = deviceMap.devices.filter { $0.protocolName == ModbusSyntax.name }
        let devices: [DeviceDefinition]
        let simulator: ModbusSimulator
        if let serial {
            let (bus, members) = try rtuBus(of: modbus)
            devices = members
            simulator = ModbusSimulator(
                devices: devices,
                serial: ModbusSerialPort(
                    device: serial, baud: bus.baud, parity: bus.parity, dataBits: bus.dataBits, stopBits: bus.stopBits), logger: logger)
        } else {
            devices = modbus.filter { devicesOnPort == nil || $0.modbusConnection.port == devicesOnPort }
            simulator = try ModbusSimulator(devices: devices, host: host, port: port, logger: logger)
        }
        try await runUntilSignalled(logger: logger) {
            do {
                try simulator.start()
            } catch {
                throw failOperation("error: \(error)")
            }
            let units = serial == nil ? "" : " (unit " + devices.map { "\($0.modbusConnection.unitID)" }.joined(separator: ", ") + ")"
            say("Modbus simulator on \(simulator.transport.endpoint) serving \(devices.map(\.id).joined(separator: ", "))\(units); Ctrl-C stops it")
            return [ForegroundService { simulator.stop() }]
        }
    }

    /// The RTU devices to serve, all on one bus of the map, and that bus's line settings
    /// (the loader made sure its devices agree on them).
    private func rtuBus(of devices: [DeviceDefinition]) throws -> (ModbusSerialPort, [DeviceDefinition]) {
        let rtu = devices.compactMap { device -> (ModbusSerialPort, DeviceDefinition)? in
            guard case .rtu(let port) = device.modbusConnection.transport else { return nil }
            return devicesOnSerial == nil || port.device == devicesOnSerial ? (port, device) : nil
        }
        var buses: [String] = []
        for (port, _) in rtu where !buses.contains(port.device) { buses.append(port.device) }
        guard let first = rtu.first else {
            let which = devicesOnSerial.map { " on \($0)" } ?? ""
            throw failInput("error: \(map) has no Modbus RTU devices\(which) (a device with connection: { serial: ... })")
        }
        guard buses.count == 1 else {
            throw failInput(
                "error: \(map) has Modbus RTU devices on \(buses.count) buses (\(buses.joined(separator: ", "))): choose one with --devices-on-serial")
        }
        return (first.0, rtu.map(\.1))
    }
}
