public import Foundation

/// A parsed JSON document, the one JSON value type of the uplink, the CLI and the Hue adapter.
/// Booleans and numbers are kept apart (a bridge's `"on": 1` must not pass for `true`), and
/// integers stay exact Int64 (no loss above 2^53). The uplink reads commands through this
/// rather than through `Codable` structs so that one bad field yields a precise message while
/// the command id is still readable for the `rejected` response.
public enum JSONValue: Sendable, Hashable, Decodable {
    /// `null`.
    case null
    /// `true` / `false`.
    case bool(Bool)
    /// A number written without fraction or exponent that fits in Int64.
    case integer(Int64)
    /// Any other number.
    case number(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object.
    case object([String: JSONValue])

    /// Decodes any JSON value.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    /// The JSON type name, for messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a bool"
        case .integer, .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// The scalar as a gateway `Value`; nil for null, arrays and objects.
    public var value: Value? {
        switch self {
        case .bool(let b): return .bool(b)
        case .integer(let i): return .int(i)
        case .number(let d): return .double(d)
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
        case .integer(let i): try c.encode(i)
        // Whole doubles as integers (`254`, not `254.0`): what a Hue bridge expects.
        case .number(let d):
            if d == d.rounded(), abs(d) < 1e15 { try c.encode(Int64(d)) } else { try c.encode(d) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

extension JSONValue {
    /// Parses JSON text (through `JSONDecoder`); nil when it is not JSON.
    public static func parse(_ data: Data) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// The JSON text, keys sorted (stable for logs and tests).
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
    public var object: [String: JSONValue]? {
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
        switch self {
        case .integer(let i): return Double(i)
        case .number(let d): return d
        default: return nil
        }
    }

    /// The value of a bool.
    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
}

extension JSONValue: CustomStringConvertible {
    /// The JSON text.
    public var description: String { text }
}
