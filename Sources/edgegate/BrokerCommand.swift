import ArgumentParser
import CommandSupport
import DevTools
import Foundation

/// `edgegate broker`: a local site broker for MQTT devices (zigbee2mqtt, `sim doors`), the
/// plant-side mosquitto that the MQTT adapter reads from, as the demo starts it.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run a local site broker for MQTT devices (mosquitto on 127.0.0.1) until Ctrl-C.",
        discussion: """
            The broker that zigbee2mqtt, other MQTT devices and `edgegate sim doors` publish to, and \
            that maps with `protocol: mqtt` read from; not the cloud hub (`edgegate hub`). It listens \
            on 127.0.0.1 only: a plain listener for anonymous clients (maps say `insecure: true`), and \
            with --tls-port a mutual-TLS listener that admits any client certificate of the \
            development PKI (maps give ca, cert and key). For a broker other machines reach, run \
            mosquitto with passwords or certificates of your own (docs/operations.md).
            """)

    @Option(help: "Plain MQTT port on 127.0.0.1 (the example maps' site broker is on 1884).")
    var port: Int = 1884

    @Option(help: "Also a mutual-TLS listener on this port, with the development PKI of --certs.")
    var tlsPort: Int?

    @Option(help: "Folder of the development PKI (edgegate certs init), for --tls-port.")
    var certs: String = "certs"

    @Option(help: "Folder for mosquitto's configuration and log.")
    var runDir: String = "var/broker"

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        for (name, value) in [("--port", port), ("--tls-port", tlsPort ?? 1)] where !(1...65535).contains(value) {
            throw ValidationError("\(name) \(value) is not a TCP port (1…65535)")
        }
        if tlsPort == port { throw ValidationError("--tls-port must differ from --port") }
    }

    func run() async throws {
        let logger = logging.makeLogger("edgegate.broker")
        let pki = DevPKIFiles(directory: certs)
        if tlsPort != nil {
            for file in [pki.caCert, pki.hubCert, pki.hubKey] where !FileManager.default.fileExists(atPath: file) {
                throw failInput("missing \(file): create a development PKI with `edgegate certs init --dir \(certs)`")
            }
        }
        try await runUntilSignalled(logger: logger) {
            let broker: SiteBroker
            do {
                broker = try await SiteBroker.start(
                    SiteBroker.Configuration(
                        port: port, tls: tlsPort.map { (port: $0, pki: pki) },
                        runDirectory: runDir),
                    logger: logger)
            } catch {
                throw failOperation("error: \(error)")
            }
            var lines = [
                "Site broker listening on \(broker.url) (plain MQTT, anonymous, loopback only).",
                "In a device map: connection: { broker: \"\(broker.url)\", insecure: true, topic: \"zigbee2mqtt/{id}\" }",
                "Simulated door sensors: edgegate sim doors --broker \(broker.url) --insecure --names front-door",
            ]
            if let tlsPort {
                lines += [
                    "Mutual TLS on mqtts://127.0.0.1:\(tlsPort): any client certificate of \(pki.caCert)'s PKI;",
                    "  in a device map: connection: { broker: \"mqtts://127.0.0.1:\(tlsPort)\", ca: \(pki.caCert), cert: …, key: … }",
                ]
            }
            say(lines.joined(separator: "\n"))
            return [ForegroundService { await broker.stop() }]
        }
    }
}
