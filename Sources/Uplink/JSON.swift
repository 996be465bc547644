import GatewayCore

/// A parsed JSON document. The uplink reads commands through this rather than through
/// `Codable` structs so that one bad field yields a precise message while the command id is
/// still readable for the `rejected` response.
public enum JSONNode: Sendable, Hashable, Decodable {
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
    case array([JSONNode])
    /// An object.
    case object([String: JSONNode])

    /// Decodes any JSON value.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONNode].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONNode].self)) }
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

extension JSONNode: Encodable {
    /// Encodes the same JSON value back (object keys in whatever order the encoder chooses).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .integer(let i): try c.encode(i)
        case .number(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

/// A minimal JSON writer, in UTF-8 bytes: the uplink's hot path encodes hundreds of
/// thousands of readings per second and needs a fixed key order, which
/// `JSONSerialization` gives neither cheaply nor reliably.
package struct JSONWriter {
    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    package mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    package mutating func raw(_ encoded: [UInt8]) { bytes.append(contentsOf: encoded) }

    package mutating func raw(_ encoded: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: encoded) }

    package mutating func string(_ s: String) {
        JSONText.appendQuoted(s, to: &bytes)
    }

    package mutating func integer(_ i: Int64) { JSONText.appendInteger(i, to: &bytes) }

    /// Writes a value; non-finite doubles have no JSON form and become null.
    package mutating func value(_ v: Value?) {
        switch v {
        case .none: raw("null")
        case .bool(let b)?: b ? raw("true") : raw("false")
        case .int(let i)?: integer(i)
        case .double(let d)?: if d.isFinite { JSONText.appendDouble(d, to: &bytes) } else { raw("null") }
        case .string(let s)?: string(s)
        }
    }

    package mutating func key(_ k: String) {
        string(k)
        bytes.append(UInt8(ascii: ":"))
    }
}
