/// One problem found in a device map or gateway configuration, compiler style.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    /// How bad the problem is.
    public enum Severity: String, Sendable {
        /// The file does not load.
        case error
        /// The file loads, but probably not as the author meant.
        case warning
    }

    /// How bad the problem is.
    public var severity: Severity
    /// Where the problem is.
    public var location: SourceLocation
    /// What is wrong, naming the device and point where there is one.
    public var message: String
    /// How to fix it, when the loader can tell.
    public var hint: String?

    /// Creates a diagnostic.
    public init(severity: Severity, location: SourceLocation, message: String, hint: String? = nil) {
        self.severity = severity
        self.location = location
        self.message = message
        self.hint = hint
    }

    /// `file:line:column: error: message (hint)`, the form editors and CI logs link.
    ///
    /// A location with line 0 (a file that cannot be read at all) prints as the bare path.
    public var description: String {
        let place = location.line > 0 ? location.description : location.file
        var text = "\(place): \(severity.rawValue): \(message)"
        if let hint { text += " (\(hint))" }
        return text
    }
}

/// The one error type of the module: everything that kept a device map or configuration from
/// loading, warnings included so that the whole picture prints at once.
public struct DeviceMapError: Error, Sendable, CustomStringConvertible {
    /// Errors and warnings, in file order.
    public var diagnostics: [Diagnostic]

    /// Creates an error.
    public init(diagnostics: [Diagnostic]) {
        self.diagnostics = diagnostics
    }

    /// Only the diagnostics of severity `error`.
    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }

    /// One diagnostic per line.
    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}

/// Collects diagnostics during one load; used from one thread only.
package final class DiagnosticSink {
    package private(set) var diagnostics: [Diagnostic] = []
    package private(set) var errorCount = 0

    private var seen: Set<Diagnostic> = []

    /// An empty sink.
    package init() {}

    /// Counts every error, but prints a problem found twice (a profile checked for each device
    /// that uses it) once.
    package func error(_ message: String, at location: SourceLocation, hint: String? = nil) {
        add(Diagnostic(severity: .error, location: location, message: message, hint: hint))
        errorCount += 1
    }

    package func warning(_ message: String, at location: SourceLocation, hint: String? = nil) {
        add(Diagnostic(severity: .warning, location: location, message: message, hint: hint))
    }

    private func add(_ diagnostic: Diagnostic) {
        if seen.insert(diagnostic).inserted { diagnostics.append(diagnostic) }
    }

    package var hasErrors: Bool { errorCount > 0 }

    /// Diagnostics ordered by file (in the order given), then line and column, so that output
    /// reads top to bottom like a compiler's whatever order the checks ran in.
    package func sorted(fileOrder: [String]) -> [Diagnostic] {
        var rank: [String: Int] = [:]
        for (i, f) in fileOrder.enumerated() where rank[f] == nil { rank[f] = i }
        return diagnostics.enumerated().sorted { a, b in
            let ra = rank[a.element.location.file] ?? Int.max
            let rb = rank[b.element.location.file] ?? Int.max
            if ra != rb { return ra < rb }
            if a.element.location.file != b.element.location.file {
                return a.element.location.file < b.element.location.file
            }
            if a.element.location.line != b.element.location.line {
                return a.element.location.line < b.element.location.line
            }
            if a.element.location.column != b.element.location.column {
                return a.element.location.column < b.element.location.column
            }
            return a.offset < b.offset
        }.map(\.element)
    }
}

// MARK: - Suggestions

package enum Suggest {
    /// Edit distance with adjacent transpositions counted as one edit (`prot` → `port`),
    /// case-insensitive and with `-` equal to `_`, since those are the usual typos in keys.
    package static func distance(_ a: String, _ b: String) -> Int {
        func norm(_ s: String) -> [Character] {
            Array(s.lowercased().map { $0 == "-" ? "_" : $0 })
        }
        let x = norm(a), y = norm(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var d = Array(repeating: Array(repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in 0...x.count { d[i][0] = i }
        for j in 0...y.count { d[0][j] = j }
        for i in 1...x.count {
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                d[i][j] = Swift.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                    d[i][j] = Swift.min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[x.count][y.count]
    }

    /// The candidate closest to `word`, when it is close enough to be a likely typo.
    package static func nearest(_ word: String, in candidates: [String]) -> String? {
        // Typos are in names a person types. The guards keep a pasted-in value of 40 kB from
        // costing a 40k × n matrix per candidate (40k × 40k against another long name); the
        // distance is never less than the difference in length.
        guard word.count <= 100 else { return nil }
        let limit = Swift.max(1, Swift.min(3, word.count / 3))
        var best: (String, Int)?
        for c in candidates where abs(c.count - word.count) <= limit {
            let d = distance(word, c)
            if d <= limit, best == nil || d < best!.1 { best = (c, d) }
        }
        return best?.0
    }

    /// `did you mean 'x'?` when there is a close candidate.
    package static func didYouMean(_ word: String, in candidates: [String]) -> String? {
        nearest(word, in: candidates).map { "did you mean '\($0)'?" }
    }

    /// The hint for a value outside a fixed set: the likely typo first, then every allowed value.
    package static func allowed(_ word: String, in candidates: [String]) -> String {
        let list = "allowed: " + candidates.joined(separator: ", ")
        if let near = nearest(word, in: candidates) { return "did you mean '\(near)'? \(list)" }
        return list
    }
}

/// Where something was written in a YAML file, for diagnostics.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    /// The file path as given.
    public var file: String
    /// 1-based line.
    public var line: Int
    /// 1-based column.
    public var column: Int

    /// Creates a location.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`, the form editors link.
    public var description: String { "\(file):\(line):\(column)" }
}
