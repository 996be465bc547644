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
    static let profileKeys = ["protocol", "points", "description"]
    static let deviceKeys = ["id", "protocol", "profile", "connection", "poll", "points", "report", "description"]
    static let tcpKeys = ["host", "port", "unit_id", "timeout"]
    static let rtuKeys = ["serial", "baud", "parity", "data_bits", "stop_bits"]
    static let reportKeys = ["deadband", "max_interval"]
    static let pointKeys = ["table", "address", "type", "byte_order", "word_order", "scale", "offset",
                            "unit", "description", "access", "min", "max"]
    static let laterCommands = ["commands": "named commands are not supported yet; write points with `access: readwrite`"]
    /// Types of the design that the Modbus codec does not implement yet.
    static let laterTypes = ["int64", "uint64", "float64", "string"]

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
        var draft = ProfileDraft(name: e.key, nameLocation: location(of: e.keyNode, in: file), points: [], valid: false)
        guard let m = YAMLMapping(e.value, file: file, context: context, what: "a profile", sink: sink) else { return draft }
        m.checkKeys(profileKeys, later: laterCommands)
        let proto = checkProtocol(m)
        if !m.has("protocol") {
            m.error("missing required key 'protocol'", at: m.node, hint: "supported: \(supportedProtocols.joined(separator: ", "))")
        }
        if proto != nil || !m.has("protocol"), let points = m.mapping("points") {
            draft.points = parsePoints(points, owner: context, sink: sink)
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
        m.checkKeys(deviceKeys, later: laterCommands)

        var draft = DeviceDraft(id: nil, idLocation: m.location, context: context, protocolName: nil, profile: nil,
                                file: file, connection: nil, poll: .seconds(1), points: [], report: nil,
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
        }
        draft.poll = m.duration("poll") ?? .seconds(1)
        if let r = m.mapping("report") {
            r.checkKeys(reportKeys)
            var policy = ReportPolicy()
            if let d = r.number("deadband") {
                if d < 0 {
                    r.error("'deadband' must not be negative, found \(Value.format(d))", at: r.value("deadband")!)
                } else {
                    policy.deadband = d
                }
            }
            policy.maxInterval = r.duration("max_interval")
            draft.report = policy
        }
        draft.valid = sink.errorCount == before
        return draft
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
        let explicitType = m.choice("type", ModbusDataType.self, later: laterTypes)
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

        var type = explicitType
        if let table {
            if table.isBitTable, let t = explicitType, t != .bool, let node = m.value("type") {
                m.error("type '\(t.rawValue)' does not fit table '\(table.rawValue)'", at: node,
                        hint: "\(table.rawValue) holds single bits: use type bool or leave type out")
            }
            if type == nil { type = table.isBitTable ? .bool : .int16 }
            if access.isWritable, !table.isWritable, let node = m.value("access") {
                let instead = table == .input ? "holding" : "coil"
                m.error("access '\(access.rawValue)' is not possible on table '\(table.rawValue)'", at: node,
                        hint: "Modbus \(table.rawValue) \(table.isBitTable ? "inputs" : "registers") are read-only; a writable point lives in table \(instead)")
            }
        }
        if let type, let address, let node = m.value("address") {
            let last = address + type.registerCount - 1
            if last > 65535 {
                m.error("\(type.rawValue) at address \(address) needs \(type.registerCount) registers and runs past the last address 65535",
                        at: node, hint: "the highest address for a \(type.rawValue) is \(65536 - type.registerCount)")
            }
        }
        if let min, let max, min > max, let node = m.value("min") {
            m.error("'min' (\(Value.format(min))) is greater than 'max' (\(Value.format(max)))", at: node)
        }
        if min != nil || max != nil, let limit = m.entry("min") ?? m.entry("max") {
            if type == .bool {
                m.warning("'min' and 'max' do not apply to bool points", at: limit.keyNode)
            } else if !access.isWritable {
                m.warning("'min' and 'max' only limit writes, and this point is read-only", at: limit.keyNode,
                          hint: "set `access: readwrite` to allow writes")
            }
        }
        if type == .bool, let e = m.entry("scale") ?? m.entry("offset") {
            m.warning("'scale' and 'offset' do not apply to bool points", at: e.keyNode)
        }

        guard sink.errorCount == before, let table, let address, let type else { return nil }
        return PointDefinition(
            name: name,
            address: ModbusAddress(table: table, offset: address, type: type, byteOrder: byteOrder, wordOrder: wordOrder),
            scale: scale, offset: offset, unit: unit, access: access, min: min, max: max,
            description: description, location: location(of: keyNode, in: file))
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
                if let name = d.profile, let node = d.profileNode {
                    if let profile = profiles[name] {
                        if !profile.valid { valid = false }
                        points = merge(profile: profile.points, device: d.points)
                    } else {
                        let hint = Suggest.didYouMean(name, in: profileOrder)
                            ?? (profileOrder.isEmpty ? "no profiles are defined"
                                : "known profiles: " + profileOrder.joined(separator: ", "))
                        sink.error("\(d.context): unknown profile '\(name)'", at: location(of: node, in: d.file), hint: hint)
                        valid = false
                    }
                }
                warnOverlaps(points, context: d.context, fallback: d.location, sink: sink)
                guard valid, let id = d.id, let connection = d.connection else { continue }
                if points.isEmpty {
                    sink.warning("\(d.context): the device has no points; it will connect but report nothing",
                                 at: d.location, hint: "add `points:` or a `profile`")
                }
                devices.append(DeviceDefinition(
                    id: id, protocolName: d.protocolName ?? "modbus", profile: d.profile, connection: connection,
                    poll: d.poll, points: points, report: d.report, location: d.location))
            }
        }
        return devices
    }

    /// Two points reading the same register or bit are usually a typo in an address (the
    /// same register decoded twice is legal, hence a warning, not an error).
    static func warnOverlaps(_ points: [PointDefinition], context: String, fallback: SourceLocation, sink: DiagnosticSink) {
        var claimed: [ModbusTable: [(range: Range<Int>, name: String)]] = [:]
        for point in points {
            let a = point.address
            let range = a.offset..<(a.offset + (a.table.isBitTable ? 1 : a.type.registerCount))
            if let other = claimed[a.table, default: []].first(where: { $0.range.overlaps(range) }) {
                let shared = max(range.lowerBound, other.range.lowerBound)
                let unit = a.table.isBitTable ? "bit" : "register"
                sink.warning("\(context), point '\(point.name)': overlaps point '\(other.name)' at \(a.table.rawValue) \(unit) \(shared)",
                             at: point.location ?? fallback,
                             hint: "check the address: \(a.type.rawValue) at \(a.offset) uses \(range.count) \(unit)(s)")
            }
            claimed[a.table, default: []].append((range, point.name))
        }
    }

    /// Profile points first in profile order; a device point with a profile point's name
    /// replaces it whole, in place; the device's other points follow in file order.
    static func merge(profile: [PointDefinition], device: [PointDefinition]) -> [PointDefinition] {
        let overrides = Dictionary(device.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let inherited = Set(profile.map(\.name))
        return profile.map { overrides[$0.name] ?? $0 } + device.filter { !inherited.contains($0.name) }
    }
}
