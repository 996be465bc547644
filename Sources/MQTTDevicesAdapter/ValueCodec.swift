import DeviceMaps
import GatewayCore

/// A message's payload, parsed once for all the points bound to its topic.
struct Payload {
    let topic: String
    let bytes: [UInt8]
    let json: Result<JSONValue, JSONSyntaxError>

    init(topic: String, bytes: [UInt8]) {
        self.topic = topic
        self.bytes = bytes
        json = Result { () throws(JSONSyntaxError) in try JSONValue(parsing: bytes) }
    }
}

/// Payload → engineering value for readings, and engineering value → payload for writes.
enum ValueCodec {
    /// Long texts from devices are cut in reasons: a reading's reason is for people.
    static func clip(_ text: String, to limit: Int = 40) -> String {
        text.count <= limit ? text : String(text.prefix(limit)) + "…"
    }

    /// The engineering value of `point` in `payload`, or why there is none (a sentence naming
    /// the topic, for a `bad` reading).
    static func decode(_ payload: Payload, point: PointDefinition) -> Result<Value, ValueError> {
        let a = point.mqtt
        let topic = payload.topic
        if payload.bytes.isEmpty { return .failure(ValueError("empty payload on \(topic)")) }
        let found: JSONValue
        switch payload.json {
        case .success(let root):
            switch a.path.evaluate(root) {
            case .success(let v): found = v
            case .failure: return .failure(ValueError("no field \(a.path) in the payload on \(topic)"))
            }
        case .failure(let error):
            let text = String(validating: payload.bytes, as: UTF8.self)
            // A bool sent as text may come bare whatever the path: zigbee2mqtt's legacy
            // availability is `online`/`offline`, its current one `{"state":"online"}`.
            if a.type == .bool, let t = a.trueValue, let f = a.falseValue, let text, text == t || text == f {
                return .success(.bool(text == t))
            }
            // `path: $` takes a payload that is not JSON as plain text: Tasmota's `ON`, a bare reading.
            guard a.path.isRoot else { return .failure(ValueError("malformed JSON on \(topic): \(error)")) }
            guard let text else {
                return .failure(ValueError("the payload on \(topic) is neither JSON nor UTF-8 text (\(error))"))
            }
            found = .string(text)
        }
        let at = a.path.isRoot ? "the payload on \(topic)" : "\(a.path) on \(topic)"
        func wrong(_ expected: String) -> Result<Value, ValueError> {
            .failure(ValueError("\(at) is \(found.described), expected \(expected)"))
        }
        switch a.type {
        case .bool:
            if case .bool(let b) = found { return .success(.bool(b)) }
            guard let t = a.trueValue, let f = a.falseValue else { return wrong("true or false") }
            let text: String
            switch found {
            case .string(let s): text = s
            case .number(let n): text = n.text
            default: return wrong("\(t) or \(f)")
            }
            if text == t { return .success(.bool(true)) }
            if text == f { return .success(.bool(false)) }
            return wrong("\(t) or \(f)")
        case .string:
            guard case .string(let s) = found else { return wrong("a string") }
            return .success(.string(s))
        case .int64:
            guard case .number(let number) = found else { return wrong("a whole number") }
            let n = number.text
            if let i = Int64(n) {
                return .success(point.isScaled ? .double(Double(i) * point.scale + point.offset) : .int(i))
            }
            guard let d = Double(n), d.isFinite else {
                return .failure(ValueError("\(at) is \(ValueCodec.clip(n)), which does not fit int64"))
            }
            guard d == d.rounded() else { return wrong("a whole number (type int64)") }
            // 2^63 as a double is the first value past Int64.max.
            guard d >= -9.223372036854775808e18, d < 9.223372036854775808e18 else {
                return .failure(ValueError("\(at) is \(ValueCodec.clip(n)), which does not fit int64"))
            }
            return .success(point.isScaled ? .double(d * point.scale + point.offset) : .int(Int64(d)))
        case .float64:
            guard case .number(let number) = found else { return wrong("a number") }
            let n = number.text
            guard let d = Double(n), d.isFinite else {
                return .failure(ValueError("\(at) is \(ValueCodec.clip(n)), which is beyond the range of float64"))
            }
            let v = d * point.scale + point.offset
            guard v.isFinite else { return .failure(ValueError("\(at) is \(ValueCodec.clip(n)), which overflows after scale and offset")) }
            return .success(.double(v))
        }
    }

    /// The payload text a write of `value` publishes (scale and offset undone), or why the
    /// value cannot be expressed; nothing is published then.
    static func render(_ value: Value, point: PointDefinition) throws(ValueError) -> String {
        try render(value, address: point.mqtt, scale: point.scale, offset: point.offset)
    }

    /// The payload of `address`'s template for `value`.
    static func render(_ value: Value, address a: MQTTPointAddress, scale: Double = 1, offset: Double = 0) throws(ValueError) -> String {
        guard let template = a.payload else { throw ValueError("the point is not writable") }
        let literal: String
        let text: String
        switch a.type {
        case .bool:
            guard case .bool(let b) = value else { throw ValueError("expects true or false, got \(value)") }
            if let t = a.trueValue, let f = a.falseValue {
                text = b ? t : f
                literal = JSONText.quoted(text)
            } else {
                text = b ? "true" : "false"
                literal = text
            }
        case .string:
            guard case .string(let s) = value else { throw ValueError("expects text, got \(value)") }
            text = s
            literal = JSONText.quoted(s)
        case .int64:
            let isScaled = scale != 1 || offset != 0
            if case .int(let i) = value, !isScaled {
                text = String(i)
            } else {
                guard let v = value.numeric else { throw ValueError("expects a number, got \(value)") }
                guard v.isFinite else { throw ValueError("\(value) is not a finite number") }
                let raw = (v - offset) / scale
                let whole = raw.rounded()
                // Decimal scales are inexact in binary: "whole" means within a few ulps.
                guard abs(raw - whole) <= 1e-9 * max(1, abs(raw)) else {
                    throw ValueError(
                        "\(value) is not a whole number" + (isScaled ? " after scale \(Value.format(scale)) and offset \(Value.format(offset))" : ""))
                }
                guard whole >= -9.223372036854775808e18, whole < 9.223372036854775808e18 else {
                    throw ValueError("\(value) does not fit int64")
                }
                text = String(Int64(whole))
            }
            literal = text
        case .float64:
            guard let v = value.numeric else { throw ValueError("expects a number, got \(value)") }
            let raw = (v - offset) / scale
            guard raw.isFinite else { throw ValueError("\(value) is not a finite number") }
            text = raw == raw.rounded() && abs(raw) < 1e15 ? String(Int64(raw)) : "\(raw)"
            literal = text
        }
        return template.render(literal: literal, text: text)
    }
}

extension JSONValue {
    /// How a value reads in a reason: `the string "ON"`, `the number 21.5`, `an object`.
    var described: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "the bool \(b)"
        case .number(let n): return "the number \(ValueCodec.clip(n.text))"
        case .string(let s): return "the string \"\(ValueCodec.clip(s))\""
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Why a payload gave no value, or a value no payload.
struct ValueError: Error, Sendable, Hashable, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
