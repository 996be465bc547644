import DeviceMaps
import Gateway
import Logging
import Testing

@Suite("Gateway assembly")
struct GatewayAssemblyTests {
    let map = DeviceMap(devices: [])

    func configuration(_ uplink: UplinkSettings) -> GatewayConfiguration {
        GatewayConfiguration(gatewayID: "gw-1", devicemaps: [], uplink: uplink, outbox: OutboxSettings(path: ":memory:"))
    }

    @Test("plain MQTT without `insecure` and TLS without a CA are refused even when built in code")
    func securityDefaults() {
        #expect(throws: GatewayError.invalidConfiguration("uplink: plain MQTT needs `insecure: true`")) {
            _ = try Gateway(configuration: configuration(UplinkSettings(host: "127.0.0.1", port: 1883, useTLS: false)),
                            deviceMap: map, logger: Logger(label: "t"))
        }
        #expect(throws: GatewayError.invalidConfiguration("uplink: TLS needs a CA file (tls.ca)")) {
            _ = try Gateway(configuration: configuration(UplinkSettings(host: "127.0.0.1")), deviceMap: map, logger: Logger(label: "t"))
        }
        #expect(throws: Never.self) {
            _ = try Gateway(configuration: configuration(UplinkSettings(host: "127.0.0.1", port: 1883, useTLS: false, insecure: true)),
                            deviceMap: map, logger: Logger(label: "t"))
        }
    }

    @Test("profiles and protocols this build does not have are refused by name")
    func unsupported() {
        #expect(throws: GatewayError.unsupported("uplink profile 'azure-iot-hub' is not supported yet; supported: mqtt")) {
            _ = try Gateway(configuration: configuration(UplinkSettings(profile: "azure-iot-hub", host: "h", tls: TLSFiles(ca: "ca.pem"))),
                            deviceMap: map, logger: Logger(label: "t"))
        }
    }
}
