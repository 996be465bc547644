import ConfigSyntax
public import Foundation
public import Logging
import MQTTClient
public import Uplink
import Yams

/// Settings of the `azure-iot-hub` uplink profile: which hub, which device, which credential.
public struct AzureIoTHubSettings: UplinkProfileSettings, Hashable {
    /// The profile's name in the configuration.
    public static let profile = "azure-iot-hub"
    /// How long a SAS token is valid unless `sas_ttl` says otherwise: as Microsoft's SDKs.
    public static let defaultSASTTL = Duration.seconds(3600)
    /// The `sas_ttl` accepted: a token is renewed at 80 % of it, so a shorter one reconnects
    /// all the time; a longer one stays usable for that long if it leaks.
    public static let sasTTLRange = Duration.seconds(60)...Duration.seconds(24 * 3600)
    /// IoT Hub keeps a connection at most this long without traffic, whatever the keep-alive.
    public static let maxKeepAlive = Duration.seconds(1177)

    /// The IoT hub's host name (`myhub.azure-devices.net`): the user name and the token's resource.
    public var hub: String
    /// The device id registered in the hub: client id and topics (the gateway id by default).
    public var deviceID: String
    /// How the device authenticates.
    public var authentication: AzureAuthentication

    /// Creates settings.
    public init(hub: String, deviceID: String, authentication: AzureAuthentication) {
        self.hub = hub
        self.deviceID = deviceID
        self.authentication = authentication
    }

    /// `azure-iot-hub`.
    public var name: String { Self.profile }

    /// The profile, its SAS key read from the key file at every connection attempt: a key
    /// rotated in the file is used from the next renewal on, and a file that became unreadable
    /// is reported, not fatal.
    public func makeProfile(link: MQTTUplinkConfiguration, logger: Logger, now: @escaping @Sendable () -> Date) -> any UplinkProfile {
        let credential: AzureIoTHubProfile.Authentication
        switch authentication {
        case .x509:
            credential = .x509
        case .sas(let keyFile, let ttl):
            credential = .sas(
                key: { () throws(AzureIoTHub.CredentialError) -> String in
                    switch DeviceKeyFile.read(keyFile) {
                    case .key(let key): return key
                    case .problem(let problem): throw .keyFile(problem)
                    }
                }, ttl: ttl)
        }
        return AzureIoTHubProfile(
            hub: hub, deviceID: deviceID, gatewayID: link.gatewayID,
            authentication: credential, logger: logger, now: now)
    }
}

/// How a device authenticates to IoT Hub.
public enum AzureAuthentication: Sendable, Hashable {
    /// SAS tokens signed with the device key kept in `keyFile` (resolved path), each valid for `ttl`.
    case sas(keyFile: String, ttl: Duration)
    /// The TLS client certificate (`tls.cert`, `tls.key`) is the credential.
    case x509
}

/// The file that holds a device's symmetric key: the base64 key as the portal or
/// `az iot hub device-identity show` gives it, white space around it ignored. The key lives in
/// a file of its own so that the configuration can be versioned without the secret.
public enum DeviceKeyFile {
    /// What a key file holds.
    public enum Contents: Sendable, Hashable {
        /// The base64 key.
        case key(String)
        /// Why there is no usable key: a sentence naming the file, never quoting its content.
        case problem(String)
    }

    /// Reads and checks a key file.
    public static func read(_ path: String) -> Contents {
        if access(path, R_OK) != 0 {
            return .problem("cannot read the device key file '\(path)': \(String(cString: strerror(errno)).lowercased())")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .problem("cannot read the device key file '\(path)': is it a regular file?")
        }
        let key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if key.isEmpty {
            return .problem("the device key file '\(path)' is empty")
        }
        guard let bytes = Data(base64Encoded: key), !bytes.isEmpty else {
            return .problem("the device key file '\(path)' does not hold a base64 key (the primary or secondary key as the portal shows it)")
        }
        return .key(key)
    }

    /// The permission bits when users other than the owner may read the file, else nil.
    public static func sharedMode(_ path: String) -> mode_t? {
        TextFile.sharedMode(path).map { mode_t($0) }
    }
}

// MARK: - Parser

extension AzureIoTHubProfile {
    /// The `azure-iot-hub` profile: `hub`, `device_id`, `auth` with `key_file` and `sas_ttl`
    /// (SAS) or `tls.cert` and `tls.key` (X.509), `url` only to connect elsewhere (a test hub),
    /// TLS always.
    public static let descriptor = UplinkProfileDescriptor(
        name: AzureIoTHubSettings.profile,
        keys: ["hub", "device_id", "auth", "key_file", "sas_ttl", "url", "tls", "keep_alive"] + UplinkSection.timingKeys,
        refusedKeys: [
            ("prefix", "IoT Hub fixes the topics: devices/{device_id}/messages/..."),
            ("client_id", "the client id is the device_id"),
            ("insecure", "IoT Hub only speaks TLS"),
        ],
        parse: parseSection)

    /// What IoT Hub allows in a device id besides ASCII letters and digits, less `+` and `#`,
    /// which MQTT topics cannot carry.
    static let deviceIDPunctuation = Set("-:.%_*?!(),=@;$'")

    enum AuthKind: String, CaseIterable { case sas, x509 }

    /// The `uplink` mapping of profile `azure-iot-hub`, after the generic checks.
    static func parseSection(_ section: UplinkSection) -> UplinkConfiguration? {
        let u = section.mapping
        let profile = AzureIoTHubSettings.profile

        let hub = u.name("hub", required: true, hint: "the IoT hub's host name, e.g. myhub.azure-devices.net")
        if let hub, let node = u.value("hub"),
            hub.contains(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".")) })
        {
            u.error(
                "hub '\(hub)' is not a host name", at: node,
                hint: "write the host name only, e.g. myhub.azure-devices.net; to connect elsewhere, such as a test hub, set `url`")
        }

        var deviceID = section.gatewayID
        if let id = u.name("device_id") { deviceID = id }
        if let id = deviceID, let problem = Self.deviceIDProblem(id) {
            // Without device_id the gateway id stands in: point at what to add then.
            u.error(
                u.has("device_id") ? "device_id '\(id)' \(problem)" : "the gateway id '\(id)' cannot be the device id: it \(problem)",
                at: u.entry("device_id")?.value ?? u.entry("profile")?.value ?? u.node,
                hint: u.has("device_id") ? nil : "set device_id to the id registered in the hub")
        }

        var host = hub ?? "", port = 8883
        if let url = section.url(), let node = u.value("url") {
            if url.useTLS {
                (host, port) = (url.host, url.port)
            } else {
                u.error("profile \(profile) always uses TLS: use mqtts://", at: node)
            }
        }
        let keepAlive = section.keepAlive()
        if let keepAlive, keepAlive > AzureIoTHubSettings.maxKeepAlive, let node = u.value("keep_alive") {
            u.warning("IoT Hub uses a keep-alive of at most 1177s", at: node, hint: "a longer one is cut to that by the hub")
        }

        var tls: MQTTTLS?
        var tlsMapping: YAMLMapping?
        if let t = u.mapping("tls", context: "uplink.tls") {
            tlsMapping = t
            tls = section.tls(t, caRequired: true)
        } else if !u.has("tls") {
            u.error(
                "profile \(profile) needs `tls: { ca: ... }`", at: u.value("profile") ?? u.node,
                hint: "the root CA of the hub's certificate: DigiCert Global Root G2 for IoT Hub, see docs/operations.md")
        }

        let authentication = parseAuthentication(section, tls: tlsMapping)
        guard !section.hasNewErrors, let gatewayID = section.gatewayID, let hub, let deviceID, let authentication, let tls else {
            return nil
        }
        let options = MQTTOptions(host: host, port: port, clientID: deviceID, tls: tls, keepAlive: section.seconds(keepAlive))
        return UplinkConfiguration(
            link: MQTTUplinkConfiguration(gatewayID: gatewayID, connection: options),
            profile: AzureIoTHubSettings(hub: hub, deviceID: deviceID, authentication: authentication))
    }

    /// `auth` with `key_file` and `sas_ttl` (SAS) or `tls.cert` and `tls.key` (X.509).
    private static func parseAuthentication(_ section: UplinkSection, tls: YAMLMapping?) -> AzureAuthentication? {
        let u = section.mapping
        let kind = u.choice("auth", AuthKind.self, required: true)
        let certificate = tls.flatMap { $0.entry("cert") ?? $0.entry("key") }
        switch kind {
        case .sas?:
            if let e = certificate {
                tls!.error(
                    "a client certificate is not used with `auth: sas`", at: e.keyNode,
                    hint: "remove tls.cert and tls.key, or use `auth: x509`")
            }
            var ttl = AzureIoTHubSettings.defaultSASTTL
            if let t = u.duration("sas_ttl"), let node = u.value("sas_ttl") {
                let range = AzureIoTHubSettings.sasTTLRange
                if range.contains(t) { ttl = t } else { u.error("sas_ttl must be between 1m and 24h", at: node) }
            }
            guard u.has("key_file") else {
                u.error(
                    "`auth: sas` needs key_file", at: u.value("auth")!,
                    hint: "the file that holds the device's base64 key; never the key itself")
                return nil
            }
            guard let file = u.name("key_file"), let node = u.entry("key_file")?.value else { return nil }
            let resolved = section.path(file)
            if case .problem(let problem) = DeviceKeyFile.read(resolved) {
                u.error(problem, at: node)
                return nil
            }
            if let mode = DeviceKeyFile.sharedMode(resolved) {
                u.warning(
                    "the device key file '\(resolved)' can be read by other users (mode \(String(mode, radix: 8)))", at: node,
                    hint: "chmod 600 \(resolved)")
            }
            return .sas(keyFile: resolved, ttl: ttl)
        case .x509?:
            for key in ["key_file", "sas_ttl"] {
                if let e = u.entry(key) { u.error("'\(key)' is not used with `auth: x509`", at: e.keyNode, hint: "remove it, or use `auth: sas`") }
            }
            if certificate == nil {
                u.error(
                    "`auth: x509` needs tls.cert and tls.key", at: u.value("auth")!,
                    hint: "the device's certificate and key; IoT Hub matches its CN with the device id")
                return nil
            }
            return .x509
        case nil:
            return nil
        }
    }

    /// Why IoT Hub, or MQTT, cannot take `id` as a device id; nil when it can.
    static func deviceIDProblem(_ id: String) -> String? {
        if id.count > 128 { return "is longer than 128 characters" }
        if id.contains(where: { !($0.isASCII && ($0.isLetter || $0.isNumber)) && !deviceIDPunctuation.contains($0) }) {
            // IoT Hub also allows '+' and '#', but they are MQTT wildcards: no topic can carry them.
            return "has characters a device id cannot have over MQTT; allowed: ASCII letters, digits and - : . % _ * ? ! ( ) , = @ ; $ '"
        }
        return nil
    }
}
