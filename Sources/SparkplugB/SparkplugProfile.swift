public import Foundation
public import GatewayCore
public import Logging
public import MQTTClient
public import Uplink

/// The `sparkplug-b` uplink profile (Eclipse Sparkplug 3.0): the gateway is an edge node of
/// `group`, its devices are Sparkplug devices; births with aliases, data by alias, deaths,
/// rebirth requests and writes from hosts. docs/protocol.md, "Sparkplug B", says what goes
/// where and what happens at each change.
public struct SparkplugProfile: UplinkProfile {
    let node: SparkplugNode

    /// The profile of edge node `node` (the gateway id) in `group`; with `primaryHost` it
    /// publishes only while that host's STATE says online.
    public init(group: String, node: String, primaryHost: String?, logger: Logger, now: @escaping @Sendable () -> Date = Date.init) {
        self.node = SparkplugNode(group: group, node: node, primaryHost: primaryHost, logger: logger, now: now)
    }

    /// `sparkplug-b`.
    public var name: String { SparkplugSettings.profile }
    /// `spBv1.0/{group}/DDATA/{node}/+`: one topic per device.
    public var telemetryTopic: String { node.topics.ddata("+") }
    /// No limit of its own.
    public var maxTelemetryBytes: Int? { nil }

    /// The configured options with a clean session (the specification requires it) and the
    /// NDEATH will of the next bdSeq.
    public func connectionPlan(_ configured: MQTTOptions) -> UplinkConnectionPlan {
        var options = configured
        options.cleanSession = true
        options.will = node.nextWill()
        return UplinkConnectionPlan(options: options)
    }

    /// Subscribes to NCMD, DCMD (and the primary host's STATE), waits for the primary host
    /// when there is one, then NBIRTH and a DBIRTH per device.
    public func startSession(_ connection: MQTTConnection, devices: [DeviceDescriptor]) async throws(MQTTError) {
        try await node.start(connection, devices: devices)
    }

    /// DDEATH for devices a reload removed, DBIRTH for those it added or changed.
    public func publishInventory(_ devices: [DeviceDescriptor], on connection: MQTTConnection) async throws(MQTTError) {
        try node.update(devices)
    }

    /// NDEATH with this connection's bdSeq.
    public func publishOffline(reason: String, on connection: MQTTConnection) async throws(MQTTError) {
        try await node.die(on: connection)
    }

    /// DCMD writes as commands; NCMD rebirth requests and STATE messages are acted on here.
    public func command(from message: MQTTMessage) -> IncomingCommand? {
        node.command(from: message)
    }

    /// DDATA per device, by alias; `is_historical` when replayed.
    public func sendTelemetry(_ payload: [UInt8], replayed: Bool, on connection: MQTTConnection) throws(MQTTError) -> [Int32] {
        try node.send(payload, replayed: replayed, on: connection)
    }

    /// Keeps each point's latest reading for the births.
    public func observe(_ readings: [Reading]) {
        node.observe(readings)
    }
}
