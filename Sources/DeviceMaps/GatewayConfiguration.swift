import ConfigSyntax
import Foundation
import MQTTClient
import Yams

/// The gateway's own configuration file (`edgegate run --config FILE`).
///
/// Relative paths in the file (device maps, TLS files, the outbox) are resolved against the
/// folder that holds the file, so a configuration works whatever the working directory is.
public struct GatewayConfiguration: Sendable, Hashable {
    /// The gateway id: the `{gw}` level of every uplink topic.
    public var gatewayID: String
    /// Device-map files and folders, resolved.
    public var devicemaps: [String]
    /// How to reach the hub.
    public var uplink: UplinkSettings
    /// Where readings wait while the uplink is down.
    public var outbox: OutboxSettings
    /// How long and how many command ids are remembered to answer repeats `duplicate`.
    public var commands: CommandSettings

    /// Creates a configuration.
    public init(gatewayID: String, devicemaps: [String], uplink: UplinkSettings,
                outbox: OutboxSettings = OutboxSettings(), commands: CommandSettings = CommandSettings()) {
        self.gatewayID = gatewayID
        self.devicemaps = devicemaps
        self.uplink = uplink
        self.outbox = outbox
        self.commands = commands
    }

    /// Reads and validates a configuration file.
    /// - Throws: every diagnostic, warnings included, when any error was found.
    public static func load(file: String) throws(DeviceMapError) -> GatewayConfiguration {
        let check = validate(file: file)
        guard let config = check.config else { throw DeviceMapError(diagnostics: check.diagnostics) }
        return config
    }

    /// Like `load(file:)`, but returns the warnings of a configuration that loads too, and the
    /// device-map paths it names also when something else in it is wrong (for `config
    /// validate`, which checks those maps as well).
    /// - Returns: the configuration (nil when any error was found), the `gateway.devicemaps`
    ///   paths that could be read (resolved), and every diagnostic in file order.
    public static func validate(file: String) -> (config: GatewayConfiguration?, devicemaps: [String], diagnostics: [Diagnostic]) {
        let text: String
        switch TextFile.read(file) {
        case .success(let read): text = read
        case .failure(let problem): return (nil, [], [TextFile.diagnostic(problem, path: file, what: "configuration")])
        }
        return check(yaml: text, file: file)
    }

    /// Parses a configuration from text.
    /// - Parameters:
    ///   - yaml: the file's content.
    ///   - file: the file's path: diagnostics print it and relative paths resolve against its folder.
    /// - Returns: the configuration (nil when any error was found) and every diagnostic in file order.
    public static func parse(yaml: String, file: String) -> (config: GatewayConfiguration?, diagnostics: [Diagnostic]) {
        let check = check(yaml: yaml, file: file)
        return (check.config, check.diagnostics)
    }

    static func check(yaml: String, file: String) -> (config: GatewayConfiguration?, devicemaps: [String], diagnostics: [Diagnostic]) {
        let sink = DiagnosticSink()
        let (config, devicemaps) = ConfigParser(file: file, sink: sink).parse(yaml)
        return (sink.hasErrors ? nil : config, devicemaps, sink.sorted(fileOrder: [file]))
    }
}

/// The command ledger's window (`commands:`): a repeated id within it is answered `duplicate`.
public struct CommandSettings: Sendable, Hashable {
    /// How long an answered command id is remembered (`remember`, default 24h).
    public var remember: Duration
    /// How many ids are remembered at most (`max_ids`, default 100,000).
    public var maxIDs: Int

    /// Creates settings.
    public init(remember: Duration = .seconds(86_400), maxIDs: Int = 100_000) {
        self.remember = remember
        self.maxIDs = maxIDs
    }
}

/// Timing of the uplink: reconnects, batching, shutdown (all optional in the file).
public struct UplinkTiming: Sendable, Hashable {
    /// Longest wait between reconnect attempts (`reconnect_max`, default 30s); the wait starts
    /// at 0.5 s and doubles, with jitter.
    public var reconnectMax: Duration?
    /// How long a shutdown keeps delivering queued telemetry (`drain_grace`, default 3s).
    public var drainGrace: Duration?
    /// How long readings coalesce, at most, while the link is busy (`batch_interval`, 50ms); an
    /// idle link gets them at once.
    public var batchInterval: Duration?
    /// Largest telemetry message (`batch_max_bytes`, 256KB).
    public var batchMaxBytes: Int?

    /// No overrides: the uplink's defaults.
    public init(reconnectMax: Duration? = nil, drainGrace: Duration? = nil, batchInterval: Duration? = nil,
                batchMaxBytes: Int? = nil) {
        self.reconnectMax = reconnectMax
        self.drainGrace = drainGrace
        self.batchInterval = batchInterval
        self.batchMaxBytes = batchMaxBytes
    }
}

/// How the gateway reaches the hub.
public struct UplinkSettings: Sendable, Hashable {
    /// The wire profile: `mqtt` or `azure-iot-hub`.
    public var profile: String
    /// The broker's host.
    public var host: String
    /// The broker's port (8883 for `mqtts://`, 1883 for `mqtt://` unless the URL says).
    public var port: Int
    /// True for `mqtts://`.
    public var useTLS: Bool
    /// True when the author explicitly allowed plain `mqtt://`.
    public var insecure: Bool
    /// The first topic level (`edgegate` by default); may span several levels (`plant/edgegate`).
    public var prefix: String
    /// CA and client certificate, resolved; set whenever `useTLS` is.
    public var tls: TLSFiles?
    /// The MQTT client id; the configuration loader sets it to the gateway id unless given.
    public var clientID: String?
    /// MQTT keep-alive; nil leaves the client's default.
    public var keepAlive: Duration?
    /// Reconnect, batching and shutdown timing.
    public var timing = UplinkTiming()
    /// The IoT hub, device and credentials of profile `azure-iot-hub`; nil for `mqtt`.
    public var azure: AzureIoTHubSettings?

    /// Creates uplink settings.
    public init(profile: String = "mqtt", host: String, port: Int = 8883, useTLS: Bool = true, insecure: Bool = false,
                prefix: String = "edgegate", tls: TLSFiles? = nil, clientID: String? = nil, keepAlive: Duration? = nil,
                azure: AzureIoTHubSettings? = nil) {
        self.profile = profile
        self.host = host
        self.port = port
        self.useTLS = useTLS
        self.insecure = insecure
        self.prefix = prefix
        self.tls = tls
        self.clientID = clientID
        self.keepAlive = keepAlive
        self.azure = azure
    }
}

/// Certificate files for the uplink, resolved against the configuration's folder.
public struct TLSFiles: Sendable, Hashable {
    /// The CA that signed the broker's certificate.
    public var ca: String
    /// The gateway's client certificate (mutual TLS), with `key`.
    public var cert: String?
    /// The private key of `cert`.
    public var key: String?

    /// Creates TLS settings.
    public init(ca: String, cert: String? = nil, key: String? = nil) {
        self.ca = ca
        self.cert = cert
        self.key = key
    }
}

/// The durable queue between the adapters and the uplink.
public struct OutboxSettings: Sendable, Hashable {
    /// The SQLite file, resolved against the configuration's folder; `:memory:` keeps the
    /// outbox in memory (tests and benchmarks: nothing survives a restart, `seq` restarts at 1).
    public var path: String
    /// Size limit on the telemetry held; beyond it the oldest messages are dropped (and counted).
    public var maxBytes: Int
    /// Age limit on the telemetry held; older messages are dropped (and counted). nil: none.
    public var maxAge: Duration?
    /// How durable a stored message is.
    public var sync: OutboxSync

    /// The default size limit, 256 MB.
    public static let defaultMaxBytes = 256 << 20
    /// The shortest `max_age` accepted: shorter would drop telemetry before a reconnect could send it.
    public static let minimumMaxAge = Duration.seconds(1)

    /// Creates outbox settings.
    public init(path: String = "var/outbox.sqlite", maxBytes: Int = OutboxSettings.defaultMaxBytes,
                maxAge: Duration? = nil, sync: OutboxSync = .full) {
        self.path = path
        self.maxBytes = maxBytes
        self.maxAge = maxAge
        self.sync = sync
    }
}

/// When a message stored in the outbox is safe (`outbox.sync`).
public enum OutboxSync: String, Sendable, Hashable, CaseIterable {
    /// Every commit reaches the disk (fsync) before the message is sent: it survives a power
    /// loss. One fsync per sealed message batch (every 50 ms under load).
    case full
    /// Commits survive a crash of the process but not necessarily a power loss, which may roll
    /// back the last second or so of telemetry (the file stays consistent). Fewer fsyncs:
    /// for flash media that wear, or disks too slow for one fsync per batch.
    case normal
}

// MARK: - Parser

struct ConfigParser {
    let file: String
    let sink: DiagnosticSink

    static let topKeys = ["gateway", "uplink", "outbox", "commands"]
    static let commandKeys = ["remember", "max_ids"]
    static let timingKeys = ["reconnect_max", "drain_grace", "batch_interval", "batch_max_bytes"]
    static let gatewayKeys = ["id", "devicemaps"]

    static let uplinkKeys = ["profile", "url", "insecure", "prefix", "tls", "client_id", "keep_alive"] + timingKeys
    static let tlsKeys = ["ca", "cert", "key"]
    static let outboxKeys = ["path", "max_bytes", "max_age", "sync"]
    static let profiles = ["mqtt", AzureIoTHubSettings.profile]

    func path(_ p: String) -> String { resolve(p, relativeToFolderOf: file) }

    /// The configuration (nil after errors) and the device-map paths it names, resolved,
    /// which `config validate` checks also when the configuration has errors elsewhere.
    func parse(_ yaml: String) -> (GatewayConfiguration?, [String]) {
        guard let composed = composeYAML(yaml, file: file, sink: sink) else { return (nil, []) }
        guard let root = composed else {
            sink.error("the configuration is empty", at: SourceLocation(file: file, line: 1, column: 1),
                       hint: "it needs at least `gateway: { id: ..., devicemaps: [...] }` and `uplink: { url: ... }`")
            return (nil, [])
        }
        guard let top = YAMLMapping(root, file: file, context: "", what: "the configuration", sink: sink) else { return (nil, []) }
        // A device map given by mistake: one error that says so, rather than one per key and
        // the missing `gateway` and `uplink`.
        let keys = top.entries.map(\.key)
        if let first = top.entries.first, keys.allSatisfy(DeviceMapLoader.topKeys.contains) {
            top.error("unknown key '\(first.key)'", at: first.keyNode,
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
                    g.error("'devicemaps' lists no files or folders", at: g.value("devicemaps")!,
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

        let uplinkMapping = top.mapping("uplink", context: "uplink", required: true,
                                        hint: "e.g. uplink: { url: mqtts://hub.example:8883, tls: { ca: ... } }")
        var uplink = uplinkMapping.flatMap { parseUplink($0, gatewayID: gatewayID) }
        if let u = uplinkMapping { uplink?.timing = parseTiming(u) }

        var commands = CommandSettings()
        if let c = top.mapping("commands", context: "commands") {
            c.checkKeys(Self.commandKeys)
            if let remember = c.duration("remember") { commands.remember = remember }
            if let n = c.integer("max_ids", in: 1...10_000_000) { commands.maxIDs = n }
        }

        var outbox = OutboxSettings(path: path("var/outbox.sqlite"))
        if let o = top.mapping("outbox", context: "outbox") {
            o.checkKeys(Self.outboxKeys)
            // `:memory:` is SQLite's name for no file at all, not a path to resolve.
            if let p = o.name("path") { outbox.path = p == ":memory:" ? p : path(p) }
            if let n = o.byteSize("max_bytes") { outbox.maxBytes = n }
            if let age = o.duration("max_age"), let node = o.value("max_age") {
                if age < OutboxSettings.minimumMaxAge {
                    o.error("max_age must be at least 1s", at: node,
                            hint: "it drops telemetry older than this; e.g. max_age: 72h")
                } else {
                    outbox.maxAge = age
                }
            }
            if let sync = o.choice("sync", OutboxSync.self) { outbox.sync = sync }
        }

        guard let gatewayID, let uplink else { return (nil, maps) }
        var settings = uplink
        if settings.clientID == nil { settings.clientID = gatewayID }
        return (GatewayConfiguration(gatewayID: gatewayID, devicemaps: maps, uplink: settings, outbox: outbox, commands: commands), maps)
    }

    /// `reconnect_max`, `drain_grace`, `batch_interval`, `batch_max_bytes`, for any profile.
    func parseTiming(_ u: YAMLMapping) -> UplinkTiming {
        var timing = UplinkTiming()
        timing.reconnectMax = u.duration("reconnect_max")
        timing.drainGrace = u.duration("drain_grace")
        timing.batchInterval = u.duration("batch_interval")
        if let n = u.byteSize("batch_max_bytes"), let node = u.value("batch_max_bytes") {
            if n < 1024 || n > 256 * 1024 {
                u.error("batch_max_bytes must be between 1KB and 256KB", at: node, hint: "IoT hubs refuse messages above 256 KB")
            } else {
                timing.batchMaxBytes = n
            }
        }
        return timing
    }

    func parseUplink(_ u: YAMLMapping, gatewayID: String?) -> UplinkSettings? {
        let before = sink.errorCount
        u.checkKeys(Self.uplinkKeys + Self.azureKeys, later: Self.inlineSecretKeys)
        let profile = u.name("profile") ?? "mqtt"
        if !Self.profiles.contains(profile), let node = u.value("profile") {
            u.error("unknown profile '\(profile)'", at: node, hint: Suggest.allowed(profile, in: Self.profiles))
        }
        if profile == AzureIoTHubSettings.profile {
            return parseAzureUplink(u, gatewayID: gatewayID)
        }
        for key in Self.azureKeys {
            if let e = u.entry(key) {
                u.error("'\(key)' belongs to profile \(AzureIoTHubSettings.profile)", at: e.keyNode,
                        hint: "set `profile: \(AzureIoTHubSettings.profile)` or remove it")
            }
        }
        let insecure = u.bool("insecure") ?? false
        let prefix = u.name("prefix") ?? "edgegate"
        if let node = u.value("prefix") {
            if !TopicRules.isValidPrefix(prefix) {
                u.error("prefix '\(prefix)' is not a valid MQTT topic prefix", at: node, hint: TopicRules.prefixHint)
            }
        }
        let clientID = u.name("client_id")
        let keepAlive = keepAlive(u)

        var host = "", port = 0, useTLS = true
        if let url = u.string("url", required: true, hint: "e.g. url: mqtts://hub.example:8883"), let node = u.value("url") {
            if let parsed = parseURL(url, at: node, in: u) {
                (host, port, useTLS) = parsed
                if !useTLS && !insecure {
                    u.error("plain MQTT sends commands and telemetry unencrypted; set `insecure: true` to allow it",
                            at: node, hint: "or use mqtts:// with tls.ca")
                }
                if useTLS, insecure, let flag = u.entry("insecure") {
                    u.warning("`insecure: true` has no effect with mqtts://", at: flag.keyNode,
                              hint: "it only allows plain mqtt://; TLS is always verified")
                }
            }
        }

        var tls: TLSFiles?
        if let t = u.mapping("tls", context: "uplink.tls") {
            tls = tlsFiles(t, caRequired: useTLS)
            if !useTLS && u.has("url") && sink.errorCount == before, let e = u.entry("tls") {
                u.warning("'tls' is ignored with mqtt://", at: e.keyNode, hint: "use mqtts:// to encrypt the uplink")
            }
        } else if useTLS, u.has("url"), !u.has("tls") {
            u.error("mqtts:// needs `tls: { ca: ... }`", at: u.value("url") ?? u.node,
                    hint: "the CA certificate that signed the broker's certificate; add cert and key for mutual TLS")
        }

        guard sink.errorCount == before else { return nil }
        return UplinkSettings(profile: profile, host: host, port: port, useTLS: useTLS, insecure: insecure,
                              prefix: prefix, tls: useTLS ? tls : nil, clientID: clientID, keepAlive: keepAlive)
    }

    /// `keep_alive`, within what libmosquitto accepts.
    func keepAlive(_ u: YAMLMapping) -> Duration? {
        let keepAlive = u.duration("keep_alive")
        if let keepAlive, let node = u.value("keep_alive"), keepAlive < .seconds(5) || keepAlive > .seconds(65535) {
            // libmosquitto refuses a keep-alive below 5 s on every connect: catch it here.
            u.error("keep_alive must be between 5s and 65535s", at: node)
        }
        return keepAlive
    }

    /// `tls: { ca, cert, key }`, paths resolved; nil when the CA is missing.
    func tlsFiles(_ t: YAMLMapping, caRequired: Bool) -> TLSFiles? {
        t.checkKeys(Self.tlsKeys)
        let ca = t.name("ca", required: caRequired, hint: "the CA certificate that signed the broker's certificate")
        let cert = t.name("cert"), key = t.name("key")
        if (cert == nil) != (key == nil) {
            let (given, missing) = cert == nil ? ("key", "cert") : ("cert", "key")
            t.error("'\(given)' is set but '\(missing)' is not", at: t.entry(given)!.keyNode,
                    hint: "mutual TLS needs both the client certificate and its key, or neither")
        }
        return ca.map { TLSFiles(ca: path($0), cert: cert.map(path), key: key.map(path)) }
    }

    /// `mqtts://host[:port]` or `mqtt://host[:port]`.
    func parseURL(_ url: String, at node: Node, in u: YAMLMapping) -> (String, Int, Bool)? {
        switch MQTTURL.parse(url) {
        case .success(let hub):
            return (hub.host, hub.port, hub.useTLS)
        case .failure(let problem):
            u.error(problem.message, at: node, hint: problem.hint)
            return nil
        }
    }
}
