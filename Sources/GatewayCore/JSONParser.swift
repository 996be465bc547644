/// Why a payload is not JSON, short enough for a reading's reason.
public struct JSONSyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong: `unexpected 'x'`, `unterminated string`.
    public var problem: String
    /// The byte offset where it was found.
    public var offset: Int

    /// Creates an error.
    public init(problem: String, offset: Int) {
        self.problem = problem
        self.offset = offset
    }

    /// `unexpected 'x' at byte 12`.
    public var description: String { "\(problem) at byte \(offset)" }
}

extension JSONValue {
    /// Parses JSON text strictly (RFC 8259): numbers keep their text as written, object members
    /// their order. Anything, including random bytes and deeply nested input, ends in a value or
    /// a `JSONSyntaxError`, never a crash: nesting is bounded (64 levels), and strings must be
    /// valid UTF-8.
    public init(parsing bytes: [UInt8]) throws(JSONSyntaxError) {
        self = try JSONParser.parse(bytes)
    }
}

/// A strict RFC 8259 parser over a payload's bytes, the one behind ``JSONValue/init(parsing:)``.
struct JSONParser {
    /// Deeper input is refused rather than recursed into: a hostile payload must not exhaust the stack.
    static let maxDepth = 64

    private let bytes: [UInt8]
    private var i = 0

    private init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Parses one JSON text (whitespace around it allowed, nothing else).
    static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
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

    private mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard i < bytes.count else { throw unexpected() }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(JSONNumber(written: try number()))
        default: throw unexpected()
        }
    }

    private mutating func literal(_ word: String) throws(JSONSyntaxError) {
        for b in word.utf8 {
            guard i < bytes.count, bytes[i] == b else { throw unexpected() }
            i += 1
        }
    }

    private mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw JSONSyntaxError(problem: "nested deeper than \(Self.maxDepth) levels", offset: i) }
        i += 1
        var members = JSONObject()
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
            members.append(key, try value(depth: depth))
            skipSpace()
            guard i < bytes.count else { throw unexpected() }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            throw unexpected("where ',' or '}' was expected")
        }
    }

    private mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw JSONSyntaxError(problem: "nested deeper than \(Self.maxDepth) levels", offset: i) }
        i += 1
        var items: [JSONValue] = []
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
