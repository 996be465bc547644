import Foundation
import GatewayCore

/// The JSON Schema (draft 2020-12) of the device-map format, for editor completion and for
/// tools. Built from the same key lists and enumerations the loader checks, so the two cannot
/// drift apart silently (a test compares them). The loader stays the authority: the schema
/// cannot express every rule (overlaps, profiles that exist, unique device ids, a string's
/// last register, `min` below `max`, commands that write existing points).
public enum DeviceMapSchema {
    /// Rules between a point's keys that the loader reports as errors and a schema can still
    /// state (as `if`/`then`), so that editors flag them as the author types. Rules that need
    /// arithmetic (a string's `address + length`) or other parts of the map stay with the loader.
    static var pointRules: [[String: Any]] {
        let bitTables = ModbusTable.allCases.filter(\.isBitTable).map(\.rawValue)
        let registerTables = ModbusTable.allCases.filter { !$0.isBitTable }.map(\.rawValue)
        let readOnlyTables = ModbusTable.allCases.filter { !$0.isWritable }.map(\.rawValue)
        var rules: [[String: Any]] = [
            // A string point without a length would read nothing.
            ["if": ["properties": ["type": ["const": ModbusDataType.string.rawValue]], "required": ["type"]],
             "then": ["required": ["length"]]],
            // Coils and discrete inputs hold single bits: only bool fits.
            ["if": ["properties": ["table": ["enum": bitTables]], "required": ["table"]],
             "then": ["properties": ["type": ["const": ModbusDataType.bool.rawValue]]]],
            // `bit` picks a bit of a register, and that bit is a bool.
            ["if": ["required": ["bit"]],
             "then": ["properties": ["table": ["enum": registerTables], "type": ["const": ModbusDataType.bool.rawValue]]]],
            // Modbus offers no write to input registers and discrete inputs.
            ["if": ["properties": ["table": ["enum": readOnlyTables]], "required": ["table"]],
             "then": ["properties": ["access": ["const": Access.read.rawValue]]]],
        ]
        // A value of n registers must start at 65536 − n at the latest.
        let widths = Dictionary(grouping: ModbusDataType.allCases.filter { ($0.fixedRegisterCount ?? 1) > 1 },
                                by: { $0.fixedRegisterCount! })
        for (count, types) in widths.sorted(by: { $0.key < $1.key }) {
            rules.append(["if": ["properties": ["type": ["enum": types.map(\.rawValue)]], "required": ["type"]],
                          "then": ["properties": ["address": ["maximum": 65536 - count]]]])
        }
        return rules
    }

    /// The schema as a JSON object.
    public static var object: [String: Any] {
        let duration: [String: Any] = [
            "type": "string", "pattern": #"^[0-9]+(\.[0-9]+)?\s?(ms|s|m|h)$"#,
            "description": "A duration with a unit: 500ms, 2s, 1.5s, 1m, 1h.",
        ]
        let scalar: [String: Any] = ["type": ["boolean", "number", "string"]]
        let point: [String: Any] = [
            "type": "object", "additionalProperties": false, "required": ["table", "address"],
            "properties": [
                "table": ["enum": ModbusTable.allCases.map(\.rawValue), "description": "Modbus table."],
                "address": ["type": "integer", "minimum": 0, "maximum": 65535, "description": "0-based register or bit offset."],
                "type": ["enum": ModbusDataType.allCases.map(\.rawValue), "description": "Encoding; default bool on coil/discrete, int16 otherwise."],
                "byte_order": ["enum": ByteOrder.allCases.map(\.rawValue), "description": "Byte order inside each register (default big)."],
                "word_order": ["enum": ByteOrder.allCases.map(\.rawValue), "description": "Register order inside a multi-register value (default big)."],
                "scale": ["type": "number", "not": ["const": 0], "description": "engineering = raw × scale + offset (default 1)."],
                "offset": ["type": "number", "description": "engineering = raw × scale + offset (default 0)."],
                "unit": ["type": "string"],
                "description": ["type": "string"],
                "access": ["enum": ["read", "readwrite", "write"], "description": "Who may write the point (default read)."],
                "min": ["type": "number", "description": "Lowest value a write may set (engineering units)."],
                "max": ["type": "number", "description": "Highest value a write may set (engineering units)."],
                "length": ["type": "integer", "minimum": 1, "maximum": DeviceMapLoader.maxStringRegisters,
                           "description": "Registers of a string point, two characters each."],
                "bit": ["type": "integer", "minimum": 0, "maximum": 15,
                        "description": "One bit of a holding or input register (0 = least significant); the point is a bool."],
                "enum": [
                    "description": "The only values a write may set: a list, or names mapped to values.",
                    "oneOf": [
                        ["type": "array", "minItems": 1, "items": scalar],
                        ["type": "object", "minProperties": 1, "additionalProperties": scalar],
                    ],
                ] as [String: Any],
                "report": ["$ref": "#/$defs/report", "description": "This point's report policy (overrides the device's)."],
            ] as [String: Any],
            "allOf": pointRules,
        ]
        let points: [String: Any] = ["type": "object", "additionalProperties": ["$ref": "#/$defs/point"]]
        let connection: [String: Any] = [
            "type": "object", "additionalProperties": false, "required": ["host"],
            "description": "Modbus TCP.",
            "properties": [
                "host": ["type": "string", "minLength": 1],
                "port": ["type": "integer", "minimum": 1, "maximum": 65535, "description": "Default 502."],
                "unit_id": ["type": "integer", "minimum": 0, "maximum": 255, "description": "Default 1."],
                "timeout": ["$ref": "#/$defs/duration", "description": "Response timeout (default 1s)."],
            ] as [String: Any],
        ]
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
        let protocolName: [String: Any] = ["enum": DeviceMapLoader.supportedProtocols]
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

    /// The schema as pretty-printed JSON text with sorted keys.
    public static var json: String {
        // Only strings, numbers, bools, arrays and dictionaries above: serialization cannot fail.
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
