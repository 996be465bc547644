import ConfigSyntax
import HubClient
import MQTTClient
import Testing

@Suite("Remote command CLI settings: flag > environment > file > default")
struct CLISettingsTests {
    static let fileText = """
        hub: mqtts://hub.example.com:9883
        certs: operator-certs
        identity: alice
        gateway: gw-7
        prefix: plant/edgegate
        """

    func file(_ text: String = fileText, home: String? = "/home/alice") throws -> CLISettingsFile {
        let (settings, diagnostics) = CLISettingsFile.parse(yaml: text, file: "/etc/op/cli.yaml", home: home)
        guard let settings else { throw ParseFailure(diagnostics: diagnostics) }
        return settings
    }

    struct ParseFailure: Error { let diagnostics: [Diagnostic] }

    @Test("the file gives every setting; certs resolve against the file's folder, ~/ against HOME")
    func fileValues() throws {
        let settings = try CLISettings.resolve(flags: CLIFlags(), environment: [:], file: try file())
        #expect(settings.hub == MQTTURL(host: "hub.example.com", port: 9883))
        #expect(settings.certs == "/etc/op/operator-certs")
        #expect(settings.certFile == "/etc/op/operator-certs/alice.pem")
        #expect(settings.keyFile == "/etc/op/operator-certs/alice.key")
        #expect(settings.caFile == "/etc/op/operator-certs/ca.pem")
        #expect(settings.identity == "alice")
        #expect(settings.gateway == "gw-7")
        #expect(settings.prefix == "plant/edgegate")
        #expect(settings.sources["hub"] == "/etc/op/cli.yaml:1:6")
        #expect(settings.sources["prefix"] == "/etc/op/cli.yaml:5:9")
        #expect(try file("certs: ~/certs").certs == "/home/alice/certs")
    }

    @Test("the environment beats the file, a flag beats both; empty variables count as unset")
    func precedence() throws {
        let environment = [
            "EDGEGATE_HUB": "mqtts://env-hub:8884", "EDGEGATE_CERTS": "/env/certs", "EDGEGATE_IDENTITY": "bob",
            "EDGEGATE_GATEWAY": "gw-env", "EDGEGATE_PREFIX": "",
        ]
        let fromEnv = try CLISettings.resolve(flags: CLIFlags(), environment: environment, file: try file())
        #expect(fromEnv.hub == MQTTURL(host: "env-hub", port: 8884))
        #expect(fromEnv.certs == "/env/certs")
        #expect(fromEnv.identity == "bob")
        #expect(fromEnv.gateway == "gw-env")
        #expect(fromEnv.prefix == "plant/edgegate", "an empty EDGEGATE_PREFIX leaves the file's")
        #expect(
            fromEnv.sources == [
                "hub": "EDGEGATE_HUB", "certs": "EDGEGATE_CERTS", "identity": "EDGEGATE_IDENTITY",
                "gateway": "EDGEGATE_GATEWAY", "prefix": "/etc/op/cli.yaml:5:9",
            ])

        let flags = CLIFlags(hub: "mqtts://flag-hub", certs: "flag-certs", identity: "carol", gateway: "gw-flag", prefix: "p")
        let fromFlags = try CLISettings.resolve(flags: flags, environment: environment, file: try file())
        #expect(fromFlags.hub == MQTTURL(host: "flag-hub", port: 8883))
        #expect(fromFlags.certs == "flag-certs")
        #expect(fromFlags.identity == "carol")
        #expect(fromFlags.gateway == "gw-flag")
        #expect(fromFlags.prefix == "p")
        #expect(Set(fromFlags.sources.values) == ["--hub", "--certs", "--identity", "--gateway", "--prefix"])
    }

    @Test("without flags, variables or file: the development hub and PKI, no gateway")
    func defaults() throws {
        let settings = try CLISettings.resolve(flags: CLIFlags(), environment: [:], file: nil)
        #expect(settings.hub == MQTTURL(host: "127.0.0.1", port: 8883))
        #expect(settings.certs == "certs")
        #expect(settings.identity == "operator")
        #expect(settings.gateway == nil)
        #expect(settings.prefix == "edgegate")
        #expect(settings.sources["hub"] == "default")
    }

    @Test("--hub-host and --hub-port change only their part of the hub from the lower sources")
    func hubParts() throws {
        let environment = ["EDGEGATE_HUB": "mqtts://env-hub:8884"]
        let port = try CLISettings.resolve(flags: CLIFlags(hubPort: 9999), environment: environment, file: nil)
        #expect(port.hub == MQTTURL(host: "env-hub", port: 9999))
        #expect(port.sources["hub"] == "--hub-port")
        let host = try CLISettings.resolve(flags: CLIFlags(hubHost: "10.0.0.5"), environment: environment, file: nil)
        #expect(host.hub == MQTTURL(host: "10.0.0.5", port: 8884))
        #expect(throws: CLISettingsError.self) {
            try CLISettings.resolve(flags: CLIFlags(hub: "mqtts://a", hubPort: 1), environment: [:], file: nil)
        }
    }

    @Test("unusable flags and variables are usage errors that name their source")
    func badValues() throws {
        func message(_ flags: CLIFlags, _ environment: [String: String] = [:]) -> String {
            do {
                _ = try CLISettings.resolve(flags: flags, environment: environment, file: nil)
                return "no error"
            } catch {
                return error.description
            }
        }
        #expect(message(CLIFlags(hub: "mqtt://127.0.0.1:1883")).contains("--hub 'mqtt://127.0.0.1:1883': the remote command CLI connects with mutual TLS only"))
        #expect(
            message(CLIFlags(), ["EDGEGATE_HUB": "https://hub"])
                == "EDGEGATE_HUB: url scheme 'https' is not supported (the remote command CLI connects with mutual TLS only: use mqtts://hub:8883)")
        #expect(message(CLIFlags(gateway: "gw/1")).hasPrefix("--gateway 'gw/1' cannot be an MQTT topic level"))
        #expect(message(CLIFlags(), ["EDGEGATE_PREFIX": "edgegate/#"]).hasPrefix("EDGEGATE_PREFIX 'edgegate/#' is not a valid MQTT topic prefix"))
        #expect(message(CLIFlags(hubPort: 70000)) == "--hub-port 70000 is out of range 1...65535")
        #expect(message(CLIFlags(identity: "../ca")).hasPrefix("--identity '../ca' must be a file name"))
    }

    @Test("a hub address of another scheme is answered with an mqtts:// address of its host, which the CLI then accepts; never with plain mqtt://")
    func schemeSuggestion() throws {
        func problem(_ flags: CLIFlags, _ environment: [String: String]) -> String? {
            do {
                _ = try CLISettings.resolve(flags: flags, environment: environment, file: nil)
                return nil
            } catch {
                return error.description
            }
        }
        for (given, host) in [
            ("https://hub.example.com", "hub.example.com"), ("https://hub.example.com:443/", "hub.example.com"),
            ("http://10.0.0.5:8080", "10.0.0.5"), ("ws://[::1]:9001", "[::1]"),
        ] {
            for (flags, environment) in [(CLIFlags(hub: given), [String: String]()), (CLIFlags(), ["EDGEGATE_HUB": given])] {
                let text = try #require(problem(flags, environment), "\(given) must be refused")
                #expect(!text.contains("mqtt://") && !text.contains("insecure"), "\(text)")
                // The suggestion, as the user would paste it back.
                let suggested = try #require(text.firstMatch(of: #/use (mqtts://\S+?)\)?$/#).map { String($0.1) }, "\(text)")
                #expect(suggested == "mqtts://\(host):8883", "\(text)")
                let accepted = try CLISettings.resolve(
                    flags: flags.hub == nil ? flags : CLIFlags(hub: suggested),
                    environment: flags.hub == nil ? ["EDGEGATE_HUB": suggested] : [:], file: nil)
                #expect(accepted.hub.description == suggested)
            }
        }
        let (settings, diagnostics) = CLISettingsFile.parse(yaml: "hub: https://hub.example.com\n", file: "cli.yaml")
        #expect(settings == nil)
        #expect(
            diagnostics.map(\.description) == [
                "cli.yaml:1:6: error: url scheme 'https' is not supported (the remote command CLI connects with mutual TLS only: use mqtts://hub.example.com:8883)"
            ])
        #expect(try file("hub: mqtts://hub.example.com:8883").hub == MQTTURL(host: "hub.example.com", port: 8883))
    }

    @Test("file errors print as file:line:column with the nearest key")
    func fileDiagnostics() {
        let (settings, diagnostics) = CLISettingsFile.parse(
            yaml: """
                hub: mqtt://hub.example.com
                gatway: gw-1
                prefix: a//b
                identity: [alice]
                """, file: "cli.yaml")
        #expect(settings == nil)
        #expect(
            diagnostics.map(\.description) == [
                "cli.yaml:1:6: error: the remote command CLI connects with mutual TLS only (use mqtts://)",
                "cli.yaml:2:1: error: unknown key 'gatway' (did you mean 'gateway'?)",
                "cli.yaml:3:9: error: prefix 'a//b' is not a valid MQTT topic prefix (\(#"use levels separated by single '/', without '+', '#', spaces, control characters or a leading or trailing '/'"#))",
                "cli.yaml:4:11: error: 'identity' must be a string, found a list",
            ])
    }

    @Test("the file lives in $XDG_CONFIG_HOME/edgegate when that is absolute, else in ~/.config/edgegate")
    func defaultPath() {
        #expect(CLISettingsFile.defaultPath(environment: ["XDG_CONFIG_HOME": "/xdg", "HOME": "/home/a"]) == "/xdg/edgegate/cli.yaml")
        #expect(CLISettingsFile.defaultPath(environment: ["XDG_CONFIG_HOME": "relative", "HOME": "/home/a"]) == "/home/a/.config/edgegate/cli.yaml")
        #expect(CLISettingsFile.defaultPath(environment: [:]) == nil)
    }
}
