import ConfigSyntax
public import DeviceMaps
import Foundation
public import GatewayCore
import Yams

/// The `derived` part of the device-map format: no `connection:`, and each point computes one
/// of `expr:` (an expression over other points), `window:` (an aggregate over a time window)
/// or `oee:` (availability, performance, quality and OEE of a machine). References name other
/// devices' points as `device.point`, or a point of the same device by its name alone.
public enum DerivedSyntax: ProtocolSyntax {
    /// `derived`.
    public static let name = "derived"
    /// None: a derived device connects to nothing.
    public static let connectionKeys: [String] = []
    /// None needed.
    public static let connectionExample = "no connection: the points are computed from other devices' points"
    /// The point keys.
    public static let pointKeys = ["expr", "window", "oee"]
    /// The keys of `window:`.
    static let windowKeys = ["of", "agg", "size", "every", "grace"]
    /// The keys of `oee:`.
    static let oeeKeys = [
        "state", "running", "planned_stop", "total_count", "good_count", "reject_count", "ideal_cycle", "period", "shifts",
        "time_zone", "every",
    ]
    /// How long a window waits after its end for readings that arrive late, unless it says.
    static let defaultGrace: Duration = .seconds(2)
    /// How often OEE is reported while its period runs, unless it says.
    static let defaultOEEEvery: Duration = .seconds(10)

    /// A derived device connects to nothing: `connection:` may be left out.
    public static var defaultConnection: (any DeviceConnection)? { DerivedConnection() }

    /// An empty `connection:` is accepted; any key in it is unknown (reported by the loader).
    public static func connection(_ c: MapSection) -> (any DeviceConnection)? { DerivedConnection() }

    /// Reads the one of `expr`, `window` and `oee` the point has.
    public static func point(_ m: MapSection, access: Access) -> (any PointAddress)? {
        let before = m.errorCount
        let present = pointKeys.filter(m.has)
        if access.isWritable {
            m.error(
                "a derived point cannot be written", atValueOf: "access",
                hint: "derived points are computed from other points; write to those instead")
        }
        guard present.count == 1, let key = present.first else {
            if present.isEmpty {
                m.error("a derived point needs one of 'expr', 'window' or 'oee'", hint: #"for example `expr: "press-1.voltage * press-1.current / 1000"`"#)
            } else {
                m.error("a derived point computes one thing: '\(present[0])' and '\(present[1])' cannot go together", atKey: present[1])
            }
            return nil
        }
        let yaml = m.yaml
        let point: DerivedPoint?
        switch key {
        case "expr":
            point = expression(in: yaml, key: "expr").map { DerivedPoint(definition: .expression($0), kind: guessKind($0.text)) }
        case "window":
            point = yaml.mapping("window", context: yaml.context).flatMap(window).map { DerivedPoint(definition: .window($0), kind: .number) }
        default:
            point = yaml.mapping("oee", context: yaml.context).flatMap(oee).map { DerivedPoint(definition: .oee($0), kind: .number) }
        }
        guard m.errorCount == before else { return nil }
        return point
    }

    // MARK: - Expressions

    /// The expression in `key`, parsed to find its errors now; nil after reporting them.
    static func expression(in m: YAMLMapping, key: String) -> ExpressionSource? {
        guard let node = m.value(key, required: true) else { return nil }
        guard case .scalar(let s) = node else {
            m.typeError(key, "an expression in text", node)
            return nil
        }
        let quoted = s.style == .singleQuoted || s.style == .doubleQuoted
        var start = m.location(of: node)
        if quoted { start.column += 1 }
        let source = ExpressionSource(text: s.string, start: start, oneLine: !s.string.contains("\n") && s.style != .literal && s.style != .folded)
        switch Expression.parse(s.string) {
        case .success:
            return source
        case .failure(let e):
            m.error(e.message, at: source.location(atOffset: e.offset), hint: e.hint)
            return nil
        }
    }

    /// What an expression gives as far as its text says (a comparison gives a bool); refined
    /// once its references resolve.
    static func guessKind(_ text: String) -> ValueKind {
        guard case .success(var e) = Expression.parse(text) else { return .number }
        let kind = e.check { _ in .number }
        if case .success(let k) = kind { return k }
        return .number
    }

    // MARK: - Windows

    static func window(_ w: YAMLMapping) -> DerivedWindow? {
        let before = w.sink.errorCount
        w.checkKeys(windowKeys)
        let of = expression(in: w, key: "of")
        let aggregate = w.choice("agg", WindowAggregate.self, required: true)
        let size = w.duration("size", required: true)
        let every = w.duration("every")
        let grace = w.has("grace") ? w.duration("grace") : defaultGrace
        if let size, let every, let node = w.value("every") {
            if every > size {
                w.error(
                    "'every' (\(every.mapText)) must not be longer than 'size' (\(size.mapText))", at: node,
                    hint: "a window of 'size' ends every 'every'; leave 'every' out for back-to-back windows")
            } else if !isMultiple(size, of: every) {
                w.error(
                    "'size' (\(size.mapText)) must be a whole multiple of 'every' (\(every.mapText))", at: node,
                    hint: "windows that end every \(every.mapText) are built from \(every.mapText) slices")
            }
        }
        guard w.sink.errorCount == before, let of, let aggregate, let size, let grace else { return nil }
        return DerivedWindow(of: of, aggregate: aggregate, size: size, every: every ?? size, grace: grace)
    }

    static func isMultiple(_ a: Duration, of b: Duration) -> Bool {
        let (x, y) = (a.components, b.components)
        let ax = Double(x.seconds) * 1e18 + Double(x.attoseconds)
        let by = Double(y.seconds) * 1e18 + Double(y.attoseconds)
        guard by > 0 else { return false }
        let ratio = ax / by
        return abs(ratio - ratio.rounded()) < 1e-9
    }

    // MARK: - OEE

    static func oee(_ o: YAMLMapping) -> DerivedOEE? {
        let before = o.sink.errorCount
        o.checkKeys(oeeKeys)
        let state = expression(in: o, key: "state")
        let total = expression(in: o, key: "total_count")
        var good: ExpressionSource?
        let countsRejects = o.has("reject_count")
        if o.has("good_count") && countsRejects {
            o.error("'good_count' and 'reject_count' cannot go together", at: o.entry("reject_count")!.keyNode, hint: "give the one counter the machine has")
        } else if countsRejects {
            good = expression(in: o, key: "reject_count")
        } else if o.has("good_count") {
            good = expression(in: o, key: "good_count")
        } else {
            o.error("missing required key 'good_count' (or 'reject_count')", at: o.node, hint: "the counter of good parts, or of rejects")
        }
        let running = states(o, "running", required: true)
        let plannedStop = states(o, "planned_stop", required: false) ?? []
        if let running, let both = running.first(where: plannedStop.contains), let node = o.value("planned_stop") {
            o.error("state \(both) is both running and a planned stop", at: node)
        }
        let idealCycle = o.duration("ideal_cycle", required: true)
        let every = o.duration("every") ?? defaultOEEEvery
        let period = oeePeriod(o)
        if let period, case .every(let seconds) = period, Duration.seconds(seconds) < every, let node = o.value("period") {
            o.error("'period' (\(Duration.seconds(seconds).mapText)) must not be shorter than 'every' (\(every.mapText))", at: node)
        }
        guard o.sink.errorCount == before, let state, let total, let good, let running, let idealCycle, let period else { return nil }
        return DerivedOEE(
            state: state, total: total, good: good, countsRejects: countsRejects, running: running, plannedStop: plannedStop,
            idealCycle: idealCycle, period: period, every: every)
    }

    /// `running: [1]`, `planned_stop: [3, 4]`: whole numbers, one or a list.
    static func states(_ o: YAMLMapping, _ key: String, required: Bool) -> [Int64]? {
        guard let nodes = o.list(key, required: required, allowSingle: true) else { return nil }
        var states: [Int64] = []
        for node in nodes {
            guard let value = integerValue(node) else {
                o.error("'\(key)' must list machine states as whole numbers, found \(describe(node))", at: node)
                return nil
            }
            states.append(Int64(value))
        }
        if states.isEmpty, let node = o.value(key) {
            o.error("'\(key)' must list at least one state", at: node)
            return nil
        }
        return states
    }

    /// `period: 1h`, or `shifts: ["06:00", "14:00", "22:00"]` with an optional `time_zone`.
    static func oeePeriod(_ o: YAMLMapping) -> OEEPeriod? {
        switch (o.has("period"), o.has("shifts")) {
        case (true, true):
            o.error("'period' and 'shifts' cannot go together", at: o.entry("shifts")!.keyNode, hint: "a fixed period, or shifts that start at given times")
            return nil
        case (false, false):
            o.error("missing required key 'period' (or 'shifts')", at: o.node, hint: #"`period: 1h`, or `shifts: ["06:00", "14:00", "22:00"]`"#)
            return nil
        case (true, false):
            if o.has("time_zone") { o.error("'time_zone' goes with 'shifts'", at: o.entry("time_zone")!.keyNode, hint: "periods are aligned to UTC") }
            return o.duration("period", required: true).map { .every(seconds: $0 / .seconds(1)) }
        case (false, true):
            guard let nodes = o.list("shifts", required: true) else { return nil }
            var minutes: [Int] = []
            for node in nodes {
                guard case .scalar(let s) = node, let m = minutesOfDay(s.string) else {
                    o.error("a shift starts at a time of day such as \"06:00\", found \(describe(node))", at: node)
                    return nil
                }
                if minutes.contains(m) {
                    o.error("shift start \(s.string) is listed twice", at: node)
                    return nil
                }
                minutes.append(m)
            }
            let zone = o.name("time_zone") ?? TimeZone.current.identifier
            if TimeZone(identifier: zone) == nil, let node = o.value("time_zone") {
                o.error("unknown time zone '\(zone)'", at: node, hint: "an IANA name such as Europe/Berlin or UTC")
                return nil
            }
            guard !minutes.isEmpty else {
                o.error("'shifts' must list at least one start time", at: o.value("shifts") ?? o.node)
                return nil
            }
            return .shifts(minutesOfDay: minutes.sorted(), timeZone: zone)
        }
    }

    /// "06:00" → 360.
    static func minutesOfDay(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count <= 2, parts[1].count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h),
            (0..<60).contains(m)
        else { return nil }
        return h * 60 + m
    }

    /// Nothing to check across one device's points alone: references are resolved among all.
    public static func check(
        points: [PointDefinition], connection: (any DeviceConnection)?, of device: String,
        at location: SourceLocation, reporter: MapReporter
    ) {}

    /// Resolves every reference among all devices, finds cycles between derived points,
    /// type-checks every expression and sets each point's kind and counters' wraps.
    public static func resolve(
        devices: [DeviceDefinition], among all: [DeviceDefinition], withErrors: Set<String>, reporter: MapReporter
    ) -> [DeviceDefinition] {
        var resolver = DerivedResolver(devices: devices, among: all, withErrors: withErrors, reporter: reporter)
        return resolver.resolve()
    }

    /// `connection:` of a derived device: none, or an empty mapping.
    public static var connectionSchema: [String: Any] {
        [
            "type": "object", "additionalProperties": false, "properties": [String: Any](),
            "description": "A derived device connects to nothing: leave 'connection' out.",
        ]
    }

    /// The point keys `expr`, `window` and `oee`.
    public static var pointSchema: [String: Any] {
        let duration: [String: Any] = ["$ref": "#/$defs/duration"]
        let states: [String: Any] = ["oneOf": [["type": "integer"], ["type": "array", "items": ["type": "integer"], "minItems": 1]]]
        return [
            "expr": ["type": "string", "minLength": 1, "description": "An expression over points: `device.point`, or `point` of the same device."],
            "window": [
                "type": "object", "additionalProperties": false, "required": ["of", "agg", "size"],
                "description": "An aggregate of an input over a time window, stamped at the window's end.",
                "properties": [
                    "of": ["type": "string", "minLength": 1, "description": "The input: a point or an expression."],
                    "agg": ["enum": WindowAggregate.allCases.map(\.rawValue)],
                    "size": duration.merging(["description": "The window's length; alone: back-to-back windows aligned to the clock."]) { a, _ in a },
                    "every": duration.merging(["description": "A window ends every so often (hopping); size must be a multiple of it."]) { a, _ in a },
                    "grace": duration.merging(["description": "How long after its end a window waits for late readings (default 2s)."]) { a, _ in a },
                ] as [String: Any],
            ],
            "oee": [
                "type": "object", "additionalProperties": false,
                "required": ["state", "running", "total_count", "ideal_cycle"],
                "description": "OEE = availability × performance × quality of a machine, per period or shift.",
                "properties": [
                    "state": ["type": "string", "minLength": 1, "description": "The point whose value is the machine state."],
                    "running": states, "planned_stop": states,
                    "total_count": ["type": "string", "minLength": 1], "good_count": ["type": "string", "minLength": 1],
                    "reject_count": ["type": "string", "minLength": 1], "ideal_cycle": duration, "period": duration,
                    "shifts": ["type": "array", "items": ["type": "string", "pattern": "^([01]?[0-9]|2[0-3]):[0-5][0-9]$"], "minItems": 1],
                    "time_zone": ["type": "string", "minLength": 1], "every": duration,
                ] as [String: Any],
                "allOf": [
                    ["oneOf": [["required": ["period"]], ["required": ["shifts"]]]],
                    ["oneOf": [["required": ["good_count"]], ["required": ["reject_count"]]]],
                ],
            ],
        ]
    }

    /// One of `expr`, `window` and `oee`; never writable.
    public static var pointSchemaRules: [String: Any] {
        [
            "oneOf": [["required": ["expr"]], ["required": ["window"]], ["required": ["oee"]]],
            "properties": ["access": ["const": Access.read.rawValue]],
        ]
    }
}
