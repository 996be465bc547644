public import DevTools
import Foundation

/// An HTTP client independent of the server under test: curl, as an operator's script would
/// call the admin endpoint (never through a proxy).
public enum HTTPProbe {
    /// One request's answer.
    public struct Answer: Sendable, CustomStringConvertible {
        /// The HTTP status code (0 when curl could not connect).
        public var status: Int
        /// The response body.
        public var body: String
        /// The Content-Type header.
        public var contentType: String
        /// Every response header, names lowercased (the last value of a repeated one).
        public var headers: [String: String] = [:]

        public var description: String { "\(status) \(contentType) \(body)" }

        /// The body parsed as a JSON object.
        public func json() throws -> [String: Any] {
            guard let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
                throw ProbeError("not a JSON object: \(body)")
            }
            return object
        }
    }

    /// Sends one request to `http://127.0.0.1:port` + `path`.
    /// - Parameters:
    ///   - token: sent as `Authorization: Bearer token`.
    ///   - body: the request body (a file holds it, so any size goes).
    ///   - headers: more request headers, `Name: value` each (an `Origin`, a `Host`).
    public static func request(
        _ method: String = "GET", port: Int, _ path: String, token: String? = nil, body: [UInt8]? = nil,
        host: String = "127.0.0.1", headers: [String] = []
    ) async throws -> Answer {
        let dir = try TemporaryDirectory(prefix: "edgegate-http")
        defer { dir.remove() }
        var arguments = [
            "-s", "--noproxy", "*", "--max-time", "30", "-X", method, "-o", dir.file("body"),
            "-w", "%{http_code}\n%{content_type}", "-D", dir.file("headers"),
        ]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        for header in headers { arguments += ["-H", header] }
        if let body {
            try Data(body).write(to: URL(fileURLWithPath: dir.file("request")))
            arguments += ["-H", "Content-Type: application/json", "--data-binary", "@" + dir.file("request")]
        }
        arguments.append("http://\(host):\(port)\(path)")
        let (_, output) = try await TestProcess.run("/usr/bin/curl", arguments)
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.first ?? "") ?? 0
        let contentType = lines.count > 1 ? String(lines[1]) : ""
        let text = (try? String(contentsOfFile: dir.file("body"), encoding: .utf8)) ?? ""
        var fields: [String: String] = [:]
        for line in ((try? String(contentsOfFile: dir.file("headers"), encoding: .utf8)) ?? "").split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Answer(status: status, body: text, contentType: contentType, headers: fields)
    }

    /// Starts `curl -N` reading a stream (server-sent events) into `file`; stop it when done.
    public static func stream(port: Int, _ path: String, into file: String, token: String? = nil) throws -> ChildProcess {
        var arguments = ["-s", "-N", "--noproxy", "*", "-o", file]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        arguments.append("http://127.0.0.1:\(port)\(path)")
        return try TestProcess.spawn("/usr/bin/curl", arguments, stdout: .discard, stderr: .discard)
    }
}
