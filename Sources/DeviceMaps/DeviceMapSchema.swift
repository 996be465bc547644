import ConfigSyntax
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
    /// With several protocols, a device's or profile's `protocol:` chooses the schema of its
    /// connection and points; a device that takes its protocol from a profile may use any.
    public static func object(protocols: [any ProtocolSyntax.Type]) -> [String: Any] {
        let duration: [String: Any] = [
            "type": "string", "pattern": #"^[0-9]+(\.[0-9]+)?\s?(ms|s|m|h)$"#,
            "description": "A duration with a unit: 500ms, 2s, 1.5s, 1m, 1h.",
        ]
        let scalar: [String: Any] = ["type": ["boolean", "number", "string"]]
        let pointProperties: [String: Any] = [
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
        // One protocol: one point and one connection definition. Several: one of each per
        // protocol (`point-modbus`, `connection-modbus`), chosen by the `protocol:` of the
        // device or profile, so that each point is checked against its own protocol's keys
        // and rules; a device that takes its protocol from a profile gets any protocol's.
        func pointSchema(_ syntaxes: [any ProtocolSyntax.Type]) -> [String: Any] {
            var point: [String: Any] = ["type": "object", "additionalProperties": false]
            var properties = pointProperties
            for syntax in syntaxes { properties.merge(syntax.pointSchema) { shared, _ in shared } }
            if syntaxes.count == 1 {
                var rules = syntaxes[0].pointSchemaRules
                // A rule on a shared key (`access` only `read`) narrows that key's schema.
                if let narrowed = rules.removeValue(forKey: "properties") as? [String: Any] {
                    for (key, rule) in narrowed { properties[key] = properties[key].map { ["allOf": [$0, rule]] } ?? rule }
                }
                point.merge(rules) { first, _ in first }
            }
            point["properties"] = properties
            return point
        }
        var definitions: [String: Any] = [:]
        let point: [String: Any], connection: [String: Any]
        if protocols.count == 1 {
            point = pointSchema(protocols)
            connection = protocols[0].connectionSchema
        } else {
            for syntax in protocols {
                definitions["point-\(syntax.name)"] = pointSchema([syntax])
                definitions["points-\(syntax.name)"] = ["type": "object", "additionalProperties": ["$ref": "#/$defs/point-\(syntax.name)"]]
                definitions["connection-\(syntax.name)"] = syntax.connectionSchema
            }
            point = ["anyOf": protocols.map { ["$ref": "#/$defs/point-\($0.name)"] }]
            connection = ["anyOf": protocols.map { ["$ref": "#/$defs/connection-\($0.name)"] }]
        }
        /// `then` parts for a mapping that names protocol `syntax`; a device of a protocol
        /// that needs one must have its `connection`.
        func byProtocol(device: Bool = false, _ parts: (any ProtocolSyntax.Type) -> [String: Any]) -> [[String: Any]] {
            protocols.map { syntax in
                var then: [String: Any] = ["properties": parts(syntax)]
                if device && syntax.defaultConnection == nil { then["required"] = ["connection"] }
                return [
                    "if": ["required": ["protocol"], "properties": ["protocol": ["const": syntax.name]]],
                    "then": then,
                ]
            }
        }
        let points: [String: Any] = ["type": "object", "additionalProperties": ["$ref": "#/$defs/point"]]
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
            ]
        ]
        let command: [String: Any] = [
            "type": "object", "additionalProperties": false, "required": ["write"],
            "properties": [
                "description": ["type": "string"],
                "args": [
                    "type": "object", "additionalProperties": ["$ref": "#/$defs/argument"],
                    "description": "Arguments by name: a type (bool, integer, number, string) or a mapping with type, min, max, enum, default.",
                ],
                "write": [
                    "type": "object", "minProperties": 1, "additionalProperties": scalar,
                    "description": "Point → value; \"$name\" takes the argument `name`.",
                ],
            ] as [String: Any],
        ]
        let commands: [String: Any] = ["type": "object", "additionalProperties": ["$ref": "#/$defs/command"]]
        let protocolName: [String: Any] = ["enum": protocols.map { $0.name }]
        var profile: [String: Any] = [
            "type": "object", "additionalProperties": false, "required": ["protocol"],
            "properties": [
                "protocol": protocolName, "points": ["$ref": "#/$defs/points"],
                "commands": ["$ref": "#/$defs/commands"], "description": ["type": "string"],
            ] as [String: Any],
        ]
        var device: [String: Any] = [
            // `connection` is required by the protocol (below): a derived device has none.
            "type": "object", "additionalProperties": false, "required": ["id"],
            "properties": [
                "id": ["type": "string", "minLength": 1],
                "protocol": protocolName,
                "profile": ["type": "string", "minLength": 1],
                "connection": ["$ref": "#/$defs/connection"],
                "poll": ["$ref": "#/$defs/duration", "description": "Poll period (default 1s)."],
                "points": ["$ref": "#/$defs/points"],
                "commands": ["$ref": "#/$defs/commands"],
                "report": ["$ref": "#/$defs/report"],
                "command_timeout": [
                    "$ref": "#/$defs/duration",
                    "description": "How long one command may take at the device before it is answered timeout (default 10s).",
                ],
                "description": ["type": "string"],
            ] as [String: Any],
        ]
        if protocols.count == 1, protocols[0].defaultConnection == nil {
            device["required"] = ["id", "connection"]
        }
        if protocols.count > 1 {
            profile["allOf"] = byProtocol { ["points": ["$ref": "#/$defs/points-\($0.name)"]] }
            device["allOf"] =
                byProtocol(device: true) {
                    ["connection": ["$ref": "#/$defs/connection-\($0.name)"], "points": ["$ref": "#/$defs/points-\($0.name)"]]
                }
                + [
                    [
                        "if": ["not": ["required": ["protocol"]]],
                        "then": ["properties": ["connection": ["$ref": "#/$defs/connection"], "points": ["$ref": "#/$defs/points"]]],
                    ]
                ]
            for (name, description) in [
                ("connection", "How to reach the device; its keys depend on the protocol."),
                ("points", "Points by name; their keys depend on the protocol."),
            ] {
                if var properties = device["properties"] as? [String: Any] {
                    properties[name] = ["type": "object", "description": description]
                    device["properties"] = properties
                }
            }
            if var properties = profile["properties"] as? [String: Any] {
                properties["points"] = ["type": "object", "description": "Points by name; their keys depend on the protocol."]
                profile["properties"] = properties
            }
        }
        return [
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "urn:edgegate:devicemap:v1",
            "title": "edgegate device map",
            "type": "object", "additionalProperties": false,
            "properties": [
                "profiles": ["type": "object", "additionalProperties": ["$ref": "#/$defs/profile"]],
                "devices": ["type": "array", "items": ["$ref": "#/$defs/device"]],
            ] as [String: Any],
            "$defs": definitions.merging(
                [
                    "duration": duration, "point": point, "points": points, "connection": connection,
                    "report": report, "profile": profile, "device": device,
                    "argument": argument, "command": command, "commands": commands,
                ] as [String: Any]
            ) { own, _ in own },
        ]
    }

    /// The schema as pretty-printed JSON text with sorted keys.
    public static func json(protocols: [any ProtocolSyntax.Type]) -> String {
        // Only strings, numbers, bools, arrays and dictionaries above: serialization cannot fail.
        let data =
            (try? JSONSerialization.data(withJSONObject: object(protocols: protocols), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]))
            ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
