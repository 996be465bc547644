/// A value that a named command writes: fixed in the device map, or taken from an argument.
public enum WriteTemplate: Sendable, Hashable {
    /// Always this value.
    case literal(Value)
    /// The value of the argument with this name.
    case argument(String)
}

/// One point write of a named command.
public struct TemplateWrite: Sendable, Hashable {
    /// The point written.
    public var point: String
    /// What is written to it.
    public var value: WriteTemplate

    /// Creates a write.
    public init(point: String, value: WriteTemplate) {
        self.point = point
        self.value = value
    }
}

/// An argument of a named command.
public struct CommandArgument: Sendable, Hashable {
    /// The argument name, as senders give it in `args`.
    public var name: String
    /// Kind, limits and options of its value.
    public var rule: ValueRule
    /// Used when the sender leaves the argument out; without one the argument is required.
    public var defaultValue: Value?
    /// Free text for people.
    public var description: String?

    /// Creates an argument.
    public init(name: String, rule: ValueRule, defaultValue: Value? = nil, description: String? = nil) {
        self.name = name
        self.rule = rule
        self.defaultValue = defaultValue
        self.description = description
    }
}

/// A named command of a device map (`start_pump` → `pump: true`): arguments, and the point
/// writes they turn into.
public struct NamedCommand: Sendable, Hashable {
    /// The command name, unique within its device.
    public var name: String
    /// Its arguments, in map order.
    public var arguments: [CommandArgument]
    /// The point writes, in map order.
    public var writes: [TemplateWrite]
    /// Free text for people.
    public var description: String?

    /// Creates a command.
    public init(name: String, arguments: [CommandArgument] = [], writes: [TemplateWrite], description: String? = nil) {
        self.name = name
        self.arguments = arguments
        self.writes = writes
        self.description = description
    }

    /// The point writes for these arguments, or why they do not fit: an unknown or missing
    /// argument, or a value of the wrong kind or out of the argument's limits. The writes
    /// still go through the points' own checks afterwards.
    public func expand(_ args: [String: Value], device: String) -> Result<[String: Value], CommandValidation.Refusal> {
        let declared = Set(arguments.map(\.name))
        if let unknown = args.keys.sorted().first(where: { !declared.contains($0) }) {
            let known = arguments.isEmpty ? "it takes no arguments" : "arguments: " + arguments.map(\.name).joined(separator: ", ")
            return .failure(.init("\(device).\(name) has no argument '\(unknown)' (\(known))"))
        }
        var values: [String: Value] = [:]
        for argument in arguments {
            guard let given = args[argument.name] ?? argument.defaultValue else {
                return .failure(.init("\(device).\(name) needs the argument '\(argument.name)' (\(argument.rule.typeName))"))
            }
            switch argument.rule.check(given) {
            case .success(let v): values[argument.name] = v
            case .failure(let why): return .failure(.init("\(device).\(name), argument '\(argument.name)': \(why.message)"))
            }
        }
        var writes: [String: Value] = [:]
        for write in self.writes {
            switch write.value {
            case .literal(let v): writes[write.point] = v
            case .argument(let a): writes[write.point] = values[a]
            }
        }
        return .success(writes)
    }
}
