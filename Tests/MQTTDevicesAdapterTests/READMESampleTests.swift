import DeviceMaps
import Foundation
import GatewayCore
import MQTTClient
import TestSupport
import Testing

@testable import MQTTDevicesAdapter

@Suite("MQTT device adapter README and map settings")
struct READMESampleTests {
    @Test("the README's sample device map validates and means what the README says")
    func sample() throws {
        let sample = try #require(DocumentationSamples.yamlBlocks(inFile: "Sources/MQTTDevicesAdapter/README.md").first)
        let (map, diagnostics) = mqttLoader.parse(yaml: sample, file: "/site/maps/README.md")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let devices = try #require(map?.devices)
        #expect(devices.map(\.id) == ["coffee-plug", "hall-light", "boiler-room"])

        let plug = devices[0]
        let c = plug.mqttConnection
        #expect(c.broker == MQTTURL(host: "192.0.2.5", port: 8883, useTLS: true))
        #expect(c.caFile == "/site/maps/certs/site-ca.pem", "relative to the map file")
        #expect(c.staleAfter == .seconds(600))
        #expect(c.passwordEnv == "SITE_MQTT_PASSWORD")
        let state = try #require(plug.points.first { $0.name == "state" })
        #expect(state.access == .readwrite && state.kind == .bool)
        #expect(try ValueCodec.render(.bool(true), point: state) == #"{"state": "ON"}"#)
        #expect(MQTTDeviceSyntax.commandTopic(of: state.mqtt, device: plug.id, connection: c) == "zigbee2mqtt/coffee-plug/set")
        let available = try #require(plug.points.first { $0.name == "available" })
        #expect(available.mqtt.topic(device: plug.id, deviceTopic: c.topic(of: plug.id)) == "zigbee2mqtt/coffee-plug/availability")
        #expect(available.mqtt.staleAfter == .never, "availability is sent on change only")

        // The plug and the light share one broker connection; the sensor's settings are the same too.
        #expect(Set(devices.map(\.mqttConnection.session)).count == 1)

        let sensor = devices[2]
        #expect(sensor.mqttConnection.idLevel == 2)
        let temperature = try #require(sensor.points.first { $0.name == "temperature" })
        #expect(temperature.kind == .number && temperature.scale == 0.1)
        #expect(sensor.points.first { $0.name == "wifi" }?.mqtt.path.steps == [.key("rssi dbm")])
    }

    @Test("map show's fields name the password's variable, never a password")
    func fieldsHaveNoSecret() throws {
        let sample = try #require(DocumentationSamples.yamlBlocks(inFile: "Sources/MQTTDevicesAdapter/README.md").first)
        let device = try #require(mqttLoader.parse(yaml: sample, file: "README.md").map?.devices.first)
        let fields = Dictionary(device.connection.fields.map { ($0.key, $0.text) }, uniquingKeysWith: { a, _ in a })
        #expect(fields["password_env"] == "SITE_MQTT_PASSWORD")
        #expect(fields["stale_after"] == "10m")
        #expect(fields["broker"] == "mqtts://192.0.2.5:8883" && fields["topic"] == "zigbee2mqtt/{id}")
        #expect(!fields.keys.contains("password"))
        let state = try #require(device.points.first { $0.name == "state" })
        #expect(state.address.fields.map(\.key) == ["path", "type", "true_value", "false_value", "command_topic", "payload"])
        #expect(state.address.description == "$.state bool (ON/OFF)")
    }
}
