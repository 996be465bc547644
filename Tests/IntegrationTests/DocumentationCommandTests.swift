import DevTools
import Foundation
import TestSupport
import Testing

/// The CLI as the executable defines it (`edgegate --experimental-dump-help`), for checking the
/// command lines of the docs against it.
struct CommandInfo: Decodable {
    struct Argument: Decodable {
        struct Name: Decodable {
            let kind: String
            let name: String
        }

        let kind: String
        let names: [Name]?
        let allValues: [String]?

        /// `--name` for each long name, `-n` for each short one.
        var spellings: [String] {
            (names ?? []).map { $0.kind == "short" ? "-\($0.name)" : "--\($0.name)" }
        }
    }

    let commandName: String
    let subcommands: [CommandInfo]?
    let arguments: [Argument]?

    struct Root: Decodable {
        let command: CommandInfo
    }

    static func load() async throws -> CommandInfo {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.file("cli.json")
        #expect(try await runEdgegate(["--experimental-dump-help"], writingStdoutTo: file) == 0)
        return try JSONDecoder().decode(Root.self, from: Data(contentsOf: URL(fileURLWithPath: file))).command
    }
}

/// One `edgegate ...` line of a fenced block of a Markdown file.
struct DocumentedCommand: CustomStringConvertible, Sendable {
    let file: String
    let line: Int
    /// The fenced block it is in, counted per file: lines of one block form one recipe.
    let block: Int
    /// The words after `edgegate`, as a shell splits them, up to a comment, pipe or redirection.
    var words: [String]

    var description: String { "\(file):\(line): edgegate \(words.joined(separator: " "))" }

    /// A word that stands for something the reader fills in: `FILE`, `H`, `<id>`, `coil|discrete`, `...`.
    static func isPlaceholder(_ word: String) -> Bool {
        let w = word.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if w.contains("|") || w.hasPrefix("<") || w.contains("...") || w.contains("…") { return true }
        return w.contains(where: \.isLetter) && !w.contains(where: \.isLowercase)
    }

    /// The Markdown files whose fenced blocks show commands.
    static let files: [String] = {
        let root = DocumentationSamples.repositoryRoot
        var files = ["README.md", "certs/README.md", "Benchmarks/README.md"]
        let docs = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/docs")) ?? []).filter { $0.hasSuffix(".md") }.sorted()
        files += docs.map { "docs/\($0)" }
        let sources = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/Sources")) ?? []).sorted()
        files += sources.map { "Sources/\($0)/README.md" }.filter { FileManager.default.fileExists(atPath: root + "/" + $0) }
        return files
    }()

    /// Every `edgegate` line of the fenced blocks of `files` (shell, console and text blocks),
    /// with `$ ` prompts and `$(edgegate ...)` substitutions taken apart.
    static func all() throws -> [DocumentedCommand] {
        var commands: [DocumentedCommand] = []
        for file in files {
            let text = try String(contentsOfFile: DocumentationSamples.repositoryRoot + "/" + file, encoding: .utf8)
            var fence: String?
            var block = 0
            var pending = ""
            for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = String(raw)
                if line.hasPrefix("```") {
                    if fence == nil {
                        fence = String(line.dropFirst(3))
                        block += 1
                    } else {
                        fence = nil
                    }
                    continue
                }
                guard let language = fence, ["sh", "bash", "console", "text", ""].contains(language) else { continue }
                // A line ending in a backslash goes on in the next one.
                if line.hasSuffix("\\") {
                    pending += line.dropLast() + " "
                    continue
                }
                let joined = pending + line
                pending = ""
                var command = joined.trimmingCharacters(in: .whitespaces)
                if command.hasPrefix("$ ") { command.removeFirst(2) }
                if let substitution = command.range(of: "$(edgegate ") {
                    let rest = command[substitution.upperBound...]
                    command = "edgegate " + String(rest[..<(rest.firstIndex(of: ")") ?? rest.endIndex)])
                }
                guard command.hasPrefix("edgegate ") || command == "edgegate" else { continue }
                let words = Array(shellWords(command).dropFirst())
                commands.append(DocumentedCommand(file: file, line: index + 1, block: block, words: words))
            }
        }
        return commands
    }

    /// Splits as a shell does for these lines: quotes, and nothing after a comment, pipe,
    /// redirection or `&`.
    static func shellWords(_ line: String) -> [String] {
        var words: [String] = []
        var word = ""
        var inWord = false
        var quote: Character?
        for c in line {
            if let q = quote {
                if c == q { quote = nil } else { word.append(c) }
                continue
            }
            if c == "'" || c == "\"" {
                quote = c
                inWord = true
            } else if c == " " || c == "\t" {
                if inWord { words.append(word) }
                word = ""
                inWord = false
            } else if !inWord && (c == "#" || c == "|" || c == ">" || c == "&" || c == ";") {
                return words
            } else if inWord && (c == ">" || c == "&" || c == ";") && !word.contains("=") {
                words.append(word.hasSuffix("2") ? String(word.dropLast()) : word)
                return words.filter { !$0.isEmpty }
            } else {
                word.append(c)
                inWord = true
            }
        }
        if inWord { words.append(word) }
        return words
    }

    /// The command path (`map`, `read`) and the problems of the line against the definition.
    func check(against root: CommandInfo) -> (path: [String], command: CommandInfo, problems: [String]) {
        var command = root
        var path: [String] = []
        var i = 0
        while i < words.count, let sub = command.subcommands?.first(where: { $0.commandName == words[i] }) {
            command = sub
            path.append(words[i])
            i += 1
        }
        var problems: [String] = []
        let helpOrVersion = words[i...].contains { ["--help", "-h", "--version"].contains($0) }
        if command.subcommands?.isEmpty == false && !helpOrVersion {
            let next = i < words.count ? " ('\(words[i])' is none of them)" : ""
            problems.append("'edgegate \(path.joined(separator: " "))' needs a subcommand\(next)")
        }
        let arguments = command.arguments ?? []
        while i < words.count {
            let word = words[i].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            i += 1
            guard word.hasPrefix("-"), word.count > 1, !Self.isPlaceholder(word) else { continue }
            let name = String(word.prefix { $0 != "=" })
            guard let argument = arguments.first(where: { $0.spellings.contains(name) }) else {
                problems.append("'edgegate \(path.joined(separator: " "))' has no option \(name)")
                continue
            }
            guard argument.kind == "option" else { continue }
            var value: String?
            if let equals = word.firstIndex(of: "=") {
                value = String(word[word.index(after: equals)...])
            } else if i < words.count {
                value = words[i].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                i += 1
            } else {
                problems.append("\(name) has no value")
            }
            if let value, let allowed = argument.allValues, !Self.isPlaceholder(value), !allowed.contains(value) {
                problems.append("\(name) \(value): not one of \(allowed.joined(separator: ", "))")
            }
        }
        return (path, command, problems)
    }
}

@Suite("the command lines of the docs", .serialized, .timeLimit(.minutes(3)))
struct DocumentationCommandTests {
    @Test("docs/cli.md is the option reference scripts/cli-reference makes from the CLI's definition")
    func referenceIsCurrent() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let root = DocumentationSamples.repositoryRoot
        let out = dir.file("cli.md")
        let child = try TestProcess.spawn(
            "/usr/bin/python3", ["\(root)/scripts/cli-reference", "--edgegate", try edgegateExecutable()],
            stdout: .file(out, append: false), stderr: .file(dir.file("err"), append: false))
        let status = try await withTimeout(.seconds(30), "scripts/cli-reference") { await child.wait() }
        #expect(status == 0, "\((try? String(contentsOfFile: dir.file("err"), encoding: .utf8)) ?? "")")
        let generated = try String(contentsOfFile: out, encoding: .utf8)
        let committed = try String(contentsOfFile: "\(root)/docs/cli.md", encoding: .utf8)
        #expect(generated == committed, "docs/cli.md is out of date: run scripts/cli-reference > docs/cli.md")
        // Every option of every command is in it, by construction; check one of each kind.
        for part in ["## `edgegate map read`", "| `--timeout <timeout>` | `10s` |", "## `edgegate broker`", "`--gateway-id <gateway-id>`"] {
            #expect(committed.contains(part), "\(part)")
        }
    }

    @Test("every edgegate line in the docs names a command and options the CLI has, with values it accepts")
    func linesMatchTheDefinition() async throws {
        let root = try await CommandInfo.load()
        let commands = try DocumentedCommand.all()
        #expect(commands.count > 60, "the docs' command lines were not found: \(commands.count)")
        for command in commands {
            let problems = command.check(against: root).problems
            #expect(problems.isEmpty, "\(command): \(problems.joined(separator: "; "))")
        }
    }

    @Test("a line naming a command or option the CLI does not have is caught")
    func checkerCatchesMistakes() async throws {
        let root = try await CommandInfo.load()
        func problems(_ line: String) -> [String] {
            DocumentedCommand(file: "x.md", line: 1, block: 1, words: Array(DocumentedCommand.shellWords(line).dropFirst()))
                .check(against: root).problems
        }
        #expect(problems("edgegate map read devicemaps/ --device boiler-1 --timeout 5s").isEmpty)
        #expect(problems("edgegate map read devicemaps/ --devise boiler-1") == ["'edgegate map read' has no option --devise"])
        #expect(problems("edgegate map validate --format yaml a.yaml") == ["--format yaml: not one of text, json"])
        #expect(problems("edgegate map frobnicate") == ["'edgegate map' needs a subcommand ('frobnicate' is none of them)"])
        #expect(DocumentedCommand.shellWords(#"edgegate map new --id 'a b' > x.yaml   # comment"#) == ["edgegate", "map", "new", "--id", "a b"])
    }

    /// Commands that finish by themselves with nothing but the repository's files.
    static let offline: Set<String> = ["map validate", "map show", "map plan", "map new", "map schema", "config validate", "certs init"]
    /// Commands that need a device or bridge: run when a server of their block is up.
    static let needServer: Set<String> = ["map read", "hue pair"]
    /// Servers that need nothing else: started, checked, and stopped with SIGINT.
    static let servers: Set<String> = ["hub", "broker", "sim modbus", "sim hue", "sim doors"]

    @Test("the docs' command lines that can run offline run: one-shot commands, and servers with what their block runs against them")
    func linesRun() async throws {
        let root = try await CommandInfo.load()
        let scratch = try TemporaryDirectory(prefix: "edgegate-doc-commands")
        defer { scratch.remove() }
        // The repository's files as the docs name them, relative to the working directory; the
        // examples copied, with the RTU recipe's serial ends made this test's own.
        let serial = try await SerialPair.start()
        do {
            try await run(root: root, in: scratch, serial: serial)
        } catch {
            await serial.stop()
            throw error
        }
        await serial.stop()
    }

    func run(root: CommandInfo, in scratch: TemporaryDirectory, serial: SerialPair) async throws {
        let repository = DocumentationSamples.repositoryRoot
        let fm = FileManager.default
        for entry in ["devicemaps", "docs", "Sources", "Tests", "scripts"] {
            try fm.createSymbolicLink(atPath: scratch.file(entry), withDestinationPath: "\(repository)/\(entry)")
        }
        try fm.createDirectory(atPath: scratch.file("examples"), withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: "\(repository)/examples") {
            let text = try String(contentsOfFile: "\(repository)/examples/\(name)", encoding: .utf8)
            try Self.ownSerialPaths(text, serial).write(toFile: scratch.file("examples/\(name)"), atomically: true, encoding: .utf8)
        }
        #expect(try await runEdgegate(["certs", "init", "--dir", scratch.file("certs")], in: scratch).status == 0)

        var ran: [String] = []
        let commands = try DocumentedCommand.all()
        for (_, block) in Dictionary(grouping: commands, by: { "\($0.file)#\($0.block)" }).sorted(by: { $0.key < $1.key }) {
            var ports: [String: String] = [:]
            var running: [(command: DocumentedCommand, ports: Set<String>, process: ChildProcess, output: String)] = []
            for var command in block {
                let (path, _, problems) = command.check(against: root)
                let name = path.joined(separator: " ")
                guard problems.isEmpty, !command.words.contains(where: DocumentedCommand.isPlaceholder) else { continue }
                let isServer = Self.servers.contains(name) && !command.words.contains("--help")
                guard
                    isServer || Self.offline.contains(name) || (Self.needServer.contains(name) && !running.isEmpty)
                        || command.words.contains("--help")
                else { continue }
                let documented = "\(command)"
                // Documented ports become free ones, the same within a block; serial ends this test's.
                if isServer {
                    // A server that listens on TCP runs only on a port the line names (made this
                    // test's own), never on a fixed default that another test may hold.
                    guard !Self.ports(in: command.words).isEmpty || command.words.contains("--serial") else { continue }
                    for port in Self.ports(in: command.words) where ports[port] == nil { ports[port] = String(try freeLoopbackPort()) }
                }
                command.words = command.words.map { Self.ownSerialPaths(Self.replacingPorts(in: $0, ports), serial) }
                // A path in the repository's folders must exist (a recipe naming a map that is not
                // shipped is the docs' mistake); another one is a file of the reader's.
                let files = command.words.filter { !$0.hasPrefix("-") && ($0.hasSuffix(".yaml") || $0.hasSuffix("/")) }
                let missing = files.filter { !fm.fileExists(atPath: $0.hasPrefix("/") ? $0 : scratch.file($0)) }
                let shipped = ["devicemaps/", "examples/", "docs/", "Sources/", "Tests/", "certs/"]
                for file in missing where shipped.contains(where: file.hasPrefix) {
                    Issue.record("\(command): \(file) is not in the repository")
                }
                guard missing.isEmpty else { continue }
                if Self.needServer.contains(name) {
                    // The maps it reads name the documented ports: a copy names the servers' own.
                    command.words = try command.words.map { word in
                        guard !word.hasPrefix("-"), word.hasSuffix(".yaml") || word.hasSuffix("/") else { return word }
                        return try Self.copy(word, from: scratch, to: scratch.file("block-\(command.line)"), replacing: ports)
                    }
                }
                if isServer {
                    let used = Set(Self.listeningPorts(in: command.words))
                    // A second server of a block on the same port replaces the first.
                    for stale in running where !stale.ports.isDisjoint(with: used) {
                        stale.process.signal(SIGINT)
                        _ = try await withTimeout(.seconds(15), "\(stale.command) stop") { await stale.process.wait() }
                    }
                    running.removeAll { !$0.ports.isDisjoint(with: used) }
                    let output = scratch.file("server-\(running.count)-\(command.line).txt")
                    let process = try Self.spawn(command.words, in: scratch, output: output)
                    // Ready when it prints its banner (each server does once it listens).
                    let started = try? await waitFor("\(command) ready", timeout: .seconds(20)) {
                        ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").contains("\n") ? true : nil
                    }
                    let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
                    #expect(started != nil && process.isRunning, "\(command) did not start: \(text)")
                    running.append((command, used, process, output))
                } else {
                    let output = scratch.file("run-\(command.line).txt")
                    let process = try Self.spawn(command.words, in: scratch, output: output)
                    let status = try await withTimeout(.seconds(30), "\(command)") { await process.wait() }
                    let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
                    #expect(status == 0, "\(command) exited \(status): \(text)")
                }
                ran.append(documented)
            }
            for server in running {
                server.process.signal(SIGINT)
                let status = try await withTimeout(.seconds(15), "\(server.command) stop") { await server.process.wait() }
                #expect(status == 0, "\(server.command) exited \(status) on SIGINT: \((try? String(contentsOfFile: server.output, encoding: .utf8)) ?? "")")
            }
        }
        // The recipes this runner exists for, so that a change to the docs or to the runner
        // cannot quietly turn them into lines that are only checked.
        for expected in [
            "sim modbus --map examples/rtu-meters.yaml --serial", "map read examples/rtu-meters.yaml --device meter-7",
            "edgegate broker", "edgegate sim doors", "edgegate hue pair", "edgegate hub", "map validate devicemaps/",
            "certs init --dir certs --gateway-id plant-7",
        ] {
            #expect(ran.contains { $0.contains(expected) }, "\(expected) did not run; ran: \(ran.joined(separator: "\n"))")
        }
    }

    /// The ports a server line names: values of `--port`-like options and of URLs.
    static func ports(in words: [String]) -> [String] {
        listeningPorts(in: words) + words.compactMap { $0.firstMatch(of: /:\/\/[^\/:]+:(\d+)/).map { String($0.1) } }
    }

    /// The ports a server line listens on: values of `--port`-like options.
    static func listeningPorts(in words: [String]) -> [String] {
        words.indices.dropLast().filter { words[$0].hasPrefix("--") && words[$0].hasSuffix("port") && Int(words[$0 + 1]) != nil }
            .map { words[$0 + 1] }
    }

    /// Copies the map file or folder `path` (relative to `source`) into `target`, with the
    /// documented ports of its connections replaced; returns the copy's path.
    static func copy(_ path: String, from source: TemporaryDirectory, to target: String, replacing ports: [String: String]) throws -> String {
        let fm = FileManager.default
        let original = path.hasPrefix("/") ? path : source.file(path)
        let copy = (target as NSString).appendingPathComponent(path)
        var isFolder: ObjCBool = false
        _ = fm.fileExists(atPath: original, isDirectory: &isFolder)
        let files = isFolder.boolValue ? try fm.contentsOfDirectory(atPath: original).filter { $0.hasSuffix(".yaml") }.map { "\(original)/\($0)" } : [original]
        try fm.createDirectory(atPath: isFolder.boolValue ? copy : (copy as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        for file in files {
            var text = try String(contentsOfFile: file, encoding: .utf8)
            for (documented, own) in ports {
                text = text.replacingOccurrences(of: "port: \(documented)", with: "port: \(own)").replacingOccurrences(of: ":\(documented)", with: ":\(own)")
            }
            try text.write(toFile: isFolder.boolValue ? "\(copy)/\((file as NSString).lastPathComponent)" : copy, atomically: true, encoding: .utf8)
        }
        return copy
    }

    static func replacingPorts(in word: String, _ ports: [String: String]) -> String {
        if let own = ports[word] { return own }
        var word = word
        for (documented, own) in ports { word = word.replacingOccurrences(of: ":\(documented)", with: ":\(own)") }
        return word
    }

    static func ownSerialPaths(_ text: String, _ serial: SerialPair) -> String {
        text.replacingOccurrences(of: "/tmp/rtu-sim", with: serial.deviceEnd).replacingOccurrences(of: "/tmp/rtu-gateway", with: serial.gatewayEnd)
    }

    /// The executable with `arguments`, in `directory` (through `sh`, which execs it, so that
    /// signals reach it), output and errors in `output`.
    static func spawn(_ arguments: [String], in directory: TemporaryDirectory, output: String) throws -> ChildProcess {
        let quoted = ([try edgegateExecutable()] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }
        return try TestProcess.spawn(
            "/bin/sh", ["-c", "cd '\(directory.path)' && exec \(quoted.joined(separator: " "))"],
            stdout: .file(output, append: false), stderr: .file(output, append: true))
    }
}
