import Foundation
package import Yams

// The YAML-walking toolkit shared by the device-map loader and the gateway configuration.
// Every accessor reports what it finds wrong into a `DiagnosticSink` and returns nil, so a
// caller can keep walking and report every problem of a file in one pass.

/// Parses YAML into a node tree, turning syntax errors into diagnostics with line:column.
package func composeYAML(_ yaml: String, file: String, sink: DiagnosticSink) -> Node?? {
    do {
        return .some(try Yams.compose(yaml: yaml))
    } catch let error as YamlError {
        switch error {
        case let .scanner(context, problem, mark, _),
            let .parser(context, problem, mark, _),
            let .composer(context, problem, mark, _):
            let hint = context.map { "\($0.text) at line \($0.mark.line), column \($0.mark.column)" }
            sink.error(
                "invalid YAML: \(problem)", at: SourceLocation(file: file, line: mark.line, column: mark.column),
                hint: hint)
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")
            sink.error(
                "key \(keys) appears more than once in the same mapping",
                at: SourceLocation(file: file, line: context.mark.line, column: context.mark.column),
                hint: "each key may appear only once; remove or rename the other")
        case let .reader(problem, offset, value, _):
            // A character libyaml refuses, such as a control character: it is invisible, so name it.
            sink.error(
                "invalid YAML: \(problem)", at: sourceLocation(ofCharacter: offset, in: yaml, file: file),
                hint: value >= 0 ? String(format: "character U+%04X", value) : nil)
        default:
            sink.error("invalid YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1))
        }
        return nil
    } catch {
        sink.error("invalid YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1))
        return nil
    }
}

/// Line and column of the `offset`th Character, counted like libyaml's marks (columns in code
/// points); 1:1 when the offset is unknown.
package func sourceLocation(ofCharacter offset: Int?, in text: String, file: String) -> SourceLocation {
    guard let offset, let target = text.index(text.startIndex, offsetBy: offset, limitedBy: text.endIndex) else {
        return SourceLocation(file: file, line: 1, column: 1)
    }
    var line = 1, lineStart = text.startIndex
    var i = text.startIndex
    while i < target {
        let next = text.index(after: i)
        if text[i].isNewline { (line, lineStart) = (line + 1, next) }
        i = next
    }
    return SourceLocation(file: file, line: line, column: text.unicodeScalars[lineStart..<target].count + 1)
}

/// The resolved YAML tag of a node (`Tag.name` is not public in Yams).
package func tagName(_ node: Node) -> Tag.Name {
    Tag.Name(rawValue: node.tag.rawValue)
}

/// The location of a node; nodes built by the parser always carry a mark.
package func location(of node: Node, in file: String) -> SourceLocation {
    let mark = node.mark
    return SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
}

/// How a value reads in a message: `the string '12'`, `a list`, ...
package func describe(_ node: Node) -> String {
    switch node {
    case .scalar(let s):
        switch tagName(node) {
        case .null: return "no value"
        case .int, .float: return "the number \(s.string)"
        case .bool: return "the boolean '\(s.string)'"
        default: return "the string '\(s.string)'"
        }
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    case .alias: return "an alias"
    }
}

/// `node.int`, except that a YAML 1.1 sexagesimal integer (`1:30` is 90) too large for `Int` is nil:
/// Yams multiplies its parts without overflow checks and traps (on `1:0:0:0:0:0:0:0:0:0:0`, say).
package func integerValue(_ node: Node) -> Int? {
    if case .scalar(let s) = node, s.string.contains(":") {
        // Yams' arithmetic, checked: the value is sum(part × 60^i), the base grows to 60^parts.
        var text = s.string.replacingOccurrences(of: "_", with: "")
        if text.hasPrefix("-") || text.hasPrefix("+") { text.removeFirst() }
        var base = 1, value = 0
        for part in text.components(separatedBy: ":").reversed() {
            guard let digit = Int(part, radix: 10) else { return nil }
            let (term, o1) = digit.multipliedReportingOverflow(by: base)
            let (sum, o2) = value.addingReportingOverflow(term)
            let (next, o3) = base.multipliedReportingOverflow(by: 60)
            if o1 || o2 || o3 { return nil }
            (value, base) = (sum, next)
        }
    }
    return node.int
}

/// True for `key:` with nothing after it, `~` and `null`.
package func isNull(_ node: Node) -> Bool {
    if case .scalar = node { return tagName(node) == .null }
    return false
}

/// A YAML mapping with the context needed to report problems in it.
package struct YAMLMapping {
    /// One `key: value` pair, keys as written.
    package struct Entry {
        package var key: String
        package var keyNode: Node
        package var value: Node
    }

    package let node: Node
    package let entries: [Entry]
    package let file: String
    /// Who the mapping describes, prefixed to every message: `device 'boiler-1', point 'pump'`.
    package let context: String
    package let sink: DiagnosticSink

    /// Wraps `node`, reporting an error when it is not a mapping.
    /// - Parameter what: what the mapping should have been, for the message (`the connection`).
    package init?(_ node: Node, file: String, context: String, what: String, sink: DiagnosticSink) {
        guard case .mapping(let mapping) = node else {
            let loc = ConfigSyntax.location(of: node, in: file)
            let text = "\(what) must be a mapping of keys to values, found \(describe(node))"
            sink.error(context.isEmpty ? text : "\(context): \(text)", at: loc)
            return nil
        }
        var entries: [Entry] = []
        for (k, v) in mapping {
            guard case .scalar(let s) = k else {
                sink.error(
                    Self.prefix(context, "keys must be plain names, found \(describe(k))"),
                    at: ConfigSyntax.location(of: k, in: file))
                continue
            }
            entries.append(Entry(key: s.string, keyNode: k, value: v))
        }
        self.node = node
        self.entries = entries
        self.file = file
        self.context = context
        self.sink = sink
    }

    package static func prefix(_ context: String, _ text: String) -> String {
        context.isEmpty ? text : "\(context): \(text)"
    }

    package var location: SourceLocation { ConfigSyntax.location(of: node, in: file) }

    package func location(of node: Node) -> SourceLocation { ConfigSyntax.location(of: node, in: file) }

    package func error(_ text: String, at node: Node, hint: String? = nil) {
        sink.error(Self.prefix(context, text), at: location(of: node), hint: hint)
    }

    package func error(_ text: String, at loc: SourceLocation, hint: String? = nil) {
        sink.error(Self.prefix(context, text), at: loc, hint: hint)
    }

    package func warning(_ text: String, at node: Node, hint: String? = nil) {
        sink.warning(Self.prefix(context, text), at: location(of: node), hint: hint)
    }

    /// Reports keys that are not in `known`, with the nearest known key as a hint.
    /// - Parameters:
    ///   - later: keys that are part of the design but not implemented yet, with the
    ///     message to give instead of "unknown key".
    ///   - otherwise: the hint when no known key is near, instead of the list of known keys
    ///     (for lists too long to help).
    package func checkKeys(_ known: [String], later: [String: String] = [:], otherwise: String? = nil) {
        for e in entries where !known.contains(e.key) {
            if let message = later[e.key] {
                error(message, at: e.keyNode)
                continue
            }
            let hint =
                Suggest.didYouMean(e.key, in: known)
                ?? otherwise ?? "known keys: " + known.joined(separator: ", ")
            error("unknown key '\(e.key)'", at: e.keyNode, hint: hint)
        }
    }

    package func has(_ key: String) -> Bool { entries.contains { $0.key == key } }

    package func entry(_ key: String) -> Entry? { entries.first { $0.key == key } }

    /// The value node of `key`; a missing required key or an empty value is reported.
    package func value(_ key: String, required: Bool = false, hint: String? = nil) -> Node? {
        guard let e = entry(key) else {
            // A near miss (`adress`) is already reported as an unknown key with this key as the
            // suggestion; saying "missing 'address'" as well would be the same problem twice.
            if required && !entries.contains(where: { Suggest.nearest($0.key, in: [key]) != nil }) {
                error("missing required key '\(key)'", at: node, hint: hint)
            }
            return nil
        }
        if isNull(e.value) {
            error("'\(key)' has no value", at: e.keyNode, hint: hint)
            return nil
        }
        return e.value
    }

    package func typeError(_ key: String, _ expected: String, _ v: Node, hint: String? = nil) {
        var hint = hint
        if hint == nil, case .scalar(let s) = v, s.style == .singleQuoted || s.style == .doubleQuoted,
            tagName(Node(s.string)) != .str
        {
            hint = "remove the quotes: \(s.string)"
        }
        error("'\(key)' must be \(expected), found \(describe(v))", at: v, hint: hint)
    }

    /// Any scalar as text: names and hosts such as `42` or `on` are meant literally.
    package func string(_ key: String, required: Bool = false, hint: String? = nil) -> String? {
        guard let v = value(key, required: required, hint: hint) else { return nil }
        guard case .scalar(let s) = v else {
            typeError(key, "a string", v)
            return nil
        }
        return s.string
    }

    /// A non-empty string.
    package func name(_ key: String, required: Bool = false, hint: String? = nil) -> String? {
        guard let s = string(key, required: required, hint: hint) else { return nil }
        if s.trimmingCharacters(in: .whitespaces).isEmpty {
            error("'\(key)' must not be empty", at: value(key)!)
            return nil
        }
        return s
    }

    package func integer(_ key: String, in range: ClosedRange<Int>, required: Bool = false) -> Int? {
        guard let v = value(key, required: required) else { return nil }
        guard tagName(v) == .int, let i = integerValue(v) else {
            typeError(key, "an integer", v)
            return nil
        }
        guard range.contains(i) else {
            error("'\(key)' must be between \(range.lowerBound) and \(range.upperBound), found \(i)", at: v)
            return nil
        }
        return i
    }

    package func number(_ key: String, required: Bool = false) -> Double? {
        guard let v = value(key, required: required) else { return nil }
        let tag = tagName(v)
        guard tag == .int || tag == .float, let d = v.float, d.isFinite else {
            typeError(key, "a number", v)
            return nil
        }
        return d
    }

    package func bool(_ key: String) -> Bool? {
        guard let v = value(key) else { return nil }
        guard tagName(v) == .bool, let b = v.bool else {
            typeError(key, "true or false", v)
            return nil
        }
        return b
    }

    /// One of a fixed set of values.
    /// - Parameter later: values of the design that are not implemented yet.
    package func choice<E: RawRepresentable & CaseIterable>(
        _ key: String, _ type: E.Type, required: Bool = false,
        later: [String] = []
    ) -> E? where E.RawValue == String {
        guard let v = value(key, required: required) else { return nil }
        guard case .scalar(let s) = v else {
            typeError(key, "one of " + E.allCases.map(\.rawValue).joined(separator: ", "), v)
            return nil
        }
        if let e = E(rawValue: s.string) { return e }
        let allowed = E.allCases.map(\.rawValue)
        if later.contains(s.string) {
            error("\(key) '\(s.string)' is not supported yet; supported: \(allowed.joined(separator: ", "))", at: v)
        } else {
            error("unknown \(key) '\(s.string)'", at: v, hint: Suggest.allowed(s.string, in: allowed))
        }
        return nil
    }

    /// A positive duration: `500ms`, `2s`, `1.5m`, `1h`.
    package func duration(_ key: String, required: Bool = false) -> Duration? {
        guard let v = value(key, required: required) else { return nil }
        guard case .scalar(let s) = v else {
            typeError(key, "a duration such as 500ms, 2s or 1m", v)
            return nil
        }
        if tagName(v) == .int || tagName(v) == .float {
            error(
                "'\(key)' must be a duration with a unit, found the number \(s.string)", at: v,
                hint: "write \(s.string)s or \(s.string)ms; units: ms, s, m, h")
            return nil
        }
        guard let d = parseDuration(s.string) else {
            typeError(key, "a duration such as 500ms, 2s or 1m", v, hint: "units: ms, s, m, h")
            return nil
        }
        guard d > .zero else {
            error("'\(key)' must be longer than zero", at: v)
            return nil
        }
        return d
    }

    /// A positive byte size: `64KB`, `256MB`, `1GB` (powers of 1024) or a plain number of bytes.
    package func byteSize(_ key: String) -> Int? {
        guard let v = value(key) else { return nil }
        guard case .scalar(let s) = v, let n = parseByteSize(s.string) else {
            typeError(key, "a size such as 64KB, 256MB or 1GB", v)
            return nil
        }
        guard n > 0 else {
            error("'\(key)' must be larger than zero", at: v)
            return nil
        }
        return n
    }

    /// A nested mapping.
    package func mapping(_ key: String, context: String? = nil, required: Bool = false, hint: String? = nil) -> YAMLMapping? {
        guard let v = value(key, required: required, hint: hint) else { return nil }
        return YAMLMapping(v, file: file, context: context ?? self.context, what: "'\(key)'", sink: sink)
    }

    /// A list; a single scalar counts as a list of one when `allowSingle` is set.
    package func list(_ key: String, required: Bool = false, allowSingle: Bool = false) -> [Node]? {
        guard let v = value(key, required: required) else { return nil }
        if case .sequence(let seq) = v { return Array(seq) }
        if allowSingle, case .scalar = v { return [v] }
        typeError(key, "a list", v)
        return nil
    }
}

// MARK: - Scalars with units

/// Parses `500ms`, `2s`, `1.5m`, `1h` (spaces between number and unit allowed).
package func parseDuration(_ text: String) -> Duration? {
    let t = text.trimmingCharacters(in: .whitespaces)
    let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
    for (unit, ms) in units where t.hasSuffix(unit) {
        let number = t.dropLast(unit.count).trimmingCharacters(in: .whitespaces)
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
            let value = Double(number)
        else { continue }
        let total = value * ms
        guard total.isFinite, total < 1e15 else { return nil }
        return .microseconds(Int64((total * 1000).rounded()))
    }
    return nil
}

/// Parses `64KB`, `256MB`, `1GB`, `512B` or a plain byte count; K/M/G are powers of 1024
/// (`KiB`, `MiB`, `GiB` are accepted as the same).
package func parseByteSize(_ text: String) -> Int? {
    let t = text.trimmingCharacters(in: .whitespaces).uppercased()
    let units: [(String, Int)] = [
        ("KIB", 1 << 10), ("MIB", 1 << 20), ("GIB", 1 << 30),
        ("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("B", 1),
    ]
    for (unit, factor) in units where t.hasSuffix(unit) {
        let number = t.dropLast(unit.count).trimmingCharacters(in: .whitespaces)
        guard let n = Int(number) else { return nil }
        let (product, overflow) = n.multipliedReportingOverflow(by: factor)
        return overflow ? nil : product
    }
    return Int(t)
}

/// `a/b/../c` → `a/c`, `./x` → `x`; lexical, so that diagnostics and logs show short paths.
package func normalizePath(_ path: String) -> String {
    let absolute = path.hasPrefix("/")
    var parts: [Substring] = []
    for p in path.split(separator: "/", omittingEmptySubsequences: true) {
        if p == "." { continue }
        if p == "..", let last = parts.last, last != ".." {
            parts.removeLast()
        } else if p == "..", absolute {
            continue
        } else {
            parts.append(p)
        }
    }
    let joined = parts.joined(separator: "/")
    if absolute { return "/" + joined }
    return joined.isEmpty ? "." : joined
}

/// Resolves `path` against the folder that holds `file` (absolute paths stay as they are).
package func resolve(_ path: String, relativeToFolderOf file: String) -> String {
    if path.hasPrefix("/") { return normalizePath(path) }
    let folder = (file as NSString).deletingLastPathComponent
    if folder.isEmpty { return normalizePath(path) }
    return normalizePath(folder + "/" + path)
}
