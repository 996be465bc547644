import Foundation
import GatewayCore

#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 client on POSIX sockets, for a bridge on the local network.
///
/// Why not URLSession: on Linux it runs on libcurl, which honours `http_proxy` from the
/// environment with no way to switch that off per session, so a proxy meant for the internet
/// would reroute (or break) traffic to a bridge next door. This client connects directly,
/// one connection per request (`Connection: close`), with one deadline covering connect,
/// send and receive. Calls block: `HueBridgeClient` runs them on a dispatch queue of its own.
struct HTTPClient: Sendable {
    /// An answer: status and body (chunked bodies decoded).
    struct Response: Sendable {
        var status: Int
        var body: Data
    }

    /// Why a request failed, as a short phrase (`connection refused`, `no answer within 2 s`).
    struct Failure: Error, Sendable {
        var reason: String
    }

    let host: String
    let port: Int
    let timeout: Duration

    /// Sends one request and reads the whole answer.
    func send(method: String, path: String, body: Data?) throws(Failure) -> Response {
        let deadline = ContinuousClock.now + timeout
        let fd = try connect(deadline: deadline)
        defer { close(fd) }
        var request = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\nAccept: application/json\r\n"
        if let body {
            request += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        }
        var bytes = Data((request + "\r\n").utf8)
        if let body { bytes.append(body) }
        try write(fd, bytes, deadline: deadline)
        return try readResponse(fd, deadline: deadline)
    }

    private func connect(deadline: ContinuousClock.Instant) throws(Failure) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw Failure(reason: "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            guard fd >= 0 else { lastError = Self.errnoText(); continue }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
            guard errno == EINPROGRESS else {
                lastError = Self.errnoText()
                close(fd)
                continue
            }
            do {
                try wait(fd, for: Int16(POLLOUT), deadline: deadline, doing: "connecting")
            } catch {
                close(fd)
                throw error
            }
            var code: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length)
            if code == 0 { return fd }
            lastError = String(cString: strerror(code)).lowercased()
            close(fd)
        }
        throw Failure(reason: lastError)
    }

    private func write(_ fd: Int32, _ data: Data, deadline: ContinuousClock.Instant) throws(Failure) {
        var offset = 0
        while offset < data.count {
            try wait(fd, for: Int16(POLLOUT), deadline: deadline, doing: "sending")
            let sent = data.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, data.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                throw Failure(reason: "sending failed: \(Self.errnoText())")
            }
            offset += sent
        }
    }

    private func readResponse(_ fd: Int32, deadline: ContinuousClock.Instant) throws(Failure) -> Response {
        var buffer = Data()
        var chunk = [UInt8](repeating: 0, count: 16_384)
        var head: (status: Int, headers: [String: String], bodyStart: Int)?
        while true {
            if head == nil, let end = buffer.range(of: Data("\r\n\r\n".utf8)) {
                head = try Self.parseHead(buffer[buffer.startIndex..<end.lowerBound], bodyStart: end.upperBound)
            }
            if let head, let body = try Self.completeBody(buffer[head.bodyStart...], headers: head.headers, closed: false) {
                return Response(status: head.status, body: body)
            }
            try wait(fd, for: Int16(POLLIN), deadline: deadline, doing: "waiting for the answer")
            let count = recv(fd, &chunk, chunk.count, 0)
            if count < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                throw Failure(reason: "receiving failed: \(Self.errnoText())")
            }
            if count == 0 {
                guard let head else { throw Failure(reason: "the connection closed before an HTTP answer") }
                guard let body = try Self.completeBody(buffer[head.bodyStart...], headers: head.headers, closed: true) else {
                    throw Failure(reason: "the connection closed in the middle of the answer")
                }
                return Response(status: head.status, body: body)
            }
            buffer.append(contentsOf: chunk[0..<count])
            if buffer.count > Self.maxAnswerBytes { throw Failure(reason: "the answer is larger than 16 MiB") }
        }
    }

    /// Status and headers (names lowercased) of `HTTP/1.1 200 OK\r\n...`.
    static func parseHead(_ bytes: Data, bodyStart: Int) throws(Failure) -> (status: Int, headers: [String: String], bodyStart: Int) {
        let lines = String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n")
        let statusLine = lines.first ?? ""
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw Failure(reason: "not an HTTP answer: \(statusLine.prefix(60))")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, headers, bodyStart)
    }

    /// The body once it is complete (by `Content-Length`, chunked encoding, or the connection
    /// closing); nil while more is to come.
    static func completeBody(_ bytes: Data, headers: [String: String], closed: Bool) throws(Failure) -> Data? {
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            return try dechunk(bytes)
        }
        if let text = headers["content-length"] {
            guard let length = Int(text), length >= 0 else { throw Failure(reason: "invalid Content-Length '\(text)'") }
            return bytes.count >= length ? Data(bytes.prefix(length)) : nil
        }
        return closed ? Data(bytes) : nil
    }

    /// The largest answer read: a bridge's full state is a few hundred KiB.
    static let maxAnswerBytes = 16 << 20

    /// The decoded body of a complete chunked encoding; nil while incomplete.
    /// Chunk sizes come from the network: one beyond what would ever be read is refused
    /// before any arithmetic with it.
    static func dechunk(_ bytes: Data) throws(Failure) -> Data? {
        var body = Data()
        var index = bytes.startIndex
        let crlf = Data("\r\n".utf8)
        while true {
            guard let lineEnd = bytes.range(of: crlf, in: index..<bytes.endIndex) else { return nil }
            let sizeText =
                String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self)
                .split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard let size = Int(sizeText, radix: 16), size >= 0 else { throw Failure(reason: "invalid chunk size '\(sizeText)'") }
            guard size <= maxAnswerBytes else { throw Failure(reason: "chunk size \(size) is larger than an answer may be (16 MiB)") }
            let start = lineEnd.upperBound
            if size == 0 { return body }
            guard bytes.endIndex - start >= size + 2 else { return nil }
            body.append(bytes[start..<(start + size)])
            index = start + size + 2
        }
    }

    private func wait(_ fd: Int32, for events: Int16, deadline: ContinuousClock.Instant, doing: String) throws(Failure) {
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw Failure(reason: "no answer within \(timeout.mapText) (\(doing))") }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ms = Int32(min(left / .milliseconds(1) + 1, 60_000))
            let ready = poll(&entry, 1, ms)
            if ready > 0 { return }
            if ready < 0, errno != EINTR { throw Failure(reason: "poll failed: \(Self.errnoText())") }
        }
    }

    private static func errnoText() -> String {
        String(cString: strerror(errno)).lowercased()
    }
}
