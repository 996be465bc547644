import DeviceMaps
import Foundation
import GatewayCore

extension Expression {
    /// True when the whole expression is one reference (`press-1.part_count`): a counter's
    /// wrap can then come from the point's type.
    var isReference: Bool {
        references.count == 1 && text.trimmingCharacters(in: .whitespaces).count == references[0].length
    }
}

/// The latest reading of a point an expression reads.
struct Latest: Sendable {
    var value: Value?
    var quality: Quality
    var timestamp: Date
}

/// One expression of a derived point, compiled, with its references resolved.
struct CompiledExpression: Sendable {
    var expression: Expression
    /// The point each reference reads, by the reference's position.
    var inputs: [PointKey]

    /// The value over the latest readings: nil while an input has never been read (nothing
    /// is computed from what is not known yet); bad when an input is bad, naming it;
    /// uncertain when one is uncertain. Stamped with the newest input's time.
    func evaluate(_ latest: [PointKey: Latest]) -> Latest? {
        var newest = Date.distantPast
        var uncertain: String?
        var values: [Value] = []
        values.reserveCapacity(inputs.count)
        for key in inputs {
            guard let reading = latest[key] else { return nil }
            newest = max(newest, reading.timestamp)
            switch reading.quality {
            case .bad(let why):
                return Latest(value: nil, quality: .bad("\(key): \(why)"), timestamp: reading.timestamp)
            case .uncertain(let why):
                if uncertain == nil { uncertain = "\(key): \(why)" }
            case .good:
                break
            }
            guard let value = reading.value else { return Latest(value: nil, quality: .bad("\(key): no value"), timestamp: reading.timestamp) }
            values.append(value)
        }
        switch expression.evaluate({ values[$0] }) {
        case .success(let value):
            return Latest(value: value, quality: uncertain.map { .uncertain($0) } ?? .good, timestamp: newest)
        case .failure(let error):
            return Latest(value: nil, quality: .bad(error.message), timestamp: newest)
        }
    }
}

/// The computations of every derived device, fed the readings that flow through the gateway.
///
/// Not thread-safe: `DerivedAdapter` holds it under a lock. Every derived point is a node; a
/// reading of a point marks the nodes that read it, and the marked nodes run in an order
/// where each comes after the derived points it reads (the loader refused cycles), so one
/// reading updates a chain of derived points in one pass.
struct DerivedEngine {
    enum Kind {
        case expression(CompiledExpression)
        case window(CompiledExpression, WindowState)
        case oee([CompiledExpression], OEEState)
    }

    struct Node {
        var key: PointKey
        var unit: String?
        var kind: Kind
        /// What identifies the computation across a restart or a reload, locations aside: a
        /// window or OEE whose fingerprint changed starts fresh.
        var fingerprint: String
    }

    private(set) var nodes: [Node] = []
    /// Which nodes (and which of their expressions) read a point.
    private var readers: [PointKey: [(node: Int, expression: Int)]] = [:]
    private(set) var latest: [PointKey: Latest] = [:]
    /// The derived devices: their own readings come back through the sink and are not inputs.
    let ownDevices: Set<String>
    /// Readings of windows and OEE that came after their period or window was closed.
    var lateReadings: Int {
        nodes.reduce(0) { total, node in
            switch node.kind {
            case .window(_, let w): return total + w.lateReadings
            case .oee(_, let o): return total + o.lateReadings
            case .expression: return total
            }
        }
    }

    /// Compiles the derived devices (resolved by the loader) in dependency order.
    init(devices: [DeviceDefinition]) {
        ownDevices = Set(devices.map(\.id))
        var pending: [Node] = []
        for device in devices {
            for point in device.points {
                guard let derived = point.address as? DerivedPoint else { continue }
                let key = PointKey(device: device.id, point: point.name)
                let compiled = derived.expressions.enumerated().compactMap { i, source -> CompiledExpression? in
                    guard case .success(var e) = Expression.parse(source.text), i < derived.inputKinds.count else { return nil }
                    // Checked again with the kinds the loader resolved: it then computes in them.
                    let kinds = derived.inputKinds[i]
                    let byOffset = Dictionary(zip(e.references.map(\.offset), kinds), uniquingKeysWith: { a, _ in a })
                    guard case .success = e.check(kindOf: { byOffset[$0.offset] ?? .number }) else { return nil }
                    return CompiledExpression(
                        expression: e, inputs: e.references.map { PointKey(device: $0.device ?? device.id, point: $0.point) })
                }
                guard compiled.count == derived.expressions.count else { continue }
                let texts = compiled.map { c in c.expression.text + " @ " + c.inputs.map(\.description).joined(separator: ",") }
                switch derived.definition {
                case .expression:
                    pending.append(Node(key: key, unit: point.unit, kind: .expression(compiled[0]), fingerprint: "expr " + texts[0]))
                case .window(let w):
                    let spec = WindowSpec(
                        aggregate: w.aggregate, size: w.size, every: w.every, grace: w.grace, counterModulus: derived.moduli.first ?? nil,
                        inputIsInteger: derived.integerInput)
                    pending.append(
                        Node(key: key, unit: point.unit, kind: .window(compiled[0], WindowState(spec: spec)), fingerprint: "window \(spec) of \(texts[0])"))
                case .oee(let o):
                    let spec = OEESpec(
                        running: Set(o.running), plannedStop: Set(o.plannedStop), idealCycle: o.idealCycle / .seconds(1), period: o.period,
                        every: o.every / .seconds(1), totalModulus: derived.moduli.first ?? nil,
                        goodModulus: derived.moduli.count > 1 ? derived.moduli[1] : nil, countsRejects: o.countsRejects)
                    pending.append(
                        Node(
                            key: key, unit: point.unit, kind: .oee(compiled, OEEState(spec: spec)),
                            fingerprint: "oee \(spec) of \(texts.joined(separator: "; "))"))
                }
            }
        }
        nodes = Self.ordered(pending)
        for (i, node) in nodes.enumerated() {
            for (j, expression) in node.expressions.enumerated() {
                for input in Set(expression.inputs) { readers[input, default: []].append((i, j)) }
            }
        }
    }

    /// The nodes in dependency order: each after the derived points it reads (an OEE point's
    /// readings are its own name and its suffixed ones).
    private static func ordered(_ nodes: [Node]) -> [Node] {
        var producer: [PointKey: Int] = [:]
        for (i, node) in nodes.enumerated() {
            for name in node.outputNames { producer[PointKey(device: node.key.device, point: name)] = i }
        }
        var done = Set<Int>()
        var order: [Node] = []
        func visit(_ i: Int, _ depth: Int) {
            guard !done.contains(i), depth <= nodes.count else { return }
            for input in nodes[i].expressions.flatMap(\.inputs) {
                if let j = producer[input], j != i { visit(j, depth + 1) }
            }
            if done.insert(i).inserted { order.append(nodes[i]) }
        }
        for i in nodes.indices { visit(i, 0) }
        return order
    }

    /// How far ahead of the gateway's clock a reading's timestamp may be: a device whose clock
    /// runs fast by more would otherwise close every window and period up to its time.
    static let futureLimit: TimeInterval = 60
    /// Readings stamped more than `futureLimit` ahead: not taken by windows and OEE.
    private(set) var futureReadings = 0

    /// Takes a batch of readings; returns what the expressions that read them compute now
    /// (windows and OEE take the readings in and report at their own times: `advance`).
    mutating func observe(_ readings: [Reading], now: Date) -> [Reading] {
        guard let first = readings.first, !ownDevices.contains(first.device) else { return [] }
        var dirty: [Int: Set<Int>] = [:]
        for reading in readings {
            let key = PointKey(device: reading.device, point: reading.point)
            guard let nodes = readers[key] else { continue }
            if reading.timestamp.timeIntervalSince(now) > Self.futureLimit {
                futureReadings += 1
                continue
            }
            latest[key] = Latest(value: reading.value, quality: reading.quality, timestamp: reading.timestamp)
            for reader in nodes { dirty[reader.node, default: []].insert(reader.expression) }
        }
        return propagate(dirty)
    }

    /// Runs the marked nodes in order; what they compute marks the nodes that read it.
    private mutating func propagate(_ start: [Int: Set<Int>]) -> [Reading] {
        var dirty = start
        var out: [Reading] = []
        // Only the marked nodes, in order: what a node marks comes after it (dependency order).
        while let i = dirty.keys.min() {
            let expressions = dirty.removeValue(forKey: i)!
            let key = nodes[i].key
            switch nodes[i].kind {
            case .expression(let compiled):
                guard let result = compiled.evaluate(latest) else { continue }
                latest[key] = result
                out.append(
                    Reading(
                        device: key.device, point: key.point, value: result.value, unit: nodes[i].unit, quality: result.quality, timestamp: result.timestamp))
                for reader in readers[key] ?? [] { dirty[reader.node, default: []].insert(reader.expression) }
            case .window(let compiled, var window):
                guard let input = compiled.evaluate(latest) else { continue }
                // The node lets go of the state first: changed while it still holds it, the
                // state would be copied (copy on write), slices and all, at every reading.
                nodes[i].kind = .expression(compiled)
                window.add(input.value, quality: input.quality, at: input.timestamp)
                nodes[i].kind = .window(compiled, window)
            case .oee(let compiled, var oee):
                nodes[i].kind = .expression(compiled[0])
                for j in expressions.sorted() {
                    guard let input = compiled[j].evaluate(latest) else { continue }
                    switch j {
                    case 0: oee.state(input.value, quality: input.quality, at: input.timestamp)
                    case 1: oee.total(input.value, quality: input.quality, at: input.timestamp)
                    default: oee.good(input.value, quality: input.quality, at: input.timestamp)
                    }
                }
                nodes[i].kind = .oee(compiled, oee)
            }
        }
        return out
    }

    /// What windows and OEE report up to `now`, and what the expressions that read those
    /// reports compute from them.
    mutating func advance(to now: Date) -> [Reading] {
        var out: [Reading] = []
        var dirty: [Int: Set<Int>] = [:]
        for i in nodes.indices {
            let (key, pointUnit) = (nodes[i].key, nodes[i].unit)
            var produced: [Reading] = []
            // As in `propagate`, the node lets go of the state before it changes.
            switch nodes[i].kind {
            case .expression:
                continue
            case .window(let compiled, var window):
                nodes[i].kind = .expression(compiled)
                produced = window.advance(to: now).map {
                    Reading(device: key.device, point: key.point, value: $0.value, unit: pointUnit, quality: $0.quality, timestamp: $0.end)
                }
                nodes[i].kind = .window(compiled, window)
            case .oee(let compiled, var oee):
                nodes[i].kind = .expression(compiled[0])
                produced = oee.advance(to: now).map { output in
                    let unit = DerivedOEE.outputs.first { $0.suffix == output.suffix }?.unit ?? (output.suffix.isEmpty ? pointUnit : nil)
                    return Reading(
                        device: key.device, point: key.point + output.suffix, value: output.value, unit: unit, quality: output.quality,
                        timestamp: output.timestamp)
                }
                nodes[i].kind = .oee(compiled, oee)
            }
            for reading in produced {
                let key = PointKey(device: reading.device, point: reading.point)
                latest[key] = Latest(value: reading.value, quality: reading.quality, timestamp: reading.timestamp)
                for reader in readers[key] ?? [] { dirty[reader.node, default: []].insert(reader.expression) }
            }
            out += produced
        }
        return out + propagate(dirty)
    }

    /// The next instant a window or OEE reports at.
    var nextDue: Date? {
        nodes.compactMap { node -> Date? in
            switch node.kind {
            case .expression: return nil
            case .window(_, let w): return w.nextDue
            case .oee(_, let o): return o.nextDue
            }
        }.min()
    }

    // MARK: - State across restarts and reloads

    /// The state of one window or OEE, as kept in the state file.
    struct SavedNode: Codable {
        var fingerprint: String
        var window: WindowState?
        var oee: OEEState?
    }

    /// The windows' and OEE's state, by point.
    var saved: [String: SavedNode] {
        var saved: [String: SavedNode] = [:]
        for node in nodes {
            switch node.kind {
            case .expression: continue
            case .window(_, let w): saved[node.key.description] = SavedNode(fingerprint: node.fingerprint, window: w)
            case .oee(_, let o): saved[node.key.description] = SavedNode(fingerprint: node.fingerprint, oee: o)
            }
        }
        return saved
    }

    /// Takes the saved state of every window and OEE whose definition is the same; returns
    /// the points that start fresh because theirs changed.
    mutating func restore(_ saved: [String: SavedNode]) -> [String] {
        var fresh: [String] = []
        for i in nodes.indices {
            guard let entry = saved[nodes[i].key.description] else { continue }
            guard entry.fingerprint == nodes[i].fingerprint else {
                if case .expression = nodes[i].kind {} else { fresh.append(nodes[i].key.description) }
                continue
            }
            switch nodes[i].kind {
            case .expression: break
            case .window(let compiled, _): if let w = entry.window { nodes[i].kind = .window(compiled, w) }
            case .oee(let compiled, _): if let o = entry.oee { nodes[i].kind = .oee(compiled, o) }
            }
        }
        return fresh
    }

    /// A new program after a reload that keeps what it can of this one: the latest input
    /// readings, and the windows and OEE whose definitions are the same. Returns the points
    /// that start fresh because theirs changed.
    mutating func carry(into next: inout DerivedEngine) -> [String] {
        for (key, reading) in latest where next.readers[key] != nil { next.latest[key] = reading }
        return next.restore(saved)
    }
}

extension DerivedEngine.Node {
    var expressions: [CompiledExpression] {
        switch kind {
        case .expression(let e): return [e]
        case .window(let e, _): return [e]
        case .oee(let e, _): return e
        }
    }

    var outputNames: [String] {
        if case .oee = kind { return DerivedOEE.outputs.map { key.point + $0.suffix } }
        return [key.point]
    }
}
