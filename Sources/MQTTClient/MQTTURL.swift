import Foundation

/// An MQTT broker or hub address, `mqtts://host[:port]` or `mqtt://host[:port]`: the one URL
/// type of the gateway configuration, the operator's CLI and the MQTT devices' `broker:`.
public struct MQTTURL: Sendable, Hashable, CustomStringConvertible {
    /// Host name or address (IPv6 without brackets).
    public var host: String
    /// TCP port; 8883 for `mqtts://`, 1883 for `mqtt://` unless the URL says.
    public var port: Int
    /// True for `mqtts://`.
    public var useTLS: Bool

    /// Creates an address; without a port, the scheme's (8883 for TLS, 1883 for plain MQTT).
    public init(host: String, port: Int? = nil, useTLS: Bool = true) {
        self.host = host
        self.port = port ?? (useTLS ? 8883 : 1883)
        self.useTLS = useTLS
    }

    /// `mqtts://host:port`.
    public var description: String {
        let shown = host.contains(":") ? "[\(host)]" : host
        return "\(useTLS ? "mqtts" : "mqtt")://\(shown):\(port)"
    }

    /// Why a text is not an MQTT address: a sentence and a hint.
    public struct ParseError: Error, Sendable, Hashable {
        /// What is wrong.
        public var message: String
        /// How to write it instead.
        public var hint: String?
        /// For a scheme other than `mqtts`/`mqtt` (`https://hub.example`): the same host as
        /// `mqtts://host:8883`, for callers that accept TLS only and word their own hint;
        /// nil for other problems.
        public var tlsSuggestion: String?
    }

    /// Parses `mqtts://host[:port]` or `mqtt://host[:port]`; nothing else (no path, query or
    /// user), because a topic prefix or credentials hidden in a URL would be ignored silently.
    public static func parse(_ text: String) -> Result<MQTTURL, ParseError> {
        guard let c = URLComponents(string: text), let scheme = c.scheme?.lowercased() else {
            return .failure(ParseError(message: "url '\(text)' is not a URL", hint: "e.g. mqtts://hub.example:8883"))
        }
        let useTLS: Bool
        switch scheme {
        case "mqtts": useTLS = true
        case "mqtt": useTLS = false
        default:
            var shown = c.host.flatMap { $0.isEmpty ? nil : $0 } ?? "host"
            if shown.contains(":"), !shown.hasPrefix("[") { shown = "[\(shown)]" }
            let suggestion = "mqtts://\(shown):8883"
            return .failure(
                ParseError(
                    message: "url scheme '\(scheme)' is not supported",
                    hint: "use mqtts:// (or mqtt:// with `insecure: true`)", tlsSuggestion: suggestion))
        }
        guard var host = c.host, !host.isEmpty else {
            return .failure(ParseError(message: "url '\(text)' has no host", hint: "e.g. mqtts://hub.example:8883"))
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if !c.path.isEmpty && c.path != "/" || c.query != nil || c.user != nil {
            return .failure(
                ParseError(
                    message: "url '\(text)' may only hold a scheme, host and port",
                    hint: "set the topic prefix with `prefix:` and credentials with `tls:`"))
        }
        let port = c.port ?? (useTLS ? 8883 : 1883)
        guard (1...65535).contains(port) else {
            return .failure(ParseError(message: "url port \(port) is out of range 1...65535", hint: nil))
        }
        return .success(MQTTURL(host: host, port: port, useTLS: useTLS))
    }
}
