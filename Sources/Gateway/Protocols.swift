import DeviceMaps
import ModbusAdapter

/// The protocols this build of the gateway speaks: one line per adapter.
public enum GatewayProtocols {
    /// The device-map syntax of each protocol, in the order messages list them.
    public static let syntaxes: [any ProtocolSyntax.Type] = [
        ModbusSyntax.self,
    ]
}

extension DeviceMapLoader {
    /// A loader for every protocol of this build.
    public static let standard = DeviceMapLoader(protocols: GatewayProtocols.syntaxes)
}
