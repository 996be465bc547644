import ArgumentParser
import DeviceMaps
import DevTools
import Foundation
import Gateway
import GatewayCore
import HueAdapter
import Logging
import ModbusAdapter
import MQTTClient
import MQTTDevicesAdapter
import ServiceLifecycle
import Simulators

/// `edgegate demo`: the whole system locally, in one command.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole system locally: PKI, mutual-TLS hub, the simulators the maps need (Modbus, a site broker with zigbee2mqtt doors, a Hue bridge), the gateway, live readings and command round trips.",
        discussion: "Runs until Ctrl-C, then stops everything it started, the mosquitto child process included.")

    @Option(help: "Device maps to simulate and poll (files or folders).")
    var maps: [String] = ["devicemaps"]

    @Option(help: "Folder of the development PKI; created when missing.")
    var certs: String = "certs"

    @Option(help: "TLS port of the local hub.")
    var hubPort: Int = 8883

    @Option(help: "Folder for the hub's configuration and log, and the gateway's outbox.")
    var runDir: String = "var/demo"

    @Option(help: "The gateway id.")
    var gatewayID: String = "gw-1"

    @OptionGroup var logging: LoggingOptions

    /// The gateway configuration the demo runs on: the same YAML a user writes for `run`,
    /// embedded so that the demo needs no file of its own.
    static func configurationYAML(gatewayID: String, maps: [String], certs: String, hubPort: Int, runDir: String) -> String {
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : "\(cwd)/\(path)" }
        return """
            gateway:
              id: \(gatewayID)
              devicemaps: [\(maps.map { "\"\(absolute($0))\"" }.joined(separator: ", "))]
            uplink:
              profile: mqtt
              url: mqtts://127.0.0.1:\(hubPort)
              prefix: edgegate
              tls: { ca: "\(absolute(certs))/ca.pem", cert: "\(absolute(certs))/gateway.pem", key: "\(absolute(certs))/gateway.key" }
            outbox:
              path: "\(absolute(runDir))/outbox.sqlite"
            """
    }

    func run() async throws {
        var logger = logging.makeLogger("edgegate.demo")
        logger.logLevel = logging.logLevel
        let configYAML = Self.configurationYAML(gatewayID: gatewayID, maps: maps, certs: certs, hubPort: hubPort, runDir: runDir)
        let (parsed, diagnostics) = GatewayConfiguration.parse(yaml: configYAML, file: "<demo configuration>")
        guard let configuration = parsed else {
            throw failInput(diagnostics.map(\.description).joined(separator: "\n"))
        }
        let deviceMap = try loadDeviceMaps(configuration.devicemaps)

        try await runUntilSignalled(logger: logger) {
            // What has started, stopped in reverse order on the way out, also when a later
            // step fails: the hub first in, last out.
            var started: [ForegroundService] = []
            func unwind() async {
                for service in started.reversed() { await service.stop() }
            }
            say("demo: development PKI in \(certs)/")
            let pki = try await DevPKI.create(in: certs, gatewayID: gatewayID, logger: logger)
            let hub: LocalHub
            do {
                hub = try await LocalHub.start(HubConfiguration(port: hubPort, pki: pki, runDirectory: "\(runDir)/hub"), logger: logger)
            } catch {
                throw failOperation("error: the hub did not start: \(error)")
            }
            started.append(ForegroundService { await hub.stop() })
            say("demo: hub (mosquitto, mutual TLS) on 127.0.0.1:\(hubPort), pid \(hub.process.pid)")

            let gateway: Gateway
            do {
                try startModbusSimulators(deviceMap, logger: logger, into: &started)
                try await startDoorSensors(deviceMap, logger: logger, into: &started)
                try await startHueBridges(deviceMap, logger: logger, into: &started)
                do throws(GatewayError) {
                    gateway = try Gateway(configuration: configuration, deviceMap: deviceMap, logger: logger)
                } catch {
                    throw failInput(error.description)
                }
            } catch {
                await unwind()
                throw error
            }
            let operatorOptions = MQTTOptions(host: "127.0.0.1", port: hubPort, clientID: "operator-demo",
                                              tls: MQTTTLS(caFile: pki.caCert, certFile: pki.operatorCert, keyFile: pki.operatorKey, verifyHostname: true))
            // The operator watches before the gateway starts, so that it sees its first telemetry.
            let watching: MQTTConnection
            do throws(MQTTError) {
                watching = try await DemoConsole.watch(gateway: gatewayID, prefix: configuration.uplink.link.prefix, options: operatorOptions, logger: logger)
            } catch {
                await unwind()
                throw failOperation("error: the demo's operator cannot reach the hub: \(error)")
            }
            let console = DemoConsole(gateway: gatewayID, prefix: configuration.uplink.link.prefix, options: operatorOptions, hub: watching,
                                      commands: Self.demoCommands(for: deviceMap), hint: cliHint(for: deviceMap), logger: logger)
            // Shutdown runs in reverse: console, adapters, uplink, simulators, hub.
            return started + gateway.services + [console]
        }
        say("demo: stopped the gateway, the simulators and the hub")
    }

    /// One Modbus simulator per TCP port of the maps' Modbus devices.
    private func startModbusSimulators(_ deviceMap: DeviceMap, logger: Logger, into started: inout [ForegroundService]) throws {
        let tcp = deviceMap.devices.filter { $0.protocolName == ModbusSyntax.name && $0.modbusConnection.port != nil }
        for (port, devices) in Dictionary(grouping: tcp, by: { $0.modbusConnection.port ?? 0 }).sorted(by: { $0.key < $1.key }) {
            let simulator = try ModbusSimulator(devices: devices, port: port, logger: logger)
            do {
                try simulator.start()
            } catch {
                throw failOperation("error: the Modbus simulator did not start: \(error)")
            }
            started.append(ForegroundService { simulator.stop() })
            say("demo: Modbus simulator on 127.0.0.1:\(port) for \(devices.map(\.id).joined(separator: ", "))")
        }
    }

    /// For the maps' zigbee2mqtt devices on a plain loopback broker (`zigbee2mqtt/NAME`): a
    /// site broker on that port and door sensors publishing there as zigbee2mqtt does, as
    /// `edgegate sim doors` would.
    private func startDoorSensors(_ deviceMap: DeviceMap, logger: Logger, into started: inout [ForegroundService]) async throws {
        let doors = deviceMap.devices.compactMap { device -> (port: Int, name: String)? in
            guard let c = device.connection as? MQTTDeviceConnection, !c.broker.useTLS, c.broker.host == "127.0.0.1" else { return nil }
            let levels = c.topic(of: device.id).split(separator: "/", omittingEmptySubsequences: false)
            guard levels.count == 2, levels[0] == "zigbee2mqtt", !levels[1].contains("+"), !levels[1].contains("#") else { return nil }
            return (c.broker.port, String(levels[1]))
        }
        for (port, members) in Dictionary(grouping: doors, by: \.port).sorted(by: { $0.key < $1.key }) {
            let broker: SiteBroker
            do {
                broker = try await SiteBroker.start(SiteBroker.Configuration(port: port, runDirectory: "\(runDir)/site-broker-\(port)"),
                                                    logger: logger)
            } catch {
                throw failOperation("error: the site broker did not start: \(error)")
            }
            started.append(ForegroundService { await broker.stop() })
            let names = members.map(\.name)
            // Four times real time: each door opens about every 30 s (every 2 simulated minutes).
            let sensors = DoorSensorSimulator(options: MQTTOptions(host: "127.0.0.1", port: port, clientID: "zigbee2mqtt-demo"),
                                              doors: names, seed: 1, speed: 4, reportEvery: .seconds(30), logger: logger)
            do throws(MQTTError) {
                try await sensors.start()
            } catch {
                throw failOperation("error: the door sensors could not reach the site broker \(broker.url): \(error)")
            }
            started.append(ForegroundService { await sensors.stop() })
            say("demo: site broker (mosquitto) on \(broker.url), zigbee2mqtt door sensors \(names.joined(separator: ", "))")
        }
    }

    /// For the maps' Hue devices on a loopback bridge: a simulated bridge on that port, paired
    /// the way `edgegate hue pair` does (link button, then `POST /api`), and the username put
    /// where the map looks for it (`username_env`), unless that variable is set already, whose
    /// value the bridge then accepts too.
    private func startHueBridges(_ deviceMap: DeviceMap, logger: Logger, into started: inout [ForegroundService]) async throws {
        let hue = deviceMap.devices.compactMap { $0.connection as? HueConnection }.filter { $0.bridge.host == "127.0.0.1" }
        for (bridge, connections) in Dictionary(grouping: hue, by: \.bridge).sorted(by: { $0.key.port < $1.key.port }) {
            let simulator = HueBridgeSimulator(port: bridge.port, logger: logger)
            do {
                try await simulator.start()
            } catch {
                throw failOperation("error: the Hue bridge simulator did not start on \(bridge.url): \(error)")
            }
            started.append(ForegroundService { await simulator.stop() })
            simulator.pressLinkButton()
            let username: String
            do throws(HueError) {
                username = try await HuePairing.pair(bridge: bridge, devicetype: "edgegate#demo", timeout: .seconds(10))
            } catch {
                throw failOperation("error: pairing with the Hue bridge simulator failed: \(error)")
            }
            var variables: Set<String> = []
            for connection in connections {
                switch connection.username {
                case .literal(let name): simulator.addUsername(name)
                case .environment(let variable):
                    if let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty {
                        simulator.addUsername(value)
                    } else {
                        setenv(variable, username, 1)
                        variables.insert(variable)
                    }
                }
            }
            let paired = variables.isEmpty ? "" : ", paired (username in \(variables.sorted().joined(separator: ", ")))"
            say("demo: Hue bridge simulator on \(bridge.url)\(paired)")
        }
    }

    /// How to switch the demo's Hue lamp from another terminal with the operator CLI, when the
    /// maps have it.
    private func cliHint(for map: DeviceMap) -> String? {
        guard let lamp = map.devices.first(where: { $0.id == "living-room-lamp" }),
              lamp.commands.contains(where: { $0.name == "switch_off" }) else { return nil }
        var flags = "--gateway \(gatewayID) --device \(lamp.id) --command switch_off"
        if hubPort != 8883 { flags += " --hub mqtts://127.0.0.1:\(hubPort)" }
        if certs != "certs" { flags += " --certs \(certs)" }
        return "demo: switch the lamp off from another terminal: edgegate command send \(flags)"
    }

    /// The demo's commands: the boiler's `set_temperature` (see `demoCommand`), then dimming the
    /// living-room Hue lamp up when the maps have it.
    static func demoCommands(for map: DeviceMap) -> [Command] {
        var commands = demoCommand(for: map).map { [$0] } ?? []
        if let lamp = map.devices.first(where: { $0.id == "living-room-lamp" }), lamp.commands.contains(where: { $0.name == "dim" }) {
            commands.append(Command(id: newCommandID(), device: lamp.id,
                                    action: .named("dim", arguments: ["level": .int(200), "seconds": .double(2)])))
        }
        return commands
    }

    /// A fresh command id: `demo-` and 8 hex digits.
    static func newCommandID() -> String {
        "demo-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// The demo's command: the boiler's `set_temperature` to 21.5 °C when the map has it (a
    /// named command, the way an operator asks), else a write of the first writable numeric
    /// point, to the middle of its range.
    static func demoCommand(for map: DeviceMap) -> Command? {
        let id = newCommandID()
        if let boiler = map.devices.first(where: { $0.id == "boiler-1" }),
           boiler.commands.contains(where: { $0.name == "set_temperature" }) {
            return Command(id: id, device: boiler.id, action: .named("set_temperature", arguments: ["celsius": .double(21.5)]))
        }
        for device in map.devices {
            for point in device.points where point.access.isWritable && point.descriptor.kind != .bool {
                let target: Double = if device.id == "boiler-1" && point.name == "setpoint" {
                    21.5
                } else {
                    ((point.min ?? 0) + (point.max ?? 100)) / 2
                }
                let value: Value = point.descriptor.kind == .integer ? .int(Int64(target.rounded())) : .double(target)
                return Command(id: id, device: device.id, action: .write([point.name: value]))
            }
        }
        return nil
    }
}


/// Prints a line and flushes it at once. Live readings are the point of the demo, also when
/// its output goes to a pipe or a file, where stdout is otherwise fully buffered.
/// (`fflush(nil)` flushes every stream without naming the C global `stdout`.)
func say(_ line: String) {
    print(line)
    fflush(nil)
}
