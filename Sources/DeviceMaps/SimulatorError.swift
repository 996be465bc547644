/// Why a simulator could not start (the protocols' simulators share it).
public enum SimulatorError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The port is not one libmodbus can listen on (it needs an explicit port, not 0).
    case invalidPort(Int)
    /// Listening failed (address in use, host not an IPv4 address, ...).
    case listenFailed(String)
    /// The serial device could not be opened (no such device, no permission, ...).
    case openFailed(String)
    /// A simulator configuration file that cannot be used; the text says where and why.
    case invalidConfiguration(String)

    /// A sentence for the operator.
    public var description: String {
        switch self {
        case .invalidPort(let port): return "invalid port \(port): choose a TCP port from 1 to 65535"
        case .listenFailed(let why), .openFailed(let why), .invalidConfiguration(let why): return why
        }
    }
}
