import GatewayCore

/// One error object of a bridge's answer: `{"error":{"type":7,"address":"/lights/1/state/bri","description":"..."}}`.
public struct HueAPIError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The v1 error type: 1 unauthorized user, 2 invalid JSON, 3 resource not available,
    /// 6 parameter not available, 7 invalid value, 101 link button not pressed, 201 device off, ...
    public var type: Int
    /// The resource or parameter it concerns: `/lights/1/state/bri`.
    public var address: String
    /// The bridge's own words.
    public var text: String

    /// Creates an error object.
    public init(type: Int, address: String, description: String) {
        self.type = type
        self.address = address
        self.text = description
    }

    /// `unauthorized user`.
    public static let unauthorizedUser = 1
    /// `body contains invalid json`.
    public static let invalidJSON = 2
    /// `resource, /lights/7, not available`.
    public static let resourceNotAvailable = 3
    /// `parameter, foo, not available`.
    public static let parameterNotAvailable = 6
    /// `invalid value, 300, for parameter, bri`.
    public static let invalidValue = 7
    /// `link button not pressed`.
    public static let linkButtonNotPressed = 101
    /// `parameter, bri, is not modifiable. Device is set to off.`
    public static let deviceOff = 201

    /// The parameter the address ends in (`bri` of `/lights/1/state/bri`).
    public var parameter: String? {
        address.split(separator: "/").last.map(String.init)
    }

    /// `error 7 at /lights/1/state/bri: invalid value, 300, for parameter, bri`.
    public var description: String { "error \(type) at \(address): \(text)" }
}

/// Why talking to a Hue bridge failed: the one error type of the Hue adapter.
public enum HueError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The bridge address in the map or on the command line is not `http://host[:port]`.
    case invalidBridge(String, String)
    /// The environment variable that should hold the username is not set.
    case usernameMissing(String)
    /// No connection: refused, no route, unknown host, or no answer in time.
    case unreachable(HueBridge, String)
    /// The bridge answered something that is not the v1 API's JSON.
    case badAnswer(HueBridge, path: String, String)
    /// The bridge answered with an error object.
    case bridge(HueBridge, HueAPIError)
    /// Nobody pressed the link button before the pairing gave up.
    case pairingTimedOut(HueBridge, Duration)
    /// A field missing from a light or sensor, or a value that does not fit it.
    case unreadable(String)

    /// A sentence for the operator, naming the bridge; never the username.
    public var description: String {
        switch self {
        case .invalidBridge(let text, let why): return "invalid bridge '\(text)': \(why)"
        case .usernameMissing(let variable):
            return "no Hue username: the environment variable \(variable) is not set (pair with `edgegate hue pair` and export it)"
        case .unreachable(let bridge, let why): return "bridge \(bridge) unreachable: \(why)"
        case .badAnswer(let bridge, let path, let why): return "bridge \(bridge) answered \(path) with \(why)"
        case .bridge(let bridge, let error) where error.type == HueAPIError.unauthorizedUser:
            return "bridge \(bridge) refused the username: unauthorized user — pair again with `edgegate hue pair`"
        case .bridge(let bridge, let error): return "bridge \(bridge): \(error.text) (error \(error.type) at \(error.address))"
        case .pairingTimedOut(let bridge, let limit):
            return "bridge \(bridge): the link button was not pressed within \(limit.mapText)"
        case .unreadable(let why): return why
        }
    }
}
