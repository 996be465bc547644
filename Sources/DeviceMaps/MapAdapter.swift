import ConfigSyntax
public import GatewayCore
public import Logging

/// A protocol adapter that serves the device-map devices of one protocol: the gateway
/// creates one per registered protocol (`ProtocolPlugin.adapter`), hands it the devices whose
/// `protocol:` is its plugin's name, and switches it to new ones on a reload.
public protocol MapAdapter: DeviceAdapter {
    /// Creates the adapter; nothing connects until `run`.
    /// - Parameter devices: the devices of this protocol only, profiles expanded, in map order.
    init(devices: [DeviceDefinition], logger: Logger)

    /// Creates the adapter for a one-shot read (`edgegate map read`), which users run next to
    /// a live gateway: it must not take over anything the daemon holds on the same devices or
    /// servers (an MQTT client id and its session). Defaults to `init(devices:logger:)`, for
    /// protocols whose connections carry no such identity.
    init(oneShotReadOf devices: [DeviceDefinition], logger: Logger)

    /// Switches to a new set of devices of this protocol while running (or before `run`):
    /// unchanged devices keep running without a gap, removed ones stop, added ones start.
    /// Returns once the new set is in force, so no removed device is read afterwards.
    func update(devices: [DeviceDefinition]) async
}

extension MapAdapter {
    /// The adapter as the daemon makes it: connections have no identity to take over.
    public init(oneShotReadOf devices: [DeviceDefinition], logger: Logger) {
        self.init(devices: devices, logger: logger)
    }
}

extension PointDefinition {
    /// The point's address as its protocol's own type.
    ///
    /// Each adapter gets only its own protocol's devices (the gateway hands them out by
    /// `protocol:`), whose points its syntax parsed, so the address is always of that type;
    /// anything else is a programming error.
    public func address<Address: PointAddress>(as type: Address.Type) -> Address {
        guard let address = address as? Address else {
            preconditionFailure("point \(name) has no \(Address.self): \(address)")
        }
        return address
    }
}

extension DeviceDefinition {
    /// The device's connection as its protocol's own type (see `PointDefinition.address(as:)`
    /// for why it is one).
    public func connection<Connection: DeviceConnection>(as type: Connection.Type) -> Connection {
        guard let connection = connection as? Connection else {
            preconditionFailure("device \(id) has no \(Connection.self): \(connection)")
        }
        return connection
    }
}
