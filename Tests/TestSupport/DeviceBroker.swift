import DevTools
import Foundation
import Logging
import MQTTClient

/// A real mosquitto for the device side (zigbee2mqtt-style devices and simulators), which the
/// hub's per-identity ACL would not admit: a plain listener open to anonymous clients and a
/// mutual-TLS listener (the shared development PKI; any client certificate of it), both
/// without an ACL, on free loopback ports.
public final class DeviceBroker: Sendable {
    /// The plain MQTT port.
    public let plainPort: Int
    /// The TLS port (client certificates required).
    public let tlsPort: Int
    /// The PKI of the TLS listener.
    public let pki: DevPKIFiles
    private let process: ChildProcess
    private let directory: TemporaryDirectory

    private init(plainPort: Int, tlsPort: Int, pki: DevPKIFiles, process: ChildProcess, directory: TemporaryDirectory) {
        self.plainPort = plainPort
        self.tlsPort = tlsPort
        self.pki = pki
        self.process = process
        self.directory = directory
    }

    /// Starts mosquitto and returns once the plain listener accepts MQTT connections.
    public static func start(logger: Logger = Logger(label: "device-broker")) async throws -> DeviceBroker {
        guard let executable = LocalHub.mosquittoExecutable() else {
            throw TestHubError(description: "mosquitto not found; install it with `apt-get install -y mosquitto`")
        }
        let pki = try await SharedPKI.shared.files(logger: logger)
        let directory = try TemporaryDirectory(prefix: "edgegate-device-broker")
        let (plainPort, tlsPort) = (try freeLoopbackPort(), try freeLoopbackPort())
        var lines = ["per_listener_settings true", "log_dest file \(directory.file("mosquitto.log"))", "max_inflight_messages 100"]
        // As root mosquitto switches to user `mosquitto`, which cannot read 0600 keys.
        if geteuid() == 0 { lines.append("user root") }
        lines += ["listener \(plainPort) 127.0.0.1", "allow_anonymous true",
                  "listener \(tlsPort) 127.0.0.1", "cafile \(pki.caCert)", "certfile \(pki.hubCert)", "keyfile \(pki.hubKey)",
                  "require_certificate true", "use_identity_as_username true", "allow_anonymous false", "tls_version tlsv1.2"]
        try lines.joined(separator: "\n").write(toFile: directory.file("mosquitto.conf"), atomically: true, encoding: .utf8)
        let process = try ChildProcess.spawn(executable, ["-c", directory.file("mosquitto.conf")],
                                             stdout: .file(directory.file("mosquitto.out")),
                                             stderr: .file(directory.file("mosquitto.out"), append: true))
        let broker = DeviceBroker(plainPort: plainPort, tlsPort: tlsPort, pki: pki, process: process, directory: directory)
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            var options = broker.plainOptions(clientID: "device-broker-probe")
            options.connectTimeout = .seconds(2)
            if let probe = try? await MQTTConnection.connect(options, logger: logger) {
                await probe.disconnect()
                return broker
            }
            if !process.isRunning || ContinuousClock.now >= deadline {
                await broker.stop()
                throw TestHubError(description: "mosquitto did not listen on 127.0.0.1:\(plainPort)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Options for the plain listener.
    public func plainOptions(clientID: String) -> MQTTOptions {
        MQTTOptions(host: "127.0.0.1", port: plainPort, clientID: clientID, connectTimeout: .seconds(5))
    }

    /// Stops mosquitto and removes its folder.
    public func stop() async {
        _ = await process.stop(grace: .seconds(5))
        directory.remove()
    }
}
