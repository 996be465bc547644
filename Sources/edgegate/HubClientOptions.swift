import ArgumentParser
import Foundation
import MQTTClient

/// How a CLI client reaches the hub: address, identity (a certificate pair in the certs
/// folder) and topic prefix. Shared by `command send` and `demo`.
struct HubClientOptions: ParsableArguments {
    @Option(help: "Hub host name or address.")
    var hubHost: String = "127.0.0.1"

    @Option(help: "Hub TLS port.")
    var hubPort: Int = 8883

    @Option(help: "Folder with ca.pem and the identity's certificate and key.")
    var certs: String = "certs"

    @Option(help: "Identity: uses <certs>/<identity>.pem and <certs>/<identity>.key.")
    var identity: String = "operator"

    @Option(help: "Topic prefix of the uplink contract.")
    var prefix: String = "edgegate"

    /// Mutual-TLS options for this identity; hostname verification stays on.
    func mqttOptions(clientID: String) -> MQTTOptions {
        MQTTOptions(host: hubHost, port: hubPort, clientID: clientID,
                    tls: MQTTTLS(caFile: "\(certs)/ca.pem", certFile: "\(certs)/\(identity).pem",
                                 keyFile: "\(certs)/\(identity).key", verifyHostname: true))
    }

    /// Fails early, with exit code 2, when the identity's files are missing.
    func checkFiles() throws {
        for file in ["ca.pem", "\(identity).pem", "\(identity).key"] {
            let path = "\(certs)/\(file)"
            if !FileManager.default.fileExists(atPath: path) {
                throw failInput("missing \(path): create a development PKI with `edgegate certs init --dir \(certs)`")
            }
        }
    }
}
