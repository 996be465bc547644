public import Admin
public import ConfigSyntax
import DeviceMaps
import Foundation
import MQTTClient
public import Uplink
import Yams

/// The gateway's own configuration file (`edgegate run --config FILE`): the top level and
/// the `gateway` section here, each other section parsed by the module that uses it (`uplink`
/// by the uplink and the profile it names, `outbox` by the outbox, `commands` next to the
/// command ledger, `admin` by the admin endpoint).
///
/// Relative paths in the file (device maps, TLS files, the outbox) are resolved against the
/// folder that holds the file, so a configuration works whatever the working directory is.
public struct GatewayConfiguration: Sendable {
    /// Device-map files and folders, resolved.
    public var devicemaps: [String]
    /// How to reach the hub, and the wire profile's settings.
    public var uplink: UplinkConfiguration
    /// Where readings wait while the uplink is down.
    public var outbox: OutboxConfiguration
    /// How long and how many command ids are remembered to answer repeats `duplicate`.
    public var commands: CommandSettings
    /// Where the admin endpoint listens, and its token file.
    public var admin: AdminSettings

    /// The gateway id: the `{gw}` level of every uplink topic (kept by the uplink's link).
    public var gatewayID: String { uplink.link.gatewayID }

    /// Creates a configuration.
    public init(
        devicemaps: [String], uplink: UplinkConfiguration,
        outbox: OutboxConfiguration = OutboxConfiguration(path: "var/outbox.sqlite"),
        commands: CommandSettings = CommandSettings(), admin: AdminSettings = AdminSettings()
    ) {
        self.admin = admin
        self.devicemaps = devicemaps
        self.uplink = uplink
        self.outbox = outbox
        self.commands = commands
    }

    /// Reads and validates a configuration file.
    /// - Throws: every diagnostic, warnings included, when any error was found.
    public static func load(file: String, profiles: [UplinkProfileDescriptor] = UplinkProfiles.standard) throws(DeviceMapError) -> GatewayConfiguration {
        let check = validate(file: file, profiles: profiles)
        guard let config = check.config else { throw DeviceMapError(diagnostics: check.diagnostics) }
        return config
    }

    /// Like `load(file:)`, but returns the warnings of a configuration that loads too, and the
    /// device-map paths it names also when something else in it is wrong (for `config
    /// validate`, which checks those maps as well).
    /// - Returns: the configuration (nil when any error was found), the `gateway.devicemaps`
    ///   paths that could be read (resolved), and every diagnostic in file order.
    public static func validate(
        file: String, profiles: [UplinkProfileDescriptor] = UplinkProfiles.standard
    ) -> (config: GatewayConfiguration?, devicemaps: [String], diagnostics: [Diagnostic]) {
        let text: String
        switch TextFile.read(file) {
        case .success(let read): text = read
        case .failure(let problem): return (nil, [], [TextFile.diagnostic(problem, path: file, what: "configuration")])
        }
        return check(yaml: text, file: file, profiles: profiles)
    }

    /// Parses a configuration from text.
    /// - Parameters:
    ///   - yaml: the file's content.
    ///   - file: the file's path: diagnostics print it and relative paths resolve against its folder.
    /// - Returns: the configuration (nil when any error was found) and every diagnostic in file order.
    public static func parse(
        yaml: String, file: String,
        profiles: [UplinkProfileDescriptor] = UplinkProfiles.standard
    ) -> (config: GatewayConfiguration?, diagnostics: [Diagnostic]) {
        let check = check(yaml: yaml, file: file, profiles: profiles)
        return (check.config, check.diagnostics)
    }

    static func check(
        yaml: String, file: String, profiles: [UplinkProfileDescriptor]
    ) -> (config: GatewayConfiguration?, devicemaps: [String], diagnostics: [Diagnostic]) {
        let sink = DiagnosticSink()
        let (config, devicemaps) = ConfigParser(file: file, sink: sink, profiles: profiles).parse(yaml)
        return (sink.hasErrors ? nil : config, devicemaps, sink.sorted(fileOrder: [file]))
    }
}

// MARK: - Parser

struct ConfigParser {
    let file: String
    let sink: DiagnosticSink
    let profiles: [UplinkProfileDescriptor]

    static let topKeys = ["gateway", "uplink", "outbox", "commands", "admin"]
    static let gatewayKeys = ["id", "devicemaps"]

    func path(_ p: String) -> String { resolve(p, relativeToFolderOf: file) }

    /// The configuration (nil after errors) and the device-map paths it names, resolved,
    /// which `config validate` checks also when the configuration has errors elsewhere.
    func parse(_ yaml: String) -> (GatewayConfiguration?, [String]) {
        guard let composed = composeYAML(yaml, file: file, sink: sink) else { return (nil, []) }
        guard let root = composed else {
            sink.error(
                "the configuration is empty", at: SourceLocation(file: file, line: 1, column: 1),
                hint: "it needs at least `gateway: { id: ..., devicemaps: [...] }` and `uplink: { url: ... }`")
            return (nil, [])
        }
        guard let top = YAMLMapping(root, file: file, context: "", what: "the configuration", sink: sink) else { return (nil, []) }
        // A device map given by mistake: one error that says so, rather than one per key and
        // the missing `gateway` and `uplink`.
        let keys = top.entries.map(\.key)
        if let first = top.entries.first, keys.allSatisfy(DeviceMapLoader.topKeys.contains) {
            top.error(
                "unknown key '\(first.key)'", at: first.keyNode,
                hint: "this looks like a device map: check it with `edgegate map validate \(file)`")
            return (nil, [])
        }
        top.checkKeys(Self.topKeys)

        var gatewayID: String?
        var maps: [String] = []
        if let g = top.mapping("gateway", context: "gateway", required: true) {
            g.checkKeys(Self.gatewayKeys)
            gatewayID = g.name("id", required: true)
            if let id = gatewayID, let node = g.value("id") {
                if !TopicRules.badCharacters(inLevel: id).isEmpty {
                    g.error("id '\(id)' cannot be an MQTT topic level", at: node, hint: TopicRules.levelHint)
                    gatewayID = nil
                }
            }
            if let list = g.list("devicemaps", required: true, allowSingle: true) {
                if list.isEmpty {
                    g.error(
                        "'devicemaps' lists no files or folders", at: g.value("devicemaps")!,
                        hint: "e.g. devicemaps: [devicemaps/]")
                }
                for item in list {
                    guard case .scalar(let s) = item, !isNull(item), !s.string.isEmpty else {
                        g.error("each 'devicemaps' entry must be a file or folder path, found \(describe(item))", at: item)
                        continue
                    }
                    maps.append(path(s.string))
                }
            }
        }

        let uplinkMapping = top.mapping(
            "uplink", context: "uplink", required: true,
            hint: "e.g. uplink: { url: mqtts://hub.example:8883, tls: { ca: ... } }")
        let uplink = uplinkMapping.flatMap { UplinkConfiguration.parse($0, gatewayID: gatewayID, file: file, profiles: profiles) }
        let commands = CommandSettings.parse(top.mapping("commands", context: "commands"))
        let outbox = OutboxConfiguration.parse(top.mapping("outbox", context: "outbox"), file: file)
        let admin = AdminSettings.parse(top.mapping("admin", context: "admin"), file: file)

        guard gatewayID != nil, let uplink else { return (nil, maps) }
        return (GatewayConfiguration(devicemaps: maps, uplink: uplink, outbox: outbox, commands: commands, admin: admin), maps)
    }
}
