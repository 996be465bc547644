public import ConfigSyntax
import Foundation

/// The `admin` section of the gateway configuration: where the admin endpoint listens and
/// the file that holds its bearer token.
///
/// ```yaml
/// admin:
///   listen: 127.0.0.1:9360      # the default; "off" turns it off
///   token_file: /etc/edgegate/admin.token
/// ```
///
/// A listener on anything but a loopback address needs a token file (parsing refuses it
/// otherwise); the file itself is checked when the daemon starts (`readToken()`).
public struct AdminSettings: Sendable, Hashable {
    /// Where the endpoint listens; nil: `listen: off`.
    public var listen: AdminAddress?
    /// The bearer token's file, resolved; nil: no token (loopback only, no writes).
    public var tokenFile: String?
    /// Where `token_file` is written in the configuration, for the start-up errors about the file.
    public var tokenFileLocation: SourceLocation?

    /// The default listener, `127.0.0.1:9360`.
    public static let defaultListen = AdminAddress(host: "127.0.0.1", port: 9360)

    /// Creates settings; the defaults are the section's defaults.
    public init(listen: AdminAddress? = AdminSettings.defaultListen, tokenFile: String? = nil, tokenFileLocation: SourceLocation? = nil) {
        self.listen = listen
        self.tokenFile = tokenFile
        self.tokenFileLocation = tokenFileLocation
    }

    /// The keys of `admin:`.
    package static let keys = ["listen", "token_file"]

    /// The `admin` mapping (nil: the section is absent), `token_file` resolved against the
    /// folder of `file`; the defaults where a key is absent or wrong (wrong is a diagnostic).
    package static func parse(_ a: YAMLMapping?, file: String) -> AdminSettings {
        var settings = AdminSettings()
        guard let a else { return settings }
        a.checkKeys(keys)
        if let text = a.string("listen"), let node = a.value("listen") {
            if text == "off" {
                settings.listen = nil
            } else if let address = AdminAddress(parsing: text) {
                settings.listen = address
            } else {
                a.error(
                    "listen must be an address and port such as 127.0.0.1:9360, or \"off\"; found '\(text)'", at: node,
                    hint: "an IPv6 address goes in brackets: [::1]:9360")
            }
        }
        if let path = a.name("token_file"), let node = a.value("token_file") {
            settings.tokenFile = resolve(path, relativeToFolderOf: file)
            settings.tokenFileLocation = a.location(of: node)
        }
        if let listen = settings.listen, !listen.isLoopback, settings.tokenFile == nil {
            a.error(
                "listen on \(listen) needs a token_file: a non-loopback admin endpoint without a token would let anyone on the network send commands",
                at: a.value("listen") ?? a.node,
                hint: "add token_file: with a file readable only by the gateway's user (chmod 600), or listen on 127.0.0.1")
        }
        return settings
    }

    /// Reads the bearer token (the file's content without surrounding white space).
    /// - Returns: nil without `token_file`.
    /// - Throws: `AdminSettingsError` when the file cannot be read, is readable by its group
    ///   or others, or holds no token; the message never shows the token.
    public func readToken() throws(AdminSettingsError) -> AdminToken? {
        guard let path = tokenFile else { return nil }
        let at = tokenFileLocation.map { "\($0): " } ?? ""
        if let mode = TextFile.sharedMode(path) {
            throw AdminSettingsError(
                "\(at)admin token file \(path) is readable or writable by its group or others (mode \(String(mode, radix: 8))); "
                    + "make it private: chmod 600 \(path)")
        }
        let text: String
        switch TextFile.read(path) {
        case .success(let content): text = content
        case .failure(let problem): throw AdminSettingsError("\(at)admin token file \(path) cannot be read: \(problem.reason)")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else {
            throw AdminSettingsError("\(at)admin token file \(path) is empty; put a long random token in it (e.g. `openssl rand -hex 32`)")
        }
        return AdminToken(token)
    }
}

/// Why the admin endpoint cannot start with its settings.
public struct AdminSettingsError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A sentence for the operator.
    public var description: String

    init(_ description: String) { self.description = description }
}

/// An address and port to listen on.
public struct AdminAddress: Sendable, Hashable, CustomStringConvertible {
    /// An IP address (or `localhost`).
    public var host: String
    /// The TCP port; 0 lets the system choose.
    public var port: Int

    /// Creates an address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` or `[ipv6]:port`; nil when it is neither.
    public init?(parsing text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
            guard host.contains(":") else { return nil }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard host == "localhost" || Self.isIPv4(host) else { return nil }
        }
        guard let port = Int(portText), (0...65_535).contains(port), !host.isEmpty else { return nil }
        self.init(host: String(host), port: port)
    }

    private static func isIPv4(_ s: Substring) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }

    /// True for 127.0.0.0/8, `::1` and `localhost`: only this machine can connect.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// `host:port`, IPv6 in brackets.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The admin endpoint's bearer token. Its description hides it, so that it cannot reach a
/// log line by accident.
public struct AdminToken: Sendable, Hashable, CustomStringConvertible {
    let bytes: [UInt8]

    /// Wraps a token.
    public init(_ token: String) { bytes = Array(token.utf8) }

    /// `<redacted>`.
    public var description: String { "<redacted>" }

    /// The token itself, for the one place that sends it (the admin client's header).
    package var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Compares a presented token with this one in time that does not depend on where they
    /// differ (only on the presented length), so that timing does not reveal a prefix.
    public func matches(_ presented: some Collection<UInt8>) -> Bool {
        var difference: UInt8 = presented.count == bytes.count ? 0 : 1
        if bytes.isEmpty { return false }
        var i = 0
        for byte in presented {
            difference |= byte ^ bytes[i % bytes.count]
            i += 1
        }
        return difference == 0
    }
}
