import Foundation

/// The code samples of the repository's Markdown files, so tests can check that they still work.
public enum DocumentationSamples {
    /// The repository root, found from this file (Tests/TestSupport/).
    public static let repositoryRoot: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The fenced ```` ```yaml ```` blocks of a Markdown file, in file order.
    /// - Parameter relativePath: the file's path from the repository root.
    public static func yamlBlocks(inFile relativePath: String) throws -> [String] {
        let text = try String(contentsOfFile: repositoryRoot + "/" + relativePath, encoding: .utf8)
        var blocks: [String] = []
        var rest = text.startIndex..<text.endIndex
        while let start = text.range(of: "```yaml\n", range: rest),
            let end = text.range(of: "```", range: start.upperBound..<text.endIndex)
        {
            blocks.append(String(text[start.upperBound..<end.lowerBound]))
            rest = end.upperBound..<text.endIndex
        }
        return blocks
    }
}
