import GatewayCore

/// Where a point's value sits in a JSON payload: `$` (the whole payload), `$.a.b`, `$.a[0]`,
/// `$.a.b[2].c`, `$["key with space"]`. A deliberately small subset of JSONPath: one value,
/// no wildcards, filters or slices.
public struct JSONPath: Sendable, Hashable, CustomStringConvertible {
    /// One step from a value into a member or an element.
    public enum Step: Sendable, Hashable {
        /// An object member.
        case key(String)
        /// An array element, 0-based.
        case index(Int)
    }

    /// The steps after `$`.
    public let steps: [Step]
    /// The path as written.
    public let description: String

    /// The whole payload.
    public static let root = JSONPath(steps: [], description: "$")

    private init(steps: [Step], description: String) {
        self.steps = steps
        self.description = description
    }

    /// The last object key, which names the field in a default command payload.
    public var lastKey: String? {
        if case .key(let k) = steps.last { return k }
        return nil
    }

    /// True for `$`.
    public var isRoot: Bool { steps.isEmpty }

    /// Parses a path.
    /// - Throws: what is wrong and the character offset where, for a diagnostic's column.
    public static func parse(_ text: String) throws(JSONPathError) -> JSONPath {
        let chars = Array(text)
        var i = 0
        guard chars.first == "$" else {
            throw JSONPathError(problem: "a JSON path starts with '$'", offset: 0)
        }
        i = 1
        var steps: [Step] = []
        while i < chars.count {
            switch chars[i] {
            case ".":
                i += 1
                let start = i
                while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" || chars[i] == "-" { i += 1 }
                guard i > start else {
                    throw JSONPathError(
                        problem: i < chars.count ? "'\(chars[i])' cannot start a key after '.'" : "a key is missing after '.'",
                        offset: i, hint: "quote other keys: $[\"key with space\"]")
                }
                steps.append(.key(String(chars[start..<i])))
            case "[":
                i += 1
                guard i < chars.count else { throw JSONPathError(problem: "'[' is not closed", offset: i - 1) }
                if chars[i] == "\"" || chars[i] == "'" {
                    let quote = chars[i]
                    let open = i
                    i += 1
                    var key = ""
                    while i < chars.count, chars[i] != quote {
                        if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                        key.append(chars[i])
                        i += 1
                    }
                    guard i < chars.count else { throw JSONPathError(problem: "the quoted key is not closed", offset: open) }
                    i += 1
                    steps.append(.key(key))
                } else {
                    let start = i
                    while i < chars.count, chars[i].isASCII, chars[i].isNumber { i += 1 }
                    guard i > start, let index = Int(String(chars[start..<i])) else {
                        throw JSONPathError(problem: "expected an array index (0, 1, ...) or a quoted key after '['", offset: start)
                    }
                    steps.append(.index(index))
                }
                guard i < chars.count, chars[i] == "]" else {
                    throw JSONPathError(problem: "expected ']'", offset: i)
                }
                i += 1
            default:
                throw JSONPathError(
                    problem: "unexpected '\(chars[i])'", offset: i,
                    hint: "a path is $ followed by .key, [index] or [\"key\"] steps")
            }
        }
        return JSONPath(steps: steps, description: text)
    }

    /// The value at this path, or the shortest prefix that is missing (`$.a.b` when `a`
    /// has no `b`), for the reason of a `bad` reading.
    func evaluate(_ root: JSONValue) -> Result<JSONValue, Missing> {
        var current = root
        for (n, step) in steps.enumerated() {
            var next: JSONValue?
            switch step {
            case .key(let k): next = current[k]
            case .index(let x):
                if case .array(let items) = current, x < items.count { next = items[x] }
            }
            guard let next else { return .failure(Missing(prefix: JSONPath.text(of: steps[...n]))) }
            current = next
        }
        return .success(current)
    }

    /// No value where the path leads: `prefix` names the first step that found nothing.
    struct Missing: Error {
        var prefix: String
    }

    static func text(of steps: ArraySlice<Step>) -> String {
        "$"
            + steps.map { step in
                switch step {
                case .index(let i): return "[\(i)]"
                case .key(let k) where !k.isEmpty && k.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }): return ".\(k)"
                case .key(let k): return "[\"\(k)\"]"
                }
            }.joined()
    }
}

/// A JSON path that does not parse.
public struct JSONPathError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong.
    public var problem: String
    /// The character offset in the path.
    public var offset: Int
    /// How to write it instead, when that helps.
    public var hint: String?

    /// Creates an error.
    public init(problem: String, offset: Int, hint: String? = nil) {
        self.problem = problem
        self.offset = offset
        self.hint = hint
    }

    /// The problem.
    public var description: String { problem }
}
