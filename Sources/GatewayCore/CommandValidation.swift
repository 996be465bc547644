/// Checks a write against a device's point descriptors: the part of command validation that
/// needs no protocol knowledge. Adapters check what only they can (register ranges).
public enum CommandValidation {
    /// Returns nil when every write is acceptable, or the first reason to refuse, naming the
    /// device, the point and the cause.
    public static func problem(in writes: [String: Value], for device: DeviceDescriptor) -> String? {
        if case .failure(let refusal) = normalize(writes, for: device) { return refusal.message }
        return nil
    }

    /// Checks every write and returns them as the adapter must write them: an enum option
    /// given by its name (`"heat"`) becomes its value (`1`).
    public static func normalize(_ writes: [String: Value], for device: DeviceDescriptor) -> Result<[String: Value], Refusal> {
        if writes.isEmpty {
            return .failure(Refusal("command for \(device.id) writes no point"))
        }
        var normalized: [String: Value] = [:]
        for name in writes.keys.sorted() {
            let value = writes[name]!
            guard let point = device.point(named: name) else {
                let known = device.points.filter { $0.access.isWritable }.map(\.name).sorted()
                let hint = known.isEmpty ? "it has no writable points" : "writable points: \(known.joined(separator: ", "))"
                return .failure(Refusal("\(device.id) has no point '\(name)' (\(hint))"))
            }
            guard point.access.isWritable else {
                return .failure(Refusal("\(device.id).\(name) is read-only"))
            }
            let rule = ValueRule(kind: point.kind, typeName: point.typeName, min: point.min, max: point.max, options: point.options)
            switch rule.check(value) {
            case .success(let v): normalized[name] = v
            case .failure(let why): return .failure(Refusal("\(device.id).\(name): \(why.message)"))
            }
        }
        return .success(normalized)
    }

    /// Why a command was refused: a sentence naming the device, point or argument and the cause.
    public struct Refusal: Error, Sendable, Hashable {
        /// The sentence.
        public var message: String

        /// Creates a refusal.
        public init(_ message: String) {
            self.message = message
        }
    }
}

/// What a value must be to be written: kind, limits and allowed options. Shared by point writes
/// and the arguments of named commands, so both refuse alike.
public struct ValueRule: Sendable, Hashable {
    /// The kind of value.
    public var kind: ValueKind
    /// The type name shown in messages (`int16`, `number`, ...).
    public var typeName: String
    /// Lowest allowed number.
    public var min: Double?
    /// Highest allowed number.
    public var max: Double?
    /// The only allowed values, when not empty.
    public var options: [EnumOption]

    /// Creates a rule.
    public init(kind: ValueKind, typeName: String, min: Double? = nil, max: Double? = nil, options: [EnumOption] = []) {
        self.kind = kind
        self.typeName = typeName
        self.min = min
        self.max = max
        self.options = options
    }

    /// The value as it must be written (an option's name replaced by its value), or why it
    /// does not fit. Messages do not name the point: the caller prefixes them.
    public func check(_ value: Value) -> Result<Value, CommandValidation.Refusal> {
        var value = value
        if !options.isEmpty {
            if case .string(let s) = value, kind != .string || !options.contains(where: { $0.value == value }),
                let option = options.first(where: { $0.label == s })
            {
                value = option.value
            }
            guard options.contains(where: { Self.same($0.value, value) }) else {
                return .failure(.init("\(value) is not one of the allowed values \(describeOptions())"))
            }
        }
        if let why = typeProblem(value) { return .failure(.init(why)) }
        if let n = value.numeric {
            if let lo = min, n < lo {
                return .failure(.init("\(Value.format(n)) is below the minimum \(Value.format(lo))"))
            }
            if let hi = max, n > hi {
                return .failure(.init("\(Value.format(n)) is above the maximum \(Value.format(hi))"))
            }
        }
        return .success(value)
    }

    /// `[off=0, heat=1, cool=2]` or `[1, 2, 3]`.
    public func describeOptions() -> String {
        "[" + options.map { o in o.label.map { "\($0)=\(o.value)" } ?? "\(o.value)" }.joined(separator: ", ") + "]"
    }

    /// Numbers compare by value (`2` and `2.0` are the same option).
    public static func same(_ a: Value, _ b: Value) -> Bool {
        if let x = a.numeric, let y = b.numeric { return x == y }
        return a == b
    }

    private func typeProblem(_ value: Value) -> String? {
        switch (kind, value) {
        case (.bool, .bool), (.string, .string), (.number, .int), (.integer, .int):
            return nil
        case (.number, .double(let d)):
            return d.isFinite ? nil : "\(d) is not a finite number"
        case (.integer, .double(let d)):
            return d == d.rounded() && d.isFinite ? nil : "expects a whole number, got \(Value.format(d))"
        default:
            let article = kind == .integer ? "an" : "a"
            return "expects \(article) \(kind.rawValue) (\(typeName)), got \(value)"
        }
    }
}
