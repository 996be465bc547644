import ConfigSyntax
import GatewayCore
import Yams

// MARK: - Values

/// A YAML scalar as a command or enum value: `true` → bool, `42` → int, `2.5` → double,
/// anything else → string; nil for null, lists, mappings and non-finite numbers.
func scalarValue(_ node: Node) -> Value? {
    guard case .scalar(let s) = node else { return nil }
    switch tagName(node) {
    case .null: return nil
    case .bool: return node.bool.map(Value.bool)
    case .int:
        // Beyond Int64 (a uint64 limit) the number is kept as a double.
        if let i = integerValue(node) { return .int(Int64(i)) }
        return node.float.flatMap { $0.isFinite ? .double($0) : nil }
    case .float: return node.float.flatMap { $0.isFinite ? .double($0) : nil }
    default: return .string(s.string)
    }
}
