import DeviceMaps
import MQTTClient

/// Where a device's state arrives: its broker and its topic, unless that is a filter with
/// wildcards.
struct MQTTBrokerTopics: BrokerTopics {
    func stateTopic(of device: DeviceDefinition) -> BrokerTopic? {
        guard let connection = device.connection as? MQTTDeviceConnection else { return nil }
        let topic = connection.topic(of: device.id)
        guard !topic.contains("+"), !topic.contains("#") else { return nil }
        return BrokerTopic(host: connection.broker.host, port: connection.broker.port, useTLS: connection.broker.useTLS, topic: topic)
    }
}
