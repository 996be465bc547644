import DeviceMaps
import Foundation
import Gateway
import ModbusAdapter
import TestSupport
import Testing
import Yams

/// Takes every valid example of the repository and loads thousands of broken variants of it:
/// keys deleted, duplicated, renamed and retyped, values replaced by odd scalars, lines
/// re-indented, the text truncated or sprinkled with stray bytes. Whatever the edit, the loader
/// must return (no crash, no hang), reject the file with at least one error when it does not
/// load it, point every diagnostic at a line and column of the file, and say the same twice.
///
/// The cases are pseudo-random but fixed: each one's generator is seeded from `seed`, the
/// example and the case number, and a failure names all three. `MUTATION_SEED=N` tries other
/// cases, `MUTATION_CASES=N` more or fewer of them, and `MUTATION_TRACE=1` prints every case
/// before loading it, to find the one a crash ended the run in.
@Suite struct MutationTests {
    static let environment = ProcessInfo.processInfo.environment
    static let seed: UInt64 = environment["MUTATION_SEED"].flatMap { UInt64($0) } ?? 20_260_217
    static let casesPerExample: Int = environment["MUTATION_CASES"].flatMap { Int($0) } ?? 500
    /// Far above the CPU time one load takes even in a debug build: longer is a hang.
    static let timeLimit: Duration = .seconds(3)

    @Test func thereAreExamples() {
        #expect(Example.all.count >= 4, "\(Example.all.map(\.name))")
        #expect(Example.all.contains { $0.kind == .gatewayConfiguration })
        #expect(Example.all.contains { $0.name.hasPrefix("devicemaps/models/") })
        #expect(Example.all.contains { $0.name.hasPrefix("Sources/ModbusAdapter/README.md") })
    }

    @Test(arguments: Example.all)
    func examplesLoadWithoutErrors(_ example: Example) {
        // Mutations start from valid files; otherwise a rejected mutant would prove nothing.
        #expect(!example.text.isEmpty, "\(example.name) is missing or empty")
        let outcome = example.load(example.text)
        #expect(outcome.value != nil, "\(outcome.diagnostics)")
        #expect(!outcome.diagnostics.contains { $0.severity == .error }, "\(outcome.diagnostics)")
    }

    /// What one example's mutants did.
    struct Tally: Sendable {
        var parsed = true
        var failures: [String] = []
        var changed = 0, rejected = 0, structural = 0
        var slowest: Duration = .zero
        var elapsed: Duration = .zero
    }

    @Test(arguments: Example.all)
    func mutantsFailWithLocations(_ example: Example) async {
        // Seconds of loading: on a thread of its own at low priority, so that the tests
        // running beside this one keep the concurrency pool and their times.
        let tally = await inBackground { Self.mutate(example) }
        #expect(tally.parsed, "the structural mutations need the example as a YAML tree")
        print(
            "mutation test: \(example.name): \(Self.casesPerExample) cases in \(tally.elapsed), slowest load \(tally.slowest) of CPU, "
                + "\(tally.rejected) rejected, \(tally.structural) with structural edits")

        #expect(
            tally.failures.isEmpty,
            "\(tally.failures.count) of \(Self.casesPerExample) mutants failed; the first:\n\(tally.failures.prefix(3).joined(separator: "\n\n"))")
        // The mutations must really change and break files, and leave some intact, or the
        // assertions above test little.
        #expect(tally.changed >= Self.casesPerExample * 9 / 10, "only \(tally.changed) mutants differ from the example")
        #expect(tally.structural >= Self.casesPerExample / 4, "only \(tally.structural) mutants have structural edits")
        #expect(tally.rejected >= Self.casesPerExample / 4, "only \(tally.rejected) mutants were rejected")
        #expect(tally.rejected < Self.casesPerExample, "every mutant was rejected")
    }

    /// Loads every mutant of `example` twice and notes what went wrong.
    static func mutate(_ example: Example) -> Tally {
        var tally = Tally()
        let tree = (try? Yams.compose(yaml: example.text)) ?? nil
        tally.parsed = tree != nil
        let clock = ContinuousClock()
        let started = clock.now
        for index in 0..<casesPerExample {
            var mutator = Mutator(seed: caseSeed(example, index), keys: Example.keys, values: Example.values)
            let text = mutator.mutate(example.text, tree: tree)
            if environment["MUTATION_TRACE"] == "1" {
                print("mutation case \(example.name) #\(index) seed \(seed): \(mutator.log.joined(separator: ", "))")
            }
            if text != example.text { tally.changed += 1 }
            if mutator.log.contains(where: { $0.hasPrefix("tree:") }) { tally.structural += 1 }

            // The thread's CPU time, not the wall clock: at low priority on a busy machine a
            // quick load may wait long for the CPU, and only work that does not end is a hang.
            let loadStart = threadCPUTime()
            let first = example.load(text)
            let took = threadCPUTime() - loadStart
            tally.slowest = max(tally.slowest, took)
            let second = example.load(text)
            if first.value == nil { tally.rejected += 1 }

            var problems = Self.problems(first, file: example.name, text: text)
            if first != second { problems.append("loading the same text twice gave different results") }
            if took > timeLimit { problems.append("loading took \(took) of CPU") }
            if !problems.isEmpty {
                tally.failures.append(
                    """
                    \(example.name), case \(index), seed \(seed), mutations \(mutator.log):
                      \(problems.joined(separator: "\n  "))
                      diagnostics:
                        \(first.diagnostics.map(\.description).joined(separator: "\n    "))
                      mutated text (\(text.utf8.count) bytes):
                    \(text.prefix(3_000))
                    """)
            }
        }
        tally.elapsed = clock.now - started
        return tally
    }

    @Test func theChecksCatchWhatTheyShould() {
        // The checks above only mean something if they can fail.
        let file = "f.yaml", text = "a: 1\nb: 2\n"
        func diagnostic(
            _ line: Int, _ column: Int, _ message: String = "bad",
            severity: Diagnostic.Severity = .error, in name: String = file
        ) -> Diagnostic {
            Diagnostic(severity: severity, location: SourceLocation(file: name, line: line, column: column), message: message)
        }
        #expect(Self.problems(Outcome(value: nil, diagnostics: [diagnostic(2, 1)]), file: file, text: text).isEmpty)
        #expect(Self.problems(Outcome(value: AnyHashable(1), diagnostics: [diagnostic(3, 1, severity: .warning)]), file: file, text: text).isEmpty)
        let bad: [Outcome] = [
            Outcome(value: nil, diagnostics: []),
            Outcome(value: nil, diagnostics: [diagnostic(1, 1, severity: .warning)]),
            Outcome(value: AnyHashable(1), diagnostics: [diagnostic(1, 1)]),
            Outcome(value: nil, diagnostics: [diagnostic(0, 0)]),
            Outcome(value: nil, diagnostics: [diagnostic(1, 0)]),
            Outcome(value: nil, diagnostics: [diagnostic(4, 1)]),
            Outcome(value: nil, diagnostics: [diagnostic(1, 1, " ")]),
            Outcome(value: nil, diagnostics: [diagnostic(1, 1, in: "other.yaml")]),
        ]
        for outcome in bad {
            #expect(!Self.problems(outcome, file: file, text: text).isEmpty, "\(outcome)")
        }
        // Without a final line break, the end of the file is on the line after the last.
        #expect(Self.problems(Outcome(value: nil, diagnostics: [diagnostic(3, 1)]), file: file, text: "a: 1\nb: [").isEmpty)
        #expect(!Self.problems(Outcome(value: nil, diagnostics: [diagnostic(4, 1)]), file: file, text: "a: 1\nb: [").isEmpty)
    }

    @Test func mutationsAreReproducible() throws {
        let example = try #require(Example.all.first)
        let tree = (try? Yams.compose(yaml: example.text)) ?? nil
        var texts = Set<String>()
        for index in 0..<20 {
            var a = Mutator(seed: Self.caseSeed(example, index), keys: Example.keys, values: Example.values)
            var b = Mutator(seed: Self.caseSeed(example, index), keys: Example.keys, values: Example.values)
            let text = a.mutate(example.text, tree: tree)
            #expect(text == b.mutate(example.text, tree: tree) && a.log == b.log, "case \(index)")
            texts.insert(text)
        }
        #expect(texts.count >= 18, "the cases should differ from each other")
    }

    // MARK: - Checks

    /// What is wrong with one load of `text`; empty when the loader behaved.
    static func problems(_ outcome: Outcome, file: String, text: String) -> [String] {
        var problems: [String] = []
        let hasError = outcome.diagnostics.contains { $0.severity == .error }
        if outcome.value == nil && !hasError { problems.append("not loaded, but no error says why") }
        if outcome.value != nil && hasError { problems.append("loaded despite an error") }
        let lines = lineCount(text)
        for d in outcome.diagnostics {
            let l = d.location
            if l.file != file { problems.append("diagnostic in another file: \(d)") }
            if l.line < 1 || l.column < 1 { problems.append("diagnostic without a line and column: \(d)") }
            if l.line > lines { problems.append("diagnostic past the end of the file: \(d)") }
            if d.message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                problems.append("diagnostic without a message: \(d)")
            }
        }
        return problems
    }

    /// The last line a diagnostic may name. Lines end as in YAML, with CR, LF, CRLF, NEL, LS or
    /// PS; libyaml reads a file as if it ended with a line break, so a file without one has its
    /// end (say, an unclosed `{`) on the line after the last, column 1.
    static func lineCount(_ text: String) -> Int {
        var lines = 1
        var previous: Unicode.Scalar = " "
        for s in text.unicodeScalars {
            switch s {
            case "\n": if previous != "\r" { lines += 1 }
            case "\r", "\u{85}", "\u{2028}", "\u{2029}": lines += 1
            default: break
            }
            previous = s
        }
        let endsWithBreak = ["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"].contains(previous)
        return endsWithBreak ? lines : lines + 1
    }

    /// Every case gets its own generator, so that one case can be regenerated alone.
    static func caseSeed(_ example: Example, _ index: Int) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a of the example's name
        for byte in example.name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return seed &+ hash &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15
    }
}

// MARK: - Examples

/// A valid file of the repository: where mutations start.
struct Example: Sendable, CustomStringConvertible {
    enum Kind: Sendable { case deviceMap, gatewayConfiguration }

    /// The path from the repository root (`#n` added for a sample in a Markdown file); also
    /// the file name the loader reports.
    var name: String
    var text: String
    var kind: Kind
    /// The maps loaded beside this one, unchanged: the devices a derived device reads.
    var besides: [(file: String, text: String)] = []

    var description: String { name }

    /// Every device map in devicemaps/ and devicemaps/models/, the README's sample map and
    /// the example gateway configurations, read now so that new examples are covered too.
    static let all: [Example] = {
        var examples: [Example] = []
        for folder in ["devicemaps", "devicemaps/models"] {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: Repo.path(folder))) ?? [])
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
                .sorted()
            let maps = names.map { (file: "\(folder)/\($0)", text: read("\(folder)/\($0)")) }
            for map in maps {
                // A derived device reads other devices: its map loads beside the folder's others.
                let besides = map.text.contains("protocol: derived") ? maps.filter { $0.file != map.file } : []
                examples.append(Example(name: map.file, text: map.text, kind: .deviceMap, besides: besides))
            }
        }
        for readme in ["Sources/ModbusAdapter/README.md", "Sources/MQTTDevicesAdapter/README.md", "Sources/DerivedAdapter/README.md"] {
            for (i, sample) in ((try? DocumentationSamples.yamlBlocks(inFile: readme)) ?? []).enumerated() {
                examples.append(Example(name: "\(readme)#\(i + 1)", text: sample, kind: .deviceMap))
            }
        }
        for name in ["examples/gateway.yaml", "examples/azure-iot-hub.yaml"] {
            examples.append(Example(name: name, text: read(name), kind: .gatewayConfiguration))
        }
        return examples
    }()

    /// An unreadable file becomes an empty example, which `examplesLoadWithoutErrors` rejects.
    private static func read(_ path: String) -> String {
        (try? String(contentsOfFile: Repo.path(path), encoding: .utf8)) ?? ""
    }

    /// Every key of every example: what a rename to "another known key" picks from.
    static let keys: [String] = collect { key, _ in key }
    /// Every scalar value of every example.
    static let values: [String] = collect { _, value in value }

    private static func collect(_ pick: (String?, String?) -> String?) -> [String] {
        var found = Set<String>()
        func walk(_ node: Node) {
            switch node {
            case .scalar(let s): if let v = pick(nil, s.string) { found.insert(v) }
            case .sequence(let seq): seq.forEach(walk)
            case .mapping(let m):
                for (k, v) in m {
                    if case .scalar(let s) = k, let key = pick(s.string, nil) { found.insert(key) }
                    walk(v)
                }
            case .alias: break
            }
        }
        for example in all {
            if let tree = (try? Yams.compose(yaml: example.text)) ?? nil { walk(tree) }
        }
        return found.sorted()
    }

    func load(_ text: String) -> Outcome {
        switch kind {
        case .deviceMap:
            let (map, diagnostics) =
                besides.isEmpty
                ? DeviceMapLoader.examples.parse(yaml: text, file: name)
                : DeviceMapLoader.examples.parse(files: besides.map { (file: $0.file, yaml: $0.text) } + [(file: name, yaml: text)])
            return Outcome(value: map.map(AnyHashable.init), diagnostics: diagnostics)
        case .gatewayConfiguration:
            let (config, diagnostics) = GatewayConfiguration.parse(yaml: text, file: name)
            // Every field, printed: the configuration holds a profile's settings and a clock,
            // which make it not Hashable.
            return Outcome(value: config.map { AnyHashable(String(reflecting: $0)) }, diagnostics: diagnostics)
        }
    }
}

/// What one load returned: the map or configuration, if any, and the diagnostics.
struct Outcome: Equatable {
    var value: AnyHashable?
    var diagnostics: [Diagnostic]
}

// MARK: - Mutations

/// Applies 1–3 random edits to a file, on its YAML tree or on its text, and logs them.
struct Mutator {
    var rng: SplitMix64
    let keys: [String]
    let values: [String]
    /// What was done, for failure messages: `tree: ...` for structural edits, `text: ...` otherwise.
    private(set) var log: [String] = []

    init(seed: UInt64, keys: [String], values: [String]) {
        rng = SplitMix64(seed: seed)
        self.keys = keys
        self.values = values
    }

    /// Structural edits come first, on `tree` (the parsed example), which is then written
    /// back as YAML; text edits follow on the result.
    mutating func mutate(_ text: String, tree: Node?) -> String {
        let count = rng.int(1...3)
        var structural = 0
        if tree != nil {
            for _ in 0..<count where rng.oneIn(2) { structural += 1 }
        }
        var result = text
        if structural > 0, var node = tree {
            for _ in 0..<structural {
                var target = rng.below(Self.size(node))
                node = edit(node, &target)
            }
            do {
                result = try Yams.serialize(node: node)
            } catch {
                log.append("tree: not serializable (\(error)), edits dropped")
            }
        }
        for _ in structural..<count { result = mutateText(result) }
        return result
    }

    // MARK: Structure

    /// The number of value nodes (keys not counted) under and including `node`.
    static func size(_ node: Node) -> Int {
        switch node {
        case .scalar, .alias: return 1
        case .sequence(let s): return 1 + s.reduce(0) { $0 + size($1) }
        case .mapping(let m): return 1 + m.reduce(0) { $0 + size($1.value) }
        }
    }

    /// Replaces the `target`th value node, in pre-order, by a mutation of it.
    mutating func edit(_ node: Node, _ target: inout Int) -> Node {
        if target == 0 {
            target = -1
            return mutateNode(node)
        }
        target -= 1
        switch node {
        case .scalar, .alias:
            return node
        case .sequence(let s):
            var items: [Node] = []
            for item in s { items.append(target >= 0 ? edit(item, &target) : item) }
            return .sequence(Node.Sequence(items, s.tag, s.style))
        case .mapping(let m):
            var pairs: [(Node, Node)] = []
            for (k, v) in m { pairs.append((k, target >= 0 ? edit(v, &target) : v)) }
            return .mapping(Node.Mapping(pairs, m.tag, m.style))
        }
    }

    mutating func mutateNode(_ node: Node) -> Node {
        switch node {
        case .mapping(let m) where !m.isEmpty && !rng.oneIn(4):
            var pairs = Array(m).map { ($0.key, $0.value) }
            let i = rng.below(pairs.count)
            let key = pairs[i].0.string ?? "?"
            switch rng.below(6) {
            case 0:
                log.append("tree: delete entry '\(key)'")
                pairs.remove(at: i)
            case 1:
                log.append("tree: duplicate entry '\(key)'")
                pairs.insert(pairs[i], at: rng.int(0...pairs.count))
            case 2:
                let renamed = renamedKey(key)
                log.append("tree: rename key '\(key)' to \(renamed)")
                pairs[i].0 = renamed
            case 3:
                log.append("tree: retype the value of '\(key)'")
                pairs[i].1 = retype(pairs[i].1)
            case 4:
                let scalar = randomScalar()
                log.append("tree: set '\(key)' to \(scalar.debugDescription)")
                pairs[i].1 = .scalar(Node.Scalar(scalar, .implicit, rng.oneIn(4) ? .singleQuoted : .plain))
            default:
                let newKey = rng.pick(keys)
                let value = rng.oneIn(2) ? pairs[rng.below(pairs.count)].1 : Node(randomScalar())
                log.append("tree: add key '\(newKey)'")
                pairs.insert((Node(newKey), value), at: rng.int(0...pairs.count))
            }
            return .mapping(Node.Mapping(pairs, m.tag, m.style))
        case .sequence(let s) where !s.isEmpty && !rng.oneIn(4):
            var items = Array(s)
            let i = rng.below(items.count)
            switch rng.below(4) {
            case 0:
                log.append("tree: delete item \(i)")
                items.remove(at: i)
            case 1:
                log.append("tree: duplicate item \(i)")
                items.insert(items[i], at: rng.int(0...items.count))
            case 2:
                log.append("tree: retype item \(i)")
                items[i] = retype(items[i])
            default:
                log.append("tree: add a scalar item")
                items.insert(Node(randomScalar()), at: rng.int(0...items.count))
            }
            return .sequence(Node.Sequence(items, s.tag, s.style))
        default:
            if rng.oneIn(2) {
                log.append("tree: retype \(Self.kind(node))")
                return retype(node)
            }
            let scalar = randomScalar()
            log.append("tree: replace \(Self.kind(node)) by \(scalar.debugDescription)")
            return Node(scalar)
        }
    }

    static func kind(_ node: Node) -> String {
        switch node {
        case .scalar(let s): "scalar '\(s.string.prefix(40))'"
        case .sequence: "list"
        case .mapping: "mapping"
        case .alias: "alias"
        }
    }

    /// A random word, a near miss of the key, another known key, or no plain name at all.
    mutating func renamedKey(_ key: String) -> Node {
        switch rng.below(8) {
        case 0, 1: return Node(typo(key))
        case 2, 3: return Node(rng.pick(keys))
        case 4: return Node(randomWord())
        case 5: return Node(randomScalar())
        case 6: return Node([Node(key)])
        default: return Node([(Node(key), Node("1"))])
        }
    }

    /// scalar ↔ list ↔ mapping; number ↔ string ↔ bool ↔ null.
    mutating func retype(_ node: Node) -> Node {
        switch node {
        case .scalar(let s):
            switch rng.below(7) {
            case 0: return Node([node])
            case 1: return Node([(Node(rng.pick(keys)), node)])
            case 2: return .scalar(Node.Scalar(s.string, .implicit, .doubleQuoted))
            case 3: return .scalar(Node.Scalar(s.string, .implicit, .plain))
            case 4: return Node(rng.pick(["true", "false", "yes", "off", "~", "null", "", "0", "-1", "1.5", ".nan", "-.inf"]))
            case 5: return Node([Node]())
            default: return Node([(Node, Node)]())
            }
        case .sequence(let s):
            switch rng.below(4) {
            case 0: return s.first ?? Node("")
            case 1: return Node(s.enumerated().map { (Node("k\($0.offset)"), $0.element) })
            case 2: return Node(randomScalar())
            default: return Node([(Node, Node)]())
            }
        case .mapping(let m):
            switch rng.below(4) {
            case 0: return Node(Array(m.values))
            case 1: return Node(Array(m.keys))
            case 2: return Node(randomScalar())
            default: return Node([Node]())
            }
        case .alias:
            return Node(randomScalar())
        }
    }

    // MARK: Text

    mutating func mutateText(_ text: String) -> String {
        var lines = text.components(separatedBy: "\n")
        let i = rng.below(lines.count)
        switch rng.below(10) {
        case 0:
            log.append("text: delete line \(i + 1)")
            lines.remove(at: i)
        case 1:
            log.append("text: duplicate line \(i + 1)")
            lines.insert(lines[i], at: rng.int(0...lines.count))
        case 2:
            log.append("text: re-indent line \(i + 1)")
            let line = lines[i]
            let indent = line.prefix { $0 == " " }.count
            let body = line.dropFirst(indent)
            lines[i] = rng.oneIn(3) ? "\t" + line : String(repeating: " ", count: max(0, indent + rng.int(-4...4))) + body
        case 3, 4:
            // A key or a value of a block or flow mapping, in place: comments and layout stay.
            let spans = Self.keySpans(lines[i])
            guard !spans.isEmpty else { return mutateBytes(text) }
            var line = lines[i]
            let span = rng.pick(spans)
            let key = String(line[span.key])
            if rng.oneIn(2) {
                let renamed = rng.oneIn(2) ? typo(key) : rng.oneIn(2) ? rng.pick(keys) : randomWord()
                log.append("text: rename key '\(key)' on line \(i + 1) to '\(renamed)'")
                line.replaceSubrange(span.key, with: renamed)
            } else {
                let value = randomValueText()
                log.append("text: set '\(key)' on line \(i + 1) to \(value.debugDescription)")
                line.replaceSubrange(span.value, with: value)
            }
            lines[i] = line
        default:
            return mutateBytes(text)
        }
        return lines.joined(separator: "\n")
    }

    /// Truncation, or random bytes inserted or written over others (invalid UTF-8 becomes U+FFFD,
    /// as in any String).
    mutating func mutateBytes(_ text: String) -> String {
        var bytes = Array(text.utf8)
        let at = rng.int(0...bytes.count)
        switch rng.below(4) {
        case 0:
            log.append("text: truncate at byte \(at)")
            bytes.removeSubrange(at...)
        case 1, 2:
            let fragment = randomFragment()
            log.append("text: insert \(String(decoding: fragment.prefix(60), as: UTF8.self).debugDescription) at byte \(at)")
            bytes.insert(contentsOf: fragment, at: at)
        default:
            let fragment = randomFragment()
            let end = min(bytes.count, at + rng.int(1...8))
            log.append("text: replace bytes \(at)..<\(end) by \(String(decoding: fragment.prefix(60), as: UTF8.self).debugDescription)")
            bytes.replaceSubrange(at..<end, with: fragment)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The keys of a line (`key:` at the start, after `- `, `{` or `,`) with the value after each.
    static func keySpans(_ line: String) -> [(key: Range<String.Index>, value: Range<String.Index>)] {
        var spans: [(Range<String.Index>, Range<String.Index>)] = []
        let isKeyCharacter: (Character) -> Bool = { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
        var i = line.startIndex
        var previous: Character = " "
        while i < line.endIndex {
            let c = line[i]
            if c == "#" && previous == " " { break }
            if isKeyCharacter(c) && (previous == " " || previous == "{" || previous == ",") {
                var end = i
                while end < line.endIndex && isKeyCharacter(line[end]) { end = line.index(after: end) }
                if end < line.endIndex, line[end] == ":" {
                    let valueStart = line.index(after: end)
                    var valueEnd = valueStart
                    while valueEnd < line.endIndex && !",}#".contains(line[valueEnd]) { valueEnd = line.index(after: valueEnd) }
                    spans.append((i..<end, valueStart..<valueEnd))
                }
                previous = line[line.index(before: end)]
                i = end
                continue
            }
            previous = c
            i = line.index(after: i)
        }
        return spans
    }

    // MARK: Random values

    /// Bytes a hand or a broken editor could put anywhere.
    static let fragments: [String] = [
        "\t", "\r", "\r\n", "\n", " ", "'", "\"", "[", "]", "{", "}", ":", ": ", ",", "- ", "? ", "#", "|", ">",
        "\\", "`", "@", "%", "&a ", "*a", "*undefined", "&anchor [1, 2]", "!!str ", "!!int ", "!!float ", "!!bool ",
        "!!null ", "!!map ", "!!seq ", "!!binary ", "!!timestamp ", "!local ", "!<tag:yaml.org,2002:int> ",
        "!!python/object:os.system ", "%YAML 1.1\n", "%TAG ! tag:example.com,2000:\n", "---\n", "\n---\n", "...\n",
        "|\n", ">-\n", "<<: *a\n", "\u{FEFF}", "\u{85}", "\u{2028}", "\u{A0}", "é", "°C", "温度", "🔥", "\u{202E}",
        "\u{200B}", "\u{FFFD}", "\u{0}", "\u{7}", "\u{1B}", "\u{7F}", "\u{9F}",
    ]

    mutating func randomFragment() -> [UInt8] {
        switch rng.below(8) {
        case 0, 1, 2: return Array(rng.pick(Self.fragments).utf8)
        case 3: return (0..<rng.int(1...6)).map { _ in UInt8(rng.below(256)) }
        case 4: return [UInt8(rng.pick(Array(0...31) + [127]))]
        case 5:
            // Deep nesting, closed or not, on both sides of libyaml's limit of 1000 levels.
            let depth = rng.pick([2, 10, 100, 999, 1000, 1001, 2000])
            let (open, close) = rng.pick([("[", "]"), ("{a: ", "}"), ("- ", "")])
            let closed = rng.oneIn(2)
            return Array((String(repeating: open, count: depth) + "x" + (closed ? String(repeating: close, count: depth) : "")).utf8)
        case 6: return Array(randomScalar().utf8)
        default: return Array(randomValueText().utf8)
        }
    }

    /// A value as typed after `key:` in the text: a scalar, a flow list or mapping, an anchor, an alias.
    mutating func randomValueText() -> String {
        switch rng.below(10) {
        case 0: return " [\(randomScalar()), \(randomScalar())]"
        case 1: return " {\(rng.pick(keys)): \(randomScalar())}"
        case 2: return ""
        case 3: return " &a \(randomScalar())"
        case 4: return " *a"
        case 5: return " '\(randomScalar())'"
        case 6: return " \"\(randomScalar())\""
        default: return " " + randomScalar()
        }
    }

    mutating func randomWord() -> String {
        characters(rng.int(1...12), from: "abcdefghijklmnopqrstuvwxyz_-")
    }

    /// `count` characters drawn from `alphabet`.
    mutating func characters(_ count: Int, from alphabet: String) -> String {
        let letters = Array(alphabet)
        var text = ""
        for _ in 0..<count { text.append(letters[rng.below(letters.count)]) }
        return text
    }

    /// A near miss: one character dropped, doubled, swapped, replaced, or the case or `_`/`-` changed.
    mutating func typo(_ word: String) -> String {
        var chars = Array(word)
        guard !chars.isEmpty else { return "x" }
        let i = rng.below(chars.count)
        switch rng.below(6) {
        case 0: chars.remove(at: i)
        case 1: chars.insert(chars[i], at: i)
        case 2: if i + 1 < chars.count { chars.swapAt(i, i + 1) } else { chars.append("s") }
        case 3: chars[i] = Character(characters(1, from: "abcdefghijklmnopqrstuvwxyz"))
        case 4: return word.uppercased()
        default: return word.contains("_") ? word.replacingOccurrences(of: "_", with: "-") : word + "_"
        }
        return String(chars)
    }

    /// Scalars of every YAML type and the odd ones around them.
    mutating func randomScalar() -> String {
        switch rng.below(12) {
        case 0:  // integers, from small to far past Int64
            return rng.pick([
                "0", "-0", "1", "-1", "65535", "65536", "-65536", "255", "256", "9223372036854775807",
                "-9223372036854775808", "9223372036854775808", "99999999999999999999999999",
                String(Int64(bitPattern: rng.next())), String(rng.int(-100_000...100_000)),
            ])
        case 1:  // YAML 1.1 integer forms: hex, octal, binary, underscores, sexagesimal
            let digits = rng.int(1...24)
            switch rng.below(5) {
            case 0: return (rng.oneIn(3) ? "-" : "") + "0x" + characters(digits, from: "0123456789abcdefABCDEF")
            case 1: return "0" + (rng.oneIn(2) ? "o" : "") + characters(digits, from: "01234567")
            case 2: return "0b" + characters(digits * 3, from: "01")
            case 3: return String(rng.int(1...9)) + characters(digits, from: "0123456789_")
            default:
                let first = rng.pick(["1", "59", "190", "99999999", "999999999999999999"])
                let parts = (0..<rng.int(1...12)).map { _ in String(rng.int(0...59)) }
                return (rng.oneIn(4) ? "-" : "") + first + ":" + parts.joined(separator: ":")
            }
        case 2:  // floats, huge, tiny, not finite
            return rng.pick([
                "0.1", "-0.5", "1.5e3", "6.02e23", "1e308", "1e309", "-1e309", "4.9e-324", "1e-400",
                ".5", "1_000.5", "190:20:30.15", ".nan", ".NaN", ".inf", "-.inf", "+.Inf", "nan", "inf",
                "Infinity", String(Double(bitPattern: rng.next())),
            ])
        case 3: return rng.pick(["true", "false", "True", "FALSE", "yes", "no", "on", "off", "Y", "n"])
        case 4: return rng.pick(["~", "null", "NULL", "Null", ""])
        case 5:  // strings of every kind of character
            return rng.pick([
                "''", "\"\"", " ", "°C", "温度", "🔥🔥", "e\u{301}", "\u{202E}abc", "\u{200B}", "a\tb",
                "a\u{7}b", "\u{0}", "line\nbreak", "x: y", "- x", "[x", "{x", "#x", "&x", "*x", "!x", "%x",
                "@x", "`x", "|", ">", "'", "\"", "<<", "=", "?",
            ])
        case 6:  // long strings
            let length = rng.pick([100, 1_000, 10_000, 40_000])
            return rng.oneIn(2)
                ? String(repeating: "a", count: length)
                : characters(length, from: "abc xyz-_:/.9é温")
        case 7:  // durations and sizes, right and wrong
            return rng.pick([
                "500ms", "1s", "1.5m", "1h", "0s", "-1s", "1e3s", "1.2.3s", "ms", "1 h", "99999999999999999h",
                "1d", "256MB", "1GB", "0B", "-1KB", "1.5MB", "99999999999999999999GB", "9007199254740993KiB",
            ])
        case 8:  // URLs and hosts
            return rng.pick([
                "mqtts://127.0.0.1:8883", "mqtt://127.0.0.1", "mqtts://", "mqtts://h:0", "mqtts://h:99999999999",
                "mqtts://h:-1", "mqtt://u:p@h:1883/x?y", "mqtts://%zz", "://", "mqtts://[::1]:8883",
                "mqtts://[::1", "http://h", "256.256.256.256", "::1", "localhost", "a/b/../../c",
            ])
        case 9: return rng.pick(["2001-12-14t21:59:43.10-05:00", "2002-12-14", "2026-99-99", "0000-00-00"])
        case 10: return typo(rng.pick(values))
        default: return rng.pick(values)
        }
    }
}
