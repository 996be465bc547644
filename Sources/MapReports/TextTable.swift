import Foundation
import GatewayCore

/// Left-aligned columns two spaces apart, header first, without trailing spaces: the tables
/// of the `map` commands and of the operator's commands.
public func columns(_ header: [String], _ rows: [[String]]) -> [String] {
    let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max()! }
    return ([header] + rows).map { row in
        row.indices.map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
            .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
}

/// A duration in whole milliseconds, as the JSON of the `map` commands gives it (`poll_ms`).
public func milliseconds(_ d: Duration) -> Int64 {
    Int64((d / .milliseconds(1)).rounded())
}
