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
    private let site: SiteBroker
    private let directory: TemporaryDirectory

    private init(plainPort: Int, tlsPort: Int, pki: DevPKIFiles, site: SiteBroker, directory: TemporaryDirectory) {
        self.plainPort = plainPort
        self.tlsPort = tlsPort
        self.pki = pki
        self.site = site
        self.directory = directory
    }

    /// Starts mosquitto and returns once the plain listener accepts MQTT connections.
    public static func start(logger: Logger = Logger(label: "device-broker")) async throws -> DeviceBroker {
        let pki = try await SharedPKI.shared.files(logger: logger)
        let directory = try TemporaryDirectory(prefix: "edgegate-device-broker")
        let (plainPort, tlsPort) = (try freeLoopbackPort(), try freeLoopbackPort())
        let site = try await SiteBroker.start(SiteBroker.Configuration(port: plainPort, tls: (tlsPort, pki), runDirectory: directory.path),
                                              startTimeout: .seconds(15), logger: logger)
        return DeviceBroker(plainPort: plainPort, tlsPort: tlsPort, pki: pki, site: site, directory: directory)
    }

    /// Options for the plain listener.
    public func plainOptions(clientID: String) -> MQTTOptions {
        MQTTOptions(host: "127.0.0.1", port: plainPort, clientID: clientID, connectTimeout: .seconds(5))
    }

    /// Stops mosquitto and removes its folder.
    public func stop() async {
        await site.stop()
        directory.remove()
    }
}
