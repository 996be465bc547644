import ArgumentParser
import CommandSupport
import DevTools
import DeviceMaps
import Foundation
import HubClient
import MQTTClient

/// `edgegate hub`: a local development hub (mosquitto with mutual TLS and per-identity ACLs).
struct HubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hub",
        abstract: "Run a local mosquitto with mutual TLS and per-identity ACLs until Ctrl-C.",
        discussion: "A gateway may publish only under {prefix}/{its id}/ and read only its own commands; the operator may send commands and read everything.")

    // The defaults are the command CLI's, so that the two find each other unconfigured.
    @Option(help: "TLS port on 127.0.0.1.")
    var port: Int = CLISettings.defaultHub.port

    @Option(help: "Folder of the development PKI (edgegate certs init).")
    var certs: String = CLISettings.defaultCerts

    @Option(help: "Topic prefix the ACLs protect.")
    var prefix: String = CLISettings.defaultPrefix

    @Option(help: "The operator's identity (certificate common name).")
    var operatorID: String = CLISettings.defaultIdentity

    @Option(help: "Folder for mosquitto's configuration, ACL file and log.")
    var runDir: String = "var/hub"

    @OptionGroup var logging: LoggingOptions

    /// How `edgegate command ...` reaches this hub: its defaults are the development hub on
    /// 8883 with `certs/` and the identity `operator`; whatever differs is printed as the
    /// variables to export, so that the operator's commands find this hub.
    var commandCLIHelp: String {
        var exports: [String] = []
        if port != CLISettings.defaultHub.port { exports.append("EDGEGATE_HUB=mqtts://127.0.0.1:\(port)") }
        if certs != CLISettings.defaultCerts {
            let absolute = certs.hasPrefix("/") ? certs : FileManager.default.currentDirectoryPath + "/" + certs
            exports.append("EDGEGATE_CERTS=\((absolute as NSString).standardizingPath)")
        }
        if operatorID != CLISettings.defaultIdentity { exports.append("EDGEGATE_IDENTITY=\(operatorID)") }
        if prefix != CLISettings.defaultPrefix { exports.append("EDGEGATE_PREFIX=\(prefix)") }
        guard !exports.isEmpty else {
            return "The command CLI's defaults fit this hub: edgegate command devices --gateway gw-1"
        }
        return "For the command CLI (edgegate command ...), in the operator's shell:\n  export " + exports.joined(separator: " ")
    }

    func run() async throws {
        let logger = logging.makeLogger("edgegate.hub")
        let pki = DevPKIFiles(directory: certs)
        for file in [pki.caCert, pki.hubCert, pki.hubKey] where !FileManager.default.fileExists(atPath: file) {
            throw failInput("missing \(file): create a development PKI with `edgegate certs init --dir \(certs)`")
        }
        try await runUntilSignalled(logger: logger) {
            let hub: LocalHub
            do {
                hub = try await LocalHub.start(
                    HubConfiguration(
                        port: port, pki: pki, prefix: prefix,
                        operatorIdentity: operatorID, runDirectory: runDir),
                    logger: logger)
            } catch let error as LocalHubError where error.busyPort == port {
                throw failOperation("error: \(error.reason); choose another with --port\(error.details)")
            } catch {
                throw failOperation("error: \(error)")
            }
            say(hub.connectHelp)
            say(commandCLIHelp)
            return [ForegroundService { await hub.stop() }]
        }
    }
}
