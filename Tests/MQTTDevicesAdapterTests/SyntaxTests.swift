import DeviceMaps
import GatewayCore
import MQTTDevicesAdapter
import Testing

@Suite("MQTT device-map syntax")
struct SyntaxTests {
    @Test("stale_after: never on a point and on a device; a word other than never is an error that names never")
    func staleAfterNever() throws {
        let (map, diagnostics) = mqttLoader.parse(
            yaml: """
                devices:
                  - id: d
                    protocol: mqtt
                    connection: { broker: "mqtts://192.0.2.5", topic: "z/{id}", stale_after: never }
                    points:
                      a: { path: $.a, stale_after: never }
                      b: { path: $.b, stale_after: 5m }
                      c: { path: $.c }
                """, file: "test.yaml")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let device = try #require(map?.devices.first)
        #expect(device.mqttConnection.staleAfter == nil)
        let points = Dictionary(device.points.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(points["a"]?.mqtt.staleAfter == .never)
        #expect(points["b"]?.mqtt.staleAfter == .after(.seconds(300)))
        #expect(points["c"]?.mqtt.staleAfter == nil, "the device's")
        #expect(points["a"]?.address.fields.first { $0.key == "stale_after" }?.text == "never")

        let wrong = mqttLoader.parse(
            yaml: """
                devices:
                  - id: d
                    protocol: mqtt
                    connection: { broker: "mqtts://192.0.2.5", topic: "z/{id}", stale_after: nevr }
                    points:
                      a: { path: $.a, stale_after: [1m] }
                """, file: "test.yaml"
        ).diagnostics.map(\.description)
        #expect(
            wrong == [
                "test.yaml:4:78: error: device 'd': 'stale_after' must be a duration such as 10m, or never, found 'nevr' (never turns the limit off; durations take a unit: ms, s, m, h)",
                "test.yaml:6:36: error: device 'd', point 'a': 'stale_after' must be a duration such as 500ms, 2s or 1m, found a list",
            ], "\(wrong)")
    }

    @Test("a device id with a NUL character cannot fill {id}")
    func nulInID() {
        let diagnostics = mqttLoader.parse(
            yaml: """
                devices:
                  - id: "cellar\\0"
                    protocol: mqtt
                    connection: { broker: "mqtts://192.0.2.5", topic: "z/{id}" }
                    points: { a: { path: $.a } }
                """, file: "test.yaml"
        ).diagnostics
        #expect(diagnostics.count == 1)
        #expect(diagnostics.first?.severity == .error)
        #expect(diagnostics.first?.description.contains("it contains a NUL character") == true, "\(diagnostics)")
    }
}
