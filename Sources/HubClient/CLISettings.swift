public import ConfigSyntax
import Foundation
public import MQTTClient
import Yams

/// The remote command CLI's settings file, `~/.config/edgegate/cli.yaml` (or
/// `$XDG_CONFIG_HOME/edgegate/cli.yaml`): the operator's defaults, so that `edgegate command`
/// needs no flags for the usual hub and gateway.
///
/// ```yaml
/// hub: mqtts://hub.example.com:8883
/// certs: ~/.config/edgegate/certs      # ca.pem, <identity>.pem, <identity>.key
/// identity: operator
/// gateway: gw-1
/// prefix: edgegate
/// ```
public struct CLISettingsFile: Sendable, Hashable {
    /// The file's path.
    public var path: String
    /// `hub:`.
    public var hub: MQTTURL?
    /// `certs:`, resolved against the file's folder (`~/` is the home folder).
    public var certs: String?
    /// `identity:`.
    public var identity: String?
    /// `gateway:`.
    public var gateway: String?
    /// `prefix:`.
    public var prefix: String?
    /// Where each key was written, for messages that say where a setting came from.
    public var locations: [String: SourceLocation]

    /// The keys the file may hold.
    public static let keys = ["hub", "certs", "identity", "gateway", "prefix"]

    /// `$XDG_CONFIG_HOME/edgegate/cli.yaml` when that variable is set (and absolute, as the
    /// XDG specification requires), else `$HOME/.config/edgegate/cli.yaml`; nil without either.
    public static func defaultPath(environment: [String: String]) -> String? {
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            return (xdg as NSString).appendingPathComponent("edgegate/cli.yaml")
        }
        guard let home = environment["HOME"], !home.isEmpty else { return nil }
        return (home as NSString).appendingPathComponent(".config/edgegate/cli.yaml")
    }

    /// Reads the file at `path`; nil when there is none (the file is optional).
    /// - Throws: every diagnostic when the file exists but cannot be read or has an error.
    public static func load(path: String, environment: [String: String]) throws(DeviceMapError) -> CLISettingsFile? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let text: String
        switch TextFile.read(path) {
        case .success(let read): text = read
        case .failure(let problem): throw DeviceMapError(diagnostics: [TextFile.diagnostic(problem, path: path, what: "CLI settings")])
        }
        let (settings, diagnostics) = parse(yaml: text, file: path, home: environment["HOME"])
        guard let settings else { throw DeviceMapError(diagnostics: diagnostics) }
        return settings
    }

    /// Parses the file's text; every problem is a diagnostic with file:line:column.
    /// - Parameter home: what a leading `~/` in `certs` stands for.
    /// - Returns: the settings (nil when any error was found) and every diagnostic.
    public static func parse(yaml: String, file: String, home: String? = nil) -> (settings: CLISettingsFile?, diagnostics: [Diagnostic]) {
        let sink = DiagnosticSink()
        var settings = CLISettingsFile(path: file, locations: [:])
        if let composed = composeYAML(yaml, file: file, sink: sink), let root = composed,
            let top = YAMLMapping(root, file: file, context: "", what: "the CLI settings", sink: sink)
        {
            top.checkKeys(keys)
            for entry in top.entries { settings.locations[entry.key] = top.location(of: entry.value) }
            if let text = top.name("hub"), let node = top.value("hub") {
                switch MQTTURL.parse(text) {
                case .success(let url) where url.useTLS:
                    settings.hub = url
                case .success:
                    top.error("the remote command CLI connects with mutual TLS only", at: node, hint: "use mqtts://")
                case .failure(let problem):
                    top.error(problem.message, at: node, hint: CLISettings.tlsOnlyHint(problem))
                }
            }
            if let certs = top.name("certs") {
                settings.certs = expandHome(certs, home: home).map { resolve($0, relativeToFolderOf: file) }
                if settings.certs == nil, let node = top.value("certs") {
                    top.error("'certs' starts with ~/ but HOME is not set", at: node, hint: "write the folder's full path")
                }
            }
            settings.identity = top.name("identity")
            if let identity = settings.identity, let node = top.value("identity"), identity.contains("/") {
                top.error(
                    "identity '\(identity)' must be a file name without '/'", at: node,
                    hint: "the CLI uses <certs>/<identity>.pem and <certs>/<identity>.key")
            }
            settings.gateway = top.name("gateway")
            if let gateway = settings.gateway, let node = top.value("gateway"), !TopicRules.badCharacters(inLevel: gateway).isEmpty {
                top.error("gateway '\(gateway)' cannot be an MQTT topic level", at: node, hint: TopicRules.levelHint)
            }
            settings.prefix = top.name("prefix")
            if let prefix = settings.prefix, let node = top.value("prefix"), !TopicRules.isValidPrefix(prefix) {
                top.error("prefix '\(prefix)' is not a valid MQTT topic prefix", at: node, hint: TopicRules.prefixHint)
            }
        }
        return (sink.hasErrors ? nil : settings, sink.sorted(fileOrder: [file]))
    }

    /// `~/x` → `HOME/x`; other paths unchanged; nil for `~/` without a home.
    static func expandHome(_ path: String, home: String?) -> String? {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        guard let home, !home.isEmpty else { return nil }
        return home + path.dropFirst()
    }
}

/// The CLI settings as given on the command line; nil where a flag was not given.
public struct CLIFlags: Sendable, Hashable {
    /// `--hub mqtts://host:port`.
    public var hub: String?
    /// `--hub-host`.
    public var hubHost: String?
    /// `--hub-port`.
    public var hubPort: Int?
    /// `--certs`.
    public var certs: String?
    /// `--identity`.
    public var identity: String?
    /// `--gateway`.
    public var gateway: String?
    /// `--prefix`.
    public var prefix: String?

    /// Creates flags; every one is optional.
    public init(
        hub: String? = nil, hubHost: String? = nil, hubPort: Int? = nil, certs: String? = nil,
        identity: String? = nil, gateway: String? = nil, prefix: String? = nil
    ) {
        self.hub = hub
        self.hubHost = hubHost
        self.hubPort = hubPort
        self.certs = certs
        self.identity = identity
        self.gateway = gateway
        self.prefix = prefix
    }
}

/// A setting that came from a flag or the environment and cannot be used: a usage error.
public struct CLISettingsError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A sentence naming the flag or variable and the value.
    public var description: String
}

/// Where the remote command CLI connects and as whom: each setting from its flag, else its
/// environment variable (`EDGEGATE_HUB`, `EDGEGATE_CERTS`, `EDGEGATE_IDENTITY`,
/// `EDGEGATE_GATEWAY`, `EDGEGATE_PREFIX`), else the settings file, else the default.
public struct CLISettings: Sendable, Hashable {
    /// The hub (always `mqtts://`: the operator connects with mutual TLS).
    public var hub: MQTTURL
    /// Folder with `ca.pem`, `<identity>.pem` and `<identity>.key`.
    public var certs: String
    /// The operator's identity: the stem of its certificate and key files.
    public var identity: String
    /// The gateway to talk to; nil when no source names one.
    public var gateway: String?
    /// The topic prefix of the uplink contract.
    public var prefix: String
    /// Where each setting (`hub`, `certs`, `identity`, `gateway`, `prefix`) came from:
    /// `--hub`, `EDGEGATE_HUB`, `/home/op/.config/edgegate/cli.yaml:1:6` or `default`.
    public var sources: [String: String]

    /// The defaults: the development hub and PKI of `edgegate hub` and `edgegate certs init`.
    public static let defaultHub = MQTTURL(host: "127.0.0.1", port: 8883)
    /// The certificates folder when nothing names one.
    public static let defaultCerts = "certs"
    /// The operator's identity when nothing names one.
    public static let defaultIdentity = "operator"
    /// The topic prefix when nothing names one.
    public static let defaultPrefix = "edgegate"

    /// The environment variable of each setting.
    public static let variables = [
        "hub": "EDGEGATE_HUB", "certs": "EDGEGATE_CERTS", "identity": "EDGEGATE_IDENTITY",
        "gateway": "EDGEGATE_GATEWAY", "prefix": "EDGEGATE_PREFIX",
    ]

    /// Resolves every setting: flag > environment > file > default.
    /// - Throws: a flag or variable whose value cannot be used (the file's problems are its
    ///   own diagnostics, reported when it is loaded).
    public static func resolve(
        flags: CLIFlags, environment: [String: String],
        file: CLISettingsFile?
    ) throws(CLISettingsError) -> CLISettings {
        var sources: [String: String] = [:]
        func env(_ key: String) -> String? {
            environment[variables[key]!].flatMap { $0.isEmpty ? nil : $0 }
        }
        func fromFile(_ key: String) -> String {
            guard let file else { return "default" }
            return file.locations[key].map(\.description) ?? file.path
        }

        // The hub: --hub, or --hub-host/--hub-port over whatever the lower sources give.
        if flags.hub != nil && (flags.hubHost != nil || flags.hubPort != nil) {
            throw CLISettingsError(description: "give either --hub or --hub-host/--hub-port, not both")
        }
        var hub: MQTTURL
        if let text = flags.hub {
            hub = try tlsURL(text, from: "--hub")
            sources["hub"] = "--hub"
        } else if let text = env("hub") {
            hub = try tlsURL(text, from: variables["hub"]!)
            sources["hub"] = variables["hub"]!
        } else if let url = file?.hub {
            hub = url
            sources["hub"] = fromFile("hub")
        } else {
            hub = defaultHub
            sources["hub"] = "default"
        }
        if let host = flags.hubHost {
            guard !host.isEmpty else { throw CLISettingsError(description: "--hub-host must not be empty") }
            hub.host = host
            sources["hub"] = flags.hubPort == nil ? "--hub-host" : "--hub-host/--hub-port"
        }
        if let port = flags.hubPort {
            guard (1...65535).contains(port) else {
                throw CLISettingsError(description: "--hub-port \(port) is out of range 1...65535")
            }
            hub.port = port
            if flags.hubHost == nil { sources["hub"] = "--hub-port" }
        }

        func pick(_ key: String, flag: String?, file value: String?, default fallback: String?) -> String? {
            if let flag {
                sources[key] = "--\(key)"
                return flag
            }
            if let v = env(key) {
                sources[key] = variables[key]!
                return v
            }
            if let value {
                sources[key] = fromFile(key)
                return value
            }
            if fallback != nil { sources[key] = "default" }
            return fallback
        }
        let home = environment["HOME"]
        let certsText = pick("certs", flag: flags.certs, file: nil, default: nil)
        var certs: String
        if let certsText {
            // Flags are expanded by the shell; the environment may hold a literal `~/`.
            guard let expanded = CLISettingsFile.expandHome(certsText, home: home) else {
                throw CLISettingsError(description: "\(sources["certs"]!) '\(certsText)' starts with ~/ but HOME is not set")
            }
            certs = expanded
        } else if let fileCerts = file?.certs {
            certs = fileCerts
            sources["certs"] = fromFile("certs")
        } else {
            certs = defaultCerts
            sources["certs"] = "default"
        }
        if certs.isEmpty { certs = "." }
        let identity = pick("identity", flag: flags.identity, file: file?.identity, default: defaultIdentity)!
        guard !identity.isEmpty, !identity.contains("/") else {
            throw CLISettingsError(
                description: "\(sources["identity"]!) '\(identity)' must be a file name without '/' (the CLI uses <certs>/<identity>.pem and .key)")
        }
        let gateway = pick("gateway", flag: flags.gateway, file: file?.gateway, default: nil)
        if let gateway, !TopicRules.badCharacters(inLevel: gateway).isEmpty || gateway.isEmpty {
            throw CLISettingsError(description: "\(sources["gateway"]!) '\(gateway)' cannot be an MQTT topic level: \(TopicRules.levelHint)")
        }
        let prefix = pick("prefix", flag: flags.prefix, file: file?.prefix, default: defaultPrefix)!
        guard TopicRules.isValidPrefix(prefix) else {
            throw CLISettingsError(description: "\(sources["prefix"]!) '\(prefix)' is not a valid MQTT topic prefix: \(TopicRules.prefixHint)")
        }
        return CLISettings(hub: hub, certs: certs, identity: identity, gateway: gateway, prefix: prefix, sources: sources)
    }

    private static func tlsURL(_ text: String, from source: String) throws(CLISettingsError) -> MQTTURL {
        switch MQTTURL.parse(text) {
        case .success(let url) where url.useTLS:
            return url
        case .success:
            throw CLISettingsError(description: "\(source) '\(text)': the remote command CLI connects with mutual TLS only; use mqtts://")
        case .failure(let problem):
            throw CLISettingsError(description: "\(source): \(problem.message)" + (tlsOnlyHint(problem).map { " (\($0))" } ?? ""))
        }
    }

    /// The hint for a hub address the CLI cannot use: never plain `mqtt://`, which it refuses.
    static func tlsOnlyHint(_ problem: MQTTURL.ParseError) -> String? {
        guard let suggestion = problem.tlsSuggestion else { return problem.hint }
        return "the remote command CLI connects with mutual TLS only: use \(suggestion)"
    }

    /// `<certs>/ca.pem`.
    public var caFile: String { (certs as NSString).appendingPathComponent("ca.pem") }
    /// `<certs>/<identity>.pem`.
    public var certFile: String { (certs as NSString).appendingPathComponent("\(identity).pem") }
    /// `<certs>/<identity>.key`.
    public var keyFile: String { (certs as NSString).appendingPathComponent("\(identity).key") }
}
