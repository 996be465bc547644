/// Checks a write against a device's point descriptors: the part of command validation that
/// needs no protocol knowledge. Adapters check what only they can (register ranges).
public enum CommandValidation {
    /// Returns nil when every write is acceptable, or the first reason to refuse, naming the
    /// device, the point and the cause.
    public static func problem(in writes: [String: Value], for device: DeviceDescriptor) -> String? {
        if writes.isEmpty {
            return "command for \(device.id) writes no point"
        }
        for name in writes.keys.sorted() {
            let value = writes[name]!
            guard let point = device.point(named: name) else {
                let known = device.points.filter { $0.access.isWritable }.map(\.name).sorted()
                let hint = known.isEmpty ? "it has no writable points" : "writable points: \(known.joined(separator: ", "))"
                return "\(device.id) has no point '\(name)' (\(hint))"
            }
            guard point.access.isWritable else {
                return "\(device.id).\(name) is read-only"
            }
            if let reason = typeProblem(value, point: point) {
                return "\(device.id).\(name): \(reason)"
            }
            if let n = value.numeric {
                if let lo = point.min, n < lo {
                    return "\(device.id).\(name): \(Value.format(n)) is below the minimum \(Value.format(lo))"
                }
                if let hi = point.max, n > hi {
                    return "\(device.id).\(name): \(Value.format(n)) is above the maximum \(Value.format(hi))"
                }
            }
        }
        return nil
    }

    private static func typeProblem(_ value: Value, point: PointDescriptor) -> String? {
        switch (point.kind, value) {
        case (.bool, .bool), (.string, .string), (.number, .int), (.integer, .int):
            return nil
        case (.number, .double(let d)):
            return d.isFinite ? nil : "\(d) is not a finite number"
        case (.integer, .double(let d)):
            return d == d.rounded() && d.isFinite ? nil : "expects a whole number, got \(Value.format(d))"
        default:
            return "expects \(article(point.kind)) \(point.kind.rawValue == "number" ? "number" : point.kind.rawValue) (\(point.typeName)), got \(value)"
        }
    }

    private static func article(_ kind: ValueKind) -> String {
        kind == .integer ? "an" : "a"
    }
}
