import ConfigSyntax
import Foundation
import GatewayCore
import Yams

/// Reads device-map YAML files into a validated `DeviceMap`.
///
/// Every file is checked completely and every problem is reported at once, compiler style.
/// A map with any error never loads, not even partly; warnings do not stop loading. The
/// loader checks what all protocols share; each device's `connection:` and the protocol keys
/// of its points go to the `ProtocolSyntax` its `protocol:` names.
public struct DeviceMapLoader: Sendable {
    /// The protocols devices may name, each with its own syntax.
    public let protocols: [any ProtocolSyntax.Type]

    /// Creates a loader for these protocols.
    public init(protocols: [any ProtocolSyntax.Type]) {
        self.protocols = protocols
    }

    /// The protocol names, in the order given.
    public var protocolNames: [String] { protocols.map { $0.name } }

    func syntax(named name: String) -> (any ProtocolSyntax.Type)? {
        protocols.first { $0.name == name }
    }

    /// Every key some protocol's `connection:` has, for a device whose protocol is unknown.
    var anyConnectionKeys: [String] { Self.union(protocols.map { $0.connectionKeys }) }
    /// Every key some protocol's points have, and the shared ones.
    var anyPointKeys: [String] { Self.union(protocols.map { $0.pointKeys } + [Self.commonPointKeys]) }
    /// The hint for a key that is unknown whatever the device's protocol.
    static let noProtocolHasKey = "no protocol has this key"

    static func union(_ lists: [[String]]) -> [String] {
        var seen: Set<String> = []
        return lists.joined().filter { seen.insert($0).inserted }
    }

    /// Loads files and folders (a folder contributes its `*.yaml` and `*.yml` files, sorted by
    /// name, not recursively). Profiles are shared by all files loaded together, and device ids
    /// must be unique across them.
    /// - Throws: every diagnostic, warnings included, when any error was found.
    public func load(paths: [String]) throws(DeviceMapError) -> DeviceMap {
        let (map, diagnostics) = validate(paths: paths)
        guard let map else { throw DeviceMapError(diagnostics: diagnostics) }
        return map
    }

    /// Like `load(paths:)`, but returns the warnings of a map that loads too (for `map validate`).
    /// - Returns: the map (nil when any error was found) and every diagnostic in file order.
    public func validate(paths: [String]) -> (map: DeviceMap?, diagnostics: [Diagnostic]) {
        let sink = DiagnosticSink()
        let files = Self.expand(paths: paths, sink: sink)
        var drafts: [FileDraft] = []
        for file in files {
            let text: String
            switch TextFile.read(file) {
            case .success(let read): text = read
            case .failure(let problem):
                sink.error(problem.message(reading: "device map"), at: SourceLocation(file: file, line: 0, column: 0), hint: problem.hint)
                continue
            }
            drafts.append(parseFile(yaml: text, file: file, sink: sink))
        }
        let devices = resolve(drafts, sink: sink)
        let diagnostics = sink.sorted(fileOrder: paths + files)
        return (sink.hasErrors ? nil : DeviceMap(devices: devices), diagnostics)
    }

    /// Parses one device map from text.
    /// - Parameters:
    ///   - yaml: the file's content.
    ///   - file: the name diagnostics print for it.
    /// - Returns: the map (nil when any error was found) and every diagnostic in file order.
    public func parse(yaml: String, file: String) -> (map: DeviceMap?, diagnostics: [Diagnostic]) {
        let sink = DiagnosticSink()
        let draft = parseFile(yaml: yaml, file: file, sink: sink)
        let devices = resolve([draft], sink: sink)
        return (sink.hasErrors ? nil : DeviceMap(devices: devices), sink.sorted(fileOrder: [file]))
    }

    /// Parses several device maps from text, loaded together as `load(paths:)` loads files:
    /// profiles shared, ids unique, references resolved across them.
    public func parse(files: [(file: String, yaml: String)]) -> (map: DeviceMap?, diagnostics: [Diagnostic]) {
        let sink = DiagnosticSink()
        let drafts = files.map { parseFile(yaml: $0.yaml, file: $0.file, sink: sink) }
        let devices = resolve(drafts, sink: sink)
        return (sink.hasErrors ? nil : DeviceMap(devices: devices), sink.sorted(fileOrder: files.map(\.file)))
    }

    // MARK: - Files

    /// The files `load(paths:)` reads for these paths: listed files as given, and the
    /// `*.yaml` and `*.yml` files of listed folders (sorted, not recursively, no dot files).
    /// Paths that do not exist contribute nothing. For watching the maps for changes.
    public static func files(paths: [String]) -> [String] {
        expand(paths: paths, sink: DiagnosticSink())
    }

    /// Files of `paths`, folders expanded; missing paths and empty folders are reported.
    static func expand(paths: [String], sink: DiagnosticSink) -> [String] {
        let fm = FileManager.default
        var files: [String] = []
        if paths.isEmpty {
            sink.error("no device-map files or folders were given", at: SourceLocation(file: "devicemaps", line: 0, column: 0))
        }
        for path in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
                sink.error("no such file or folder", at: SourceLocation(file: path, line: 0, column: 0))
                continue
            }
            guard isDir.boolValue else {
                files.append(path)
                continue
            }
            let names = ((try? fm.contentsOfDirectory(atPath: path)) ?? [])
                .filter { ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) && !$0.hasPrefix(".") }
                .sorted()
            if names.isEmpty {
                sink.warning("folder holds no device maps (*.yaml, *.yml)", at: SourceLocation(file: path, line: 0, column: 0))
            }
            let folder = path.hasSuffix("/") ? String(path.dropLast()) : path
            files += names.map { "\(folder)/\($0)" }
        }
        return files
    }

    // MARK: - Phase 1: one file → drafts

    struct ProfileDraft {
        var name: String
        var nameLocation: SourceLocation
        /// The protocol, when it is one this loader knows.
        var protocolName: String?
        var points: [PointDefinition]
        var commands: [CommandDraft]
        /// False when the profile had errors; devices using it then stay quiet about it.
        var valid: Bool
    }

    struct DeviceDraft {
        var id: String?
        var idLocation: SourceLocation
        var context: String
        var protocolName: String?
        var profile: String?
        var profileNode: Node?
        var file: String
        /// Parsed once the protocol is known, which may come from a profile in another file.
        var connectionNode: Node?
        /// No `connection:`, and the protocol comes from the profile: whether one was needed is
        /// known once the profile is.
        var connectionDeferred = false
        var pointsNode: Node?
        var commandsNode: Node?
        var declaresProtocol: Bool
        var poll: Duration
        var report: ReportPolicy?
        var commandTimeout: Duration?
        var location: SourceLocation
        var valid: Bool
    }

    struct FileDraft {
        var file: String
        var profiles: [ProfileDraft] = []
        var devices: [DeviceDraft] = []
    }

    package static let topKeys = ["profiles", "devices"]
    /// The top-level keys of a gateway configuration (which the Gateway target parses), to
    /// recognise one given here by mistake.
    static let gatewayConfigurationKeys = ["gateway", "uplink", "outbox", "commands"]
    static let profileKeys = ["protocol", "points", "commands", "description"]
    static let deviceKeys = [
        "id", "protocol", "profile", "connection", "poll", "points", "commands", "report", "command_timeout",
        "description",
    ]
    static let reportKeys = ["deadband", "max_interval"]
    /// The point keys every protocol shares; each protocol adds its own.
    static let commonPointKeys = ["scale", "offset", "unit", "description", "access", "min", "max", "enum", "report"]

    func parseFile(yaml: String, file: String, sink: DiagnosticSink) -> FileDraft {
        var draft = FileDraft(file: file)
        guard let composed = composeYAML(yaml, file: file, sink: sink) else { return draft }
        guard let root = composed else {
            sink.warning("the file is empty: no profiles, no devices", at: SourceLocation(file: file, line: 1, column: 1))
            return draft
        }
        guard let top = YAMLMapping(root, file: file, context: "", what: "a device map", sink: sink) else { return draft }
        // A gateway configuration given by mistake: one error that says so, not one per key.
        let keys = top.entries.map(\.key)
        if let first = top.entries.first, keys.contains("gateway") || keys.contains("uplink"),
            keys.allSatisfy(Self.gatewayConfigurationKeys.contains)
        {
            top.error(
                "unknown key '\(first.key)'", at: first.keyNode,
                hint: "this looks like a gateway configuration: check it with `edgegate config validate \(file)`")
            return draft
        }
        top.checkKeys(Self.topKeys)

        if let profiles = top.mapping("profiles") {
            for e in profiles.entries {
                draft.profiles.append(parseProfile(e, file: file, sink: sink))
            }
        }
        if let devices = top.list("devices") {
            for (i, node) in devices.enumerated() {
                if let d = parseDevice(node, index: i, file: file, sink: sink) { draft.devices.append(d) }
            }
        }
        if !top.has("profiles") && !top.has("devices") && !sink.hasErrors {
            sink.warning("the file defines no profiles and no devices", at: top.location)
        }
        return draft
    }

    /// Checks a `protocol:` value; nil when it is missing or unknown (already reported).
    func checkProtocol(_ m: YAMLMapping) -> String? {
        guard let p = m.name("protocol"), let node = m.value("protocol") else { return nil }
        guard syntax(named: p) != nil else {
            m.error(
                "unknown protocol '\(p)'; known: \(protocolNames.joined(separator: ", "))",
                at: node, hint: Suggest.didYouMean(p, in: protocolNames))
            return nil
        }
        return p
    }

    func parseProfile(_ e: YAMLMapping.Entry, file: String, sink: DiagnosticSink) -> ProfileDraft {
        let before = sink.errorCount
        let context = "profile '\(e.key)'"
        var draft = ProfileDraft(name: e.key, nameLocation: location(of: e.keyNode, in: file), points: [], commands: [], valid: false)
        guard let m = YAMLMapping(e.value, file: file, context: context, what: "a profile", sink: sink) else { return draft }
        m.checkKeys(Self.profileKeys)
        draft.protocolName = checkProtocol(m)
        if !m.has("protocol") {
            m.error("missing required key 'protocol'", at: m.node, hint: "supported: \(protocolNames.joined(separator: ", "))")
        }
        // Points of a protocol this loader does not know would only produce noise; without a
        // `protocol` key they are still checked when there is only one protocol they can be.
        let assumed = m.has("protocol") || protocols.count != 1 ? draft.protocolName : protocols[0].name
        if let name = assumed, let syntax = syntax(named: name), let points = m.mapping("points") {
            draft.points = parsePoints(points, syntax: syntax, owner: context, sink: sink)
        }
        if let commands = m.mapping("commands") {
            draft.commands = Self.parseCommands(commands, owner: context)
        }
        draft.valid = sink.errorCount == before
        return draft
    }

    func parseDevice(_ node: Node, index: Int, file: String, sink: DiagnosticSink) -> DeviceDraft? {
        let before = sink.errorCount
        // A device without a usable id is still checked, under its position in the list.
        var context = "device #\(index + 1)"
        if case .mapping(let raw) = node, let idNode = raw["id"], case .scalar(let s) = idNode,
            !isNull(idNode), !s.string.isEmpty
        {
            context = "device '\(s.string)'"
        }
        guard let m = YAMLMapping(node, file: file, context: context, what: "a device", sink: sink) else { return nil }
        m.checkKeys(Self.deviceKeys)

        var draft = DeviceDraft(
            id: nil, idLocation: m.location, context: context, protocolName: nil, profile: nil,
            file: file, declaresProtocol: m.has("protocol"), poll: .seconds(1), report: nil,
            location: m.location, valid: false)
        draft.id = m.name("id", required: true)
        if let idNode = m.value("id") { draft.idLocation = m.location(of: idNode) }
        draft.profile = m.name("profile")
        draft.profileNode = m.value("profile")
        draft.protocolName = checkProtocol(m)
        if !m.has("protocol") && !m.has("profile") {
            m.error(
                "missing required key 'protocol'", at: m.node,
                hint: "add `protocol: \(protocolNames.first ?? "modbus")`, or a `profile` that names one")
        }
        // Connection and points of an unsupported protocol would only produce noise.
        if draft.protocolName != nil || !m.has("protocol") {
            let declared = draft.protocolName.flatMap(syntax(named:))
            let example = declared?.connectionExample ?? protocols.first?.connectionExample
            // A device of a profile gets its protocol from the profile, which says whether a
            // connection is needed (a derived device has none): checked once it is known.
            draft.connectionDeferred = !m.has("protocol") && m.has("profile") && !m.has("connection")
            draft.connectionNode = m.value(
                "connection", required: !draft.connectionDeferred && declared?.defaultConnection == nil, hint: example)
            draft.pointsNode = m.value("points")
            draft.commandsNode = m.value("commands")
        }
        draft.poll = m.duration("poll") ?? .seconds(1)
        if let r = m.mapping("report") {
            draft.report = Self.parseReport(r)
        }
        draft.commandTimeout = m.duration("command_timeout")
        draft.valid = sink.errorCount == before
        return draft
    }

    /// The protocol sections of a device, once its protocol is known. Without a protocol
    /// (nil `syntax`) they are still checked as far as that goes: keys no protocol has, and the
    /// keys every protocol shares; nothing is returned but the commands' drafts then.
    func parseSections(
        of d: DeviceDraft, syntax: (any ProtocolSyntax.Type)?, sink: DiagnosticSink
    )
        -> (connection: (any DeviceConnection)?, points: [PointDefinition], commands: [CommandDraft])
    {
        var connection: (any DeviceConnection)? = d.connectionNode == nil ? syntax?.defaultConnection : nil
        if d.connectionDeferred, let syntax, syntax.defaultConnection == nil {
            sink.error("\(d.context): missing required key 'connection'", at: d.location, hint: syntax.connectionExample)
        }
        if let node = d.connectionNode,
            let c = YAMLMapping(node, file: d.file, context: d.context, what: "'connection'", sink: sink)
        {
            if let syntax {
                let none = syntax.connectionKeys.isEmpty ? "\(syntax.name) devices connect to nothing: remove 'connection'" : nil
                c.checkKeys(syntax.connectionKeys, otherwise: none)
                connection = syntax.connection(MapSection(c))
            } else {
                c.checkKeys(anyConnectionKeys, otherwise: Self.noProtocolHasKey)
            }
        }
        var points: [PointDefinition] = []
        if let node = d.pointsNode, let m = YAMLMapping(node, file: d.file, context: d.context, what: "'points'", sink: sink) {
            points = parsePoints(m, syntax: syntax, owner: d.context, sink: sink)
        }
        var commands: [CommandDraft] = []
        if let node = d.commandsNode, let m = YAMLMapping(node, file: d.file, context: d.context, what: "'commands'", sink: sink) {
            commands = Self.parseCommands(m, owner: d.context)
        }
        return (connection, points, commands)
    }

    /// `{ deadband: 0.5 | "2%", max_interval: 60s }`.
    static func parseReport(_ r: YAMLMapping) -> ReportPolicy {
        r.checkKeys(reportKeys)
        var policy = ReportPolicy()
        if let node = r.value("deadband") {
            let hint = "an absolute change such as 0.5, or a percentage of the last value such as 2%"
            if case .scalar(let s) = node, tagName(node) == .str, s.string.hasSuffix("%") {
                let number = s.string.dropLast().trimmingCharacters(in: .whitespaces)
                if let p = Double(number), p.isFinite, p >= 0 {
                    policy.deadband = .percent(p)
                } else {
                    r.error("'deadband' must be a percentage such as 2%, found '\(s.string)'", at: node, hint: hint)
                }
            } else if let d = r.number("deadband") {
                if d < 0 {
                    r.error("'deadband' must not be negative, found \(Value.format(d))", at: node)
                } else {
                    policy.deadband = .absolute(d)
                }
            }
        }
        policy.maxInterval = r.duration("max_interval")
        return policy
    }

    func parsePoints(_ points: YAMLMapping, syntax: (any ProtocolSyntax.Type)?, owner: String, sink: DiagnosticSink) -> [PointDefinition] {
        points.entries.compactMap { e in
            parsePoint(name: e.key, keyNode: e.keyNode, value: e.value, syntax: syntax, owner: owner, file: points.file, sink: sink)
        }
    }

    /// The shared keys here, the protocol's through its syntax, then the checks that need both
    /// (limits and scale against the point's kind). Without a syntax (the device's protocol is
    /// unknown) the shared keys are checked, and keys no protocol has; the point is nil then.
    func parsePoint(
        name: String, keyNode: Node, value: Node, syntax: (any ProtocolSyntax.Type)?, owner: String, file: String,
        sink: DiagnosticSink
    ) -> PointDefinition? {
        let before = sink.errorCount
        let context = "\(owner), point '\(name)'"
        guard let m = YAMLMapping(value, file: file, context: context, what: "a point", sink: sink) else { return nil }
        if let syntax {
            m.checkKeys(syntax.pointKeys + Self.commonPointKeys)
        } else {
            m.checkKeys(anyPointKeys, otherwise: Self.noProtocolHasKey)
        }
        if name.trimmingCharacters(in: .whitespaces).isEmpty {
            sink.error("\(owner): a point name must not be empty", at: location(of: keyNode, in: file))
        }

        var scale = m.number("scale") ?? 1
        if scale == 0, let node = m.value("scale") {
            m.error(
                "'scale' must not be zero", at: node,
                hint: "engineering = raw × scale + offset; use 1 for no scaling")
            scale = 1
        }
        let offset = m.number("offset") ?? 0
        let unit = m.string("unit")
        let description = m.string("description")
        let access = m.choice("access", Access.self) ?? .read
        var min = m.number("min")
        var max = m.number("max")
        let report = m.mapping("report").map(Self.parseReport)
        let address = syntax?.point(MapSection(m), access: access)
        if access.isWritable, let limits = address?.writeLimits {
            (min, max) = Self.limit(min: min, max: max, to: limits, scale: scale, offset: offset, of: address!, in: m)
        }

        if let min, let max, min > max, let node = m.value("min") {
            m.error("'min' (\(Value.format(min))) is greater than 'max' (\(Value.format(max)))", at: node)
        }
        let kind = address?.rawKind
        if min != nil || max != nil || m.has("enum"), let limit = m.entry("min") ?? m.entry("max") ?? m.entry("enum") {
            if kind == .bool {
                m.warning("'\(limit.key)' does not apply to bool points", at: limit.keyNode)
            } else if !access.isWritable, let limit = m.entry("min") ?? m.entry("max") {
                // A read-only `enum` is kept: it names the values the point reads (a machine's
                // states), for the inventory and the Modbus simulator's machines.
                m.warning(
                    "'min' and 'max' only limit writes, and this point is read-only", at: limit.keyNode,
                    hint: "set `access: readwrite` to allow writes")
            }
        }
        if kind == .string || kind == .bool, let e = m.entry("scale") ?? m.entry("offset") {
            m.warning("'scale' and 'offset' do not apply to \(kind!.rawValue) points", at: e.keyNode)
        }

        guard let address else {
            // Without the point's type, only the form of `enum` can be checked.
            if syntax == nil, let node = m.value("enum") { _ = Self.parseOptions(node, in: m, rule: nil) }
            return nil
        }
        guard sink.errorCount == before else { return nil }
        var point = PointDefinition(
            name: name, address: address, scale: scale, offset: offset, unit: unit, access: access, min: min, max: max,
            report: report, description: description, location: location(of: keyNode, in: file))
        if let node = m.value("enum") {
            guard let options = Self.parseOptions(node, in: m, rule: point.descriptor) else { return nil }
            point.options = options
        }
        return point
    }

    /// The point's `min`/`max` within what the device accepts (`limits`, raw, converted to
    /// engineering units here): absent ones default to the device's, and ones outside are errors.
    static func limit(
        min: Double?, max: Double?, to limits: ClosedRange<Double>, scale: Double, offset: Double,
        of address: any PointAddress, in m: YAMLMapping
    ) -> (Double?, Double?) {
        let ends = [limits.lowerBound * scale + offset, limits.upperBound * scale + offset]
        let lowest = ends.min()!, highest = ends.max()!
        let accepted = "\(address) accepts \(Value.format(lowest))…\(Value.format(highest))"
        var outside = false
        for (key, value) in [("min", min), ("max", max)] {
            guard let value, value < lowest || value > highest, let node = m.value(key) else { continue }
            m.error("'\(key)' (\(Value.format(value))) is \(value < lowest ? "below" : "above") what the device accepts", at: node, hint: accepted)
            outside = true
        }
        // After an error, no default that would add a second one (min above the default max).
        return outside ? (min, max) : (min ?? lowest, max ?? highest)
    }

    /// `enum: [0, 1, 2]` or `enum: { off: 0, heat: 1 }`: the values a write may set, each
    /// checked against the point's type and limits (when known: nil `point` checks the form only).
    static func parseOptions(_ node: Node, in m: YAMLMapping, rule point: PointDescriptor?) -> [EnumOption]? {
        let before = m.sink.errorCount
        var options: [(EnumOption, Node)] = []
        switch node {
        case .sequence(let seq):
            for item in seq {
                guard let v = scalarValue(item) else {
                    m.error("an 'enum' entry must be a single value, found \(describe(item))", at: item)
                    continue
                }
                options.append((EnumOption(value: v), item))
            }
        case .mapping:
            guard let labels = YAMLMapping(node, file: m.file, context: m.context, what: "'enum'", sink: m.sink) else { return nil }
            for e in labels.entries {
                guard let v = scalarValue(e.value) else {
                    m.error("enum option '\(e.key)' must have a single value, found \(describe(e.value))", at: e.value)
                    continue
                }
                options.append((EnumOption(label: e.key, value: v), e.value))
            }
        case .scalar, .alias:
            m.error(
                "'enum' must be a list of values or a mapping of names to values, found \(describe(node))", at: node,
                hint: "enum: [0, 1, 2] or enum: { off: 0, heat: 1, cool: 2 }")
            return nil
        }
        if options.isEmpty, m.sink.errorCount == before {
            m.error("'enum' lists no values", at: node)
        }
        let rule = point.map { ValueRule(kind: $0.kind, typeName: $0.typeName, min: $0.min, max: $0.max) }
        var seen: [EnumOption] = []
        for (option, node) in options {
            if case .failure(let why)? = rule?.check(option.value) {
                m.error("enum value \(option.value): \(why.message)", at: node)
            } else if seen.contains(where: { ValueRule.same($0.value, option.value) }) {
                m.error("enum value \(option.value) is listed twice", at: node)
            }
            seen.append(option)
        }
        return m.sink.errorCount == before ? options.map(\.0) : nil
    }

    // MARK: - Phase 2: all files → devices

    func resolve(_ files: [FileDraft], sink: DiagnosticSink) -> [DeviceDefinition] {
        var profiles: [String: ProfileDraft] = [:]
        var profileOrder: [String] = []
        for f in files {
            for p in f.profiles {
                if let first = profiles[p.name] {
                    sink.error(
                        "profile '\(p.name)' is defined twice", at: p.nameLocation,
                        hint: "first defined at \(first.nameLocation)")
                    continue
                }
                var p = p
                if p.valid, Self.checkCommands(p.commands, points: p.points, context: "profile '\(p.name)'", sink: sink) == nil {
                    p.valid = false
                }
                profiles[p.name] = p
                profileOrder.append(p.name)
            }
        }

        var devices: [DeviceDefinition] = []
        var seen: [String: SourceLocation] = [:]
        for f in files {
            for d in f.devices {
                var valid = d.valid
                if let id = d.id {
                    if let first = seen[id] {
                        sink.error(
                            "duplicate device id '\(id)'", at: d.idLocation,
                            hint: "first declared at \(first)")
                        valid = false
                    } else {
                        seen[id] = d.idLocation
                    }
                }
                // The protocol is the device's own or its profile's.
                var protocolName = d.protocolName
                let profile = d.profile.flatMap { profiles[$0] }
                var mixed = false
                if let profile, let own = d.protocolName, let theirs = profile.protocolName, own != theirs {
                    sink.error(
                        "\(d.context): protocol '\(own)' differs from protocol '\(theirs)' of profile '\(profile.name)'",
                        at: d.location, hint: "leave `protocol` out to use the profile's")
                    valid = false
                    mixed = true
                }
                if !d.declaresProtocol { protocolName = profile?.protocolName }
                // A profile that does not exist gives the device no protocol. Every problem is
                // still reported at once: the profile the name is nearest to lends its protocol
                // (the one the suggested fix gives) to check the device's own keys; without
                // one, they are checked as far as that goes without a protocol.
                let unknownProfile = d.profile != nil && profile == nil
                let suggested = unknownProfile ? d.profile.flatMap { Suggest.nearest($0, in: profileOrder) } : nil
                let lent = d.declaresProtocol ? nil : suggested.flatMap { profiles[$0]?.protocolName }
                let syntax = (protocolName ?? lent).flatMap(syntax(named:))
                let before = sink.errorCount
                let sections = parseSections(of: d, syntax: syntax, sink: sink)
                if sink.errorCount != before { valid = false }
                var points = sections.points
                var commandDrafts = sections.commands
                if let name = d.profile, let node = d.profileNode {
                    if let profile {
                        if !profile.valid { valid = false }
                        points = Self.merge(profile: profile.points, device: sections.points, name: \.name)
                        // A broken profile was reported once, at the profile.
                        if profile.valid { commandDrafts = Self.merge(profile: profile.commands, device: sections.commands, name: \.name) }
                    } else {
                        var hint =
                            suggested.map { "did you mean '\($0)'?" }
                            ?? (profileOrder.isEmpty
                                ? "no profiles are defined"
                                : "known profiles: " + profileOrder.joined(separator: ", "))
                        if let lent, let suggested {
                            hint += " the device's own connection and points were checked as \(lent), the protocol of '\(suggested)'"
                        } else if !d.declaresProtocol {
                            hint += "; without a profile or `protocol:`, the device's own connection and points could not be checked against a protocol"
                        }
                        sink.error("\(d.context): unknown profile '\(name)'", at: location(of: node, in: d.file), hint: hint)
                        valid = false
                    }
                }
                // Every point was parsed by this syntax unless profile and device disagree.
                if let syntax, !mixed {
                    syntax.check(points: points, connection: sections.connection, of: d.context, at: d.location, reporter: MapReporter(sink: sink))
                }
                // Writes to points that may exist where the loader cannot see them (in an unknown
                // profile, or points not parsed without a protocol) are not checked.
                if unknownProfile || syntax == nil {
                    let known = Set(points.map(\.name))
                    commandDrafts = commandDrafts.map { draft in
                        var draft = draft
                        draft.writes = draft.writes.filter { known.contains($0.point) }
                        return draft
                    }
                }
                let commands = Self.checkCommands(commandDrafts, points: points, context: d.context, sink: sink)
                guard valid, let commands, let id = d.id, let protocolName, let connection = sections.connection else { continue }
                if points.isEmpty {
                    sink.warning(
                        "\(d.context): the device has no points; it will connect but report nothing",
                        at: d.location, hint: "add `points:` or a `profile`")
                }
                devices.append(
                    DeviceDefinition(
                        id: id, protocolName: protocolName, profile: d.profile, connection: connection,
                        poll: d.poll, points: points, commands: commands, report: d.report,
                        commandTimeout: d.commandTimeout, location: d.location))
            }
        }
        let withErrors = Set(files.flatMap { $0.devices.compactMap(\.id) }).subtracting(devices.map(\.id))
        var resolved: [String: DeviceDefinition] = [:]
        for syntax in protocols {
            let own = devices.filter { $0.protocolName == syntax.name }
            syntax.check(devices: own, reporter: MapReporter(sink: sink))
            for device in syntax.resolve(devices: own, among: devices, withErrors: withErrors, reporter: MapReporter(sink: sink)) {
                resolved[device.id] = device
            }
        }
        return devices.map { d in resolved[d.id].flatMap { $0.protocolName == d.protocolName ? $0 : nil } ?? d }
    }

    /// Profile entries first in profile order; a device entry with a profile entry's name
    /// replaces it whole, in place; the device's other entries follow in file order. Used for
    /// points and for commands.
    static func merge<T>(profile: [T], device: [T], name: (T) -> String) -> [T] {
        let overrides = Dictionary(device.map { (name($0), $0) }, uniquingKeysWith: { a, _ in a })
        let inherited = Set(profile.map(name))
        return profile.map { overrides[name($0)] ?? $0 } + device.filter { !inherited.contains(name($0)) }
    }
}
