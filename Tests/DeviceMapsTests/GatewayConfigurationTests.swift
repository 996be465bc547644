import DeviceMaps
import ModbusAdapter
import Foundation
import Testing
import TestSupport

@Suite struct GatewayConfigurationTests {
    static let secure = """
    gateway: { id: gw-1, devicemaps: [../devicemaps/, extra.yaml] }
    uplink:
      url: mqtts://hub.example
      tls: { ca: ../certs/ca.pem, cert: /etc/edgegate/gw.pem, key: ../certs/gw.key }
    """

    @Test func uplinkTimingAndCommandWindow() throws {
        let defaults = try #require(GatewayConfiguration.parse(yaml: Self.secure, file: "g.yaml").config)
        #expect(defaults.uplink.timing == UplinkTiming())
        #expect(defaults.commands == CommandSettings(remember: .seconds(86_400), maxIDs: 100_000))
        let yaml = Self.secure + """

              reconnect_max: 2m
              drain_grace: 10s
              batch_interval: 200ms
              batch_max_bytes: 64KB
            commands: { remember: 72h, max_ids: 500000 }
            """
        let c = try #require(GatewayConfiguration.parse(yaml: yaml, file: "g.yaml").config)
        #expect(c.uplink.timing == UplinkTiming(reconnectMax: .seconds(120), drainGrace: .seconds(10),
                                                batchInterval: .milliseconds(200), batchMaxBytes: 64 * 1024))
        #expect(c.commands == CommandSettings(remember: .seconds(72 * 3600), maxIDs: 500_000))
        let bad = GatewayConfiguration.parse(yaml: Self.secure + "\n  batch_max_bytes: 1MB\ncommands: { max_ids: 0, forget: 1h }\n", file: "g.yaml")
        #expect(bad.config == nil)
        #expect(bad.diagnostics.map(\.message) == [
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
        #expect(config.uplink == UplinkSettings(
            profile: "mqtt", host: "127.0.0.1", port: 8883, useTLS: true, insecure: false, prefix: "edgegate",
            tls: TLSFiles(ca: Repo.path("certs/ca.pem"), cert: Repo.path("certs/gateway.pem"),
                          key: Repo.path("certs/gateway.key")),
            clientID: "gw-1", keepAlive: nil))
        #expect(config.outbox == OutboxSettings(path: Repo.path("var/outbox.sqlite"), maxBytes: 256 * 1024 * 1024))
        // The maps it names load too.
        _ = try DeviceMapLoader.examples.load(paths: config.devicemaps)
    }

    @Test func azureExampleParsesCleanly() throws {
        let config = try GatewayConfiguration.load(file: Repo.path("examples/azure-iot-hub.yaml"))
        #expect(config.uplink == UplinkSettings(
            profile: "azure-iot-hub", host: "myhub.azure-devices.net", port: 8883, useTLS: true, insecure: false,
            tls: TLSFiles(ca: Repo.path("certs/DigiCertGlobalRootG2.pem"), cert: Repo.path("certs/gw-1.pem"), key: Repo.path("certs/gw-1.key")),
            clientID: "gw-1", keepAlive: nil,
            azure: AzureIoTHubSettings(hub: "myhub.azure-devices.net", deviceID: "gw-1", authentication: .x509)))
        _ = try DeviceMapLoader.examples.load(paths: config.devicemaps)
    }

    @Test func azureConfigurationsOfTheOperationsGuideValidate() throws {
        let blocks = try DocumentationSamples.yamlBlocks(inFile: "docs/operations.md").filter { $0.contains("profile: azure-iot-hub") }
        #expect(blocks.count >= 2)
        for block in blocks {
            // The key file a block names is there, as on the gateway it describes.
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            if let match = block.firstMatch(of: /key_file: (\S+)/) {
                chmod(try folder.write(String(match.1), "c2VjcmV0LWtleS0xMjM0NTY3ODkw"), 0o600)
            }
            let (config, diagnostics) = GatewayConfiguration.parse(yaml: block, file: folder.path + "/gateway.yaml")
            #expect(config?.uplink.azure != nil, "\(diagnostics)\n\(block)")
            #expect(diagnostics.isEmpty, "\(diagnostics)")
        }
    }

    @Test func relativePathsResolveAgainstTheConfigFolder() throws {
        let (config, diagnostics) = GatewayConfiguration.parse(yaml: Self.secure, file: "/srv/edgegate/conf/gateway.yaml")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let c = try #require(config)
        #expect(c.devicemaps == ["/srv/edgegate/devicemaps", "/srv/edgegate/conf/extra.yaml"])
        #expect(c.uplink.tls == TLSFiles(ca: "/srv/edgegate/certs/ca.pem", cert: "/etc/edgegate/gw.pem",
                                         key: "/srv/edgegate/certs/gw.key"))
        #expect(c.outbox.path == "/srv/edgegate/conf/var/outbox.sqlite")

        // A configuration in the working directory keeps paths relative to it.
        let local = try #require(GatewayConfiguration.parse(yaml: Self.secure, file: "gateway.yaml").config)
        #expect(local.devicemaps == ["../devicemaps", "extra.yaml"])
        let nested = try #require(GatewayConfiguration.parse(yaml: Self.secure, file: "examples/gateway.yaml").config)
        #expect(nested.devicemaps == ["devicemaps", "examples/extra.yaml"])
        #expect(nested.uplink.tls?.ca == "certs/ca.pem")
    }

    @Test func defaults() throws {
        let c = try #require(GatewayConfiguration.parse(yaml: Self.secure, file: "gateway.yaml").config)
        #expect(c.uplink.profile == "mqtt")
        #expect(c.uplink.port == 8883)
        #expect(c.uplink.useTLS && !c.uplink.insecure)
        #expect(c.uplink.prefix == "edgegate")
        #expect(c.uplink.clientID == "gw-1")
        #expect(c.uplink.keepAlive == nil)
        #expect(c.outbox.maxBytes == 256 << 20)
    }

    @Test func plainMQTTNeedsInsecure() throws {
        let plain = "gateway: { id: gw-1, devicemaps: [m/] }\nuplink: { url: \"mqtt://127.0.0.1\" }\n"
        let (config, diagnostics) = GatewayConfiguration.parse(yaml: plain, file: "g.yaml")
        #expect(config == nil)
        #expect(diagnostics.map(\.description) == [
            "g.yaml:2:16: error: uplink: plain MQTT sends commands and telemetry unencrypted; set `insecure: true` to allow it (or use mqtts:// with tls.ca)",
        ])

        let allowed = "gateway: { id: gw-1, devicemaps: [m/] }\nuplink: { url: \"mqtt://127.0.0.1\", insecure: true, client_id: edge-a, keep_alive: 30s }\n"
        let c = try #require(GatewayConfiguration.parse(yaml: allowed, file: "g.yaml").config)
        #expect(c.uplink.host == "127.0.0.1" && c.uplink.port == 1883 && !c.uplink.useTLS && c.uplink.insecure)
        #expect(c.uplink.tls == nil)
        #expect(c.uplink.clientID == "edge-a")
        #expect(c.uplink.keepAlive == .seconds(30))
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
        let folder = try TemporaryFolder()
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
        #expect(uplink == UplinkSettings(
            profile: "azure-iot-hub", host: "myhub.azure-devices.net", port: 8883, useTLS: true, insecure: false,
            tls: TLSFiles(ca: folder.path + "/certs/DigiCertGlobalRootG2.pem"), clientID: "gw-1", keepAlive: nil,
            azure: AzureIoTHubSettings(hub: "myhub.azure-devices.net", deviceID: "gw-1",
                                       authentication: .sas(keyFile: key, ttl: .seconds(3600)))))

        // A test hub elsewhere: the address changes, the identity does not.
        let elsewhere = yaml + "\n  url: mqtts://127.0.0.1:18883\n  device_id: line-3.gw\n  sas_ttl: 30m\n  keep_alive: 60s"
        let other = try #require(GatewayConfiguration.parse(yaml: elsewhere, file: folder.path + "/gateway.yaml").config?.uplink)
        #expect(other.host == "127.0.0.1" && other.port == 18883)
        #expect(other.clientID == "line-3.gw")
        #expect(other.keepAlive == .seconds(60))
        #expect(other.azure == AzureIoTHubSettings(hub: "myhub.azure-devices.net", deviceID: "line-3.gw",
                                                   authentication: .sas(keyFile: key, ttl: .seconds(1800))))
    }

    @Test func azureKeyFileProblems() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        func diagnostics(_ content: String) throws -> [String] {
            let key = try folder.write("gw.key", content)
            chmod(key, 0o600)
            let yaml = "gateway: { id: gw-1, devicemaps: [m/] }\nuplink: { profile: azure-iot-hub, hub: h.azure-devices.net, auth: sas, key_file: gw.key, tls: { ca: ca.pem } }\n"
            return GatewayConfiguration.parse(yaml: yaml, file: folder.path + "/g.yaml").diagnostics.map(\.description)
        }
        let path = folder.path + "/gw.key"
        #expect(try diagnostics("not a key!") == ["\(folder.path)/g.yaml:2:82: error: uplink: the device key file '\(path)' does not hold a base64 key (the primary or secondary key as the portal shows it)"])
        #expect(try diagnostics(" \n") == ["\(folder.path)/g.yaml:2:82: error: uplink: the device key file '\(path)' is empty"])
        #expect(try diagnostics("c2VjcmV0") == [])
        // The content is never quoted back.
        #expect(try !diagnostics("secret-not-base64").joined().contains("secret-not-base64"))

        // Readable by others: a warning, the configuration still loads.
        #expect(try diagnostics("c2VjcmV0") == [])
        chmod(path, 0o644)
        let yaml = "gateway: { id: gw-1, devicemaps: [m/] }\nuplink: { profile: azure-iot-hub, hub: h.azure-devices.net, auth: sas, key_file: gw.key, tls: { ca: ca.pem } }\n"
        let (config, shared) = GatewayConfiguration.parse(yaml: yaml, file: folder.path + "/g.yaml")
        #expect(config != nil)
        #expect(shared.map(\.description) == ["\(folder.path)/g.yaml:2:82: warning: uplink: the device key file '\(path)' can be read by other users (mode 644) (chmod 600 \(path))"])
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
        #expect(uplink.tls == TLSFiles(ca: "ca.pem", cert: "gw-1.pem", key: "gw-1.key"))
        #expect(uplink.azure == AzureIoTHubSettings(hub: "myhub.azure-devices.net", deviceID: "gw-1", authentication: .x509))
    }

    @Test func outboxBoundsAndDurability() throws {
        let defaults = try #require(GatewayConfiguration.parse(yaml: Self.secure, file: "g.yaml").config)
        #expect(defaults.outbox.maxAge == nil)
        #expect(defaults.outbox.sync == .full)
        let yaml = Self.secure + "\noutbox: { path: ':memory:', max_bytes: 1MB, max_age: 72h, sync: normal }\n"
        let c = try #require(GatewayConfiguration.parse(yaml: yaml, file: "/etc/edgegate/g.yaml").config)
        #expect(c.outbox == OutboxSettings(path: ":memory:", maxBytes: 1 << 20, maxAge: .seconds(72 * 3600), sync: .normal))
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
