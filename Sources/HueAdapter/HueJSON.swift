import Foundation

/// A JSON value with booleans and numbers kept apart (`JSONSerialization` on Linux hands
/// both out as `NSNumber`, and a bridge's `"on": 1` must not pass for `true`).
public enum HueJSON: Sendable, Hashable, Codable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// Any number.
    case number(Double)
    /// Text.
    case string(String)
    /// `[...]`.
    case array([HueJSON])
    /// `{...}`.
    case object([String: HueJSON])

    /// Decodes any JSON value.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([HueJSON].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: HueJSON].self))
        }
    }

    /// Encodes the value; whole numbers as integers (`254`, not `254.0`).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let d):
            if d == d.rounded(), abs(d) < 1e15 { try c.encode(Int64(d)) } else { try c.encode(d) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Parses JSON text; nil when it is not JSON.
    public static func parse(_ data: Data) -> HueJSON? {
        try? JSONDecoder().decode(HueJSON.self, from: data)
    }

    /// The JSON text, keys sorted (stable for logs and tests).
    public var text: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// The member `key` of an object.
    public subscript(key: String) -> HueJSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The members of an object.
    public var object: [String: HueJSON]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The elements of an array.
    public var array: [HueJSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The text of a string.
    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The number of a number.
    public var number: Double? {
        if case .number(let d) = self { return d }
        return nil
    }

    /// The value of a bool.
    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The error objects of a v1 answer (`[{"error": {...}}, ...]`); empty when there are none.
    public var apiErrors: [HueAPIError] {
        (array ?? []).compactMap { item in
            guard let e = item["error"] else { return nil }
            return HueAPIError(type: Int(e["type"]?.number ?? 0), address: e["address"]?.string ?? "",
                               description: e["description"]?.string ?? "")
        }
    }

    /// The `success` objects of a v1 answer, merged: `["/lights/1/state/bri": 200, ...]`.
    public var successes: [String: HueJSON] {
        var merged: [String: HueJSON] = [:]
        for item in array ?? [] {
            for (key, value) in item["success"]?.object ?? [:] { merged[key] = value }
        }
        return merged
    }
}

extension HueJSON: CustomStringConvertible {
    /// The JSON text.
    public var description: String { text }
}
