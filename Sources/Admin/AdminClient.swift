import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A small blocking HTTP/1.1 GET client for the admin endpoint (`edgegate status`): one
/// connection per request, `Connection: close`, read to the end. Not URLSession: on Linux it
/// honours `http_proxy`, and a proxy must not see the token or reroute a loopback request.
public struct AdminClient: Sendable {
    /// An answer: the status code and the body.
    public struct Answer: Sendable {
        /// The HTTP status code.
        public var status: Int
        /// The body (the endpoint sends `Content-Length` bodies).
        public var body: [UInt8]
    }

    /// Why a request failed, as a short phrase.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// What went wrong.
        public var description: String

        /// A failure saying `description`.
        public init(description: String) { self.description = description }
    }

    let host: String
    let port: Int
    let token: String?
    let timeout: Duration

    /// A client of `http://HOST:PORT`; the token, when given, goes with every request.
    public init(url: String, token: String? = nil, timeout: Duration = .seconds(5)) throws(Failure) {
        guard let parts = URLComponents(string: url), parts.scheme == "http", let host = parts.host, !host.isEmpty,
            parts.path.isEmpty || parts.path == "/"
        else {
            throw Failure(description: "'\(url)' is not an admin address such as http://127.0.0.1:9360")
        }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = parts.port ?? 80
        self.token = token
        self.timeout = timeout
    }

    /// GETs `path`.
    public func get(_ path: String) throws(Failure) -> Answer {
        let fd = try connect()
        defer { close(fd) }
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\nAccept: application/json\r\n"
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "cannot send to \(host):\(port): \(String(cString: strerror(errno)))") }
            sent += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            guard n > 0 else { throw Failure(description: "no answer from \(host):\(port) within \(timeout)") }
            response += buffer[..<n]
            if response.count > 16 << 20 { throw Failure(description: "the answer of \(host):\(port) is too large") }
        }
        return try Self.parse(response)
    }

    /// Status line and body of a whole response with a `Content-Length` (or none: to the end).
    static func parse(_ response: [UInt8]) throws(Failure) -> Answer {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = response.indices.first(where: { response[$0...].starts(with: separator) }) else {
            throw Failure(description: "not an HTTP answer")
        }
        let head = String(decoding: response[..<end], as: UTF8.self)
        let statusLine = head.split(separator: "\r\n").first ?? ""
        let fields = statusLine.split(separator: " ")
        guard fields.count >= 2, let status = Int(fields[1]) else { throw Failure(description: "not an HTTP answer: \(statusLine)") }
        return Answer(status: status, body: Array(response[(end + 4)...]))
    }

    private func connect() throws(Failure) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            throw Failure(description: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(list) }
        var reason = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            guard fd >= 0 else { continue }
            let seconds = timeout.components.seconds
            var limit = timeval(tv_sec: Int(seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
            reason = String(cString: strerror(errno))
            close(fd)
        }
        throw Failure(description: "cannot connect to \(host):\(port): \(reason)")
    }
}
