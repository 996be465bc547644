import DeviceMaps
import Foundation
import Gateway
import MQTTClient
import SparkplugB
import TestSupport
import Testing
import Uplink

@Suite("sparkplug-b settings")
struct SettingsTests {
    /// The plugin README's configuration, as a gateway would load it.
    @Test("the README's sample configuration loads: broker, TLS, group and primary host")
    func readmeSample() throws {
        let sample = try #require(DocumentationSamples.yamlBlocks(inFile: "Sources/SparkplugB/README.md").first)
        let (config, diagnostics) = GatewayConfiguration.parse(yaml: sample, file: "/etc/edgegate/gateway.yaml")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let loaded = try #require(config)
        let settings = try #require(loaded.uplink.profile as? SparkplugSettings)
        #expect(settings == SparkplugSettings(group: "plant-1", primaryHost: "scada-1"))
        #expect(loaded.uplink.link.gatewayID == "line-3-gw")
        let connection = loaded.uplink.link.connection
        #expect(connection.host == "broker.plant.example" && connection.port == 8883 && connection.clientID == "line-3-gw")
        #expect(connection.tls?.certFile == "/etc/edgegate/certs/gateway.pem")
        #expect(connection.tls?.verifyHostname == true)
    }

    func diagnostics(_ uplink: String, id: String = "gw-1") -> [String] {
        let yaml = "gateway: { id: \(id), devicemaps: [m/] }\nuplink:\n\(uplink)\n"
        return GatewayConfiguration.parse(yaml: yaml, file: "g.yaml").diagnostics.map(\.description)
    }

    @Test("group is required, ids are one topic level, prefix does not apply, plain MQTT only with insecure")
    func errors() {
        #expect(
            diagnostics("  profile: sparkplug-b\n  url: mqtts://h\n  tls: { ca: ca.pem }") == [
                "g.yaml:3:3: error: uplink: missing required key 'group' (the Sparkplug group id, e.g. group: plant-1)"
            ])
        #expect(
            diagnostics("  profile: sparkplug-b\n  url: mqtts://h\n  tls: { ca: ca.pem }\n  group: a/b\n  primary_host: s+1") == [
                "g.yaml:6:10: error: uplink: 'group' must not contain '/' (Sparkplug ids are one MQTT topic level: no '/', '+' or '#')",
                "g.yaml:7:17: error: uplink: 'primary_host' must not contain '+' (Sparkplug ids are one MQTT topic level: no '/', '+' or '#')",
            ])
        #expect(
            diagnostics("  profile: sparkplug-b\n  url: mqtts://h\n  tls: { ca: ca.pem }\n  group: g\n  prefix: p") == [
                "g.yaml:7:3: error: uplink: 'prefix' does not apply to profile sparkplug-b (Sparkplug fixes the topics: spBv1.0/{group}/{message type}/{gateway.id}[/{device}])"
            ])
        #expect(
            diagnostics("  profile: sparkplug-b\n  url: mqtt://h\n  group: g").first?.contains(
                "plain MQTT sends commands and telemetry unencrypted; set `insecure: true` to allow it") == true)
        #expect(diagnostics("  profile: sparkplug-b\n  url: mqtt://h\n  insecure: true\n  group: g").isEmpty)
    }
}

extension SettingsTests {
    @Test("examples/sparkplug-b.yaml loads, and so do the device maps it names")
    func example() throws {
        let file = DocumentationSamples.repositoryRoot + "/examples/sparkplug-b.yaml"
        let config = try GatewayConfiguration.load(file: file)
        #expect(config.uplink.profile as? SparkplugSettings == SparkplugSettings(group: "plant-1"))
        #expect(config.uplink.link.connection.tls?.keyFile == DocumentationSamples.repositoryRoot + "/certs/gateway.key")
        _ = try DeviceMapLoader.standard.load(paths: config.devicemaps)
    }
}
