public import DeviceMaps
import GatewayCore

extension ProtocolPlugin {
    /// MQTT devices (zigbee2mqtt, Tasmota, JSON over MQTT) on a local or site broker.
    public static let mqtt = ProtocolPlugin(
        syntax: MQTTDeviceSyntax.self, adapter: MQTTDevicesAdapter.self, title: "MQTT",
        template: MapTemplate(
            header: [
                "# MQTT devices (zigbee2mqtt, Tasmota, JSON over MQTT): Sources/MQTTDevicesAdapter/README.md.",
                "# path: where the value is in the JSON payload ($.a.b[0]); type: bool, int64, float64 (default), string.",
                "# Writable points publish their payload template to command_topic ({topic}/set by default).",
            ],
            device: [
                #"    connection: { broker: "mqtts://broker.example:8883", topic: "zigbee2mqtt/{id}", stale_after: 2h }"#,
                "    # plain MQTT only with `insecure: true`; user names with password_env: the variable holding the password",
            ],
            body: [
                "    points:",
                #"      temperature: { path: $.temperature, unit: "°C" }"#,
                #"      humidity:    { path: $.humidity, unit: "%RH", report: { deadband: 1 } }"#,
                "      battery:     { path: $.battery, type: int64, unit: \"%\" }",
                "      relay:       { path: $.state, true_value: \"ON\", false_value: \"OFF\", access: readwrite,",
                #"                     payload: '{"state": "{value}"}' }   # what a write publishes"#,
                #"      available:   { topic: "{topic}/availability", path: $.state, true_value: online, false_value: offline,"#,
                "                     stale_after: never }   # published on change only",
                "    commands:",
                "      switch_on:   { write: { relay: true } }",
            ]),
        abilities: [MQTTRequestSummary(), MQTTBrokerTopics()])
}

/// `map plan`: the topics a device is subscribed to.
struct MQTTRequestSummary: RequestSummarizing {
    func requestSummary(of device: DeviceDefinition, among devices: [DeviceDefinition]) -> String {
        MQTTDevicesAdapter.requestSummary(of: device, among: devices)
    }
}
