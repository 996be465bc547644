import Foundation
import GatewayCore
import Testing

@testable import HueAdapter

#if canImport(Glibc)
import Glibc
#endif

@Suite("the Hue simulator's HTTP server: ports, keep-alive, stopping", .serialized, .timeLimit(.minutes(1)))
struct SimulatorServerTests {
    @Test("a port in use is refused at once with the system's reason; stop() closes a kept-alive connection and frees the port")
    func portsAndStopping() async throws {
        let bridge = HueBridgeSimulator(port: 0, usernames: [testUser], animated: false, logger: quietLogger)
        try await bridge.start()
        let port = bridge.port
        #expect(port > 0)

        let second = HueBridgeSimulator(port: port, logger: quietLogger)
        do {
            try await second.start()
            Issue.record("a second simulator started on port \(port), which the first holds")
            await second.stop()
        } catch {
            #expect("\(error)".hasPrefix("cannot listen on 127.0.0.1:\(port): "), "\(error)")
            #expect("\(error)".contains("in use"), "\(error)")
        }
        await #expect(throws: (any Error).self) { try await HueBridgeSimulator(host: "localhost", logger: quietLogger).start() }

        // HTTP/1.1 without `Connection: close`: the connection stays open after the answer.
        let connection = try RawConnection(port: port)
        defer { connection.close() }
        let answer = try connection.exchange("GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        #expect(answer.hasPrefix("HTTP/1.1 200 "), "\(answer)")
        #expect(answer.lowercased().contains("content-type: application/json"), "\(answer)")
        #expect(answer.contains(#""bridgeid":"001788FFFE000000""#), "\(answer)")
        #expect(!connection.isClosed(waiting: 0), "the connection closed after one answer")

        await bridge.stop()
        #expect(connection.isClosed(waiting: 10_000), "the kept-alive connection outlived stop()")
        let again = HueBridgeSimulator(port: port, usernames: [testUser], animated: false, logger: quietLogger)
        try await again.start()
        #expect(again.port == port)
        let client = HueBridgeClient(bridge: HueBridge(host: "127.0.0.1", port: port), username: testUser)
        #expect(try await client.get("lights/1")["type"]?.string == "Extended color light")
        await again.stop()
    }
}

/// One TCP connection to the simulator on loopback, spoken to byte for byte, so that what the
/// server does with the connection (keep it, close it) shows; the adapter's own client always
/// closes after one answer.
private final class RawConnection {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(result == 0, "connect: errno \(errno)")
    }

    /// Sends `request` and reads until the answer's body is complete (by its Content-Length).
    func exchange(_ request: String) throws -> String {
        let bytes = Array(request.utf8)
        try #require(send(fd, bytes, bytes.count, 0) == bytes.count)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !Self.isComplete(received) {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            try #require(poll(&entry, 1, 10_000) == 1, "no answer within 10 s: \(String(decoding: received, as: UTF8.self))")
            let count = recv(fd, &buffer, buffer.count, 0)
            try #require(count > 0, "the connection closed before the answer was complete")
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// True when the server has closed the connection (end of file) within `milliseconds`.
    func isClosed(waiting milliseconds: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, milliseconds) == 1 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK)) <= 0
    }

    func close() { _ = Glibc.close(fd) }

    private static func isComplete(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return false }
        let length = text[..<end.lowerBound].split(separator: "\r\n")
            .first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }
        return text.utf8.count - text[..<end.upperBound].utf8.count >= (length ?? 0)
    }
}
