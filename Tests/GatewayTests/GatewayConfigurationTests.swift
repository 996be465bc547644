import AzureIoTHub
import DeviceMaps
import Foundation
import Gateway
import MQTTClient
import Storage
import TestSupport
import Testing
import Uplink

@Suite struct GatewayConfigurationTests {
    static let secure = """
        gateway: { id: gw-1, devicemaps: [../devicemaps/, extra.yaml] }
        uplink:
          url: mqtts://hub.example
          tls: { ca: ../certs/ca.pem, cert: /etc/edgegate/gw.pem, key: ../certs/gw.key }
        """

    /// The link's timing: reconnects, shutdown, batching.
    static func timing(_ link: MQTTUplinkConfiguration) -> String {
        "reconnect_max=\(link.maxBackoff) drain_grace=\(link.drainGrace) batch_interval=\(link.batchInterval) batch_max_bytes=\(link.maxMessageBytes)"
    }

    /// The MQTT options that a configuration decides (the rest are the client's defaults).
    static func connection(_ o: MQTTOptions) -> String {
        "\(o.host):\(o.port) tls=\(o.tls.map { "\($0.caFile),\($0.certFile ?? "-"),\($0.keyFile ?? "-"),\($0.verifyHostname)" } ?? "none") client=\(o.clientID) keepalive=\(o.keepAlive)"
    }

    /// What an azure-iot-hub configuration's profile settings are.
    static func azure(_ c: GatewayConfiguration?) -> AzureIoTHubSettings? {
        c?.uplink.profile as? AzureIoTHubSettings
    }

    @Test func uplinkTimingAndCommandWindow() throws {
        let defaults = try #require(GatewayConfiguration.parse(yaml: Self.secure, file: "g.yaml").config)
        let uplinkDefaults = MQTTUplinkConfiguration(gatewayID: "gw-1", connection: MQTTOptions(host: "h", port: 1, clientID: "c"))
        #expect(Self.timing(defaults.uplink.link) == Self.timing(uplinkDefaults))
        #expect(defaults.commands == CommandSettings(remember: .seconds(86_400), maxIDs: 100_000))
        let yaml =
            Self.secure + """

                  reconnect_max: 2m
                  drain_grace: 10s
                  batch_interval: 200ms
                  batch_max_bytes: 64KB
                commands: { remember: 72h, max_ids: 500000 }
                """
        let c = try #require(GatewayConfiguration.parse(yaml: yaml, file: "g.yaml").config)
        #expect(Self.timing(c.uplink.link) == "reconnect_max=120.0 seconds drain_grace=10.0 seconds batch_interval=0.2 seconds batch_max_bytes=65536")
        #expect(c.commands == CommandSettings(remember: .seconds(72 * 3600), maxIDs: 500_000))
        let bad = GatewayConfiguration.parse(yaml: Self.secure + "\n  batch_max_bytes: 1MB\ncommands: { max_ids: 0, forget: 1h }\n", file: "g.yaml")
        #expect(bad.config == nil)
        #expect(
            bad.diagnostics.map(\.message) == [
                "uplink: batch_max_bytes must be between 1KB and 256KB",
                "commands: 'max_ids' must be between 1 and 10000000, found 0",
                "commands: unknown key 'forget'",
            ])
    }

    @Test func exampleConfigurationParsesCleanly() throws {
        let file = Repo.path("examples/gateway.yaml")
        let config = try GatewayConfiguration.load(file: file)
        #expect(config.gatewayID == "gw-1")
        #expect(config.devicemaps == [Repo.path("devicemaps")])
        #expect(config.uplink.profile.name == "mqtt")
        #expect(config.uplink.link.prefix == "edgegate" && config.uplink.link.gatewayID == "gw-1")
        #expect(
            Self.connection(config.uplink.link.connection)
                == Self.connection(
                    MQTTOptions(
                        host: "127.0.0.1", port: 8883, clientID: "gw-1",
                        tls: MQTTTLS(
                            caFile: Repo.path("certs/ca.pem"), certFile: Repo.path("certs/gateway.pem"),
                            keyFile: Repo.path("certs/gateway.key")))))
        #expect(config.outbox.path == Repo.path("var/outbox.sqlite") && config.outbox.maxBytes == 256 * 1024 * 1024)
        #expect(config.outbox.maxAge == nil && config.outbox.synchronous == .full)
        // The maps it names load too.
        _ = try DeviceMapLoader.standard.load(paths: config.devicemaps)
    }

    @Test func azureExampleParsesCleanly() throws {
        let config = try GatewayConfiguration.load(file: Repo.path("examples/azure-iot-hub.yaml"))
        #expect(
            Self.connection(config.uplink.link.connection)
                == Self.connection(
                    MQTTOptions(
                        host: "myhub.azure-devices.net", port: 8883, clientID: "gw-1",
                        tls: MQTTTLS(
                            caFile: Repo.path("certs/DigiCertGlobalRootG2.pem"), certFile: Repo.path("certs/gw-1.pem"),
                            keyFile: Repo.path("certs/gw-1.key")))))
        #expect(Self.azure(config) == AzureIoTHubSettings(hub: "myhub.azure-devices.net", deviceID: "gw-1", authentication: .x509))
        _ = try DeviceMapLoader.standard.load(paths: config.devicemaps)
    }

    @Test func azureConfigurationsOfTheOperationsGuideValidate() throws {
        let blocks = try DocumentationSamples.yamlBlocks(inFile: "docs/operations.md").filter { $0.contains("profile: azure-iot-hub") }
        #expect(blocks.count >= 2)
        for block in blocks {
            // The key file a block names is there, as on the gateway it describes.
            let folder = try TemporaryDirectory(prefix: "gateway-tests")
            defer { folder.remove() }
            if let match = block.firstMatch(of: /key_file: (\S+)/) {
                chmod(try folder.write(String(match.1), "c2VjcmV0LWtleS0xMjM0NTY3ODkw"), 0o600)
            }
            let (config, diagnostics) = GatewayConfiguration.parse(yaml: block, file: folder.path + "/gateway.yaml")
            #expect(Self.azure(config) != nil, "\(diagnostics)\n\(block)")
            #expect(diagnostics.isEmpty, "\(diagnostics)")
        }
    }

    @Test func relativePathsResolveAgainstTheConfigFolder() throws {
        let (config, diagnostics) = GatewayConfiguration.parse(yaml: Self.secure, file: "/srv/edgegate/conf/gateway.yaml")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let c = try #require(config)
        #expect(c.devicemaps == ["/srv/edgegate/devicemaps", "/srv/edgegate/conf/extra.yaml"])
        #expect(
            c.uplink.link.connection.tls
                == MQTTTLS(
                    caFile: "/srv/edgegate/certs/ca.pem", certFile: "/etc/edgegate/gw.pem",
                    keyFile: "/srv/edgegate/certs/gw.key"))
        #expect(c.outbox.path == "/srv/edgegate/conf/var/outbox.sqlite")

        // A configuration in the working directory keeps paths relative to it.
        let local = try #require(GatewayConfiguration.parse(yaml: Self.secure, file: "gateway.yaml").config)
        #expect(local.devicemaps == ["../devicemaps", "extra.yaml"])
        let nested = try #require(GatewayConfiguration.parse(yaml: Self.secure, file: "examples/gateway.yaml").config)
        #expect(nested.devicemaps == ["devicemaps", "examples/extra.yaml"])
        #expect(nested.uplink.link.connection.tls?.caFile == "certs/ca.pem")
    }

    @Test func defaults() throws {
        let c = try #require(GatewayConfiguration.parse(yaml: Self.secure, file: "gateway.yaml").config)
        #expect(c.uplink.profile.name == "mqtt")
        #expect(c.uplink.link.connection.port == 8883)
        #expect(c.uplink.link.connection.tls?.verifyHostname == true)
        #expect(c.uplink.link.prefix == "edgegate")
        #expect(c.uplink.link.connection.clientID == "gw-1")
        #expect(c.uplink.link.connection.keepAlive == 30)
        #expect(c.outbox.maxBytes == 256 << 20)
    }

    @Test func plainMQTTNeedsInsecure() throws {
        let plain = "gateway: { id: gw-1, devicemaps: [m/] }\nuplink: { url: \"mqtt://127.0.0.1\" }\n"
        let (config, diagnostics) = GatewayConfiguration.parse(yaml: plain, file: "g.yaml")
        #expect(config == nil)
        #expect(
            diagnostics.map(\.description) == [
                "g.yaml:2:16: error: uplink: plain MQTT sends commands and telemetry unencrypted; set `insecure: true` to allow it (or use mqtts:// with tls.ca)"
            ])

        let allowed = "gateway: { id: gw-1, devicemaps: [m/] }\nuplink: { url: \"mqtt://127.0.0.1\", insecure: true, client_id: edge-a, keep_alive: 30s }\n"
        let c = try #require(GatewayConfiguration.parse(yaml: allowed, file: "g.yaml").config)
        #expect(c.uplink.link.connection.host == "127.0.0.1" && c.uplink.link.connection.port == 1883)
        #expect(c.uplink.link.connection.tls == nil)
        #expect(c.uplink.link.connection.clientID == "edge-a")
        #expect(c.uplink.link.connection.keepAlive == 30)
    }

    @Test func mqttsNeedsACAAndCertWithKey() {
        func messages(_ uplink: String) -> [String] {
            let yaml = "gateway: { id: gw-1, devicemaps: [m/] }\nuplink: \(uplink)\n"
            return GatewayConfiguration.parse(yaml: yaml, file: "g.yaml").diagnostics.map(\.message)
        }
        #expect(messages("{ url: mqtts://h:8884 }") == ["uplink: mqtts:// needs `tls: { ca: ... }`"])
        #expect(messages("{ url: mqtts://h, tls: { cert: c.pem, key: c.key } }") == ["uplink.tls: missing required key 'ca'"])
        #expect(messages("{ url: mqtts://h, tls: { ca: ca.pem, key: c.key } }") == ["uplink.tls: 'key' is set but 'cert' is not"])
        #expect(messages("{ url: mqtts://h, tls: { ca: ca.pem } }") == [])
        #expect(messages("{ url: 'http://h', tls: { ca: ca.pem } }") == ["uplink: url scheme 'http' is not supported"])
        #expect(messages("{ url: 'mqtts://h/topic', tls: { ca: ca.pem } }") == ["uplink: url 'mqtts://h/topic' may only hold a scheme, host and port"])
    }

    @Test(arguments: ["", "a/b", "gw+", "gw#1", "gw 1"])
    func gatewayIDMustBeATopicLevel(_ id: String) {
        let yaml = "gateway: { id: '\(id)', devicemaps: [m/] }\nuplink: { url: mqtts://h, tls: { ca: ca.pem } }\n"
        let (config, diagnostics) = GatewayConfiguration.parse(yaml: yaml, file: "g.yaml")
        #expect(config == nil)
        #expect(diagnostics.count == 1)
        #expect(diagnostics.first?.location.line == 1)
    }

    @Test(arguments: [("64KB", 65536), ("256MB", 256 << 20), ("1GB", 1 << 30), ("1000", 1000), ("2MiB", 2 << 20)])
    func byteSizes(_ text: String, _ bytes: Int) throws {
        let yaml = Self.secure + "\noutbox: { max_bytes: \(text) }\n"
        let c = try #require(GatewayConfiguration.parse(yaml: yaml, file: "g.yaml").config)
        #expect(c.outbox.maxBytes == bytes)
    }

    @Test func azureWithSASKeyFile() throws {
        let folder = try TemporaryDirectory(prefix: "gateway-tests")
        defer { folder.remove() }
        let key = try folder.write("secrets/gw-1.key", "c2VjcmV0LWtleS0xMjM0NTY3ODkw\n")
        chmod(key, 0o600)
        let yaml = """
            gateway: { id: gw-1, devicemaps: [maps/] }
            uplink:
              profile: azure-iot-hub
              hub: myhub.azure-devices.net
              auth: sas
              key_file: secrets/gw-1.key
              tls: { ca: certs/DigiCertGlobalRootG2.pem }
            """
        let (config, diagnostics) = GatewayConfiguration.parse(yaml: yaml, file: folder.path + "/gateway.yaml")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let uplink = try #require(config?.uplink)
        #expect(
            Self.connection(uplink.link.connection)
                == Self.connection(
                    MQTTOptions(
                        host: "myhub.azure-devices.net", port: 8883, clientID: "gw-1",
                        tls: MQTTTLS(caFile: folder.path + "/certs/DigiCertGlobalRootG2.pem"))))
        #expect(
            Self.azure(config)
                == AzureIoTHubSettings(
                    hub: "myhub.azure-devices.net", deviceID: "gw-1",
                    authentication: .sas(keyFile: key, ttl: .seconds(3600))))

        // A test hub elsewhere: the address changes, the identity does not.
        let elsewhere = yaml + "\n  url: mqtts://127.0.0.1:18883\n  device_id: line-3.gw\n  sas_ttl: 30m\n  keep_alive: 60s"
        let otherConfig = GatewayConfiguration.parse(yaml: elsewhere, file: folder.path + "/gateway.yaml").config
        let other = try #require(otherConfig?.uplink.link.connection)
        #expect(other.host == "127.0.0.1" && other.port == 18883)
        #expect(other.clientID == "line-3.gw")
        #expect(other.keepAlive == 60)
        #expect(
            Self.azure(otherConfig)
                == AzureIoTHubSettings(
                    hub: "myhub.azure-devices.net", deviceID: "line-3.gw",
                    authentication: .sas(keyFile: key, ttl: .seconds(1800))))
    }

    @Test func azureKeyFileProblems() throws {
        let folder = try TemporaryDirectory(prefix: "gateway-tests")
        defer { folder.remove() }
        func diagnostics(_ content: String) throws -> [String] {
            let key = try folder.write("gw.key", content)
            chmod(key, 0o600)
            let yaml =
                "gateway: { id: gw-1, devicemaps: [m/] }\nuplink: { profile: azure-iot-hub, hub: h.azure-devices.net, auth: sas, key_file: gw.key, tls: { ca: ca.pem } }\n"
            return GatewayConfiguration.parse(yaml: yaml, file: folder.path + "/g.yaml").diagnostics.map(\.description)
        }
        let path = folder.path + "/gw.key"
        #expect(
            try diagnostics("not a key!") == [
                "\(folder.path)/g.yaml:2:82: error: uplink: the device key file '\(path)' does not hold a base64 key (the primary or secondary key as the portal shows it)"
            ])
        #expect(try diagnostics(" \n") == ["\(folder.path)/g.yaml:2:82: error: uplink: the device key file '\(path)' is empty"])
        #expect(try diagnostics("c2VjcmV0") == [])
        // The content is never quoted back.
        #expect(try !diagnostics("secret-not-base64").joined().contains("secret-not-base64"))

        // Readable by others: a warning, the configuration still loads.
        #expect(try diagnostics("c2VjcmV0") == [])
        chmod(path, 0o644)
        let yaml =
            "gateway: { id: gw-1, devicemaps: [m/] }\nuplink: { profile: azure-iot-hub, hub: h.azure-devices.net, auth: sas, key_file: gw.key, tls: { ca: ca.pem } }\n"
        let (config, shared) = GatewayConfiguration.parse(yaml: yaml, file: folder.path + "/g.yaml")
        #expect(config != nil)
        #expect(
            shared.map(\.description) == [
                "\(folder.path)/g.yaml:2:82: warning: uplink: the device key file '\(path)' can be read by other users (mode 644) (chmod 600 \(path))"
            ])
    }

    @Test func azureWithX509() throws {
        let yaml = """
            gateway: { id: gw-1, devicemaps: [maps/] }
            uplink:
              profile: azure-iot-hub
              hub: myhub.azure-devices.net
              device_id: gw-1
              auth: x509
              tls: { ca: ca.pem, cert: gw-1.pem, key: gw-1.key }
            """
        let (config, diagnostics) = GatewayConfiguration.parse(yaml: yaml, file: "gateway.yaml")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let uplink = try #require(config?.uplink)
        #expect(uplink.link.connection.tls == MQTTTLS(caFile: "ca.pem", certFile: "gw-1.pem", keyFile: "gw-1.key"))
        #expect(Self.azure(config) == AzureIoTHubSettings(hub: "myhub.azure-devices.net", deviceID: "gw-1", authentication: .x509))
    }

    @Test func outboxBoundsAndDurability() throws {
        let defaults = try #require(GatewayConfiguration.parse(yaml: Self.secure, file: "g.yaml").config)
        #expect(defaults.outbox.maxAge == nil)
        #expect(defaults.outbox.synchronous == .full)
        let yaml = Self.secure + "\noutbox: { path: ':memory:', max_bytes: 1MB, max_age: 72h, sync: normal }\n"
        let c = try #require(GatewayConfiguration.parse(yaml: yaml, file: "/etc/edgegate/g.yaml").config)
        #expect(c.outbox.path == ":memory:" && c.outbox.maxBytes == 1 << 20)
        #expect(c.outbox.maxAge == .seconds(72 * 3600) && c.outbox.synchronous == .normal)
        func messages(_ outbox: String) -> [String] {
            GatewayConfiguration.parse(yaml: Self.secure + "\noutbox: \(outbox)\n", file: "g.yaml").diagnostics.map(\.message)
        }
        #expect(messages("{ max_age: 1s }") == [])
        #expect(messages("{ max_age: 999ms }") == ["outbox: max_age must be at least 1s"])
        #expect(messages("{ max_age: 0s }") == ["outbox: 'max_age' must be longer than zero"])
        #expect(messages("{ max_age: 3600 }") == ["outbox: 'max_age' must be a duration with a unit, found the number 3600"])
        #expect(messages("{ sync: off }") == ["outbox: unknown sync 'off'"])
    }

    @Test func unreadableFile() {
        #expect(throws: DeviceMapError.self) { try GatewayConfiguration.load(file: "/nonexistent/gateway.yaml") }
    }
}
