import Admin
import ArgumentParser
import CommandSupport
import DevTools
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Logging
import MQTTClient
import ServiceLifecycle
import Uplink

/// `edgegate demo`: the whole system locally, in one command.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract:
            "Run the whole system locally: PKI, mutual-TLS hub, the simulators the maps need (Modbus, a site broker with zigbee2mqtt doors, a Hue bridge), the gateway, live readings and command round trips.",
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

    @Option(help: "Port of the admin endpoint and its web console on 127.0.0.1 (0: none).")
    var adminPort: Int = 9360

    @OptionGroup var logging: LoggingOptions

    /// The gateway configuration the demo runs on: the same YAML a user writes for `run`,
    /// embedded so that the demo needs no file of its own.
    static func configurationYAML(gatewayID: String, maps: [String], certs: String, hubPort: Int, runDir: String, adminPort: Int = 0) -> String {
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : "\(cwd)/\(path)" }
        let admin =
            adminPort > 0
            ? "admin: { listen: 127.0.0.1:\(adminPort), token_file: \"\(absolute(runDir))/admin.token\" }" : "admin: { listen: off }"
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
            \(admin)
            """
    }

    /// The admin token of the demo's console: `admin.token` in the run folder, made once
    /// (32 random bytes, hex, readable by its owner only) and kept for the next runs.
    static func demoAdminToken(runDir: String) throws -> String {
        let path = "\(runDir)/admin.token"
        if FileManager.default.fileExists(atPath: path) { return path }
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        guard FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw failOperation("error: cannot write the console's token to \(path)")
        }
        return path
    }

    func run() async throws {
        var logger = logging.makeLogger("edgegate.demo")
        logger.logLevel = logging.logLevel
        let tokenFile = adminPort > 0 ? try Self.demoAdminToken(runDir: runDir) : nil
        let configYAML = Self.configurationYAML(
            gatewayID: gatewayID, maps: maps, certs: certs, hubPort: hubPort, runDir: runDir, adminPort: adminPort)
        let (parsed, diagnostics) = GatewayConfiguration.parse(yaml: configYAML, file: "<demo configuration>")
        guard let configuration = parsed else {
            throw failInput(diagnostics.map(\.description).joined(separator: "\n"))
        }
        let deviceMap = try loadDeviceMaps(configuration.devicemaps)
        let adminToken: AdminToken?
        do {
            adminToken = try configuration.admin.readToken()
        } catch {
            throw failInput(error.description)
        }

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

            let demo = demoContext(logger: logger)
            let gateway: Gateway
            do {
                for plugin in ProtocolRegistry.standard.plugins {
                    guard let simulation = plugin.ability((any DemoSimulation).self) else { continue }
                    var simulators: [RunningSimulator] = []
                    defer { started += simulators.map { simulator in ForegroundService { await simulator.stop() } } }
                    try await simulation.startSimulators(for: deviceMap, context: demo, started: &simulators)
                }
                do throws(GatewayError) {
                    gateway = try Gateway(configuration: configuration, deviceMap: deviceMap, logger: logger)
                } catch {
                    throw failInput(error.description)
                }
            } catch {
                await unwind()
                throw error
            }
            let operatorOptions = MQTTOptions(
                host: "127.0.0.1", port: hubPort, clientID: "operator-demo",
                tls: MQTTTLS(caFile: pki.caCert, certFile: pki.operatorCert, keyFile: pki.operatorKey, verifyHostname: true))
            // The operator watches before the gateway starts, so that it sees its first telemetry.
            let watching: MQTTConnection
            do throws(MQTTError) {
                watching = try await DemoConsole.watch(gateway: gatewayID, prefix: configuration.uplink.link.prefix, options: operatorOptions, logger: logger)
            } catch {
                await unwind()
                throw failOperation("error: the demo's operator cannot reach the hub: \(error)")
            }
            let console = DemoConsole(
                gateway: gatewayID, prefix: configuration.uplink.link.prefix, options: operatorOptions, hub: watching,
                commands: Self.demoCommands(for: deviceMap, context: demo),
                hint: Self.hint(for: deviceMap, context: demo), logger: logger)
            let admin: [any Service] =
                configuration.admin.listen.map { address in
                    [
                        AdminServer(
                            address: address, token: adminToken, source: gateway.adminSource, version: Edgegate.configuration.version,
                            logger: logger)
                    ]
                } ?? []
            if let address = configuration.admin.listen, let tokenFile {
                say("demo: web console on http://\(address)/ (writes ask for the token in \(tokenFile))")
            }
            // Shutdown runs in reverse: the admin endpoint, console, adapters, uplink, simulators, hub.
            return started + gateway.services + [console] + admin
        }
        say("demo: stopped the gateway, the simulators and the hub")
    }

    /// What the protocols' demo simulators need to know of this demo.
    private func demoContext(logger: Logger) -> DemoContext {
        var flags = ""
        if hubPort != 8883 { flags += " --hub mqtts://127.0.0.1:\(hubPort)" }
        if certs != "certs" { flags += " --certs \(certs)" }
        return DemoContext(
            gatewayID: gatewayID, hubFlags: flags, runDirectory: runDir,
            plugins: ProtocolRegistry.standard.plugins, logger: logger)
    }

    /// The hints of the protocols' demo simulations (how to try a device by hand), one per line.
    static func hint(for map: DeviceMap, context: DemoContext) -> String? {
        let hints = ProtocolRegistry.standard.plugins.compactMap { $0.ability((any DemoSimulation).self)?.hint(for: map, context: context) }
        return hints.isEmpty ? nil : hints.joined(separator: "\n")
    }

    /// The demo's commands: the boiler's `set_temperature` (see `demoCommand`), then those of
    /// the protocols' demo simulations (dimming the living-room Hue lamp up).
    static func demoCommands(for map: DeviceMap, context: DemoContext) -> [Command] {
        var commands = demoCommand(for: map).map { [$0] } ?? []
        for plugin in ProtocolRegistry.standard.plugins {
            commands += plugin.ability((any DemoSimulation).self)?.demoCommands(for: map, context: context) ?? []
        }
        return commands
    }

    /// The demo's command: the boiler's `set_temperature` to 21.5 °C when the map has it (a
    /// named command, the way an operator asks), else a write of the first writable numeric
    /// point, to the middle of its range.
    static func demoCommand(for map: DeviceMap) -> Command? {
        let id = DemoContext.newCommandID()
        if let boiler = map.devices.first(where: { $0.id == "boiler-1" }),
            boiler.commands.contains(where: { $0.name == "set_temperature" })
        {
            return Command(id: id, device: boiler.id, action: .named("set_temperature", arguments: ["celsius": .double(21.5)]))
        }
        for device in map.devices {
            for point in device.points where point.access.isWritable && point.descriptor.kind != .bool {
                let target: Double =
                    if device.id == "boiler-1" && point.name == "setpoint" {
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
