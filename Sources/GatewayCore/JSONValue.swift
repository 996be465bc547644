public import Foundation

/// A parsed JSON document, the one JSON value type of the uplink, the CLI, the Hue adapter and
/// the MQTT devices adapter. Booleans and numbers are kept apart (a bridge's `"on": 1` must not
/// pass for `true`), and integers stay exact Int64 (no loss above 2^53). The uplink reads
/// commands through this rather than through `Codable` structs so that one bad field yields a
/// precise message while the command id is still readable for the `rejected` response.
/// Parsed strictly from bytes (``init(parsing:)``), numbers keep their text and objects their
/// member order, which a device's payload needs.
public enum JSONValue: Sendable, Hashable, Decodable {
    /// `null`.
    case null
    /// `true` / `false`.
    case bool(Bool)
    /// A number: ``integer(_:)`` or ``number(_:)`` build one.
    case number(JSONNumber)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object.
    case object(JSONObject)

    /// A number written without fraction or exponent that fits in Int64.
    public static func integer(_ value: Int64) -> JSONValue { .number(JSONNumber(value)) }

    /// Any other number.
    public static func number(_ value: Double) -> JSONValue { .number(JSONNumber(value)) }

    /// Decodes any JSON value.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .integer(i)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(JSONObject(try c.decode([String: JSONValue].self)))
        }
    }

    /// The JSON type name, for messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a bool"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// The scalar as a gateway `Value`; nil for null, arrays and objects.
    public var value: Value? {
        switch self {
        case .bool(let b): return .bool(b)
        case .number(let n): return n.integer.map { .int($0) } ?? .double(n.double)
        case .string(let s): return .string(s)
        case .null, .array, .object: return nil
        }
    }
}

extension JSONValue: Encodable {
    /// Encodes the same JSON value back (object keys in whatever order the encoder chooses);
    /// whole doubles as integers.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n):
            if let i = n.integer { try c.encode(i); break }
            // Whole doubles as integers (`254`, not `254.0`): what a Hue bridge expects.
            let d = n.double
            if d == d.rounded(), abs(d) < 1e15 { try c.encode(Int64(d)) } else { try c.encode(d) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o.dictionary)
        }
    }
}

extension JSONValue {
    /// Parses JSON text (through `JSONDecoder`); nil when it is not JSON.
    public static func parse(_ data: Data) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// The JSON text, keys sorted (stable for logs and tests); numbers as the gateway writes
    /// them. For a device's payload as it was sent, see ``compactText``.
    public var text: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// The member `key` of an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The members of an object.
    public var object: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The elements of an array.
    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The text of a string.
    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The number of a number, integer or not, as a double.
    public var number: Double? {
        if case .number(let n) = self { return n.double }
        return nil
    }

    /// The exact value of a number written without fraction or exponent that fits in Int64.
    public var integer: Int64? {
        if case .number(let n) = self { return n.integer }
        return nil
    }

    /// The value of a bool.
    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
}

extension JSONValue {
    /// The compact JSON text with members in their order (a repeated key repeated) and numbers
    /// as written: a parsed payload written back without reordering anything.
    public var compactText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n.text
        case .string(let s): return JSONText.quoted(s)
        case .array(let items): return "[" + items.map(\.compactText).joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.map { JSONText.quoted($0.key) + ":" + $0.value.compactText }.joined(separator: ",") + "}"
        }
    }
}

extension JSONValue: CustomStringConvertible {
    /// The JSON text.
    public var description: String { text }
}
