import ConfigSyntax
public import DeviceMaps
public import GatewayCore

/// An expression's text and where it stands in its map file, so that an error found while
/// resolving references (long after the YAML was read) still points at its character.
struct ExpressionSource: Sendable, Hashable {
    /// The expression as written.
    var text: String
    /// Where its first character is.
    var start: SourceLocation
    /// False for a folded or multi-line value, whose offsets do not map to columns: errors
    /// then point at its start.
    var oneLine: Bool

    /// The location of the character `offset` characters into the text.
    func location(atOffset offset: Int) -> SourceLocation {
        var at = start
        if oneLine { at.column += offset }
        return at
    }
}

/// A reference resolved to its device: what the engine looks readings up by.
struct PointKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    var device: String
    var point: String

    var description: String { "\(device).\(point)" }

    static func < (a: PointKey, b: PointKey) -> Bool { (a.device, a.point) < (b.device, b.point) }
}

/// A time window over one input: `window: { of: press-1.temperature, agg: avg, size: 5m, every: 10s }`.
struct DerivedWindow: Sendable, Hashable {
    /// What goes into the window: an expression, most often one point.
    var of: ExpressionSource
    var aggregate: WindowAggregate
    var size: Duration
    /// Equal to `size` for a tumbling window.
    var every: Duration
    /// How long after its end a window waits for readings that arrive late.
    var grace: Duration
}

/// OEE over a machine's state and counters.
struct DerivedOEE: Sendable, Hashable {
    var state: ExpressionSource
    var total: ExpressionSource
    /// The good parts, or the rejects when `countsRejects`.
    var good: ExpressionSource
    var countsRejects: Bool
    var running: [Int64]
    var plannedStop: [Int64]
    var idealCycle: Duration
    var period: OEEPeriod
    var every: Duration

    /// The readings an OEE point gives, by the suffix of its name, and their kinds.
    static let outputs: [(suffix: String, kind: ValueKind, unit: String?)] = [
        ("", .number, nil), ("_availability", .number, nil), ("_performance", .number, nil), ("_quality", .number, nil),
        ("_run_time", .number, "s"), ("_planned_time", .number, "s"), ("_total_count", .integer, nil),
        ("_good_count", .integer, nil),
    ]
}

/// What a derived point computes: the `PointAddress` of the `derived` protocol.
///
/// Until the loader resolves the references (`DerivedSyntax.resolve`), `kind` is what the
/// definition alone says and the counters' wraps are unknown; the devices a map loads with
/// are resolved.
public struct DerivedPoint: PointAddress, Hashable {
    enum Definition: Sendable, Hashable {
        case expression(ExpressionSource)
        case window(DerivedWindow)
        case oee(DerivedOEE)
    }

    var definition: Definition
    /// The kind of value the point gives (for an OEE point, its OEE figure's).
    var kind: ValueKind
    /// The wrap of each counter input (a window's `rate` input; an OEE's total and good
    /// counters), from the source point's type: `[total, good]` for OEE, `[input]` for a window.
    var moduli: [Double?] = []
    /// Whether a window's input takes whole numbers only (its `min`, `max`, `first` and `last`
    /// are then integers too).
    var integerInput = false
    /// The kind of each reference of each expression, in the order of `expressions` and of
    /// their references: what the engine checks its compiled expressions with, so that they
    /// compute in the kinds the loader found (an integer point read as 3.0 is the integer 3).
    var inputKinds: [[ValueKind]] = []

    /// What `map show` prints as the point's type.
    public var typeName: String {
        switch definition {
        case .expression: return "expression"
        case .window(let w): return "window \(w.aggregate.rawValue)"
        case .oee: return "oee"
        }
    }

    /// The kind of the computed value.
    public var rawKind: ValueKind { kind }

    /// The definition as `map show --format json` lists it.
    public var fields: [MapField] {
        switch definition {
        case .expression(let e):
            return [MapField("expr", .string(e.text))]
        case .window(let w):
            var fields = [
                MapField("of", .string(w.of.text)), MapField("agg", .string(w.aggregate.rawValue)),
                MapField("size", .string(w.size.mapText)),
            ]
            if w.every != w.size { fields.append(MapField("every", .string(w.every.mapText))) }
            fields.append(MapField("grace", .string(w.grace.mapText)))
            return fields
        case .oee(let o):
            var fields = [
                MapField("state", .string(o.state.text)), MapField("total_count", .string(o.total.text)),
                MapField(o.countsRejects ? "reject_count" : "good_count", .string(o.good.text)),
                MapField("running", .string(o.running.map(String.init).joined(separator: ", "))),
                MapField("planned_stop", .string(o.plannedStop.map(String.init).joined(separator: ", "))),
                MapField("ideal_cycle", .string(o.idealCycle.mapText)),
            ]
            switch o.period {
            case .every(let seconds):
                fields.append(MapField("period", .string(Duration.seconds(seconds).mapText)))
            case .shifts(let starts, let zone):
                let text = starts.map(Self.timeOfDay).joined(separator: ", ")
                fields.append(MapField("shifts", .string(text)))
                fields.append(MapField("time_zone", .string(zone)))
            }
            fields.append(MapField("every", .string(o.every.mapText)))
            return fields
        }
    }

    /// `map show`'s table: the definition in one column.
    public var columns: [MapField] {
        switch definition {
        case .expression(let e): return [MapField("computes", .string(e.text))]
        case .window(let w):
            let every = w.every == w.size ? "" : " every \(w.every.mapText)"
            return [MapField("computes", .string("\(w.aggregate.rawValue) of \(w.of.text) over \(w.size.mapText)\(every)"))]
        case .oee(let o): return [MapField("computes", .string("oee of \(o.state.text)"))]
        }
    }

    /// "expression `a * b`".
    public var description: String {
        switch definition {
        case .expression(let e): return "expression \(e.text)"
        case .window(let w): return "\(w.aggregate.rawValue) of \(w.of.text) over \(w.size.mapText)"
        case .oee(let o): return "oee of \(o.state.text)"
        }
    }

    /// 360 → "06:00".
    static func timeOfDay(_ minutes: Int) -> String {
        let (h, m) = (minutes / 60, minutes % 60)
        return (h < 10 ? "0" : "") + String(h) + ":" + (m < 10 ? "0" : "") + String(m)
    }

    /// Every expression of the definition, in the order its references are numbered.
    var expressions: [ExpressionSource] {
        switch definition {
        case .expression(let e): return [e]
        case .window(let w): return [w.of]
        case .oee(let o): return [o.state, o.total, o.good]
        }
    }

    /// The names of the readings the point gives: its own, or an OEE's eight.
    func outputNames(of point: String) -> [String] {
        guard case .oee = definition else { return [point] }
        return DerivedOEE.outputs.map { point + $0.suffix }
    }
}

/// A derived device connects to nothing.
public struct DerivedConnection: DeviceConnection, Hashable {
    /// Nothing to set.
    public init() {}
    /// "computed in the gateway".
    public var description: String { "computed in the gateway" }
    /// No settings.
    public var fields: [MapField] { [] }
}
