import DerivedAdapter
public import DeviceMaps
import DoorSimAdapter
import HueAdapter
public import Logging
import MQTTDevicesAdapter
import ModbusAdapter

/// The protocols a gateway speaks: one plugin each. `standard` is the one place that names
/// the protocols of this build; everything else (the loader, the gateway, the CLI's `map`
/// commands, the demo, the JSON Schema) goes through a registry.
public struct ProtocolRegistry: Sendable {
    /// The plugins, in the order messages list them.
    public let plugins: [ProtocolPlugin]

    /// A registry of `plugins`; their names must differ.
    public init(_ plugins: [ProtocolPlugin]) {
        precondition(Set(plugins.map(\.name)).count == plugins.count, "two protocol plugins share a name")
        self.plugins = plugins
    }

    /// The protocols of this build: one line per plugin.
    public static let standard = ProtocolRegistry([
        .modbus,
        .mqtt,
        .doorSim,
        .hue,
        .derived,
    ])

    /// This registry and `plugin` after it (a protocol of a test, or of a build that adds one).
    public func adding(_ plugin: ProtocolPlugin) -> ProtocolRegistry {
        ProtocolRegistry(plugins + [plugin])
    }

    /// The plugin of `protocolName`, if the registry has it.
    public func plugin(named protocolName: String) -> ProtocolPlugin? {
        plugins.first { $0.name == protocolName }
    }

    /// The device-map syntax of each protocol, in order.
    public var syntaxes: [any ProtocolSyntax.Type] { plugins.map(\.syntax) }

    /// A device-map loader that knows these protocols.
    public var loader: DeviceMapLoader { DeviceMapLoader(protocols: syntaxes) }

    /// One adapter per protocol for the devices of `devices` it serves (also for none: a
    /// reload may add some), in registry order.
    public func makeAdapters(_ devices: [DeviceDefinition], logger: Logger) -> [any MapAdapter] {
        plugins.map { $0.makeAdapter(for: devices, logger: logger) }
    }
}

extension DeviceMapLoader {
    /// A loader for every protocol of this build.
    public static let standard = ProtocolRegistry.standard.loader
}
