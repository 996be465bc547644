import DevTools
import Foundation
import GatewayCore
import Logging
import MQTTClient
import TestSupport
import Testing
import Uplink

/// The `edgegate` executable, built next to this test bundle by `swift build --build-tests`.
func edgegateExecutable() throws -> String {
    let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("edgegate").path
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    for candidate in [besideTests, packageRoot.appendingPathComponent(".build/debug/edgegate").path]
    where FileManager.default.isExecutableFile(atPath: candidate) {
        return candidate
    }
    throw ProbeError("edgegate executable not found next to the tests; run `swift build --build-tests` first")
}

/// Runs the executable to completion and returns its exit status and combined output.
func runEdgegate(_ arguments: [String], in directory: TemporaryDirectory) async throws -> (status: Int32, output: String) {
    let out = directory.file("out-\(UUID().uuidString.prefix(6)).txt")
    let status = try await runEdgegate(arguments, stdout: .file(out, append: false), stderr: .file(out, append: true))
    return (status, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
}

/// Runs the executable to completion with its standard output in `file` (for output that is
/// itself data: JSON, a schema, a template) and returns its exit status.
func runEdgegate(_ arguments: [String], writingStdoutTo file: String) async throws -> Int32 {
    try await runEdgegate(arguments, stdout: .file(file, append: false), stderr: .discard)
}

private func runEdgegate(_ arguments: [String], stdout: ChildProcess.Output, stderr: ChildProcess.Output) async throws -> Int32 {
    let child = try TestProcess.spawn(try edgegateExecutable(), arguments, stdout: stdout, stderr: stderr)
    return try await withTimeout(.seconds(30), "edgegate \(arguments.first ?? "")") { await child.wait() }
}

/// `edgegate run` as a child process, with standard output and error in one log file.
struct Daemon {
    let process: ChildProcess
    /// The log file's path.
    let logFile: String

    /// Writes a configuration for the plant's hub (gateway certificate) with `devicemaps`
    /// relative to `directory`, followed by `extra` (more top-level YAML), and returns its path.
    static func writeConfiguration(
        for plant: Plant, devicemaps: String, in directory: TemporaryDirectory,
        extra: String = ""
    ) throws -> String {
        let certs = plant.hub.pki.directory
        let file = directory.file("gateway.yaml")
        try """
        gateway: { id: \(TestHub.gatewayID), devicemaps: [\(devicemaps)] }
        uplink:
          url: mqtts://127.0.0.1:\(plant.hub.port)
          tls: { ca: \(certs)/ca.pem, cert: \(certs)/gateway.pem, key: \(certs)/gateway.key }
        \(extra)
        """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// Writes the integration tests' boiler map for the plant's simulator as `boiler.yaml` and
    /// a configuration that loads it (`writeConfiguration`); returns the configuration's path.
    static func writeBoilerConfiguration(for plant: Plant, in directory: TemporaryDirectory, extra: String = "") throws -> String {
        try boilerMapYAML.replacingOccurrences(of: "PORT", with: "\(plant.modbusPort)")
            .write(toFile: directory.file("boiler.yaml"), atomically: true, encoding: .utf8)
        return try writeConfiguration(for: plant, devicemaps: "boiler.yaml", in: directory, extra: extra)
    }

    /// Starts `edgegate run --config configuration`, logging to `logName` in `directory`, and
    /// waits until its uplink is connected.
    static func start(
        configuration: String, arguments: [String] = [], in directory: TemporaryDirectory,
        logName: String = "daemon.log", environment: [String: String] = [:]
    ) async throws -> Daemon {
        let log = directory.file(logName)
        let process = try TestProcess.spawn(
            try edgegateExecutable(), ["run", "--config", configuration] + arguments,
            stdout: .file(log, append: false), stderr: .file(log, append: true), environment: environment)
        let daemon = Daemon(process: process, logFile: log)
        do {
            try await daemon.waitForLog("uplink connected", timeout: .seconds(20))
        } catch {
            _ = await process.stop()
            throw error
        }
        return daemon
    }

    /// Everything logged so far.
    var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    /// The log lines that contain `text`.
    func lines(containing text: String) -> [String] {
        log.split(separator: "\n").map(String.init).filter { $0.contains(text) }
    }

    /// Waits until `count` log lines contain `text`.
    func waitForLog(_ text: String, count: Int = 1, timeout: Duration = .seconds(10)) async throws {
        _ = try await waitFor("daemon log: \(count) × \(text)", timeout: timeout) {
            lines(containing: text).count >= count ? true : nil
        }
    }

    /// SIGTERM, then the exit status (bounded, so a hang fails the test).
    func stop() async throws -> Int32 {
        process.signal(SIGTERM)
        return try await withTimeout(.seconds(15), "daemon stop") { await process.wait() }
    }
}

@Suite("edgegate CLI", .serialized, .timeLimit(.minutes(2)))
struct CLITests {
    @Test("run stops at start-up with exit 2 and file:line:column diagnostics for a bad configuration")
    func runWithInvalidConfiguration() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = dir.file("gateway.yaml")
        try """
        gateway:
          id: gw-1
          devicemaps: [maps]
        uplink:
          url: mqtt://127.0.0.1:1883
          prefx: edgegate
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let (status, output) = try await runEdgegate(["run", "--config", config], in: dir)
        #expect(status == 2)
        #expect(output.contains("\(config):5:8: error:"), "\(output)")
        #expect(output.contains("\(config):6:3: error: uplink: unknown key 'prefx'"), "\(output)")
    }

    @Test("run stops with exit 2 when a device map does not validate")
    func runWithInvalidMap() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("maps"), withIntermediateDirectories: true)
        try """
        devices:
          - id: d1
            protocol: modbus
            connection: { host: 127.0.0.1 }
            points: { t: { table: holding, adress: 0 } }
        """.write(toFile: dir.file("maps/plant.yaml"), atomically: true, encoding: .utf8)
        try """
        gateway: { id: gw-1, devicemaps: [maps] }
        uplink: { url: "mqtt://127.0.0.1:1883", insecure: true }
        """.write(toFile: dir.file("gateway.yaml"), atomically: true, encoding: .utf8)
        let (status, output) = try await runEdgegate(["run", "--config", dir.file("gateway.yaml")], in: dir)
        #expect(status == 2)
        #expect(output.contains("plant.yaml:5:"), "\(output)")
        #expect(output.contains("adress"), "\(output)")
    }

    @Test("run stops at start-up with exit 2 and the reason when the outbox cannot be opened")
    func runWithUnopenableOutbox() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("maps"), withIntermediateDirectories: true)
        // A plain file where the outbox's folder should be.
        try Data().write(to: URL(fileURLWithPath: dir.file("var")))
        try """
        gateway: { id: gw-1, devicemaps: [maps] }
        uplink: { url: "mqtt://127.0.0.1:1883", insecure: true }
        outbox: { path: var/outbox.sqlite }
        """.write(toFile: dir.file("gateway.yaml"), atomically: true, encoding: .utf8)
        let (status, output) = try await runEdgegate(["run", "--config", dir.file("gateway.yaml")], in: dir)
        #expect(status == 2)
        #expect(
            output.contains(
                "outbox: cannot open \(dir.file("var/outbox.sqlite")): open: cannot create the folder \(dir.file("var")): a file of that name is in the way"),
            "\(output)")
    }

    @Test("map help: show names what it prints, new what its template shows")
    func mapHelp() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // Help is wrapped to the terminal's width: compare with the line breaks taken out.
        func help(_ arguments: [String]) async throws -> String {
            let result = try await runEdgegate(arguments + ["--help"], in: dir)
            #expect(result.status == 0)
            return result.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
        let show = try await help(["map", "show"])
        for part in ["string length or register bit", "enum options", "named commands", "arguments with type, limits and default"] {
            #expect(show.contains(part), "\(part) in: \(show)")
        }
        let new = try await help(["map", "new"])
        for part in ["a string with its length", "a bit of a register", "an enum with names", "a named command", "report policies"] {
            #expect(new.contains(part), "\(part) in: \(new)")
        }
        #expect(try await help(["map"]).contains("new Print a commented device-map template"))
    }

    @Test("command send: usage errors exit 2")
    func sendUsage() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        #expect(try await runEdgegate(["command", "send", "--gateway", "gw-1", "--device", "boiler-1"], in: dir).status == 2)
        #expect(try await runEdgegate(["command", "send", "--gateway", "gw-1", "--device", "boiler-1", "--write", "setpoint"], in: dir).status == 2)
        #expect(try await runEdgegate(["command", "send", "--bogus"], in: dir).status == 2)
    }

    @Test("the daemon and command send: ok exits 0, rejected exits 1, no gateway exits 1; SIGTERM stops the daemon cleanly")
    func daemonRoundTrip() async throws {
        try await Plant.run { plant in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let certs = plant.hub.pki.directory
            try boilerMapYAML.replacingOccurrences(of: "PORT", with: "\(plant.modbusPort)")
                .write(toFile: dir.file("boiler.yaml"), atomically: true, encoding: .utf8)
            let configuration = try Daemon.writeConfiguration(for: plant, devicemaps: "boiler.yaml", in: dir)
            let hubArgs = ["--hub-port", "\(plant.hub.port)", "--certs", certs]

            // Nobody answers yet: exit 1 after the timeout, saying so.
            let silent = try await runEdgegate(
                [
                    "command", "send", "--gateway", TestHub.gatewayID, "--device", "boiler-1",
                    "--write", "setpoint=20", "--timeout", "500ms",
                ] + hubArgs, in: dir)
            #expect(silent.status == 1)
            #expect(silent.output.contains("no response"), "\(silent.output)")

            let daemon = try await Daemon.start(configuration: configuration, in: dir)
            let ok = try await runEdgegate(
                [
                    "command", "send", "--gateway", TestHub.gatewayID, "--device", "boiler-1",
                    "--write", "setpoint=22.5", "--json",
                ] + hubArgs, in: dir)
            #expect(ok.status == 0, "\(ok.output)")
            #expect(ok.output.contains(#""status":"ok""#))
            #expect(try ProbeClient(port: plant.modbusPort).holding(1) == [225])
            let rejected = try await runEdgegate(
                [
                    "command", "send", "--gateway", TestHub.gatewayID, "--device", "boiler-1",
                    "--write", "setpoint=500", "--json",
                ] + hubArgs, in: dir)
            #expect(rejected.status == 1)
            #expect(rejected.output.contains(#""status":"rejected""#))

            #expect(try await daemon.stop() == 0)
            let daemonLog = daemon.log
            #expect(daemonLog.contains("uplink disconnected"), "\(daemonLog)")
            #expect(daemonLog.contains("gateway stopped"))
        }
    }

    @Test("certs init creates the PKI with private keys readable by the owner only, and keeps it on a second run")
    func certsInit() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let first = try await runEdgegate(["certs", "init", "--dir", dir.file("certs")], in: dir)
        #expect(first.status == 0, "\(first.output)")
        for name in ["ca", "hub", "gateway", "operator"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: dir.file("certs/\(name).key"))
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            #expect(FileManager.default.fileExists(atPath: dir.file("certs/\(name).pem")))
        }
        let before = try String(contentsOfFile: dir.file("certs/ca.pem"), encoding: .utf8)
        let second = try await runEdgegate(["certs", "init", "--dir", dir.file("certs")], in: dir)
        #expect(second.status == 0)
        #expect(second.output.contains("kept"))
        #expect(try String(contentsOfFile: dir.file("certs/ca.pem"), encoding: .utf8) == before)
    }

    @Test("hub: starts mosquitto with mutual TLS, prints how to connect, and stops it on SIGINT")
    func hub() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let certs = dir.file("certs")
        #expect(try await runEdgegate(["certs", "init", "--dir", certs], in: dir).status == 0)
        let port = try freeLoopbackPort()
        let out = dir.file("hub.txt")
        let hub = try TestProcess.spawn(
            try edgegateExecutable(), ["hub", "--port", "\(port)", "--certs", certs, "--run-dir", dir.file("run")],
            stdout: .file(out, append: false), stderr: .file(dir.file("hub.err"), append: false))
        // The banner's last line is the export; it may arrive in more than one write.
        let banner = try await waitFor("hub ready", timeout: .seconds(20)) { () -> String? in
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            guard let export = text.range(of: "export EDGEGATE_HUB=") else { return nil }
            return text[export.upperBound...].contains("\n") ? text : nil
        }
        #expect(banner.contains("mqtts://127.0.0.1:\(port)"))
        // Not the command CLI's default port or folder: the banner says what to export.
        #expect(banner.contains("export EDGEGATE_HUB=mqtts://127.0.0.1:\(port) EDGEGATE_CERTS=\(certs)\n"), "\(banner)")
        let operatorOptions = MQTTOptions(
            host: "127.0.0.1", port: port, clientID: "cli-hub-test",
            tls: MQTTTLS(
                caFile: "\(certs)/ca.pem", certFile: "\(certs)/operator.pem",
                keyFile: "\(certs)/operator.key", verifyHostname: true))
        let connection = try await MQTTConnection.connect(operatorOptions, logger: Logger(label: "cli-hub"))
        await connection.disconnect()
        hub.signal(SIGINT)
        #expect(try await withTimeout(.seconds(15), "hub stop") { await hub.wait() } == 0)
        // mosquitto went with it: the port no longer accepts connections.
        var afterStop = operatorOptions
        afterStop.connectTimeout = .seconds(2)
        await #expect(throws: MQTTError.self) { _ = try await MQTTConnection.connect(afterStop, logger: Logger(label: "cli-hub")) }
    }

    @Test("broker: a site broker with a plain loopback listener and a mutual-TLS one, stopped with its mosquitto on SIGINT")
    func broker() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let certs = dir.file("certs")
        #expect(try await runEdgegate(["certs", "init", "--dir", certs], in: dir).status == 0)
        let port = try freeLoopbackPort()
        let tlsPort = try freeLoopbackPort()
        let out = dir.file("broker.txt")
        let broker = try TestProcess.spawn(
            try edgegateExecutable(),
            ["broker", "--port", "\(port)", "--tls-port", "\(tlsPort)", "--certs", certs, "--run-dir", dir.file("run")],
            stdout: .file(out, append: false), stderr: .file(dir.file("broker.err"), append: false))
        _ = try await waitFor("broker ready", timeout: .seconds(20)) {
            ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("Mutual TLS") ? true : nil
        }
        let banner = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(banner.contains(#"connection: { broker: "mqtt://127.0.0.1:\#(port)", insecure: true"#), "\(banner)")
        // A device publishes in plain text; a reader with a client certificate gets it over TLS.
        let reader = try await MQTTConnection.connect(
            MQTTOptions(
                host: "127.0.0.1", port: tlsPort, clientID: "cli-broker-reader",
                tls: MQTTTLS(
                    caFile: "\(certs)/ca.pem", certFile: "\(certs)/gateway.pem", keyFile: "\(certs)/gateway.key",
                    verifyHostname: true)),
            logger: Logger(label: "cli-broker"))
        try await reader.subscribe("zigbee2mqtt/#", qos: 1)
        let device = try await MQTTConnection.connect(
            MQTTOptions(host: "127.0.0.1", port: port, clientID: "cli-broker-device"),
            logger: Logger(label: "cli-broker"))
        try await device.publish("zigbee2mqtt/door", payload: Array(#"{"contact":true}"#.utf8), qos: 1, retain: false)
        let received = try await withTimeout(.seconds(10), "message through the broker") { () async -> MQTTMessage? in
            for await message in reader.messages { return message }
            return nil
        }
        #expect(received?.topic == "zigbee2mqtt/door")
        await device.disconnect()
        await reader.disconnect()
        broker.signal(SIGINT)
        #expect(try await withTimeout(.seconds(15), "broker stop") { await broker.wait() } == 0)
        // mosquitto went with it: the port no longer accepts connections.
        await #expect(throws: MQTTError.self) {
            _ = try await MQTTConnection.connect(
                MQTTOptions(host: "127.0.0.1", port: port, clientID: "cli-broker-after", connectTimeout: .seconds(2)),
                logger: Logger(label: "cli-broker"))
        }
    }

    @Test("sim modbus: serves the map's registers over Modbus TCP and keeps what clients write")
    func simModbus() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let port = try freeLoopbackPort()
        try boilerMapYAML.replacingOccurrences(of: "PORT", with: "\(port)").write(toFile: dir.file("boiler.yaml"), atomically: true, encoding: .utf8)
        let sim = try TestProcess.spawn(
            try edgegateExecutable(), ["sim", "modbus", "--map", dir.file("boiler.yaml"), "--port", "\(port)"],
            stdout: .file(dir.file("sim.txt"), append: false), stderr: .file(dir.file("sim.err"), append: false))
        let probe = try await waitFor("simulator listening", timeout: .seconds(20)) { try? ProbeClient(port: port) }
        // setpoint (min 5, max 90, scale 0.1) starts in the middle of its range: 47.5 → raw 475.
        #expect(try probe.holding(1) == [475])
        try probe.writeHolding(1, 222)
        #expect(try probe.holding(1) == [222])
        sim.signal(SIGTERM)
        #expect(try await withTimeout(.seconds(15), "sim stop") { await sim.wait() } == 0)
    }

    @Test("sim modbus --serial: serves the map's RTU devices under their unit ids; other unit ids stay silent")
    func simModbusSerial() async throws {
        try await SerialPair.run { pair in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let map = dir.file("meters.yaml")
            try """
            devices:
              - id: meter-7
                protocol: modbus
                connection: { serial: /dev/ttyUSB0, unit_id: 7 }
                points: { limit: { table: holding, address: 1, type: uint16, access: readwrite, min: 100, max: 200 } }
              - id: meter-8
                protocol: modbus
                connection: { serial: /dev/ttyUSB0, unit_id: 8 }
                points: { limit: { table: holding, address: 1, type: uint16, access: readwrite, min: 0, max: 10 } }
              - id: boiler-1
                protocol: modbus
                connection: { host: 127.0.0.1 }
                points: { temperature: { table: holding, address: 0 } }
            """.write(toFile: map, atomically: true, encoding: .utf8)
            let out = dir.file("sim.txt")
            let sim = try TestProcess.spawn(
                try edgegateExecutable(), ["sim", "modbus", "--map", map, "--serial", pair.deviceEnd],
                stdout: .file(out, append: false), stderr: .file(dir.file("sim.err"), append: false))
            // Each limit starts in the middle of its range: unit 7 at 150, unit 8 at 5.
            let probe = try ProbeClient(serial: pair.gatewayEnd, unit: 7)
            let unit7 = try await waitFor("simulator answering unit 7", timeout: .seconds(20)) { try? probe.holding(1) }
            #expect(unit7 == [150])
            probe.use(unit: 8)
            #expect(try probe.holding(1) == [5])
            probe.use(unit: 7)
            try probe.writeHolding(1, 123)
            #expect(try probe.holding(1) == [123])
            probe.use(unit: 8)
            #expect(try probe.holding(1) == [5])
            probe.use(unit: 9)
            #expect(throws: ProbeError.self) { try probe.holding(1) }
            #expect(
                ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
                    .contains("Modbus simulator on \(pair.deviceEnd) serving meter-7, meter-8 (unit 7, 8)"))
            sim.signal(SIGTERM)
            #expect(try await withTimeout(.seconds(15), "sim stop") { await sim.wait() } == 0)

            // A map without RTU devices is an input error.
            try boilerMapYAML.replacingOccurrences(of: "PORT", with: "1502").write(toFile: dir.file("boiler.yaml"), atomically: true, encoding: .utf8)
            let refused = try await runEdgegate(["sim", "modbus", "--map", dir.file("boiler.yaml"), "--serial", pair.deviceEnd], in: dir)
            #expect(refused.status == 2)
            #expect(refused.output.contains("has no Modbus RTU devices"), "\(refused.output)")
        }
    }
}
