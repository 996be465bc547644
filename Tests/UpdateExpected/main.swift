import Foundation
import SavedCases

// Rewrites every saved case's `expected.txt` from what the code produces now: run it through
// `scripts/update-expected` after a deliberate change of messages or of the read planner, and
// review the diff before committing it. The tests themselves only compare.
var written = 0
do {
    for name in SavedCases.names(in: SavedCases.diagnosticCases) {
        try SavedCases.diagnosticsText(for: name)
            .write(toFile: "\(SavedCases.diagnosticCases)/\(name)/expected.txt", atomically: true, encoding: .utf8)
        written += 1
    }
    for name in SavedCases.names(in: SavedCases.planCases) {
        try SavedCases.planText(try SavedCases.planDevices(for: name))
            .write(toFile: "\(SavedCases.planCases)/\(name)/expected.txt", atomically: true, encoding: .utf8)
        written += 1
    }
} catch {
    FileHandle.standardError.write(Data("update-expected: error: \(error)\n".utf8))
    exit(1)
}
print("update-expected: wrote \(written) expected.txt files; review them with `git diff`")
