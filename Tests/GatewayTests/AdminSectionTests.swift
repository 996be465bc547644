import Admin
import Foundation
import Gateway
import TestSupport
import Testing

/// The `admin:` section as the gateway configuration parses it: the listener, `off`, the
/// token file, and the rule that a non-loopback listener needs a token.
@Suite struct AdminSectionTests {
    static let base = """
        gateway: { id: gw-1, devicemaps: [m/] }
        uplink: { url: mqtts://h, tls: { ca: ca.pem } }

        """

    static func parse(_ admin: String) -> (config: GatewayConfiguration?, diagnostics: [String]) {
        let (config, diagnostics) = GatewayConfiguration.parse(yaml: base + admin, file: "/etc/edgegate/g.yaml")
        return (config, diagnostics.map { "\($0)" })
    }

    @Test func defaultsToLoopback9360WithoutToken() throws {
        let c = try #require(Self.parse("").config)
        #expect(c.admin.listen == AdminAddress(host: "127.0.0.1", port: 9360))
        #expect(c.admin.tokenFile == nil)
        #expect(try c.admin.readToken() == nil)
    }

    @Test func offTurnsTheListenerOff() throws {
        let c = try #require(Self.parse("admin: { listen: \"off\" }\n").config)
        #expect(c.admin.listen == nil)
    }

    @Test func listenAddressesAndTokenFileResolved() throws {
        let ipv6 = try #require(Self.parse("admin: { listen: \"[::1]:9400\" }\n").config)
        #expect(ipv6.admin.listen == AdminAddress(host: "::1", port: 9400))
        #expect(ipv6.admin.listen?.isLoopback == true)
        let wide = try #require(Self.parse("admin:\n  listen: 0.0.0.0:9360\n  token_file: admin.token\n").config)
        #expect(wide.admin.listen == AdminAddress(host: "0.0.0.0", port: 9360))
        #expect(wide.admin.listen?.isLoopback == false)
        #expect(wide.admin.tokenFile == "/etc/edgegate/admin.token")
        #expect(wide.admin.tokenFileLocation.map { "\($0)" } == "/etc/edgegate/g.yaml:5:15")
    }

    @Test func nonLoopbackWithoutTokenFileIsRefused() {
        let (config, diagnostics) = Self.parse("admin:\n  listen: 192.168.1.10:9360\n")
        #expect(config == nil)
        #expect(
            diagnostics == [
                "/etc/edgegate/g.yaml:4:11: error: admin: listen on 192.168.1.10:9360 needs a token_file: a non-loopback admin endpoint without a token would let anyone on the network send commands (add token_file: with a file readable only by the gateway's user (chmod 600), or listen on 127.0.0.1)"
            ])
    }

    @Test func badListenValuesAndUnknownKeys() {
        #expect(
            Self.parse("admin: { listen: \"hub.example:9360\" }\n").diagnostics == [
                "/etc/edgegate/g.yaml:3:18: error: admin: listen must be an address and port such as 127.0.0.1:9360, or \"off\"; found 'hub.example:9360' (an IPv6 address goes in brackets: [::1]:9360)"
            ])
        #expect(
            Self.parse("admin: { listen: \"127.0.0.1:70000\" }\n").diagnostics == [
                "/etc/edgegate/g.yaml:3:18: error: admin: listen must be an address and port such as 127.0.0.1:9360, or \"off\"; found '127.0.0.1:70000' (an IPv6 address goes in brackets: [::1]:9360)"
            ])
        #expect(
            Self.parse("admin: { listen: 127.0.0.1:9360, token: x }\n").diagnostics == [
                "/etc/edgegate/g.yaml:3:34: error: admin: unknown key 'token' (known keys: listen, token_file)"
            ])
    }

    @Test func tokenFileMustBePrivateAndNotEmpty() throws {
        let dir = try TemporaryDirectory()
        let file = dir.file("admin.token")
        try "s3cret-token-value\n".write(toFile: file, atomically: true, encoding: .utf8)
        let settings = AdminSettings(tokenFile: file)

        chmod(file, 0o644)
        #expect(throws: AdminSettingsError.self) { try settings.readToken() }
        do {
            _ = try settings.readToken()
        } catch {
            #expect(error.description.contains("mode 644"))
            #expect(error.description.contains("chmod 600 \(file)"))
            #expect(!error.description.contains("s3cret"))
        }
        chmod(file, 0o640)
        #expect(throws: AdminSettingsError.self) { try settings.readToken() }

        chmod(file, 0o600)
        let token = try #require(try settings.readToken())
        #expect(token.matches(Array("s3cret-token-value".utf8)))
        #expect(!token.matches(Array("s3cret-token-valuf".utf8)))
        #expect(!token.matches(Array("s3cret".utf8)))
        #expect("\(token)" == "<redacted>")

        try "  \n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        do {
            _ = try settings.readToken()
            Issue.record("an empty token file was accepted")
        } catch {
            #expect(error.description.contains("is empty"))
        }
        #expect(throws: AdminSettingsError.self) { try AdminSettings(tokenFile: dir.file("missing")).readToken() }
    }
}
