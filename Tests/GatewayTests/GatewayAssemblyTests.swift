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

    @Test("profiles this build does not have are refused by name")
    func unsupported() {
        #expect(throws: GatewayError.unsupported("unknown uplink profile 'aws-iot'; known: mqtt, azure-iot-hub")) {
            _ = try Gateway(configuration: configuration(UplinkSettings(profile: "aws-iot", host: "h", tls: TLSFiles(ca: "ca.pem"))),
                            deviceMap: map, logger: Logger(label: "t"))
        }
    }

    @Test("an azure-iot-hub uplink built in code needs its hub settings, TLS, and a client certificate for X.509")
    func azureSettings() {
        let x509 = AzureIoTHubSettings(hub: "h.azure-devices.net", deviceID: "gw-1", authentication: .x509)
        #expect(throws: GatewayError.invalidConfiguration("uplink: profile azure-iot-hub needs the hub, the device id and how to authenticate")) {
            _ = try Gateway(configuration: configuration(UplinkSettings(profile: "azure-iot-hub", host: "h", tls: TLSFiles(ca: "ca.pem"))),
                            deviceMap: map, logger: Logger(label: "t"))
        }
        #expect(throws: GatewayError.invalidConfiguration("uplink: profile azure-iot-hub needs TLS with a CA file (tls.ca)")) {
            _ = try Gateway(configuration: configuration(UplinkSettings(profile: "azure-iot-hub", host: "h", azure: x509)),
                            deviceMap: map, logger: Logger(label: "t"))
        }
        #expect(throws: GatewayError.invalidConfiguration("uplink: `auth: x509` needs tls.cert and tls.key")) {
            _ = try Gateway(configuration: configuration(UplinkSettings(profile: "azure-iot-hub", host: "h", tls: TLSFiles(ca: "ca.pem"), azure: x509)),
                            deviceMap: map, logger: Logger(label: "t"))
        }
        #expect(throws: Never.self) {
            _ = try Gateway(configuration: configuration(UplinkSettings(profile: "azure-iot-hub", host: "h",
                                                                        tls: TLSFiles(ca: "ca.pem", cert: "c.pem", key: "c.key"), azure: x509)),
                            deviceMap: map, logger: Logger(label: "t"))
        }
    }
}
