import DeviceMaps
import ModbusAdapter
import Foundation
import Testing

@Suite struct GatewayConfigurationTests {
    static let secure = """
    gateway: { id: gw-1, devicemaps: [../devicemaps/, extra.yaml] }
    uplink:
      url: mqtts://hub.example
      tls: { ca: ../certs/ca.pem, cert: /etc/edgegate/gw.pem, key: ../certs/gw.key }
    """

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
        _ = try DeviceMapLoader.modbus.load(paths: config.devicemaps)
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
