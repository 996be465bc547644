import Foundation
import GatewayCore

/// The JSON Schema (draft 2020-12) of the device-map format, for editor completion and for
/// tools. Built from the same key lists and enumerations the loader checks, so the two cannot
/// drift apart silently (a test compares them). The loader stays the authority: the schema
/// cannot express every rule (overlaps, profiles that exist, unique device ids, a string's
/// last register, `min` below `max`, commands that write existing points).
public enum DeviceMapSchema {
    /// The schema as a JSON object, for a loader's protocols.
    ///
    /// With several protocols a point may use the keys of any of them: the schema gives
    /// completion and catches typos; the loader checks which keys fit the device's protocol.
    public static func object(protocols: [any ProtocolSyntax.Type]) -> [String: Any] {
        let duration: [String: Any] = [
            "type": "string", "pattern": #"^[0-9]+(\.[0-9]+)?\s?(ms|s|m|h)$"#,
            "description": "A duration with a unit: 500ms, 2s, 1.5s, 1m, 1h.",
        ]
        let scalar: [String: Any] = ["type": ["boolean", "number", "string"]]
        var pointProperties: [String: Any] = [
            "scale": ["type": "number", "not": ["const": 0], "description": "engineering = raw × scale + offset (default 1)."],
            "offset": ["type": "number", "description": "engineering = raw × scale + offset (default 0)."],
            "unit": ["type": "string"],
            "description": ["type": "string"],
            "access": ["enum": ["read", "readwrite", "write"], "description": "Who may write the point (default read)."],
            "min": ["type": "number", "description": "Lowest value a write may set (engineering units)."],
            "max": ["type": "number", "description": "Highest value a write may set (engineering units)."],
            "enum": [
                "description": "The only values a write may set: a list, or names mapped to values.",
                "oneOf": [
                    ["type": "array", "minItems": 1, "items": scalar],
                    ["type": "object", "minProperties": 1, "additionalProperties": scalar],
                ],
            ] as [String: Any],
            "report": ["$ref": "#/$defs/report", "description": "This point's report policy (overrides the device's)."],
        ]
        var point: [String: Any] = ["type": "object", "additionalProperties": false]
        for syntax in protocols {
            pointProperties.merge(syntax.pointSchema) { shared, _ in shared }
        }
        if protocols.count == 1 {
            point.merge(protocols[0].pointSchemaRules) { first, _ in first }
        } else {
            // Each protocol's rules apply to its own points only, told apart by the first key
            // the protocol requires (Modbus `table`, MQTT `path`); a point with none of those
            // keys is told what the first protocol requires.
            let rules = protocols.map { $0.pointSchemaRules }
            let last: [String: Any] = ["required": (rules.first?["required"] as? [String]).map { Array($0.prefix(1)) } ?? []]
            point["allOf"] = [dispatch(rules, otherwise: last)]
        }
        point["properties"] = pointProperties
        let points: [String: Any] = ["type": "object", "additionalProperties": ["$ref": "#/$defs/point"]]
        // One protocol's connection, or one chosen by the keys it requires.
        let connections = protocols.map { $0.connectionSchema }
        let connection: [String: Any] = connections.count == 1 ? connections[0] : dispatch(connections, otherwise: nil)
        let report: [String: Any] = [
            "type": "object", "additionalProperties": false,
            "properties": [
                "deadband": [
                    "description": "Smallest change reported: absolute (0.5) or percent of the last reported value (\"2%\").",
                    "oneOf": [
                        ["type": "number", "minimum": 0],
                        ["type": "string", "pattern": #"^[0-9]+(\.[0-9]+)?\s*%$"#],
                    ],
                ] as [String: Any],
                "max_interval": ["$ref": "#/$defs/duration"],
            ] as [String: Any],
        ]
        let argument: [String: Any] = [
            "oneOf": [
                ["enum": ValueKind.allCases.map(\.rawValue)],
                [
                    "type": "object", "additionalProperties": false, "required": ["type"],
                    "properties": [
                        "type": ["enum": ValueKind.allCases.map(\.rawValue)],
                        "description": ["type": "string"],
                        "min": ["type": "number"], "max": ["type": "number"],
                        "enum": ["type": "array", "minItems": 1, "items": scalar],
                        "default": scalar,
                    ] as [String: Any],
                ] as [String: Any],
            ],
        ]
        let command: [String: Any] = [
            "type": "object", "additionalProperties": false, "required": ["write"],
            "properties": [
                "description": ["type": "string"],
                "args": ["type": "object", "additionalProperties": ["$ref": "#/$defs/argument"],
                         "description": "Arguments by name: a type (bool, integer, number, string) or a mapping with type, min, max, enum, default."],
                "write": ["type": "object", "minProperties": 1, "additionalProperties": scalar,
                          "description": "Point → value; \"$name\" takes the argument `name`."],
            ] as [String: Any],
        ]
        let commands: [String: Any] = ["type": "object", "additionalProperties": ["$ref": "#/$defs/command"]]
        let protocolName: [String: Any] = ["enum": protocols.map { $0.name }]
        let profile: [String: Any] = [
            "type": "object", "additionalProperties": false, "required": ["protocol"],
            "properties": [
                "protocol": protocolName, "points": ["$ref": "#/$defs/points"],
                "commands": ["$ref": "#/$defs/commands"], "description": ["type": "string"],
            ] as [String: Any],
        ]
        let device: [String: Any] = [
            "type": "object", "additionalProperties": false, "required": ["id", "connection"],
            "properties": [
                "id": ["type": "string", "minLength": 1],
                "protocol": protocolName,
                "profile": ["type": "string", "minLength": 1],
                "connection": ["$ref": "#/$defs/connection"],
                "poll": ["$ref": "#/$defs/duration", "description": "Poll period (default 1s)."],
                "points": ["$ref": "#/$defs/points"],
                "commands": ["$ref": "#/$defs/commands"],
                "report": ["$ref": "#/$defs/report"],
                "command_timeout": ["$ref": "#/$defs/duration",
                                    "description": "How long one command may take at the device before it is answered timeout (default 10s)."],
                "description": ["type": "string"],
            ] as [String: Any],
        ]
        return [
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "urn:edgegate:devicemap:v1",
            "title": "edgegate device map",
            "type": "object", "additionalProperties": false,
            "properties": [
                "profiles": ["type": "object", "additionalProperties": ["$ref": "#/$defs/profile"]],
                "devices": ["type": "array", "items": ["$ref": "#/$defs/device"]],
            ] as [String: Any],
            "$defs": [
                "duration": duration, "point": point, "points": points, "connection": connection,
                "report": report, "profile": profile, "device": device,
                "argument": argument, "command": command, "commands": commands,
            ] as [String: Any],
        ]
    }

    /// One of several schemas, chosen by the first key each requires at its top level
    /// (`if`/`then`/`else`), so that a validator reports the chosen schema's own errors
    /// instead of "not valid under any of the given schemas". At most one schema without
    /// top-level required keys is the fallback; with more than one, `oneOf` is all that is left.
    static func dispatch(_ schemas: [[String: Any]], otherwise: [String: Any]?) -> [String: Any] {
        let keyed = schemas.compactMap { s in (s["required"] as? [String])?.first.map { ($0, s) } }
        let fallbacks = schemas.filter { ($0["required"] as? [String])?.first == nil }
        guard fallbacks.count <= 1 else { return ["oneOf": schemas] }
        var chain: [String: Any] = fallbacks.first ?? otherwise ?? [:]
        for (key, schema) in keyed.reversed() {
            chain = ["if": ["required": [key]], "then": schema, "else": chain]
        }
        return chain
    }

    /// The schema as pretty-printed JSON text with sorted keys.
    public static func json(protocols: [any ProtocolSyntax.Type]) -> String {
        // Only strings, numbers, bools, arrays and dictionaries above: serialization cannot fail.
        let data = (try? JSONSerialization.data(withJSONObject: object(protocols: protocols), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
