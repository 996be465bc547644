import DevTools
import Foundation
import Logging
import MQTTClient
import Synchronization

/// A real mosquitto standing in for a site broker that field devices publish to (zigbee2mqtt's,
/// say): a plain listener on a free loopback port for anyone, and optionally a mutual-TLS
/// listener with the development PKI. No ACL: devices and the gateway use any topic.
public final class SiteBroker: Sendable {
    /// The plain listener's port.
    public let port: Int
    /// The mutual-TLS listener's port, when started with one.
    public let tlsPort: Int?
    /// The PKI of the TLS listener (the shared test PKI), when started with one.
    public let pki: DevPKIFiles?
    private let process: Mutex<ChildProcess>
    private let executable: String
    private let directory: TemporaryDirectory

    /// The address of both listeners.
    public let host = "127.0.0.1"

    private init(port: Int, tlsPort: Int?, pki: DevPKIFiles?, executable: String, process: ChildProcess, directory: TemporaryDirectory) {
        self.port = port
        self.tlsPort = tlsPort
        self.pki = pki
        self.executable = executable
        self.process = Mutex(process)
        self.directory = directory
    }

    /// Starts mosquitto and returns once it accepts MQTT connections; retries on other ports
    /// if one was taken meanwhile.
    public static func start(tls: Bool = false, logger: Logger = Logger(label: "site-broker")) async throws -> SiteBroker {
        guard let executable = LocalHub.mosquittoExecutable() else {
            throw TestHubError(description: "mosquitto not found; install it with `apt-get install -y mosquitto`")
        }
        let pki = tls ? try await SharedPKI.shared.files(logger: logger) : nil
        var lastError: Error = TestHubError(description: "mosquitto did not start")
        for _ in 0..<3 {
            let directory = try TemporaryDirectory(prefix: "edgegate-site-broker")
            let port = try freeLoopbackPort()
            let tlsPort = tls ? try freeLoopbackPort() : nil
            var lines = ["per_listener_settings true", "persistence false", "log_dest file \(directory.file("mosquitto.log"))",
                         "log_type error", "log_type warning", "log_type notice", "log_type information",
                         // A device floods faster than a slow gateway reads: keep every QoS 1 message.
                         "max_queued_messages 100000", "max_inflight_messages 100"]
            if geteuid() == 0 { lines.append("user root") }
            lines += ["", "listener \(port) 127.0.0.1", "allow_anonymous true"]
            if let tlsPort, let pki {
                lines += ["", "listener \(tlsPort) 127.0.0.1", "cafile \(pki.caCert)", "certfile \(pki.hubCert)",
                          "keyfile \(pki.hubKey)", "require_certificate true", "use_identity_as_username true",
                          "allow_anonymous false", "tls_version tlsv1.2"]
            }
            let config = directory.file("mosquitto.conf")
            try (lines.joined(separator: "\n") + "\n").write(toFile: config, atomically: true, encoding: .utf8)
            let process = try spawn(executable, directory)
            let broker = SiteBroker(port: port, tlsPort: tlsPort, pki: pki, executable: executable, process: process, directory: directory)
            if await broker.waitUntilListening() { return broker }
            lastError = TestHubError(description: "mosquitto did not listen on 127.0.0.1:\(port): \(broker.log)")
            await broker.stop()
        }
        throw lastError
    }

    private static func spawn(_ executable: String, _ directory: TemporaryDirectory) throws -> ChildProcess {
        try ChildProcess.spawn(executable, ["-c", directory.file("mosquitto.conf")], stdout: .file(directory.file("out")),
                               stderr: .file(directory.file("out"), append: true))
    }

    /// Stops mosquitto and starts it again on the same ports (a broker restart, as devices see it).
    public func restart() async throws {
        let old = process.withLock { $0 }
        _ = await old.stop(grace: .seconds(5))
        try? FileManager.default.removeItem(atPath: directory.file("mosquitto.log"))
        let new = try Self.spawn(executable, directory)
        process.withLock { $0 = new }
        guard await waitUntilListening() else {
            throw TestHubError(description: "mosquitto did not listen again on 127.0.0.1:\(port): \(log)")
        }
    }

    private func waitUntilListening() async -> Bool {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, process.withLock({ $0.isRunning }) {
            if log.contains(" running"),
               let probe = try? await MQTTConnection.connect(options(clientID: "probe-\(UUID().uuidString.prefix(8))"),
                                                             logger: Logger(label: "probe")) {
                await probe.disconnect()
                return true
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// What mosquitto logged.
    public var log: String {
        (try? String(contentsOfFile: directory.file("mosquitto.log"), encoding: .utf8)) ?? ""
    }

    /// Options for the plain listener.
    public func options(clientID: String) -> MQTTOptions {
        MQTTOptions(host: host, port: port, clientID: clientID, connectTimeout: .seconds(10))
    }

    /// `mqtt://127.0.0.1:PORT`.
    public var url: String { "mqtt://\(host):\(port)" }

    /// Stops mosquitto and removes its folder.
    public func stop() async {
        _ = await process.withLock({ $0 }).stop(grace: .seconds(5))
        directory.remove()
    }
}
