import ArgumentParser
import CommandSupport
import DeviceMaps
import Foundation
import HubClient
import Logging
import MQTTClient

/// How a remote command reaches a gateway: hub address, identity (a certificate pair in the
/// certs folder), topic prefix and gateway id. Each comes from its flag, else its
/// environment variable, else `~/.config/edgegate/cli.yaml`, else the default. Shared by the
/// `command` subcommands.
struct HubClientOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The gateway id (env EDGEGATE_GATEWAY, cli.yaml `gateway`).", valueName: "id"))
    var gateway: String?

    @Option(
        help: ArgumentHelp(
            "The hub, mqtts://host[:port] (env EDGEGATE_HUB, cli.yaml `hub`; default mqtts://127.0.0.1:8883).",
            valueName: "url"))
    var hub: String?

    @Option(help: "Hub host name or address, instead of the host of --hub's sources.")
    var hubHost: String?

    @Option(help: "Hub TLS port, instead of the port of --hub's sources.")
    var hubPort: Int?

    @Option(
        help: ArgumentHelp(
            "Folder with ca.pem and the identity's certificate and key (env EDGEGATE_CERTS, cli.yaml `certs`; default certs).",
            valueName: "folder"))
    var certs: String?

    @Option(
        help: ArgumentHelp(
            "Identity: uses <certs>/<identity>.pem and .key (env EDGEGATE_IDENTITY, cli.yaml `identity`; default operator).",
            valueName: "name"))
    var identity: String?

    @Option(
        help: ArgumentHelp(
            "Topic prefix of the uplink contract (env EDGEGATE_PREFIX, cli.yaml `prefix`; default edgegate).",
            valueName: "prefix"))
    var prefix: String?

    /// The settings in force, checked: the gateway is named and the identity's files exist.
    /// Problems are usage errors (exit 2) that say which source to fix.
    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RemoteTarget {
        let path = CLISettingsFile.defaultPath(environment: environment)
        var file: CLISettingsFile?
        if let path {
            do throws(DeviceMapError) {
                file = try CLISettingsFile.load(path: path, environment: environment)
            } catch {
                throw failInput(error.description)
            }
        }
        let flags = CLIFlags(
            hub: hub, hubHost: hubHost, hubPort: hubPort, certs: certs, identity: identity,
            gateway: gateway, prefix: prefix)
        let settings: CLISettings
        do throws(CLISettingsError) {
            settings = try CLISettings.resolve(flags: flags, environment: environment, file: file)
        } catch {
            throw failInput("error: \(error)")
        }
        guard let gateway = settings.gateway else {
            let where_ = path.map { "`gateway:` in \($0)" } ?? "`gateway:` in the CLI settings file"
            throw failInput("error: which gateway? give --gateway ID, set EDGEGATE_GATEWAY, or put \(where_)")
        }
        for file in [settings.caFile, settings.certFile, settings.keyFile] where !FileManager.default.fileExists(atPath: file) {
            throw failInput(
                "error: missing \(file) (certs folder '\(settings.certs)' from \(settings.sources["certs"] ?? "default"), "
                    + "identity '\(settings.identity)' from \(settings.sources["identity"] ?? "default")): "
                    + "point --certs, EDGEGATE_CERTS or `certs:` in the CLI settings at the operator's certificates, "
                    + "or create a development PKI with `edgegate certs init --dir \(settings.certs)`")
        }
        return RemoteTarget(settings: settings, gateway: gateway)
    }
}

/// A gateway as the operator reaches it: the resolved settings and the gateway id.
struct RemoteTarget: Sendable {
    let settings: CLISettings
    let gateway: String

    /// The operator as the hub client takes it: mutual TLS with the identity's certificate
    /// pair, hostname verification on.
    var hubOperator: HubOperator {
        HubOperator(
            host: settings.hub.host, port: settings.hub.port, caFile: settings.caFile, certFile: settings.certFile,
            keyFile: settings.keyFile, identity: settings.identity, prefix: settings.prefix)
    }

    /// Connects with a fresh client id (several CLI runs at once must not take each other's
    /// session over), or fails with exit code 1 and a message that names the hub, the files
    /// and the check that failed (the client's own sentence), and where each setting came from.
    func connect(purpose: String, logger: Logger) async throws -> HubClient {
        do {
            return try await HubClient.connect(hubOperator, purpose: purpose, logger: logger)
        } catch {
            throw failOperation(connectFailure(error))
        }
    }

    /// The message for a connection that failed.
    func connectFailure(_ error: MQTTError) -> String {
        let s = settings
        return "error: \(error)\n"
            + "  hub \(s.hub) (from \(s.sources["hub"] ?? "default")); identity \(s.identity): certificate \(s.certFile), "
            + "key \(s.keyFile), CA \(s.caFile) (certs from \(s.sources["certs"] ?? "default"))"
    }
}
