import ConfigSyntax
public import Foundation
public import Logging
import MQTTClient
public import Uplink

/// Settings of the `sparkplug-b` uplink profile: the group and, optionally, the primary host.
public struct SparkplugSettings: UplinkProfileSettings, Hashable {
    /// The profile's name in the configuration.
    public static let profile = "sparkplug-b"

    /// The Sparkplug group id.
    public var group: String
    /// The host application id whose STATE must say online before the node publishes; nil:
    /// publish whenever connected.
    public var primaryHost: String?

    /// Creates settings.
    public init(group: String, primaryHost: String? = nil) {
        self.group = group
        self.primaryHost = primaryHost
    }

    /// `sparkplug-b`.
    public var name: String { Self.profile }

    /// The profile: edge node `gateway.id` of `group`.
    public func makeProfile(link: MQTTUplinkConfiguration, logger: Logger, now: @escaping @Sendable () -> Date) -> any UplinkProfile {
        SparkplugProfile(group: group, node: link.gatewayID, primaryHost: primaryHost, logger: logger, now: now)
    }
}

extension SparkplugProfile {
    /// The `sparkplug-b` profile: the broker as for `mqtt` (`url`, `insecure`, `tls`,
    /// `client_id`, `keep_alive`), `group` (required) and `primary_host`.
    public static let descriptor = UplinkProfileDescriptor(
        name: SparkplugSettings.profile,
        keys: ["url", "insecure", "tls", "client_id", "keep_alive", "group", "primary_host"] + UplinkSection.timingKeys,
        refusedKeys: [("prefix", "Sparkplug fixes the topics: spBv1.0/{group}/{message type}/{gateway.id}[/{device}]")],
        parse: parseSection)

    static func parseSection(_ section: UplinkSection) -> UplinkConfiguration? {
        let u = section.mapping
        let group = u.name("group", required: true, hint: "the Sparkplug group id, e.g. group: plant-1")
        let primaryHost = u.name("primary_host")
        // The node id is gateway.id, which the gateway's own check already keeps to one topic level.
        for (key, id) in [("group", group), ("primary_host", primaryHost)] {
            if let id, let bad = Sparkplug.invalidCharacter(in: id), let node = u.value(key) {
                u.error("'\(key)' must not contain '\(bad)'", at: node, hint: "Sparkplug ids are one MQTT topic level: no '/', '+' or '#'")
            }
        }
        let options = section.brokerOptions()
        guard !section.hasNewErrors, let options, let group, let gatewayID = section.gatewayID else { return nil }
        return UplinkConfiguration(
            link: MQTTUplinkConfiguration(gatewayID: gatewayID, connection: options),
            profile: SparkplugSettings(group: group, primaryHost: primaryHost))
    }
}
