import ConfigSyntax
import DeviceMaps
import GatewayCore

/// Resolves the references of derived devices among all devices loaded at once: reports
/// unknown devices and points at their characters, cycles between derived points, and type
/// errors; sets each derived point's kind and its counters' wraps.
struct DerivedResolver {
    private let devices: [DeviceDefinition]
    private let withErrors: Set<String>
    private let reporter: MapReporter
    /// Kind and type of every point of the devices that are not derived.
    private var sourcePoints: [String: [String: (kind: ValueKind, typeName: String)]] = [:]
    private var allDeviceIDs: [String] = []
    /// Every reading a derived point gives (an OEE point gives eight), to its point.
    private var owner: [PointKey: PointKey] = [:]
    /// The derived points as written, by key.
    private var points: [PointKey: DerivedPoint] = [:]
    /// Each derived point's references, resolved, per expression of its definition.
    private var references: [PointKey: [[PointKey]]] = [:]
    /// Points with an error already reported: not checked further.
    private var failed: Set<PointKey> = []
    /// The kinds of the readings derived points give, as they resolve.
    private var outputKinds: [PointKey: ValueKind] = [:]

    init(devices: [DeviceDefinition], among all: [DeviceDefinition], withErrors: Set<String>, reporter: MapReporter) {
        self.devices = devices
        self.withErrors = withErrors
        self.reporter = reporter
        let derivedIDs = Set(devices.map(\.id))
        allDeviceIDs = all.map(\.id) + withErrors.sorted()
        for device in all where !derivedIDs.contains(device.id) {
            sourcePoints[device.id] = Dictionary(
                device.points.map { ($0.name, (kind: $0.kind, typeName: $0.address.typeName)) }, uniquingKeysWith: { a, _ in a })
        }
        for device in devices {
            for point in device.points {
                guard let derived = point.address as? DerivedPoint else { continue }
                let key = PointKey(device: device.id, point: point.name)
                points[key] = derived
                for name in derived.outputNames(of: point.name) { owner[PointKey(device: device.id, point: name)] = key }
            }
        }
    }

    mutating func resolve() -> [DeviceDefinition] {
        for device in devices {
            for point in device.points {
                let key = PointKey(device: device.id, point: point.name)
                if let derived = points[key] { resolveReferences(key, derived) }
            }
        }
        let order = orderWithoutCycles()
        for key in order where !failed.contains(key) { check(key) }
        return devices.map { device in
            var device = device
            device.points = device.points.map { point in
                var point = point
                if let resolved = points[PointKey(device: device.id, point: point.name)] { point.address = resolved }
                return point
            }
            return device
        }
    }

    // MARK: - References

    private mutating func resolveReferences(_ key: PointKey, _ point: DerivedPoint) {
        var resolved: [[PointKey]] = []
        for source in point.expressions {
            guard case .success(let expression) = Expression.parse(source.text) else {
                failed.insert(key)
                return
            }
            var keys: [PointKey] = []
            for reference in expression.references {
                let device = reference.device ?? key.device
                let target = PointKey(device: device, point: reference.point)
                let at = source.location(atOffset: reference.offset)
                // `volts-1` is one name: a subtraction needs spaces.
                let minus = reference.point.contains("-") ? "for a subtraction, put spaces around '-'" : nil
                if withErrors.contains(device) {
                    // Its own errors are reported; what it has cannot be known.
                    failed.insert(key)
                } else if let points = sourcePoints[device] {
                    if points[reference.point] == nil {
                        report(
                            key, "device '\(device)' has no point '\(reference.point)'", at: at,
                            hint: joined(hint(reference.point, among: Array(points.keys)), minus))
                    }
                } else if devices.contains(where: { $0.id == device }) {
                    if owner[target] == nil {
                        let names = owner.keys.filter { $0.device == device }.map(\.point)
                        report(key, "device '\(device)' has no point '\(reference.point)'", at: at, hint: joined(hint(reference.point, among: names), minus))
                    }
                } else {
                    report(key, "unknown device '\(device)'", at: at, hint: hint(device, among: allDeviceIDs))
                }
                keys.append(target)
            }
            resolved.append(keys)
        }
        references[key] = resolved
    }

    /// The hints that apply, in one.
    private func joined(_ hints: String?...) -> String? {
        let present = hints.compactMap { $0 }
        guard var text = present.first else { return nil }
        for more in present.dropFirst() { text += (text.hasSuffix("?") ? " " : "; ") + more }
        return text
    }

    private func hint(_ word: String, among candidates: [String]) -> String? {
        Suggest.didYouMean(word, in: candidates.sorted())
    }

    private mutating func report(_ key: PointKey, _ text: String, at location: SourceLocation, hint: String? = nil) {
        failed.insert(key)
        reporter.error("device '\(key.device)', point '\(key.point)': \(text)", at: location, hint: hint)
    }

    // MARK: - Cycles and order

    /// The derived points a derived point depends on.
    private func dependencies(of key: PointKey) -> [PointKey] {
        (references[key] ?? []).flatMap { $0 }.compactMap { owner[$0] }
    }

    /// The derived points in an order where each comes after what it depends on; a point in
    /// a cycle is reported (once per cycle) and left out, with what depends on it.
    private mutating func orderWithoutCycles() -> [PointKey] {
        var order: [PointKey] = []
        var state: [PointKey: Int] = [:]  // 1: on the path, 2: done
        var path: [PointKey] = []
        func visit(_ key: PointKey, _ r: inout DerivedResolver) -> Bool {
            if state[key] == 2 { return !r.failed.contains(key) }
            if state[key] == 1 {
                let cycle = path[path.firstIndex(of: key)!...] + [key]
                let first = cycle.first!
                if let source = r.points[first]?.expressions.first {
                    r.report(
                        first, "a cycle between derived points: " + cycle.map(\.description).joined(separator: " → "),
                        at: source.location(atOffset: 0), hint: "a derived point cannot depend on itself, directly or through others")
                }
                for member in cycle { r.failed.insert(member) }
                return false
            }
            state[key] = 1
            path.append(key)
            var fine = true
            for dependency in r.dependencies(of: key) where !visit(dependency, &r) { fine = false }
            path.removeLast()
            state[key] = 2
            if !fine { r.failed.insert(key) }
            order.append(key)
            return fine
        }
        for key in points.keys.sorted() where state[key] == nil { _ = visit(key, &self) }
        return order
    }

    // MARK: - Kinds

    private func kind(of key: PointKey) -> ValueKind? {
        if let kind = sourcePoints[key.device]?[key.point]?.kind { return kind }
        return outputKinds[key]
    }

    /// The wrap of a counter input that is one source point of a fixed-width type.
    private func modulus(_ keys: [PointKey], _ source: ExpressionSource) -> Double? {
        guard keys.count == 1, let key = keys.first, let typeName = sourcePoints[key.device]?[key.point]?.typeName,
            case .success(let e) = Expression.parse(source.text), e.isReference
        else { return nil }
        return CounterIncrease.modulus(ofType: typeName)
    }

    private mutating func check(_ key: PointKey) {
        guard var point = points[key], let refs = references[key] else { return }
        var kinds: [ValueKind] = []
        point.inputKinds = []
        for (i, source) in point.expressions.enumerated() {
            guard case .success(var e) = Expression.parse(source.text) else { return }
            let inputKinds = refs[i].map { kind(of: $0) ?? .number }
            point.inputKinds.append(inputKinds)
            let byOffset = Dictionary(zip(e.references.map(\.offset), inputKinds), uniquingKeysWith: { a, _ in a })
            let checked = e.check { reference in byOffset[reference.offset] ?? .number }
            switch checked {
            case .success(let k): kinds.append(k)
            case .failure(let errors):
                for error in errors { report(key, error.message, at: source.location(atOffset: error.offset), hint: error.hint) }
                return
            }
        }
        switch point.definition {
        case .expression:
            point.kind = kinds[0]
            outputKinds[key] = kinds[0]
        case .window(let w):
            guard kinds[0] == .integer || kinds[0] == .number else {
                report(key, "a window needs a numeric input, found \(kinds[0].rawValue) (\(w.of.text))", at: w.of.location(atOffset: 0))
                return
            }
            point.integerInput = kinds[0] == .integer
            switch w.aggregate {
            case .count: point.kind = .integer
            case .min, .max, .first, .last: point.kind = kinds[0]
            default: point.kind = .number
            }
            point.moduli = [modulus(refs[0], w.of)]
            outputKinds[key] = point.kind
        case .oee(let o):
            if kinds[0] != .integer {
                report(
                    key, "the machine state must be a whole number, found \(kinds[0].rawValue) (\(o.state.text))", at: o.state.location(atOffset: 0),
                    hint: "machine states are codes such as 1 = running; a scaled point gives numbers")
                return
            }
            for (i, source) in [o.total, o.good].enumerated() where kinds[i + 1] != .integer && kinds[i + 1] != .number {
                report(key, "a counter must be numeric, found \(kinds[i + 1].rawValue) (\(source.text))", at: source.location(atOffset: 0))
                return
            }
            point.moduli = [modulus(refs[1], o.total), modulus(refs[2], o.good)]
            for output in DerivedOEE.outputs { outputKinds[PointKey(device: key.device, point: key.point + output.suffix)] = output.kind }
        }
        points[key] = point
    }
}
