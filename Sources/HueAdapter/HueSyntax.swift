public import DeviceMaps
public import GatewayCore

/// The Hue part of the device-map format: `connection:` (`bridge`, `username_env` or
/// `username`, `timeout`) and the point keys `resource`, `id`, `field`.
public enum HueSyntax: ProtocolSyntax {
    /// `hue`.
    public static let name = "hue"
    /// Keys of `connection:`.
    public static let connectionKeys = ["bridge", "username_env", "username", "timeout"]
    /// The longest request `timeout`.
    public static let maxTimeout: Duration = .seconds(30)
    /// A bridge with the username in an environment variable.
    public static let connectionExample = "connection: { bridge: http://192.0.2.20, username_env: HUE_USERNAME }"
    /// The point keys Hue adds.
    public static let pointKeys = ["resource", "id", "field"]

    /// Reads `connection:`: the bridge's URL and where the username comes from.
    public static func connection(_ c: MapSection) -> (any DeviceConnection)? {
        let before = c.errorCount
        var bridge: HueBridge?
        if let text = c.name("bridge", required: true, hint: "the bridge's address, e.g. bridge: http://192.0.2.20") {
            switch HueBridge.parse(text) {
            case .success(let b): bridge = b
            case .failure(let error):
                guard case .invalidBridge(_, let why) = error else { break }
                c.error("invalid bridge '\(text)'", atValueOf: "bridge", hint: why)
            }
        }
        var username: HueUsername?
        let variable = c.name("username_env")
        let literal = c.name("username")
        switch (variable, literal) {
        case (let variable?, nil):
            if variable.first?.isNumber == false, variable.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }) {
                username = .environment(variable)
            } else {
                c.error(
                    "'\(variable)' is not an environment variable name", atValueOf: "username_env",
                    hint: "letters, digits and _, not starting with a digit: HUE_USERNAME")
            }
        case (nil, let literal?):
            c.warning(
                "the Hue username is a secret, and this puts it in the device map", atKey: "username",
                hint: "keep it in the environment: username_env: HUE_USERNAME")
            username = .literal(literal)
        case (.some, .some):
            c.error("give either 'username_env' or 'username', not both", atKey: "username")
        case (nil, nil):
            if !c.has("username_env"), !c.has("username") {
                c.error(
                    "the connection needs the bridge's username: 'username_env' names the environment variable that holds it",
                    hint:
                        "pair with `edgegate hue pair --bridge URL`, export the username it prints, e.g. as HUE_USERNAME, and write username_env: HUE_USERNAME")
            }
        }
        let timeout = c.duration("timeout") ?? .seconds(2)
        // Requests cannot be interrupted: the timeout bounds how long a stop or a reload waits.
        if timeout > maxTimeout {
            c.error(
                "'timeout' must be at most 30s, found \(timeout.mapText)", atValueOf: "timeout",
                hint: "a bridge on the LAN answers within a second; a longer wait only delays stops and reloads")
        }
        guard c.errorCount == before, let bridge, let username else { return nil }
        return HueConnection(bridge: bridge, username: username, timeout: timeout)
    }

    /// Reads a point's resource, id and field, and checks the field against the resource and
    /// the point's access.
    public static func point(_ m: MapSection, access: Access) -> (any PointAddress)? {
        let before = m.errorCount
        let resource = m.choice("resource", HueResource.self, required: true)
        let id = m.name("id", required: true, hint: "the bridge's id of the light or sensor, e.g. id: 1")
        var field: HueField?
        if let text = m.name("field", required: true, hint: "what to read, e.g. field: bri") {
            let known = resource.map { HueField.fields(of: $0) } ?? HueField.allCases
            if let f = HueField(rawValue: text), known.contains(f) {
                field = f
            } else {
                let what = resource.map { "a \($0.rawValue)" } ?? "Hue"
                m.error(
                    "\(what) has no field '\(text)'", atValueOf: "field",
                    hint: "fields: " + known.map(\.rawValue).joined(separator: ", "))
            }
        }
        if let field {
            if field.isWriteOnly, access != .write {
                let at = m.has("access") ? "access" : "field"
                m.error(
                    "'\(field.rawValue)' can only be written: the bridge never reports it", atValueOf: at,
                    hint: "set access: write; it travels in the same request as the other fields of the command")
            } else if access.isWritable, !field.isWritable {
                let why = resource == .sensor ? "sensors are read-only" : "the bridge reports '\(field.rawValue)' but does not take it"
                m.error(
                    "access '\(access.rawValue)' is not possible on field '\(field.rawValue)'", atValueOf: "access",
                    hint: "\(why): use access: read")
            }
        }
        guard m.errorCount == before, let resource, let id, let field else { return nil }
        return HuePointAddress(resource: resource, id: id, field: field)
    }

    /// Nothing to check across points: each field of a light or sensor is independent.
    public static func check(
        points: [PointDefinition], connection: (any DeviceConnection)?, of device: String,
        at location: SourceLocation, reporter: MapReporter
    ) {}

    /// `connection:` of a bridge.
    public static var connectionSchema: [String: Any] {
        [
            "type": "object", "additionalProperties": false,
            "description": "A Hue bridge (local REST API v1).",
            "required": ["bridge"],
            "oneOf": [["required": ["username_env"]], ["required": ["username"]]],
            "properties": [
                "bridge": ["type": "string", "pattern": "^http://[^/@?]+/?$", "description": "http://host or http://host:port."],
                "username_env": [
                    "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                    "description": "Environment variable holding the whitelisted username (edgegate hue pair prints one).",
                ],
                "username": ["type": "string", "description": "The username itself (a secret: prefer username_env)."],
                "timeout": ["$ref": "#/$defs/duration", "description": "Request timeout (default 2s)."],
            ] as [String: Any],
        ]
    }

    /// The Hue point keys.
    public static var pointSchema: [String: Any] {
        [
            "resource": ["enum": HueResource.allCases.map(\.rawValue), "description": "light or sensor."],
            "id": ["type": ["string", "integer"], "description": "The bridge's id of the light or sensor."],
            "field": ["enum": HueField.allCases.map(\.rawValue), "description": "What to read or write."],
        ]
    }

    /// `resource`, `id` and `field` are required; sensor fields only on sensors, light fields
    /// only on lights, and `transitiontime` only written.
    public static var pointSchemaRules: [String: Any] {
        [
            "required": ["resource", "id", "field"],
            "allOf": [
                [
                    "if": ["properties": ["resource": ["const": "light"]], "required": ["resource"]],
                    "then": ["properties": ["field": ["enum": HueField.lightFields.map(\.rawValue)]]],
                ],
                [
                    "if": ["properties": ["resource": ["const": "sensor"]], "required": ["resource"]],
                    "then": ["properties": ["field": ["enum": HueField.sensorFields.map(\.rawValue)], "access": ["const": "read"]]],
                ],
                [
                    "if": ["properties": ["field": ["const": "transitiontime"]], "required": ["field"]],
                    "then": ["properties": ["access": ["const": "write"]], "required": ["access"]],
                ],
            ] as [[String: Any]],
        ]
    }
}

extension DeviceMapLoader {
    /// A loader for Hue devices only (tools and tests that need no other protocol).
    public static let hue = DeviceMapLoader(protocols: [HueSyntax.self])
}
