import Admin
import Testing

/// Addresses of `admin.listen` and the token's comparison.
@Suite struct AdminSettingsTests {
    @Test(arguments: [
        ("127.0.0.1:9360", "127.0.0.1", 9360, true), ("127.1.2.3:1", "127.1.2.3", 1, true), ("localhost:80", "localhost", 80, true),
        ("[::1]:9360", "::1", 9360, true), ("0.0.0.0:9360", "0.0.0.0", 9360, false), ("[::]:9360", "::", 9360, false),
        ("10.0.0.7:0", "10.0.0.7", 0, false),
    ])
    func addresses(_ text: String, _ host: String, _ port: Int, _ loopback: Bool) throws {
        let address = try #require(AdminAddress(parsing: text))
        #expect(address.host == host && address.port == port)
        #expect(address.isLoopback == loopback)
        #expect(address.description == text)
    }

    @Test(arguments: ["9360", "127.0.0.1", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:65536", "hub.example:9360", "::1:9360", "[127.0.0.1]:1", "1.2.3:4"])
    func notAddresses(_ text: String) {
        #expect(AdminAddress(parsing: text) == nil)
    }

    @Test func tokenComparison() {
        let token = AdminToken("0123456789abcdef")
        #expect(token.matches(Array("0123456789abcdef".utf8)))
        #expect(!token.matches(Array("0123456789abcdeF".utf8)))
        #expect(!token.matches(Array("0123456789abcde".utf8)))
        #expect(!token.matches(Array("0123456789abcdef0".utf8)))
        #expect(!token.matches([UInt8]()))
        // The same bytes repeated are not the token either (the comparison wraps around it).
        #expect(!token.matches(Array("0123456789abcdef0123456789abcdef".utf8)))
        #expect(!AdminToken("").matches([UInt8]()))
        #expect("\(token)" == "<redacted>")
    }
}
