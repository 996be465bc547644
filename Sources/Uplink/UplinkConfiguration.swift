package import ConfigSyntax
public import Foundation
public import Logging
package import MQTTClient
import Yams

/// The uplink as the configuration file's `uplink:` section gives it: the link every profile
/// shares (hub address, TLS, client id, keep-alive, timing) and the chosen profile's own settings.
public struct UplinkConfiguration: Sendable {
    /// How the uplink connects, batches, reconnects and drains.
    public var link: MQTTUplinkConfiguration
    /// The wire profile's own settings; they make the profile the uplink speaks.
    public var profile: any UplinkProfileSettings

    /// Creates a configuration; the `mqtt` profile unless told.
    public init(link: MQTTUplinkConfiguration, profile: any UplinkProfileSettings = MQTTProfileSettings()) {
        self.link = link
        self.profile = profile
    }
}

/// What a wire profile needs beyond the link, as parsed from `uplink:` (the IoT hub and the
/// device credentials of `azure-iot-hub`; nothing for `mqtt`).
public protocol UplinkProfileSettings: Sendable {
    /// The profile's name in the configuration (`mqtt`, `azure-iot-hub`).
    var name: String { get }

    /// The profile for a link (its gateway id and prefix).
    /// - Parameter now: the wall clock that credential expiries are counted from (tests pin it).
    func makeProfile(link: MQTTUplinkConfiguration, logger: Logger, now: @escaping @Sendable () -> Date) -> any UplinkProfile
}

/// The settings of the `mqtt` profile: none beyond the link, whose gateway id and prefix make
/// the topics.
public struct MQTTProfileSettings: UplinkProfileSettings, Hashable {
    /// Creates the settings.
    public init() {}

    /// `mqtt`.
    public var name: String { "mqtt" }

    /// `MQTTProfile` with the link's prefix and gateway id.
    public func makeProfile(link: MQTTUplinkConfiguration, logger: Logger, now: @escaping @Sendable () -> Date) -> any UplinkProfile {
        MQTTProfile(prefix: link.prefix, gatewayID: link.gatewayID)
    }
}

/// An uplink profile as the configuration knows it: its name, the `uplink` keys it accepts, and
/// how it parses its section. The gateway keeps one list of them; nothing else names a profile.
public struct UplinkProfileDescriptor: Sendable {
    /// The value of `profile:`.
    public let name: String
    /// Every `uplink` key the profile accepts besides `profile`, in the order the "known keys"
    /// hint lists them.
    public let keys: [String]
    /// Keys of other profiles that this one refuses with its own reason (IoT Hub fixes the
    /// topics, so `prefix` does not apply), instead of "belongs to profile X".
    public let refusedKeys: [(key: String, reason: String)]
    /// The profile's part of the section: its keys checked and turned into a configuration;
    /// nil after errors (each one a diagnostic).
    let parse: @Sendable (UplinkSection) -> UplinkConfiguration?

    /// Creates a descriptor.
    package init(
        name: String, keys: [String], refusedKeys: [(key: String, reason: String)] = [],
        parse: @escaping @Sendable (UplinkSection) -> UplinkConfiguration?
    ) {
        self.name = name
        self.keys = keys
        self.refusedKeys = refusedKeys
        self.parse = parse
    }
}

extension MQTTProfile {
    /// The `mqtt` profile (the default): `url` (plain `mqtt://` only with `insecure: true`),
    /// `tls`, `prefix`, `client_id`, `keep_alive`.
    public static let descriptor = UplinkProfileDescriptor(
        name: "mqtt", keys: ["url", "insecure", "prefix", "tls", "client_id", "keep_alive"] + UplinkSection.timingKeys,
        parse: parseSection)

    static func parseSection(_ section: UplinkSection) -> UplinkConfiguration? {
        let u = section.mapping
        let prefix = u.name("prefix") ?? "edgegate"
        if let node = u.value("prefix") {
            if !TopicRules.isValidPrefix(prefix) {
                u.error("prefix '\(prefix)' is not a valid MQTT topic prefix", at: node, hint: TopicRules.prefixHint)
            }
        }
        let options = section.brokerOptions()
        guard !section.hasNewErrors, let options, let gatewayID = section.gatewayID else { return nil }
        return UplinkConfiguration(
            link: MQTTUplinkConfiguration(gatewayID: gatewayID, prefix: prefix, connection: options),
            profile: MQTTProfileSettings())
    }
}

extension UplinkSection {
    /// A broker of the profile's choosing, as `mqtt` and `sparkplug-b` take it: `url` (plain
    /// `mqtt://` only with `insecure: true`), `tls`, `client_id` (the gateway id unless
    /// given) and `keep_alive`; nil after errors (each one a diagnostic).
    package func brokerOptions() -> MQTTOptions? {
        let u = mapping
        let insecure = u.bool("insecure") ?? false
        let clientID = u.name("client_id")
        let keepAlive = keepAlive()

        var url: MQTTURL?
        if let parsed = self.url(required: true, hint: "e.g. url: mqtts://hub.example:8883"), let node = u.value("url") {
            url = parsed
            if !parsed.useTLS && !insecure {
                u.error(
                    "plain MQTT sends commands and telemetry unencrypted; set `insecure: true` to allow it",
                    at: node, hint: "or use mqtts:// with tls.ca")
            }
            if parsed.useTLS, insecure, let flag = u.entry("insecure") {
                u.warning(
                    "`insecure: true` has no effect with mqtts://", at: flag.keyNode,
                    hint: "it only allows plain mqtt://; TLS is always verified")
            }
        }
        let useTLS = url?.useTLS ?? true

        var tls: MQTTTLS?
        if let t = u.mapping("tls", context: "uplink.tls") {
            tls = self.tls(t, caRequired: useTLS)
            if !useTLS && u.has("url") && !hasNewErrors, let e = u.entry("tls") {
                u.warning("'tls' is ignored with mqtt://", at: e.keyNode, hint: "use mqtts:// to encrypt the uplink")
            }
        } else if useTLS, u.has("url"), !u.has("tls") {
            u.error(
                "mqtts:// needs `tls: { ca: ... }`", at: u.value("url") ?? u.node,
                hint: "the CA certificate that signed the broker's certificate; add cert and key for mutual TLS")
        }

        guard !hasNewErrors, let url, let gatewayID else { return nil }
        return MQTTOptions(
            host: url.host, port: url.port, clientID: clientID ?? gatewayID,
            tls: useTLS ? tls : nil, keepAlive: seconds(keepAlive))
    }
}

/// The `uplink:` mapping while a profile parses it: the checks every profile shares (the URL,
/// `tls`, `keep_alive`) and what the profiles need to know (the gateway id, the folder that
/// relative paths resolve against).
package struct UplinkSection {
    /// The `uplink` mapping.
    package let mapping: YAMLMapping
    /// The gateway id, when `gateway.id` is valid: the default client and device id.
    package let gatewayID: String?
    /// The configuration file, whose folder relative paths resolve against.
    package let file: String
    /// Errors reported before the section was parsed.
    let errorsBefore: Int

    /// Timing keys, for every profile: reconnects, batching, shutdown.
    package static let timingKeys = ["reconnect_max", "drain_grace", "batch_interval", "batch_max_bytes"]
    /// Keys that would put a secret into the configuration, with what to do instead (for every profile).
    static let inlineSecretKeys = [
        "key":
            "'key' cannot be set here: a device key goes into a file of its own, named by key_file, so that it never ends up in the configuration or in git (a TLS key goes under tls)",
        "connection_string":
            "a connection string holds the device key: put the key into a file of its own and name it with key_file; set hub and device_id from the rest",
    ]
    static let tlsKeys = ["ca", "cert", "key"]

    /// True when an error was reported since the section began (its keys included).
    package var hasNewErrors: Bool { mapping.sink.errorCount != errorsBefore }

    /// A path of the file, resolved against the configuration's folder.
    package func path(_ p: String) -> String { resolve(p, relativeToFolderOf: file) }

    /// `url`, parsed: `mqtts://host[:port]` or `mqtt://host[:port]`; nil when absent or wrong
    /// (wrong is an error at the value).
    package func url(required: Bool = false, hint: String? = nil) -> MQTTURL? {
        guard let text = mapping.string("url", required: required, hint: hint), let node = mapping.value("url") else { return nil }
        switch MQTTURL.parse(text) {
        case .success(let url):
            return url
        case .failure(let problem):
            mapping.error(problem.message, at: node, hint: problem.hint)
            return nil
        }
    }

    /// `keep_alive`, within what libmosquitto accepts.
    package func keepAlive() -> Duration? {
        let u = mapping
        let keepAlive = u.duration("keep_alive")
        if let keepAlive, let node = u.value("keep_alive"), keepAlive < .seconds(5) || keepAlive > .seconds(65535) {
            // libmosquitto refuses a keep-alive below 5 s on every connect: catch it here.
            u.error("keep_alive must be between 5s and 65535s", at: node)
        }
        return keepAlive
    }

    /// The keep-alive in whole seconds as the MQTT options take it: 30 unless given.
    package func seconds(_ keepAlive: Duration?) -> Int {
        keepAlive.map { Int($0.components.seconds) } ?? 30
    }

    /// `tls: { ca, cert, key }`, paths resolved, the hub's host name verified; nil when the CA is missing.
    package func tls(_ t: YAMLMapping, caRequired: Bool) -> MQTTTLS? {
        t.checkKeys(Self.tlsKeys)
        let ca = t.name("ca", required: caRequired, hint: "the CA certificate that signed the broker's certificate")
        let cert = t.name("cert"), key = t.name("key")
        if (cert == nil) != (key == nil) {
            let (given, missing) = cert == nil ? ("key", "cert") : ("cert", "key")
            t.error(
                "'\(given)' is set but '\(missing)' is not", at: t.entry(given)!.keyNode,
                hint: "mutual TLS needs both the client certificate and its key, or neither")
        }
        return ca.map { MQTTTLS(caFile: path($0), certFile: cert.map(path), keyFile: key.map(path), verifyHostname: true) }
    }

    /// `reconnect_max`, `drain_grace`, `batch_interval`, `batch_max_bytes`, for any profile,
    /// into `link` (nil: the section had errors, the values are checked all the same).
    func applyTiming(to link: inout MQTTUplinkConfiguration?) {
        let u = mapping
        let reconnectMax = u.duration("reconnect_max")
        let drainGrace = u.duration("drain_grace")
        let batchInterval = u.duration("batch_interval")
        var batchMaxBytes: Int?
        if let n = u.byteSize("batch_max_bytes"), let node = u.value("batch_max_bytes") {
            if n < 1024 || n > 256 * 1024 {
                u.error("batch_max_bytes must be between 1KB and 256KB", at: node, hint: "IoT hubs refuse messages above 256 KB")
            } else {
                batchMaxBytes = n
            }
        }
        guard var l = link else { return }
        if let d = reconnectMax { l.maxBackoff = max(d, l.initialBackoff) }
        if let d = drainGrace { l.drainGrace = d }
        if let d = batchInterval { l.batchInterval = d }
        if let n = batchMaxBytes { l.maxMessageBytes = n }
        link = l
    }
}

extension UplinkConfiguration {
    /// Parses the `uplink` mapping with the profile it names (the first of `profiles` when it
    /// names none): the generic part (known keys, the profile, keys of other profiles, timing)
    /// here, the rest by the profile's descriptor.
    /// - Parameters:
    ///   - gatewayID: `gateway.id` when valid (the default client and device id).
    ///   - file: the configuration file, for relative paths.
    /// - Returns: nil after errors, each one a diagnostic.
    package static func parse(
        _ u: YAMLMapping, gatewayID: String?, file: String,
        profiles: [UplinkProfileDescriptor]
    ) -> UplinkConfiguration? {
        let section = UplinkSection(mapping: u, gatewayID: gatewayID, file: file, errorsBefore: u.sink.errorCount)
        var known = ["profile"]
        for key in profiles.flatMap(\.keys) where !known.contains(key) { known.append(key) }
        u.checkKeys(known, later: UplinkSection.inlineSecretKeys)
        let names = profiles.map(\.name)
        let name = u.name("profile") ?? names[0]
        if !names.contains(name), let node = u.value("profile") {
            u.error("unknown profile '\(name)'", at: node, hint: Suggest.allowed(name, in: names))
        }
        let chosen = profiles.first { $0.name == name } ?? profiles[0]
        for e in u.entries where e.key != "profile" && known.contains(e.key) && !chosen.keys.contains(e.key) {
            if let refused = chosen.refusedKeys.first(where: { $0.key == e.key }) {
                u.error("'\(e.key)' does not apply to profile \(chosen.name)", at: e.keyNode, hint: refused.reason)
            } else if let owner = profiles.first(where: { $0.keys.contains(e.key) }) {
                u.error(
                    "'\(e.key)' belongs to profile \(owner.name)", at: e.keyNode,
                    hint: "set `profile: \(owner.name)` or remove it")
            }
        }
        var configuration = chosen.parse(section)
        var link = configuration?.link
        section.applyTiming(to: &link)
        if let link { configuration?.link = link }
        return configuration
    }
}
