import Foundation
import GatewayCore
import Uplink

/// A JSON value as a person reads it: `21.5`, `true`, `"text"`, `null`, `[...]`.
func humanText(_ node: JSONValue) -> String {
    switch node {
    case .null: return "null"
    case .array: return "[...]"
    case .object: return "{...}"
    default: return node.value.map { "\($0)" } ?? "?"
    }
}

/// `setpoint=21.5, mode=1`, keys sorted.
func humanPairs(_ values: [String: JSONValue]) -> String {
    values.keys.sorted().map { "\($0)=\(humanText(values[$0]!))" }.joined(separator: ", ")
}

/// `3 ms`, `0.8 ms`.
func humanMilliseconds(_ d: Duration) -> String {
    let ms = d / .milliseconds(1)
    return String(format: ms < 1 ? "%.1f ms" : "%.0f ms", ms)
}
