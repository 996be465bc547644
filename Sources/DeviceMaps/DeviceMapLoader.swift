import Foundation
import GatewayCore
import Yams

/// Reads device-map YAML files into a validated `DeviceMap`.
///
/// Every file is checked completely and every problem is reported at once, compiler style.
/// A map with any error never loads, not even partly; warnings do not stop loading.
public enum DeviceMapLoader {
    /// The protocols a device or profile may name today.
    public static let supportedProtocols = ["modbus"]

    /// Loads files and folders (a folder contributes its `*.yaml` and `*.yml` files, sorted by
    /// name, not recursively). Profiles are shared by all files loaded together, and device ids
    /// must be unique across them.
    /// - Throws: every diagnostic, warnings included, when any error was found.
    public static func load(paths: [String]) throws(DeviceMapError) -> DeviceMap {
        let (map, diagnostics) = validate(paths: paths)
        guard let map else { throw DeviceMapError(diagnostics: diagnostics) }
        return map
    }

    /// Like `load(paths:)`, but returns the warnings of a map that loads too (for `map validate`).
    /// - Returns: the map (nil when any error was found) and every diagnostic in file order.
    public static func validate(paths: [String]) -> (map: DeviceMap?, diagnostics: [Diagnostic]) {
        let sink = DiagnosticSink()
        let files = expand(paths: paths, sink: sink)
        var drafts: [FileDraft] = []
        for file in files {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                sink.error("cannot read the device map: \(reason(error))",
                           at: SourceLocation(file: file, line: 0, column: 0))
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
    public static func parse(yaml: String, file: String) -> (map: DeviceMap?, diagnostics: [Diagnostic]) {
        let sink = DiagnosticSink()
        let draft = parseFile(yaml: yaml, file: file, sink: sink)
        let devices = resolve([draft], sink: sink)
        return (sink.hasErrors ? nil : DeviceMap(devices: devices), sink.sorted(fileOrder: [file]))
    }

    // MARK: - Files

    static func reason(_ error: any Error) -> String {
        (error as NSError).localizedDescription
    }

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
        var connection: ModbusTCPConnection?
        var poll: Duration
        var points: [PointDefinition]
        var commands: [CommandDraft]
        var report: ReportPolicy?
        var location: SourceLocation
        var valid: Bool
    }

    struct FileDraft {
        var file: String
        var profiles: [ProfileDraft] = []
        var devices: [DeviceDraft] = []
    }

    static let topKeys = ["profiles", "devices"]
    static let profileKeys = ["protocol", "points", "commands", "description"]
    static let deviceKeys = ["id", "protocol", "profile", "connection", "poll", "points", "commands", "report", "description"]
    static let tcpKeys = ["host", "port", "unit_id", "timeout"]
    static let rtuKeys = ["serial", "baud", "parity", "data_bits", "stop_bits"]
    static let reportKeys = ["deadband", "max_interval"]
    static let pointKeys = ["table", "address", "type", "length", "bit", "byte_order", "word_order", "scale", "offset",
                            "unit", "description", "access", "min", "max", "enum", "report"]
    /// Registers one read request can carry (Modbus FC 3/4), so the longest string.
    static let maxStringRegisters = 125

    static func parseFile(yaml: String, file: String, sink: DiagnosticSink) -> FileDraft {
        var draft = FileDraft(file: file)
        guard let composed = composeYAML(yaml, file: file, sink: sink) else { return draft }
        guard let root = composed else {
            sink.warning("the file is empty: no profiles, no devices", at: SourceLocation(file: file, line: 1, column: 1))
            return draft
        }
        guard let top = YAMLMapping(root, file: file, context: "", what: "a device map", sink: sink) else { return draft }
        top.checkKeys(topKeys)

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

    /// Checks a `protocol:` value; nil when it is missing or not supported (already reported).
    static func checkProtocol(_ m: YAMLMapping) -> String? {
        guard let p = m.name("protocol"), let node = m.value("protocol") else { return nil }
        guard supportedProtocols.contains(p) else {
            m.error("protocol '\(p)' is not supported yet; supported: \(supportedProtocols.joined(separator: ", "))",
                    at: node, hint: Suggest.didYouMean(p, in: supportedProtocols))
            return nil
        }
        return p
    }

    static func parseProfile(_ e: YAMLMapping.Entry, file: String, sink: DiagnosticSink) -> ProfileDraft {
        let before = sink.errorCount
        let context = "profile '\(e.key)'"
        var draft = ProfileDraft(name: e.key, nameLocation: location(of: e.keyNode, in: file), points: [], commands: [], valid: false)
        guard let m = YAMLMapping(e.value, file: file, context: context, what: "a profile", sink: sink) else { return draft }
        m.checkKeys(profileKeys)
        let proto = checkProtocol(m)
        if !m.has("protocol") {
            m.error("missing required key 'protocol'", at: m.node, hint: "supported: \(supportedProtocols.joined(separator: ", "))")
        }
        if proto != nil || !m.has("protocol"), let points = m.mapping("points") {
            draft.points = parsePoints(points, owner: context, sink: sink)
        }
        if let commands = m.mapping("commands") {
            draft.commands = parseCommands(commands, owner: context)
        }
        draft.valid = sink.errorCount == before
        return draft
    }

    static func parseDevice(_ node: Node, index: Int, file: String, sink: DiagnosticSink) -> DeviceDraft? {
        let before = sink.errorCount
        // A device without a usable id is still checked, under its position in the list.
        var context = "device #\(index + 1)"
        if case .mapping(let raw) = node, let idNode = raw["id"], case .scalar(let s) = idNode,
           !isNull(idNode), !s.string.isEmpty {
            context = "device '\(s.string)'"
        }
        guard let m = YAMLMapping(node, file: file, context: context, what: "a device", sink: sink) else { return nil }
        m.checkKeys(deviceKeys)

        var draft = DeviceDraft(id: nil, idLocation: m.location, context: context, protocolName: nil, profile: nil,
                                file: file, connection: nil, poll: .seconds(1), points: [], commands: [], report: nil,
                                location: m.location, valid: false)
        draft.id = m.name("id", required: true)
        if let idNode = m.value("id") { draft.idLocation = m.location(of: idNode) }
        draft.profile = m.name("profile")
        draft.profileNode = m.value("profile")

        let proto = checkProtocol(m)
        draft.protocolName = proto
        if !m.has("protocol") && !m.has("profile") {
            m.error("missing required key 'protocol'", at: m.node,
                    hint: "add `protocol: modbus`, or a `profile` that names one")
        }
        // Connection and points of another protocol would only produce noise.
        let isModbus = proto != nil || !m.has("protocol")
        if isModbus {
            if let c = m.mapping("connection", context: context, required: true,
                                 hint: "for Modbus TCP: connection: { host: 192.0.2.10, port: 502, unit_id: 1 }") {
                draft.connection = parseConnection(c)
            }
            if let points = m.mapping("points") {
                draft.points = parsePoints(points, owner: context, sink: sink)
            }
            if let commands = m.mapping("commands") {
                draft.commands = parseCommands(commands, owner: context)
            }
        }
        draft.poll = m.duration("poll") ?? .seconds(1)
        if let r = m.mapping("report") {
            draft.report = parseReport(r)
        }
        draft.valid = sink.errorCount == before
        return draft
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

    static func parseConnection(_ c: YAMLMapping) -> ModbusTCPConnection? {
        let before = c.sink.errorCount
        c.checkKeys(tcpKeys + rtuKeys)
        if let rtu = c.entries.first(where: { rtuKeys.contains($0.key) }) {
            // One clear message instead of one per serial key plus a missing host.
            c.error("Modbus RTU (serial) connections are not supported yet; supported: Modbus TCP", at: rtu.keyNode,
                    hint: "connection: { host: ..., port: 502, unit_id: ... }")
            return nil
        }
        let host = c.name("host", required: true, hint: "the device's IP address or host name")
        let port = c.integer("port", in: 1...65535) ?? 502
        let unit = c.integer("unit_id", in: 0...255) ?? 1
        let timeout = c.duration("timeout") ?? .seconds(1)
        guard let host, c.sink.errorCount == before else { return nil }
        return ModbusTCPConnection(host: host, port: port, unitID: unit, responseTimeout: timeout)
    }

    static func parsePoints(_ points: YAMLMapping, owner: String, sink: DiagnosticSink) -> [PointDefinition] {
        points.entries.compactMap { e in
            parsePoint(name: e.key, keyNode: e.keyNode, value: e.value, owner: owner, file: points.file, sink: sink)
        }
    }

    static func parsePoint(name: String, keyNode: Node, value: Node, owner: String, file: String,
                           sink: DiagnosticSink) -> PointDefinition? {
        let before = sink.errorCount
        let context = "\(owner), point '\(name)'"
        guard let m = YAMLMapping(value, file: file, context: context, what: "a point", sink: sink) else { return nil }
        m.checkKeys(pointKeys)
        if name.trimmingCharacters(in: .whitespaces).isEmpty {
            sink.error("\(owner): a point name must not be empty", at: location(of: keyNode, in: file))
        }

        let table = m.choice("table", ModbusTable.self, required: true)
        let address = m.integer("address", in: 0...65535, required: true)
        let explicitType = m.choice("type", ModbusDataType.self)
        let byteOrder = m.choice("byte_order", ByteOrder.self) ?? .big
        let wordOrder = m.choice("word_order", ByteOrder.self) ?? .big
        var scale = m.number("scale") ?? 1
        if scale == 0, let node = m.value("scale") {
            m.error("'scale' must not be zero", at: node,
                    hint: "engineering = raw × scale + offset; use 1 for no scaling")
            scale = 1
        }
        let offset = m.number("offset") ?? 0
        let unit = m.string("unit")
        let description = m.string("description")
        let access = m.choice("access", Access.self) ?? .read
        let min = m.number("min")
        let max = m.number("max")
        let bit = m.integer("bit", in: 0...15)
        let report = m.mapping("report").map(parseReport)

        var type = explicitType
        if let table {
            if table.isBitTable, let t = explicitType, t != .bool, let node = m.value("type") {
                m.error("type '\(t.rawValue)' does not fit table '\(table.rawValue)'", at: node,
                        hint: "\(table.rawValue) holds single bits: use type bool or leave type out")
            }
            if let bit, let node = m.value("bit") {
                if table.isBitTable {
                    m.error("'bit' selects one bit of a register, and table '\(table.rawValue)' holds single bits already", at: node,
                            hint: "remove 'bit'; the address is the bit's own address")
                } else if let t = explicitType, t != .bool, let typeNode = m.value("type") {
                    m.error("type '\(t.rawValue)' does not fit 'bit: \(bit)'", at: typeNode,
                            hint: "a single bit is a bool: use type bool or leave type out")
                }
            }
            if type == nil { type = table.isBitTable || bit != nil ? .bool : .int16 }
            if access.isWritable, !table.isWritable, let node = m.value("access") {
                let instead = table == .input ? "holding" : "coil"
                m.error("access '\(access.rawValue)' is not possible on table '\(table.rawValue)'", at: node,
                        hint: "Modbus \(table.rawValue) \(table.isBitTable ? "inputs" : "registers") are read-only; a writable point lives in table \(instead)")
            }
        }
        var length = 0
        if let node = m.value("length") {
            if type == .string {
                let hint = "'length' counts registers, two characters each: 1 to \(maxStringRegisters)"
                if let n = m.integer("length", in: 0...65535) {
                    if n == 0 {
                        m.error("a string of length 0 holds nothing", at: node, hint: hint)
                    } else if n > maxStringRegisters {
                        m.error("a string of \(n) registers is longer than one Modbus read can carry", at: node, hint: hint)
                    }
                    length = n
                }
            } else if let e = m.entry("length") {
                m.warning("'length' only applies to string points", at: e.keyNode)
            }
        } else if type == .string, table?.isBitTable == false {
            m.error("a string point needs 'length'", at: m.value("type") ?? m.node,
                    hint: "the number of registers it spans, two characters each, e.g. length: 10 for 20 characters")
        }
        if let type, let table, let address, let node = m.value("address") {
            let count = ModbusAddress(table: table, offset: address, type: type, length: length).registerCount
            if count > 0, address + count - 1 > 65535 {
                let what = type == .string ? "string[\(length)]" : type.rawValue
                m.error("\(what) at address \(address) needs \(count) registers and runs past the last address 65535",
                        at: node, hint: "the highest address for a \(what) is \(65536 - count)")
            }
        }
        if let min, let max, min > max, let node = m.value("min") {
            m.error("'min' (\(Value.format(min))) is greater than 'max' (\(Value.format(max)))", at: node)
        }
        let limited = m.entry("min") ?? m.entry("max") ?? m.entry("enum")
        if let limit = limited, min != nil || max != nil || m.has("enum") {
            if type == .bool {
                m.warning("'\(limit.key)' does not apply to bool points", at: limit.keyNode)
            } else if !access.isWritable {
                m.warning("'min', 'max' and 'enum' only limit writes, and this point is read-only", at: limit.keyNode,
                          hint: "set `access: readwrite` to allow writes")
            }
        }
        if type == .string || type == .bool, let e = m.entry("scale") ?? m.entry("offset") {
            m.warning("'scale' and 'offset' do not apply to \(type!.rawValue) points", at: e.keyNode)
        }
        if type == .string, let e = m.entry("word_order") {
            m.warning("'word_order' does not apply to strings: their registers are always read in address order", at: e.keyNode,
                      hint: "byte_order: little swaps the two characters of each register")
        }

        guard sink.errorCount == before, let table, let address, let type else { return nil }
        var point = PointDefinition(
            name: name,
            address: ModbusAddress(table: table, offset: address, type: type, byteOrder: byteOrder, wordOrder: wordOrder,
                                   length: length, bit: bit),
            scale: scale, offset: offset, unit: unit, access: access, min: min, max: max,
            report: report, description: description, location: location(of: keyNode, in: file))
        if let node = m.value("enum") {
            guard let options = parseOptions(node, in: m, rule: point.descriptor) else { return nil }
            point.options = options
        }
        return point
    }

    /// `enum: [0, 1, 2]` or `enum: { off: 0, heat: 1 }`: the values a write may set, each
    /// checked against the point's type and limits.
    static func parseOptions(_ node: Node, in m: YAMLMapping, rule point: PointDescriptor) -> [EnumOption]? {
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
            m.error("'enum' must be a list of values or a mapping of names to values, found \(describe(node))", at: node,
                    hint: "enum: [0, 1, 2] or enum: { off: 0, heat: 1, cool: 2 }")
            return nil
        }
        if options.isEmpty, m.sink.errorCount == before {
            m.error("'enum' lists no values", at: node)
        }
        let rule = ValueRule(kind: point.kind, typeName: point.typeName, min: point.min, max: point.max)
        var seen: [EnumOption] = []
        for (option, node) in options {
            if case .failure(let why) = rule.check(option.value) {
                m.error("enum value \(option.value): \(why.message)", at: node)
            } else if seen.contains(where: { ValueRule.same($0.value, option.value) }) {
                m.error("enum value \(option.value) is listed twice", at: node)
            }
            seen.append(option)
        }
        return m.sink.errorCount == before ? options.map(\.0) : nil
    }

    // MARK: - Phase 2: all files → devices

    static func resolve(_ files: [FileDraft], sink: DiagnosticSink) -> [DeviceDefinition] {
        var profiles: [String: ProfileDraft] = [:]
        var profileOrder: [String] = []
        for f in files {
            for p in f.profiles {
                if let first = profiles[p.name] {
                    sink.error("profile '\(p.name)' is defined twice", at: p.nameLocation,
                               hint: "first defined at \(first.nameLocation)")
                    continue
                }
                var p = p
                if p.valid, checkCommands(p.commands, points: p.points, context: "profile '\(p.name)'", sink: sink) == nil {
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
                        sink.error("duplicate device id '\(id)'", at: d.idLocation,
                                   hint: "first declared at \(first)")
                        valid = false
                    } else {
                        seen[id] = d.idLocation
                    }
                }
                var points = d.points
                var commandDrafts = d.commands
                if let name = d.profile, let node = d.profileNode {
                    if let profile = profiles[name] {
                        if !profile.valid { valid = false }
                        points = merge(profile: profile.points, device: d.points, name: \.name)
                        // A broken profile was reported once, at the profile.
                        if profile.valid { commandDrafts = merge(profile: profile.commands, device: d.commands, name: \.name) }
                    } else {
                        let hint = Suggest.didYouMean(name, in: profileOrder)
                            ?? (profileOrder.isEmpty ? "no profiles are defined"
                                : "known profiles: " + profileOrder.joined(separator: ", "))
                        sink.error("\(d.context): unknown profile '\(name)'", at: location(of: node, in: d.file), hint: hint)
                        valid = false
                    }
                }
                warnOverlaps(points, context: d.context, fallback: d.location, sink: sink)
                let commands = checkCommands(commandDrafts, points: points, context: d.context, sink: sink)
                guard valid, let commands, let id = d.id, let connection = d.connection else { continue }
                if points.isEmpty {
                    sink.warning("\(d.context): the device has no points; it will connect but report nothing",
                                 at: d.location, hint: "add `points:` or a `profile`")
                }
                devices.append(DeviceDefinition(
                    id: id, protocolName: d.protocolName ?? "modbus", profile: d.profile, connection: connection,
                    poll: d.poll, points: points, commands: commands, report: d.report, location: d.location))
            }
        }
        return devices
    }

    /// Two points reading the same register or bit are usually a typo in an address (the
    /// same register decoded twice is legal, hence a warning, not an error).
    static func warnOverlaps(_ points: [PointDefinition], context: String, fallback: SourceLocation, sink: DiagnosticSink) {
        var claimed: [ModbusTable: [(range: Range<Int>, bit: Int?, name: String)]] = [:]
        for point in points {
            let a = point.address
            let range = a.offset..<(a.offset + a.registerCount)
            // A status word read whole and bit by bit is a common, deliberate pattern: a bit
            // point only clashes with another point on the same bit.
            let clash = claimed[a.table, default: []].first { other in
                other.range.overlaps(range) && a.bit == other.bit
            }
            if let other = clash {
                let shared = max(range.lowerBound, other.range.lowerBound)
                let unit = a.table.isBitTable ? "bit" : "register"
                sink.warning("\(context), point '\(point.name)': overlaps point '\(other.name)' at \(a.table.rawValue) \(unit) \(shared)",
                             at: point.location ?? fallback,
                             hint: "check the address: \(a.typeDescription) at \(a.offset) uses \(range.count) \(unit)(s)")
            }
            claimed[a.table, default: []].append((range, a.bit, point.name))
        }
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
