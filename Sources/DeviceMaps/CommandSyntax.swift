import ConfigSyntax
import GatewayCore
import Yams

// Named commands of a device map:
//
//   commands:
//     start_pump: { write: { pump: true } }
//     set_temperature:
//       description: Heat to a new setpoint
//       args: { celsius: { type: number, min: 5, max: 90 } }
//       write: { setpoint: $celsius, pump: true }
//
// A command is parsed with its file (phase 1) and checked against the device's points once
// profiles are expanded (phase 2), because a profile's command may write points a device adds.

extension DeviceMapLoader {
    static let commandKeys = ["description", "args", "write"]
    static let argumentKeys = ["type", "description", "min", "max", "enum", "default"]

    struct ArgumentDraft {
        var name: String
        var nameLocation: SourceLocation
        var argument: CommandArgument
    }

    struct WriteDraft {
        var point: String
        var pointLocation: SourceLocation
        var value: WriteTemplate
        var valueLocation: SourceLocation
    }

    struct CommandDraft {
        var name: String
        var nameLocation: SourceLocation
        var description: String?
        var arguments: [ArgumentDraft]
        var writes: [WriteDraft]
        /// Where the command was declared: `profile 'x'` or `device 'y'`.
        var owner: String
    }

    static func parseCommands(_ commands: YAMLMapping, owner: String) -> [CommandDraft] {
        commands.entries.compactMap { e in
            let context = "\(owner), command '\(e.key)'"
            let before = commands.sink.errorCount
            guard
                let m = YAMLMapping(
                    e.value, file: commands.file, context: context, what: "a command",
                    sink: commands.sink)
            else { return nil }
            m.checkKeys(commandKeys)
            var draft = CommandDraft(
                name: e.key, nameLocation: m.location(of: e.keyNode),
                description: m.string("description"), arguments: [], writes: [], owner: owner)
            // Every declared name counts for `$name`, valid or not: a broken declaration is
            // reported once, where it is, not again at each use.
            var declared: [String] = []
            if let args = m.mapping("args") {
                declared = args.entries.map(\.key)
                draft.arguments = args.entries.compactMap { parseArgument($0, in: args) }
            }
            if let write = m.mapping(
                "write", required: true,
                hint: "the points it sets, e.g. write: { pump: true } or write: { setpoint: $celsius }")
            {
                if write.entries.isEmpty {
                    m.error("'write' sets no point", at: write.node)
                }
                for w in write.entries {
                    guard let template = parseTemplate(w.value, declared: declared, in: write) else { continue }
                    draft.writes.append(
                        WriteDraft(
                            point: w.key, pointLocation: write.location(of: w.keyNode), value: template,
                            valueLocation: write.location(of: w.value)))
                }
                for a in draft.arguments where !draft.writes.contains(where: { $0.value == .argument(a.name) }) {
                    commands.sink.warning("\(context): argument '\(a.name)' is not used by any write", at: a.nameLocation)
                }
            }
            return commands.sink.errorCount == before ? draft : nil
        }
    }

    /// `celsius: number` or `celsius: { type: number, min: 5, max: 90, default: 20 }`.
    static func parseArgument(_ e: YAMLMapping.Entry, in args: YAMLMapping) -> ArgumentDraft? {
        let before = args.sink.errorCount
        let context = "\(args.context), argument '\(e.key)'"
        let kinds = ValueKind.allCases.map(\.rawValue)
        var kind: ValueKind?
        var min: Double?, max: Double?, options: [EnumOption] = [], defaultValue: Value?, description: String?
        if case .scalar(let s) = e.value, !isNull(e.value) {
            kind = ValueKind(rawValue: s.string)
            if kind == nil {
                args.sink.error(
                    "\(context): unknown type '\(s.string)'", at: args.location(of: e.value),
                    hint: Suggest.allowed(s.string, in: kinds))
            }
        } else if let m = YAMLMapping(
            e.value, file: args.file, context: context,
            what: "an argument (a type such as number, or a mapping with 'type')", sink: args.sink)
        {
            m.checkKeys(argumentKeys)
            kind = m.choice("type", ValueKind.self, required: true)
            min = m.number("min")
            max = m.number("max")
            description = m.string("description")
            if let min, let max, min > max, let node = m.value("min") {
                m.error("'min' (\(Value.format(min))) is greater than 'max' (\(Value.format(max)))", at: node)
            }
            if let kind, args.sink.errorCount == before {
                let descriptor = PointDescriptor(name: e.key, kind: kind, access: .write, min: min, max: max, typeName: kind.rawValue)
                if let node = m.value("enum") {
                    options = parseOptions(node, in: m, rule: descriptor) ?? []
                }
                if let node = m.value("default") {
                    let rule = ValueRule(kind: kind, typeName: kind.rawValue, min: min, max: max, options: options)
                    switch scalarValue(node).map(rule.check) {
                    case .success(let v)?: defaultValue = v
                    case .failure(let why)?: m.error("'default': \(why.message)", at: node)
                    case nil: m.error("'default' must be a single value, found \(describe(node))", at: node)
                    }
                }
            }
        }
        guard let kind, args.sink.errorCount == before else { return nil }
        let rule = ValueRule(kind: kind, typeName: kind.rawValue, min: min, max: max, options: options)
        return ArgumentDraft(
            name: e.key, nameLocation: args.location(of: e.keyNode),
            argument: CommandArgument(name: e.key, rule: rule, defaultValue: defaultValue, description: description))
    }

    /// A literal value, or `$name` for an argument (`$$` for a literal text starting with `$`).
    static func parseTemplate(_ node: Node, declared: [String], in write: YAMLMapping) -> WriteTemplate? {
        guard let value = scalarValue(node) else {
            write.error("a written value must be a single value or $argument, found \(describe(node))", at: node)
            return nil
        }
        guard case .string(let text) = value, text.hasPrefix("$") else { return .literal(value) }
        if text.hasPrefix("$$") { return .literal(.string(String(text.dropFirst()))) }
        let name = String(text.dropFirst())
        guard declared.contains(name) else {
            let hint =
                Suggest.didYouMean(name, in: declared)
                ?? (declared.isEmpty
                    ? "declare it under 'args', e.g. args: { \(name.isEmpty ? "value" : name): number }"
                    : "arguments: " + declared.joined(separator: ", "))
            write.error("'\(text)' refers to no argument of this command", at: node, hint: hint)
            return nil
        }
        return .argument(name)
    }

    /// Checks commands against the points they write; nil when any is wrong (reported).
    /// - Parameter context: who is checked, for messages: the profile, or the device.
    static func checkCommands(
        _ drafts: [CommandDraft], points: [PointDefinition], context: String,
        sink: DiagnosticSink
    ) -> [NamedCommand]? {
        let before = sink.errorCount
        let byName = Dictionary(points.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var commands: [NamedCommand] = []
        for draft in drafts {
            let prefix = "\(context), command '\(draft.name)'"
            for write in draft.writes {
                guard let point = byName[write.point] else {
                    let writable = points.filter { $0.access.isWritable }.map(\.name)
                    let hint =
                        Suggest.didYouMean(write.point, in: points.map(\.name))
                        ?? (writable.isEmpty ? "the device has no writable points" : "writable points: " + writable.joined(separator: ", "))
                    sink.error("\(prefix): no point '\(write.point)' to write", at: write.pointLocation, hint: hint)
                    continue
                }
                guard point.access.isWritable else {
                    sink.error(
                        "\(prefix): point '\(point.name)' is read-only", at: write.pointLocation,
                        hint: "set `access: readwrite` on the point if the device accepts writes")
                    continue
                }
                let descriptor = point.descriptor
                switch write.value {
                case .literal(let v):
                    let rule = ValueRule(
                        kind: descriptor.kind, typeName: descriptor.typeName,
                        min: descriptor.min, max: descriptor.max, options: descriptor.options)
                    if case .failure(let why) = rule.check(v) {
                        sink.error("\(prefix): point '\(point.name)': \(why.message)", at: write.valueLocation)
                    }
                case .argument(let name):
                    guard let argument = draft.arguments.first(where: { $0.name == name })?.argument else { continue }
                    if let why = mismatch(argument.rule.kind, descriptor) {
                        sink.error(
                            "\(prefix): argument '\(name)' is \(argument.rule.kind.rawValue), but point '\(point.name)' \(why)",
                            at: write.valueLocation)
                    }
                }
            }
            commands.append(
                NamedCommand(
                    name: draft.name, arguments: draft.arguments.map(\.argument),
                    writes: draft.writes.map { TemplateWrite(point: $0.point, value: $0.value) },
                    description: draft.description))
        }
        return sink.errorCount == before ? commands : nil
    }

    /// Why an argument of `kind` cannot be written to the point; nil when it can.
    private static func mismatch(_ kind: ValueKind, _ point: PointDescriptor) -> String? {
        switch (kind, point.kind) {
        case (.bool, .bool), (.string, .string), (.integer, .integer), (.integer, .number), (.number, .number):
            return nil
        case (.string, _) where point.options.contains { $0.label != nil }:
            return nil
        case (.number, .integer):
            return "takes whole numbers (\(point.typeName)); declare the argument as integer"
        default:
            return "takes \(point.kind.rawValue) values (\(point.typeName))"
        }
    }
}
