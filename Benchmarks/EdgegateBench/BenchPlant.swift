import ArgumentParser
import DevTools
import DeviceMaps
import Foundation
import Logging
import MQTTClient
import ModbusAdapter
import Uplink

/// What the daemon scenarios run against: a development PKI, a local mutual-TLS hub, one
/// in-process Modbus simulator per device, and the generated device map and gateway
/// configuration in the work folder. The daemon itself starts with `spawnGateway`, so that a
/// scenario can subscribe first.
struct BenchPlant {
    let work: String
    let pki: DevPKIFiles
    let hub: LocalHub
    let scenario: Scenario
    let simulators: [ModbusSimulator]
    let topics = MQTTTopics(prefix: "edgegate", gateway: "gw-1")
    let configPath: String
    let gatewayLog: String

    /// Creates the PKI, starts the hub and the simulators and writes the map and configuration.
    /// - Parameters:
    ///   - outbox: the gateway's outbox path (`:memory:` for none); by default a file in `work`.
    ///   - sync: the outbox's `sync` (`full` or `normal`).
    ///   - persistentHub: the hub keeps sessions across a restart (for outage scenarios).
    ///   - adminPort: the gateway's admin endpoint on loopback; nil: off.
    ///   - derivedExpressions, derivedWindows: the derived devices' points (`Scenario.derivedMapYAML`).
    ///   - profile: the uplink profile, `mqtt` or `sparkplug-b`.
    static func start(
        devices: Int, registers: Int, poll: Duration, work: String, logger: Logger,
        outbox: String? = nil, sync: String = "full", persistentHub: Bool = false, adminPort: Int? = nil,
        derivedExpressions: Int = 0, derivedWindows: Int = 0, profile: String = "mqtt",
        step: (String) -> Void
    ) async throws -> BenchPlant {
        let pki = try await DevPKI.create(in: "\(work)/certs", logger: logger)
        let hubPort = try freeLoopbackPort()
        var hubConfiguration = HubConfiguration(port: hubPort, pki: pki, runDirectory: "\(work)/hub")
        hubConfiguration.persistence = persistentHub
        let hub = try await LocalHub.start(hubConfiguration, logger: logger)
        Cleanup.shared.add(hub.process)
        step("hub (mosquitto) on 127.0.0.1:\(hubPort), pid \(hub.process.pid)")

        var ports: [Int] = []
        while ports.count < devices {
            let port = try freeLoopbackPort()
            if port != hubPort && !ports.contains(port) { ports.append(port) }
        }
        let scenario = Scenario(
            devices: devices, registers: registers, poll: poll, ports: ports,
            derivedExpressions: derivedExpressions, derivedWindows: derivedWindows)
        let mapPath = "\(work)/bench-devices.yaml"
        let mapYAML = scenario.deviceMapYAML()
        try mapYAML.write(toFile: mapPath, atomically: true, encoding: .utf8)
        let (parsedMap, diagnostics) = DeviceMapLoader.modbus.parse(yaml: mapYAML, file: mapPath)
        guard let map = parsedMap else {
            await hub.stop()
            throw BenchError("the generated device map does not validate:\n" + diagnostics.map(\.description).joined(separator: "\n"))
        }
        var simulators: [ModbusSimulator] = []
        for device in map.devices {
            // The scenario writes one Modbus TCP device per port.
            guard let port = device.modbusConnection.port else { throw BenchError("\(device.id) is not a Modbus TCP device") }
            let simulator = try ModbusSimulator(devices: [device], port: port, logger: logger)
            try simulator.start()
            simulators.append(simulator)
        }
        step("\(simulators.count) Modbus simulators (in this process), \(registers) holding registers each")

        // The derived map is validated by the daemon, which refuses to start on an error.
        var mapPaths = [mapPath]
        if let derivedYAML = scenario.derivedMapYAML() {
            let derivedPath = "\(work)/bench-derived.yaml"
            try derivedYAML.write(toFile: derivedPath, atomically: true, encoding: .utf8)
            mapPaths.append(derivedPath)
            step("\(derivedExpressions) derived expressions and \(derivedWindows) windows in \(derivedPath)")
        }

        let configPath = "\(work)/gateway.yaml"
        try Scenario.gatewayYAML(
            mapPaths: mapPaths, hubPort: hubPort, ca: pki.caCert, cert: pki.gatewayCert,
            key: pki.gatewayKey, outbox: outbox ?? "\(work)/var/outbox.sqlite", sync: sync, adminPort: adminPort, profile: profile
        )
        .write(toFile: configPath, atomically: true, encoding: .utf8)
        return BenchPlant(
            work: work, pki: pki, hub: hub, scenario: scenario, simulators: simulators,
            configPath: configPath, gatewayLog: "\(work)/gateway.log")
    }

    /// The operator's connection options (operator certificate, verified hub); a session the
    /// hub keeps when `cleanSession` is off.
    func operatorOptions(_ suffix: String, cleanSession: Bool = true) -> MQTTOptions {
        MQTTOptions(
            host: "127.0.0.1", port: hub.port, clientID: "operator-bench-\(suffix)",
            tls: MQTTTLS(caFile: pki.caCert, certFile: pki.operatorCert, keyFile: pki.operatorKey),
            cleanSession: cleanSession)
    }

    /// Starts `edgegate run` as its own process, logging to `gatewayLog`.
    func spawnGateway(_ daemon: String, logLevel: String) throws -> ChildProcess {
        let gateway = try ChildProcess.spawn(
            daemon, ["run", "--config", configPath, "--log-level", logLevel],
            stdout: .file(gatewayLog), stderr: .file(gatewayLog, append: true))
        Cleanup.shared.add(gateway)
        return gateway
    }

    /// Disconnects the operator, stops the consumers, the hub (`hub` when a scenario restarted
    /// it) and the simulators.
    func stop(connections: [MQTTConnection], consumers: [Task<Void, Never>], hub current: LocalHub? = nil) async {
        for connection in connections { await connection.disconnect() }
        for consumer in consumers { consumer.cancel() }
        await (current ?? hub).stop()
        for simulator in simulators { simulator.stop() }
    }
}

/// Warning-level logging to standard error, as every benchmark logs, and its logger.
func bootstrapBenchLogging() -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .warning
        return handler
    }
    return Logger(label: "edgegate-bench")
}

/// A progress line on standard error: `bench: ...`.
func benchStep(_ text: String) {
    FileHandle.standardError.write(Data("bench: \(text)\n".utf8))
}

/// The options of the benchmarks that run the daemon as its own process.
struct DaemonOptions: ParsableArguments {
    @Option(help: "The edgegate executable (default: the one next to this executable).")
    var edgegate: String?

    @Option(
        help: "Log level of the daemon (its log goes to a file in the work folder); at info, the default in production, it writes one audit line per command.")
    var gatewayLogLevel = "info"

    @Flag(help: "Keep the temporary work folder (PKI, configuration, logs) instead of deleting it.")
    var keep = false

    /// Logging, the daemon executable, signal handlers that stop what the run starts, and a
    /// fresh work folder (announced on standard error); `finish()` removes the folder.
    func start() throws -> BenchSession {
        let logger = bootstrapBenchLogging()
        let daemon = try locateDaemon(edgegate)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("edgegate-bench-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let session = BenchSession(
            logger: logger, daemon: daemon, work: work, keep: keep,
            signalSources: Cleanup.shared.installSignalHandlers())
        benchStep("work folder \(work)\(keep ? " (kept)" : "")")
        return session
    }
}

/// What `DaemonOptions.start()` set up for one run.
struct BenchSession {
    let logger: Logger
    /// The edgegate executable.
    let daemon: String
    /// The work folder: PKI, configuration, logs.
    let work: String
    let keep: Bool
    /// Kept alive for the run: the handlers that stop the children on SIGINT/SIGTERM.
    let signalSources: [any DispatchSourceSignal]

    /// Ends the run: the signal handlers go, and the work folder unless `--keep`.
    func finish() {
        withExtendedLifetime(signalSources) {}
        if !keep { try? FileManager.default.removeItem(atPath: work) }
    }
}

/// The edgegate executable next to this one, unless given.
func locateDaemon(_ given: String?) throws -> String {
    if let given { return given }
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    let candidate = me.deletingLastPathComponent().appendingPathComponent("edgegate").path
    guard FileManager.default.isExecutableFile(atPath: candidate) else {
        throw BenchError(
            "no edgegate executable next to this one (\(candidate)); build both: "
                + "swift build -c release --product edgegate && swift build -c release --product edgegate-bench")
    }
    return candidate
}
