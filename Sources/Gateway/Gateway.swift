import DeviceMaps
import Foundation
import GatewayCore
import Logging
import ModbusAdapter
import MQTTClient
import ServiceLifecycle
import Uplink

/// Why a gateway could not be assembled from its configuration.
public enum GatewayError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The configuration names something this build cannot do.
    case unsupported(String)
    /// The configuration contradicts itself or the security defaults.
    case invalidConfiguration(String)

    /// A sentence for the operator.
    public var description: String {
        switch self {
        case .unsupported(let what), .invalidConfiguration(let what): return what
        }
    }
}

/// A configured gateway: adapters for the device map, the command router joining commands
/// to devices, and the uplink. It only assembles; `services` run under a `ServiceGroup`.
public struct Gateway: Sendable {
    /// The northbound link.
    public let uplink: MQTTUplink
    /// The one place where commands reach devices.
    public let router: CommandRouter
    /// One adapter per protocol in use.
    public let adapters: [any DeviceAdapter]
    /// Report by exception, between the adapters and the uplink.
    public let reportFilter: ReportFilter

    /// Builds the gateway; nothing connects until its services run.
    public init(configuration: GatewayConfiguration, deviceMap: DeviceMap, logger: Logger,
                tuning: (inout MQTTUplinkConfiguration) -> Void = { _ in }) throws(GatewayError) {
        let settings = configuration.uplink
        guard settings.profile == "mqtt" else {
            throw .unsupported("uplink profile '\(settings.profile)' is not supported yet; supported: mqtt")
        }
        // The configuration loader enforces these too; a configuration built in code must not
        // fall back to plain MQTT silently either.
        if settings.useTLS && settings.tls == nil {
            throw .invalidConfiguration("uplink: TLS needs a CA file (tls.ca)")
        }
        if !settings.useTLS && !settings.insecure {
            throw .invalidConfiguration("uplink: plain MQTT needs `insecure: true`")
        }
        if let other = deviceMap.devices.first(where: { $0.protocolName != "modbus" }) {
            throw .unsupported("device \(other.id): protocol '\(other.protocolName)' is not supported yet; supported: modbus")
        }
        var adapters: [any DeviceAdapter] = []
        if !deviceMap.devices.isEmpty {
            adapters.append(ModbusAdapter(devices: deviceMap.devices, logger: logger))
        }
        let router = CommandRouter(adapters: adapters, logger: logger)
        let options = MQTTOptions(
            host: settings.host, port: settings.port,
            clientID: settings.clientID ?? configuration.gatewayID,
            tls: settings.tls.flatMap { files in
                settings.useTLS ? MQTTTLS(caFile: files.ca, certFile: files.cert, keyFile: files.key, verifyHostname: true) : nil
            },
            keepAlive: settings.keepAlive.map { Int($0.components.seconds) } ?? 30)
        var uplinkConfiguration = MQTTUplinkConfiguration(
            gatewayID: configuration.gatewayID, prefix: settings.prefix, connection: options,
            maxQueuedBytes: configuration.outbox.maxBytes,
            sequenceFile: (configuration.outbox.path as NSString).deletingLastPathComponent + "/telemetry.seq")
        tuning(&uplinkConfiguration)
        self.uplink = MQTTUplink(configuration: uplinkConfiguration, devices: router.devices,
                                 handler: { await router.execute($0) }, logger: logger)
        self.router = router
        self.adapters = adapters
        self.reportFilter = ReportFilter(policies: Self.reportPolicies(deviceMap))
    }

    /// Device id → point → policy, for the points that have one (their own or their device's).
    static func reportPolicies(_ map: DeviceMap) -> [String: [String: ReportPolicy]] {
        Dictionary(map.devices.map { ($0.id, $0.reportPolicies) }, uniquingKeysWith: { a, _ in a })
            .filter { !$0.value.isEmpty }
    }

    /// The services in start order. The uplink comes first so that a graceful shutdown,
    /// which runs in reverse order, stops the adapters before the uplink drains.
    public var services: [any Service] {
        let uplinkSink = uplink.sink
        let filter = reportFilter
        let sink = ReadingSink { uplinkSink.emit(filter.filter($0)) }
        return [uplink] + adapters.map { AdapterService(adapter: $0, sink: sink) }
    }
}

/// Runs one adapter as a service: until cancelled or gracefully shut down.
public struct AdapterService: Service {
    let adapter: any DeviceAdapter
    let sink: ReadingSink

    /// Wraps an adapter and the sink it feeds.
    public init(adapter: any DeviceAdapter, sink: ReadingSink) {
        self.adapter = adapter
        self.sink = sink
    }

    /// Runs the adapter until the service group stops it.
    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await adapter.run(sink: sink)
        }
    }
}
