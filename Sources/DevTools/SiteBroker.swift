public import Foundation
public import Logging
import Synchronization

/// A site broker: the plant-side mosquitto that zigbee2mqtt and other MQTT devices publish
/// to, as opposed to the cloud hub. On loopback, without an ACL: a plain listener open to
/// anonymous clients and, optionally, a mutual-TLS listener that admits any client
/// certificate of the development PKI.
public final class SiteBroker: Sendable {
    /// The listeners and files of a site broker.
    public struct Configuration: Sendable {
        /// The address both listeners bind to; loopback by default so nothing is exposed.
        public var host: String
        /// The plain MQTT port.
        public var port: Int
        /// The mutual-TLS port and the PKI whose CA and hub certificate it uses; nil: none.
        public var tls: (port: Int, pki: DevPKIFiles)?
        /// Where mosquitto.conf, its log and output go.
        public var runDirectory: String

        /// Creates the settings.
        public init(host: String = "127.0.0.1", port: Int, tls: (port: Int, pki: DevPKIFiles)? = nil, runDirectory: String) {
            self.host = host
            self.port = port
            self.tls = tls
            self.runDirectory = runDirectory
        }

        /// The configuration file's text.
        public func mosquittoConf(runAsRoot: Bool = geteuid() == 0) -> String {
            var lines = [
                "per_listener_settings true", "persistence false",
                "log_dest file \((runDirectory as NSString).appendingPathComponent("mosquitto.log"))",
                "log_type error", "log_type warning", "log_type notice", "log_type information",
                // A device may publish faster than a slow subscriber reads: keep every QoS 1 message.
                "max_queued_messages 100000", "max_inflight_messages 100",
                "listener \(port) \(host)", "allow_anonymous true",
            ]
            // As root mosquitto switches to user `mosquitto`, which cannot read 0600 keys.
            if runAsRoot { lines.insert("user root", at: 1) }
            if let tls {
                lines += [
                    "listener \(tls.port) \(host)", "cafile \(tls.pki.caCert)", "certfile \(tls.pki.hubCert)",
                    "keyfile \(tls.pki.hubKey)", "require_certificate true", "use_identity_as_username true",
                    "allow_anonymous false", "tls_version tlsv1.2",
                ]
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }

    /// The settings it runs with.
    public let configuration: Configuration
    /// The mosquitto process (a new one after `restart()`).
    public var process: ChildProcess { current.withLock { $0 } }
    private let current: Mutex<ChildProcess>
    private let executable: String
    private let logger: Logger

    private init(configuration: Configuration, executable: String, process: ChildProcess, logger: Logger) {
        self.configuration = configuration
        self.executable = executable
        self.current = Mutex(process)
        self.logger = logger
    }

    private var logPath: String { (configuration.runDirectory as NSString).appendingPathComponent("mosquitto.log") }

    private static func spawn(_ executable: String, _ configuration: Configuration) throws -> ChildProcess {
        let directory = configuration.runDirectory as NSString
        let output = directory.appendingPathComponent("mosquitto.out")
        return try ChildProcess.spawn(
            executable, ["-c", directory.appendingPathComponent("mosquitto.conf")],
            stdout: .file(output), stderr: .file(output, append: true))
    }

    /// Writes mosquitto.conf, starts mosquitto and returns once it says it runs and the plain
    /// port accepts TCP connections (at most `startTimeout`).
    public static func start(
        _ configuration: Configuration, startTimeout: Duration = .seconds(10),
        logger: Logger
    ) async throws -> SiteBroker {
        guard let executable = LocalHub.mosquittoExecutable() else {
            throw LocalHubError(description: "mosquitto not found (looked in /usr/sbin and on PATH); install it with `apt-get install -y mosquitto`")
        }
        try FileManager.default.createDirectory(atPath: configuration.runDirectory, withIntermediateDirectories: true)
        let directory = configuration.runDirectory as NSString
        try configuration.mosquittoConf().write(toFile: directory.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: directory.appendingPathComponent("mosquitto.log"))
        let broker = SiteBroker(
            configuration: configuration, executable: executable,
            process: try spawn(executable, configuration), logger: logger)
        try await broker.waitUntilRunning(startTimeout)
        logger.info(
            "site broker listening",
            metadata: [
                "address": "\(configuration.host):\(configuration.port)", "pid": "\(broker.process.pid)",
            ])
        return broker
    }

    /// Waits until mosquitto says it runs and the plain port accepts TCP connections.
    private func waitUntilRunning(_ timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let process = self.process
            if !process.isRunning {
                let status = await process.wait()
                throw LocalHubError(description: "the site broker (mosquitto) exited with status \(status) at start-up\(logTail())")
            }
            // "running" is logged only once the listeners are open: a port that another program
            // holds must not pass for this broker.
            if log.contains(" running"), LocalHub.canConnect(host: configuration.host, port: configuration.port) { return }
            if ContinuousClock.now >= deadline {
                _ = await process.stop(grace: .seconds(2))
                throw LocalHubError(description: "the site broker did not listen on \(configuration.host):\(configuration.port) within \(timeout)\(logTail())")
            }
            try? await Task.sleep(for: .milliseconds(25))
        }
    }

    /// Stops mosquitto and starts it again on the same ports: a broker restart, as devices see it.
    public func restart(startTimeout: Duration = .seconds(10)) async throws {
        _ = await process.stop(grace: .seconds(5))
        try? FileManager.default.removeItem(atPath: logPath)
        let new = try Self.spawn(executable, configuration)
        current.withLock { $0 = new }
        try await waitUntilRunning(startTimeout)
    }

    /// What mosquitto has logged since it last started.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// `mqtt://127.0.0.1:1883`.
    public var url: String { "mqtt://\(configuration.host):\(configuration.port)" }

    /// Stops mosquitto (SIGTERM, then SIGKILL after a grace period).
    public func stop() async {
        let status = await process.stop(grace: .seconds(5))
        logger.info("site broker stopped", metadata: ["status": "\(status)"])
    }

    /// The last lines of mosquitto's log and output, for error messages.
    public func logTail(lines: Int = 15) -> String {
        let directory = configuration.runDirectory as NSString
        let text = ["mosquitto.log", "mosquitto.out"]
            .compactMap { try? String(contentsOfFile: directory.appendingPathComponent($0), encoding: .utf8) }
            .joined(separator: "\n")
        let tail = text.split(separator: "\n").suffix(lines)
        return tail.isEmpty ? "" : "; mosquitto says:\n" + tail.joined(separator: "\n")
    }
}
