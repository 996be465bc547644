import Foundation

/// A hub address: `mqtts://host[:port]` (or `mqtt://` where plain MQTT is allowed).
public struct HubURL: Sendable, Hashable, CustomStringConvertible {
    /// Host name or address (IPv6 without brackets).
    public var host: String
    /// TCP port; 8883 for `mqtts://`, 1883 for `mqtt://` unless the URL says.
    public var port: Int
    /// True for `mqtts://`.
    public var useTLS: Bool

    /// Creates an address.
    public init(host: String, port: Int, useTLS: Bool = true) {
        self.host = host
        self.port = port
        self.useTLS = useTLS
    }

    /// `mqtts://host:port`.
    public var description: String {
        let shown = host.contains(":") ? "[\(host)]" : host
        return "\(useTLS ? "mqtts" : "mqtt")://\(shown):\(port)"
    }

    /// Why a text is not a hub address: a sentence and a hint.
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
    public static func parse(_ text: String) -> Result<HubURL, ParseError> {
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
            return .failure(ParseError(message: "url scheme '\(scheme)' is not supported",
                                       hint: "use mqtts:// (or mqtt:// with `insecure: true`)", tlsSuggestion: suggestion))
        }
        guard var host = c.host, !host.isEmpty else {
            return .failure(ParseError(message: "url '\(text)' has no host", hint: "e.g. mqtts://hub.example:8883"))
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if !c.path.isEmpty && c.path != "/" || c.query != nil || c.user != nil {
            return .failure(ParseError(message: "url '\(text)' may only hold a scheme, host and port",
                                       hint: "set the topic prefix with `prefix:` and credentials with `tls:`"))
        }
        let port = c.port ?? (useTLS ? 8883 : 1883)
        guard (1...65535).contains(port) else {
            return .failure(ParseError(message: "url port \(port) is out of range 1...65535", hint: nil))
        }
        return .success(HubURL(host: host, port: port, useTLS: useTLS))
    }
}

/// What MQTT allows in the topic levels edgegate builds from settings (the gateway id, the
/// prefix), for every parser of such settings: the gateway configuration, the uplink's section
/// and the operator's CLI settings.
package enum TopicRules {
    /// C0 and C1 control characters and DEL, which MQTT client libraries refuse in topics.
    package static func isControl(_ c: Character) -> Bool {
        c.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    /// The characters of `level` that cannot be in one topic level (a gateway id).
    package static func badCharacters(inLevel level: String) -> String {
        level.filter { "/+#".contains($0) || $0.isWhitespace || isControl($0) }
    }

    package static let levelHint = "it must not contain '/', '+', '#', spaces or control characters"

    /// Whether `prefix` is one or more topic levels without wildcards or empty levels.
    package static func isValidPrefix(_ prefix: String) -> Bool {
        !prefix.contains(where: { "+#".contains($0) || $0.isWhitespace || isControl($0) })
            && !prefix.split(separator: "/", omittingEmptySubsequences: false).contains(where: \.isEmpty)
    }

    package static let prefixHint = "use levels separated by single '/', without '+', '#', spaces, control characters or a leading or trailing '/'"
}
