import ArgumentParser
import Foundation

/// Output format of `map show` and `map plan`.
enum ShowFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// Prints a value as pretty JSON with sorted keys, the form tools and diffs like.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
