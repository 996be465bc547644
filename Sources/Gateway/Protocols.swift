import DeviceMaps
import DoorSimAdapter
import HueAdapter
import Logging
import ModbusAdapter
import MQTTDevicesAdapter

/// The protocols this build of the gateway speaks: one line per adapter.
public enum GatewayProtocols {
    /// The adapter of each protocol, in the order messages list them.
    public static let adapters: [any MapAdapter.Type] = [
        ModbusAdapter.self,
        MQTTDevicesAdapter.self,
        DoorSimAdapter.self,
        HueAdapter.self,
    ]

    /// The device-map syntax of each protocol, in the order messages list them.
    public static var syntaxes: [any ProtocolSyntax.Type] { adapters.map { $0.syntax } }

    /// The adapter type serving `protocolName`, if this build has one.
    public static func adapter(for protocolName: String) -> (any MapAdapter.Type)? {
        adapters.first { $0.syntax.name == protocolName }
    }

    /// One adapter per protocol for the devices of `devices` it serves (also for none: a
    /// reload may add some).
    public static func makeAdapters(_ devices: [DeviceDefinition], logger: Logger) -> [any MapAdapter] {
        adapters.map { $0.init(devices: $0.own(devices), logger: logger) }
    }
}

extension DeviceMapLoader {
    /// A loader for every protocol of this build.
    public static let standard = DeviceMapLoader(protocols: GatewayProtocols.syntaxes)
}
