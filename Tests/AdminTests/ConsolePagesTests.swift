import DevTools
import Foundation
import Gateway
import Logging
import TestSupport
import Testing

@testable import Admin

/// The console's files as the binary serves them.
@Suite struct ConsolePagesTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/Admin/Console").standardizedFileURL

    @Test("the embedded files are exactly those in Sources/Admin/Console (run scripts/embed-console after editing them)")
    func embeddedMatchesSources() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter { !$0.hasPrefix(".") }.sorted()
        #expect(ConsoleAssets.files.values.map(\.file).sorted() == names)
        for asset in ConsoleAssets.files.values {
            let text = try String(contentsOf: Self.folder.appendingPathComponent(asset.file), encoding: .utf8)
            #expect(asset.text == text, "\(asset.file) differs from its embedded copy: run scripts/embed-console")
        }
    }

    @Test("each file has its type, the strict policy, no framing and an ETag; a matching If-None-Match gets 304 without a body")
    func headers() async throws {
        let gateway = try AdminServerTests.gateway()
        let port = try freeLoopbackPort()
        let server = AdminServer(
            address: AdminAddress(host: "127.0.0.1", port: port), token: nil, source: gateway.adminSource, version: "1", logger: Logger(label: "t"))
        try await AdminServerTests.running([server]) {
            let page = try await waitForAsync("the server answers", timeout: .seconds(20)) { () async throws -> HTTPProbe.Answer? in
                let a = try await HTTPProbe.request(port: port, "/")
                return a.status == 0 ? nil : a
            }
            #expect(page.status == 200)
            #expect(page.contentType == "text/html; charset=utf-8")
            #expect(page.body == ConsoleAssets.files["/"]?.text)
            let policy = try #require(page.headers["content-security-policy"])
            #expect(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'") && !policy.contains("unsafe"))
            #expect(page.headers["x-content-type-options"] == "nosniff" && page.headers["x-frame-options"] == "DENY")
            #expect(page.headers["referrer-policy"] == "no-referrer")
            let etag = try #require(page.headers["etag"])
            let script = try await HTTPProbe.request(port: port, "/console.js")
            #expect(script.status == 200 && script.contentType == "text/javascript; charset=utf-8")
            #expect(script.headers["etag"] != etag)
            let css = try await HTTPProbe.request(port: port, "/console.css")
            #expect(css.status == 200 && css.contentType == "text/css; charset=utf-8")
            let again = try await HTTPProbe.request(port: port, "/", headers: ["If-None-Match: \(etag)"])
            #expect(again.status == 304 && again.body.isEmpty)
            #expect(try await HTTPProbe.request(port: port, "/", headers: ["If-None-Match: \"other\""]).status == 200)
            #expect(try await HTTPProbe.request(port: port, "/nothing.js").status == 404)
        }
    }

    @Test("the page loads only its own script and style, and none of the files reaches outside the gateway")
    func selfContained() throws {
        let html = try #require(ConsoleAssets.files["/"]?.text)
        #expect(html.contains(#"<script src="/console.js""#) || html.contains(#"<script src="console.js""#))
        #expect(!html.contains("<script>") && !html.contains(" style=\"") && !html.contains(" onclick="))
        for asset in ConsoleAssets.files.values {
            // SVG's namespace is a name, not an address: nothing is fetched from it.
            let text = asset.text.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
            #expect(!text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"), "\(asset.file)")
            #expect(!asset.text.contains("eval("), "\(asset.file)")
        }
    }
}
