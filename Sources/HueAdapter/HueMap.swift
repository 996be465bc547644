public import DeviceMaps
public import Foundation
public import GatewayCore

/// The two kinds of Hue bridge resources a point can read.
public enum HueResource: String, Sendable, Hashable, CaseIterable {
    /// A light: `GET /api/<user>/lights`, written with `PUT /api/<user>/lights/<id>/state`.
    case light
    /// A sensor (temperature, presence, light level, open/close): `GET /api/<user>/sensors`; read-only.
    case sensor

    /// The path segment of the resource collection: `lights`, `sensors`.
    public var collection: String { rawValue + "s" }
}

/// What a point reads or writes of its light or sensor.
public enum HueField: String, Sendable, Hashable, CaseIterable {
    /// Light `state.on`.
    case on
    /// Light `state.bri`, 1…254.
    case bri
    /// Light `state.hue`, 0…65535.
    case hue
    /// Light `state.sat`, 0…254.
    case sat
    /// Light `state.ct`, 153…500 mired.
    case ct
    /// Light `state.xy[0]`, the CIE x coordinate, 0…1.
    case x
    /// Light `state.xy[1]`, the CIE y coordinate, 0…1.
    case y
    /// Light `state.alert`: `none`, `select`, `lselect`.
    case alert
    /// Light `state.effect`: `none`, `colorloop`.
    case effect
    /// Light `state.colormode` (`hs`, `xy`, `ct`), read-only.
    case colormode
    /// The transition of the other fields written with it, in tenths of a second; write-only.
    case transitiontime
    /// Light `state.reachable`, sensor `config.reachable`.
    case reachable
    /// ZLLTemperature `state.temperature`, delivered in °C (the bridge's 0.01 °C divided by 100).
    case temperature
    /// ZLLPresence `state.presence`.
    case presence
    /// ZLLLightLevel `state.lightlevel`, raw: 10000 × log10(lux) + 1.
    case lightlevel
    /// ZLLLightLevel `state.lightlevel` converted to lux: 10^((lightlevel − 1) / 10000).
    case lux
    /// ZLLLightLevel `state.dark`.
    case dark
    /// ZLLLightLevel `state.daylight`.
    case daylight
    /// CLIPOpenClose `state.open`.
    case open
    /// Sensor `config.battery`, percent.
    case battery
    /// Sensor `state.lastupdated`, the bridge's local time of the last change (`none` before any).
    case lastupdated

    /// The fields of a light, in documentation order.
    public static let lightFields: [HueField] = [
        .on, .bri, .hue, .sat, .ct, .x, .y, .alert, .effect, .colormode,
        .transitiontime, .reachable,
    ]
    /// The fields of a sensor, in documentation order.
    public static let sensorFields: [HueField] = [
        .temperature, .presence, .lightlevel, .lux, .dark, .daylight, .open,
        .battery, .reachable, .lastupdated,
    ]

    /// The fields `resource` has.
    public static func fields(of resource: HueResource) -> [HueField] {
        resource == .light ? lightFields : sensorFields
    }

    /// The kind of value the bridge delivers.
    public var kind: ValueKind {
        switch self {
        case .on, .reachable, .presence, .dark, .daylight, .open: return .bool
        case .bri, .hue, .sat, .ct, .transitiontime, .lightlevel, .battery: return .integer
        case .x, .y, .temperature, .lux: return .number
        case .alert, .effect, .colormode, .lastupdated: return .string
        }
    }

    /// True for the light fields a `PUT .../state` sets.
    public var isWritable: Bool {
        switch self {
        case .on, .bri, .hue, .sat, .ct, .x, .y, .alert, .effect, .transitiontime: return true
        default: return false
        }
    }

    /// True for `transitiontime`, which the bridge takes but never reports.
    public var isWriteOnly: Bool { self == .transitiontime }

    /// What the bridge accepts in a write (raw units).
    public var limits: ClosedRange<Double>? {
        switch self {
        case .bri: return 1...254
        case .hue, .transitiontime: return 0...65535
        case .sat: return 0...254
        case .ct: return 153...500
        case .x, .y: return 0...1
        default: return nil
        }
    }

    /// The text values the bridge accepts, for `alert` and `effect`.
    public var options: [String]? {
        switch self {
        case .alert: return ["none", "select", "lselect"]
        case .effect: return ["none", "colorloop"]
        default: return nil
        }
    }
}

/// Where a point lives on a Hue bridge: the Hue adapter's typed point configuration.
public struct HuePointAddress: PointAddress, Hashable {
    /// Light or sensor.
    public var resource: HueResource
    /// The bridge's id of the light or sensor: `"1"`.
    public var id: String
    /// The value read or written.
    public var field: HueField

    /// Creates an address.
    public init(resource: HueResource, id: String, field: HueField) {
        self.resource = resource
        self.id = id
        self.field = field
    }

    /// `bool`, `integer`, `number` or `string`.
    public var typeName: String { field.kind.rawValue }
    /// The kind of the value as the adapter delivers it (temperature already in °C).
    public var rawKind: ValueKind { field.kind }
    /// The bridge's own limits of the field.
    public var writeLimits: ClosedRange<Double>? { field.limits }
    /// `resource`, `id`, `field`.
    public var fields: [MapField] {
        [MapField("resource", .string(resource.rawValue)), MapField("id", .string(id)), MapField("field", .string(field.rawValue))]
    }
    /// `light 1 bri`.
    public var description: String { "\(resource.rawValue) \(id) \(field.rawValue)" }
}

/// A Hue bridge on the LAN: `http://host[:port]`.
public struct HueBridge: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP address.
    public var host: String
    /// TCP port (80 on a real bridge).
    public var port: Int

    /// Creates a bridge address.
    public init(host: String, port: Int = 80) {
        self.host = host
        self.port = port
    }

    /// Parses `http://host[:port]` (a trailing `/` is allowed); nil with the reason otherwise.
    public static func parse(_ text: String) -> Result<HueBridge, HueError> {
        func bad(_ why: String) -> Result<HueBridge, HueError> { .failure(.invalidBridge(text, why)) }
        if text.hasPrefix("https://") {
            return bad("https is not supported: a bridge serves a self-signed certificate that cannot be verified; use http:// on the local network")
        }
        guard text.hasPrefix("http://") else { return bad("expected http://host or http://host:port") }
        var rest = text.dropFirst("http://".count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains("/"), !rest.contains("@"), !rest.contains("?") else {
            return bad("expected http://host or http://host:port, without a path")
        }
        var port = 80
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                return bad("the port must be a number from 1 to 65535")
            }
            port = p
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { return bad("the host is missing") }
        return .success(HueBridge(host: String(rest), port: port))
    }

    /// `127.0.0.1:8080`, as messages name the bridge.
    public var description: String { "\(host):\(port)" }
    /// `http://127.0.0.1:8080`.
    public var url: String { port == 80 ? "http://\(host)" : "http://\(host):\(port)" }
}

/// Where the whitelisted username (the v1 API key) comes from. It is a secret: it never
/// appears in descriptions, logs or `map show`.
public enum HueUsername: Sendable, Hashable, CustomStringConvertible {
    /// Read from this environment variable when the adapter needs it.
    case environment(String)
    /// Written in the device map (demos only: the loader warns).
    case literal(String)

    /// The username, or why there is none.
    public func resolve(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Result<String, HueError> {
        switch self {
        case .literal(let name): return .success(name)
        case .environment(let variable):
            guard let value = environment[variable], !value.isEmpty else { return .failure(.usernameMissing(variable)) }
            return .success(value)
        }
    }

    /// `$HUE_USERNAME`, or `a username in the map` (never the secret itself).
    public var description: String {
        switch self {
        case .environment(let variable): return "$\(variable)"
        case .literal: return "a username in the map"
        }
    }
}

/// How to reach a Hue bridge: the Hue adapter's typed connection configuration (`connection:`
/// of a `protocol: hue` device).
public struct HueConnection: DeviceConnection, Hashable {
    /// The bridge.
    public var bridge: HueBridge
    /// The whitelisted username.
    public var username: HueUsername
    /// How long one request may take.
    public var timeout: Duration

    /// Creates a connection.
    public init(bridge: HueBridge, username: HueUsername, timeout: Duration = .seconds(2)) {
        self.bridge = bridge
        self.username = username
        self.timeout = timeout
    }

    /// `bridge`, then `username_env` (the variable's name) or `username` shown as `(hidden)`, then `timeout`.
    public var fields: [MapField] {
        var fields = [MapField("bridge", .string(bridge.url))]
        switch username {
        case .environment(let variable): fields.append(MapField("username_env", .string(variable)))
        case .literal: fields.append(MapField("username", .string("(hidden)")))
        }
        fields.append(MapField("timeout", .string(timeout.mapText)))
        return fields
    }

    /// `http://127.0.0.1:8080 as $HUE_USERNAME`.
    public var description: String { "\(bridge.url) as \(username)" }
}

extension PointDefinition {
    /// The point's Hue address (see `address(as:)` for why it always is one).
    public var hue: HuePointAddress { address(as: HuePointAddress.self) }
}

extension DeviceDefinition {
    /// The device's Hue connection (see `connection(as:)` for why it always is one).
    public var hueConnection: HueConnection { connection(as: HueConnection.self) }
}
