import HTTPTypes
import Hummingbird
import NIOCore

/// The web console's files (Sources/Admin/Console, embedded by scripts/embed-console), served
/// from memory at `/`, `/console.css` and `/console.js`, with headers that keep the pages to
/// themselves: only their own script and style run (no inline code, nothing from elsewhere),
/// no other site may frame them, and the browser sends no referrer anywhere.
enum ConsolePages {
    /// The Content-Security-Policy of every page and file.
    static let policy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

    private struct Prepared: Sendable {
        let contentType: String
        let body: ByteBuffer
        let etag: String
    }

    /// Each file's bytes and ETag, made once.
    private static let prepared: [String: Prepared] = ConsoleAssets.files.mapValues { asset in
        let bytes = Array(asset.text.utf8)
        // FNV-1a: an ETag only has to change when the file does.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Prepared(contentType: asset.contentType, body: ByteBuffer(bytes: bytes), etag: "\"\(String(hash, radix: 16))\"")
    }

    /// Whether `path` is one of the console's files.
    static func serves(_ path: String) -> Bool { prepared[path] != nil }

    /// Adds a route for each file.
    static func register(on router: Router<AdminRequestContext>) {
        for path in prepared.keys.sorted() {
            router.get(RouterPath(path)) { request, _ in response(path, ifNoneMatch: request.headers[.ifNoneMatch]) }
        }
    }

    /// The file at `path`: 200 with its bytes, or 304 when the browser already has this
    /// version (the ETag changes with every build that changes the file).
    static func response(_ path: String, ifNoneMatch: String?) -> Response {
        guard let file = prepared[path] else { return AdminHandler.problem(.notFound, "no page at \(path)") }
        var headers: HTTPFields = [
            .contentType: file.contentType, .eTag: file.etag, .cacheControl: "no-cache",
            .contentSecurityPolicy: policy, .xContentTypeOptions: "nosniff",
        ]
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if ifNoneMatch == file.etag {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: file.body))
    }
}
