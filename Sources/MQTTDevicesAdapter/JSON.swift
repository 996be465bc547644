import GatewayCore

/// A JSON value as devices send it. Numbers keep their text, so that an integer beyond
/// 2^53 or beyond Int64 is judged exactly instead of through a rounded double.
public indirect enum JSON: Sendable, Hashable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number, as written (`21.5`, `-3`, `1e3`).
    case number(String)
    /// A string, unescaped.
    case string(String)
    /// An array.
    case array([JSON])
    /// An object, members in payload order (a repeated key: the last one counts on lookup).
    case object([Member])

    /// One member of an object.
    public struct Member: Sendable, Hashable {
        /// The key.
        public var key: String
        /// The value.
        public var value: JSON

        /// Creates a member.
        public init(_ key: String, _ value: JSON) {
            self.key = key
            self.value = value
        }
    }

    /// The value of `key` when this is an object that has it.
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    /// How a value reads in a reason: `the string "ON"`, `the number 21.5`, `an object`.
    var described: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "the bool \(b)"
        case .number(let n): return "the number \(JSON.clip(n))"
        case .string(let s): return "the string \"\(JSON.clip(s))\""
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Long texts from devices are cut in reasons: a reading's reason is for people.
    static func clip(_ text: String, to limit: Int = 40) -> String {
        text.count <= limit ? text : String(text.prefix(limit)) + "…"
    }

    /// The compact JSON text.
    public var text: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n
        case .string(let s): return JSON.quoted(s)
        case .array(let items): return "[" + items.map(\.text).joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.map { JSON.quoted($0.key) + ":" + $0.value.text }.joined(separator: ",") + "}"
        }
    }

    /// `s` as a JSON string literal, quotes included.
    public static func quoted(_ s: String) -> String {
        JSONText.quoted(s)
    }

    /// `s` escaped for the inside of a JSON string literal.
    public static func escaped(_ s: String) -> String {
        String(JSONText.quoted(s).dropFirst().dropLast())
    }
}

/// Why a payload is not JSON, short enough for a reading's reason.
public struct JSONSyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong: `unexpected 'x'`, `unterminated string`.
    public var problem: String
    /// The byte offset where it was found.
    public var offset: Int

    /// `unexpected 'x' at byte 12`.
    public var description: String { "\(problem) at byte \(offset)" }
}

/// A strict RFC 8259 parser over the payload's bytes. Anything a device sends, including
/// random bytes and deeply nested input, ends in a value or a `JSONSyntaxError`, never a crash:
/// nesting is bounded, and strings must be valid UTF-8.
struct JSONParser {
    /// Deeper input is refused rather than recursed into: a hostile payload must not exhaust the stack.
    static let maxDepth = 64

    private let bytes: [UInt8]
    private var i = 0

    private init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Parses one JSON text (whitespace around it allowed, nothing else).
    static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSON {
        var p = JSONParser(bytes)
        p.skipSpace()
        if p.i == bytes.count { throw JSONSyntaxError(problem: bytes.isEmpty ? "empty payload" : "only whitespace", offset: p.i) }
        let value = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw p.unexpected("after the value") }
        return value
    }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private func unexpected(_ context: String = "") -> JSONSyntaxError {
        guard i < bytes.count else { return JSONSyntaxError(problem: "unexpected end", offset: i) }
        let b = bytes[i]
        let shown = b >= 0x20 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x" + String(b, radix: 16)
        return JSONSyntaxError(problem: "unexpected \(shown)" + (context.isEmpty ? "" : " \(context)"), offset: i)
    }

    private mutating func value(depth: Int) throws(JSONSyntaxError) -> JSON {
        guard i < bytes.count else { throw unexpected() }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw unexpected()
        }
    }

    private mutating func literal(_ word: String) throws(JSONSyntaxError) {
        for b in word.utf8 {
            guard i < bytes.count, bytes[i] == b else { throw unexpected() }
            i += 1
        }
    }

    private mutating func object(depth: Int) throws(JSONSyntaxError) -> JSON {
        guard depth <= Self.maxDepth else { throw JSONSyntaxError(problem: "nested deeper than \(Self.maxDepth) levels", offset: i) }
        i += 1
        var members: [JSON.Member] = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw unexpected("where a key was expected") }
            let key = try string()
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw unexpected("where ':' was expected") }
            i += 1
            skipSpace()
            members.append(JSON.Member(key, try value(depth: depth)))
            skipSpace()
            guard i < bytes.count else { throw unexpected() }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            throw unexpected("where ',' or '}' was expected")
        }
    }

    private mutating func array(depth: Int) throws(JSONSyntaxError) -> JSON {
        guard depth <= Self.maxDepth else { throw JSONSyntaxError(problem: "nested deeper than \(Self.maxDepth) levels", offset: i) }
        i += 1
        var items: [JSON] = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            skipSpace()
            items.append(try value(depth: depth))
            skipSpace()
            guard i < bytes.count else { throw unexpected() }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw unexpected("where ',' or ']' was expected")
        }
    }

    private mutating func number() throws(JSONSyntaxError) -> String {
        let start = i
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.i
            while p.i < p.bytes.count, p.bytes[p.i] >= UInt8(ascii: "0"), p.bytes[p.i] <= UInt8(ascii: "9") { p.i += 1 }
            return p.i - s
        }
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count else { throw unexpected() }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
        } else if digits(&self) == 0 {
            throw unexpected("in a number")
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digits(&self) > 0 else { throw unexpected("in a number") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits(&self) > 0 else { throw unexpected("in a number") }
        }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    private mutating func string() throws(JSONSyntaxError) -> String {
        let start = i
        i += 1
        var raw: [UInt8] = []
        while true {
            guard i < bytes.count else { throw JSONSyntaxError(problem: "unterminated string", offset: start) }
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""):
                i += 1
                guard let text = String(validating: raw, as: UTF8.self) else {
                    throw JSONSyntaxError(problem: "invalid UTF-8 in a string", offset: start)
                }
                return text
            case UInt8(ascii: "\\"):
                i += 1
                guard i < bytes.count else { throw unexpected() }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): raw.append(e)
                case UInt8(ascii: "b"): raw.append(0x08)
                case UInt8(ascii: "f"): raw.append(0x0C)
                case UInt8(ascii: "n"): raw.append(0x0A)
                case UInt8(ascii: "r"): raw.append(0x0D)
                case UInt8(ascii: "t"): raw.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        // A high surrogate must be followed by an escaped low one.
                        guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw JSONSyntaxError(problem: "unpaired surrogate", offset: i)
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw JSONSyntaxError(problem: "unpaired surrogate", offset: i) }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw JSONSyntaxError(problem: "unpaired surrogate", offset: i) }
                    raw.append(contentsOf: Array(String(Character(u)).utf8))
                default:
                    i -= 1
                    throw unexpected("after '\\'")
                }
            case 0..<0x20:
                throw JSONSyntaxError(problem: "control character in a string", offset: i)
            default:
                raw.append(b)
                i += 1
            }
        }
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard i < bytes.count, let d = hexDigit(bytes[i]) else { throw unexpected("in a \\u escape") }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    private func hexDigit(_ b: UInt8) -> UInt32? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(b - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}
