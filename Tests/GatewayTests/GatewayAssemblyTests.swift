import DeviceMaps
import Foundation
import Gateway
import Logging
import TestSupport
import Testing
import Uplink

@Suite("Gateway assembly")
struct GatewayAssemblyTests {
    let map = DeviceMap(devices: [])

    /// A configuration parsed as `edgegate run` parses it, with an in-memory outbox unless told.
    func configuration(_ uplink: String, outbox: String = "{ path: ':memory:' }") throws -> GatewayConfiguration {
        let yaml = "gateway: { id: gw-1, devicemaps: [m/] }\nuplink: \(uplink)\noutbox: \(outbox)\n"
        let (config, diagnostics) = GatewayConfiguration.parse(yaml: yaml, file: "g.yaml")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        return try #require(config)
    }

    @Test("a device map with a protocol the gateway does not serve is refused, naming the device and the protocols it serves")
    func unknownDeviceProtocol() throws {
        let yaml = """
            devices:
              - id: door-1
                protocol: door-sim
                connection: { seed: 1, open_every: 100h, open_for: 1s, battery_drain: 0 }
                poll: 10s
                points: { contact: { field: contact } }
            """
        let (parsed, diagnostics) = DeviceMapLoader.standard.parse(yaml: yaml, file: "doors.yaml")
        let doors = try #require(parsed, "\(diagnostics)")
        let served = ProtocolRegistry(ProtocolRegistry.standard.plugins.filter { $0.name != "door-sim" })
        let known = served.plugins.map(\.name).joined(separator: ", ")
        let config = try configuration("{ url: mqtts://h, tls: { ca: ca.pem } }")
        #expect(throws: GatewayError.unsupported("device door-1: unknown protocol 'door-sim'; known: \(known)")) {
            _ = try Gateway(configuration: config, deviceMap: doors, logger: Logger(label: "t"), protocols: served)
        }
        #expect(throws: Never.self) {
            _ = try Gateway(configuration: config, deviceMap: doors, logger: Logger(label: "t"))
        }
    }

    @Test("an outbox file that cannot be opened stops the assembly with the outbox's reason")
    func outboxOpenFailure() throws {
        let folder = try TemporaryDirectory(prefix: "gateway-tests")
        defer { folder.remove() }
        // A regular file where the outbox's folder should be: nothing can be created below it.
        let file = try folder.write("not-a-folder", "")
        let config = try configuration("{ url: mqtts://h, tls: { ca: ca.pem } }", outbox: "{ path: \(file)/outbox.sqlite }")
        do {
            _ = try Gateway(configuration: config, deviceMap: map, logger: Logger(label: "t"))
            Issue.record("the gateway was assembled with an outbox that cannot be opened")
        } catch {
            guard case .outbox(let reason) = error else {
                Issue.record("expected an outbox error, got \(error)")
                return
            }
            #expect(reason.hasPrefix("outbox: cannot open "), "\(reason)")
            #expect(reason.contains("\(file)/outbox.sqlite"), "\(reason)")
        }
    }

    @Test("each profile of the registry is chosen by its name and makes the profile of that name")
    func registryProfiles() throws {
        #expect(UplinkProfiles.standard.map(\.name) == ["mqtt", "azure-iot-hub", "sparkplug-b"])
        let sections = [
            "mqtt": "{ profile: mqtt, url: mqtts://h, tls: { ca: ca.pem } }",
            "azure-iot-hub": "{ profile: azure-iot-hub, hub: h.azure-devices.net, auth: x509, tls: { ca: ca.pem, cert: c.pem, key: c.key } }",
            "sparkplug-b": "{ profile: sparkplug-b, url: mqtts://h, tls: { ca: ca.pem }, group: plant-1 }",
        ]
        for descriptor in UplinkProfiles.standard {
            let config = try configuration(try #require(sections[descriptor.name]))
            #expect(config.uplink.profile.name == descriptor.name)
            let profile = config.uplink.profile.makeProfile(link: config.uplink.link, logger: Logger(label: "t"), now: { .now })
            #expect(profile.name == descriptor.name)
            #expect(throws: Never.self) {
                _ = try Gateway(configuration: config, deviceMap: map, logger: Logger(label: "t"))
            }
        }
        // Without `profile:` the first profile of the list is the one.
        #expect(try configuration("{ url: mqtts://h, tls: { ca: ca.pem } }").uplink.profile.name == UplinkProfiles.standard[0].name)
    }
}
