import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An independent reader of the daemon's `GET /api/v1/events` on a thread of its own, as fast
/// as the socket delivers: it counts the bytes, the events by name, the readings they carry and
/// the `lagged` events (with how many events the daemon dropped for it), so that the stream's
/// size is measured apart from any browser.
final class EventStreamReader: Sendable {
    struct Figures: Sendable {
        /// Bytes received after the response head, chunk framing included.
        var wireBytes = 0
        /// The event stream's own bytes (without the chunked encoding's framing).
        var streamBytes = 0
        var readingsEvents = 0
        var readings = 0
        var otherEvents = 0
        var laggedEvents = 0
        /// The sum of the `dropped` counts of the `lagged` events.
        var dropped = 0
        var failure: String?
    }

    private let figures = Mutex(Figures())
    private let socket: Int32
    private let done = DispatchSemaphore(value: 0)

    /// Connects to `127.0.0.1:port`, sends the request and starts reading.
    init(port: Int) throws {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket(): \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw BenchError("cannot connect to the admin endpoint on port \(port): \(String(cString: strerror(errno)))")
        }
        let request = Array("GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            close(fd)
            throw BenchError("cannot send the events request: \(String(cString: strerror(errno)))")
        }
        socket = fd
        let thread = Thread { [self] in
            var parser = StreamParser()
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                let counts = buffer.withUnsafeBufferPointer { parser.feed(UnsafeBufferPointer(rebasing: $0[..<n])) }
                figures.withLock { $0.add(counts) }
                if let failure = parser.failure {
                    figures.withLock { $0.failure = $0.failure ?? failure }
                    break
                }
            }
            done.signal()
        }
        thread.name = "bench-events"
        thread.start()
    }

    /// The figures so far.
    var snapshot: Figures { figures.withLock { $0 } }

    /// Closes the connection and returns the figures.
    func stop() -> Figures {
        shutdown(socket, Int32(SHUT_RDWR))
        done.wait()
        close(socket)
        return snapshot
    }
}

extension EventStreamReader.Figures {
    fileprivate mutating func add(_ c: EventStreamReader.Figures) {
        wireBytes += c.wireBytes
        streamBytes += c.streamBytes
        readingsEvents += c.readingsEvents
        readings += c.readings
        otherEvents += c.otherEvents
        laggedEvents += c.laggedEvents
        dropped += c.dropped
    }

    /// What happened between two snapshots.
    static func - (a: Self, b: Self) -> Self {
        var d = Self()
        d.wireBytes = a.wireBytes - b.wireBytes
        d.streamBytes = a.streamBytes - b.streamBytes
        d.readingsEvents = a.readingsEvents - b.readingsEvents
        d.readings = a.readings - b.readings
        d.otherEvents = a.otherEvents - b.otherEvents
        d.laggedEvents = a.laggedEvents - b.laggedEvents
        d.dropped = a.dropped - b.dropped
        d.failure = a.failure
        return d
    }
}

/// The response head, then HTTP/1.1 chunked encoding (or none), then server-sent events: one
/// `event:` line and one `data:` line of JSON each, as the daemon writes them.
private struct StreamParser {
    private enum Phase { case head, chunkSize, chunkData(Int), chunkEnd, identity }
    private var phase = Phase.head
    private var head: [UInt8] = []
    private var sizeLine: [UInt8] = []
    private var line: [UInt8] = []
    private var event = ""
    private(set) var failure: String?

    /// Parses `bytes`; returns what they held.
    mutating func feed(_ bytes: UnsafeBufferPointer<UInt8>) -> EventStreamReader.Figures {
        var counts = EventStreamReader.Figures()
        var i = 0
        if case .head = phase {} else { counts.wireBytes = bytes.count }
        while i < bytes.count, failure == nil {
            switch phase {
            case .head:
                head.append(bytes[i])
                i += 1
                if head.count >= 4, head.suffix(4).elementsEqual("\r\n\r\n".utf8) {
                    let text = String(decoding: head, as: UTF8.self).lowercased()
                    guard text.hasPrefix("http/1.1 200") else {
                        failure = "the events request was answered: \(text.prefix { $0 != "\r" })"
                        return counts
                    }
                    phase = text.contains("transfer-encoding: chunked") ? .chunkSize : .identity
                    counts.wireBytes = bytes.count - i
                }
            case .chunkSize:
                let b = bytes[i]
                i += 1
                if b == UInt8(ascii: "\n") {
                    let hex = String(decoding: sizeLine, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    sizeLine.removeAll(keepingCapacity: true)
                    guard let size = Int(hex.prefix { $0 != ";" }, radix: 16) else {
                        failure = "not a chunk size: '\(hex.prefix(20))'"
                        return counts
                    }
                    phase = size == 0 ? .identity : .chunkData(size)
                } else {
                    sizeLine.append(b)
                }
            case .chunkData(let left):
                let n = min(left, bytes.count - i)
                consume(UnsafeBufferPointer(rebasing: bytes[i..<(i + n)]), into: &counts)
                i += n
                phase = n == left ? .chunkEnd : .chunkData(left - n)
            case .chunkEnd:
                // The CR LF after a chunk's data.
                if bytes[i] == UInt8(ascii: "\n") { phase = .chunkSize }
                i += 1
            case .identity:
                consume(UnsafeBufferPointer(rebasing: bytes[i...]), into: &counts)
                i = bytes.count
            }
        }
        return counts
    }

    private mutating func consume(_ bytes: UnsafeBufferPointer<UInt8>, into counts: inout EventStreamReader.Figures) {
        counts.streamBytes += bytes.count
        var start = 0
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") {
            line.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
            finishLine(into: &counts)
            start = i + 1
        }
        line.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
    }

    private static let pointKey = Array(#""point":"#.utf8)
    private static let droppedKey = Array(#""dropped":"#.utf8)

    private mutating func finishLine(into counts: inout EventStreamReader.Figures) {
        defer { line.removeAll(keepingCapacity: true) }
        if line.starts(with: "event: ".utf8) {
            event = String(decoding: line.dropFirst(7), as: UTF8.self)
        } else if line.starts(with: "data: ".utf8) {
            switch event {
            case "readings":
                counts.readingsEvents += 1
                counts.readings += Self.occurrences(of: Self.pointKey, in: line)
            case "lagged":
                counts.laggedEvents += 1
                if let at = Self.firstIndex(of: Self.droppedKey, in: line) {
                    let digits = line[(at + Self.droppedKey.count)...].prefix { (48...57).contains($0) }
                    counts.dropped += Int(String(decoding: digits, as: UTF8.self)) ?? 0
                }
            default:
                counts.otherEvents += 1
            }
        }
    }

    private static func firstIndex(of key: [UInt8], in line: [UInt8]) -> Int? {
        guard line.count >= key.count else { return nil }
        for i in 0...(line.count - key.count) where line[i] == key[0] && line[i..<(i + key.count)].elementsEqual(key) {
            return i
        }
        return nil
    }

    private static func occurrences(of key: [UInt8], in line: [UInt8]) -> Int {
        guard line.count >= key.count else { return 0 }
        var count = 0
        line.withUnsafeBufferPointer { p in
            var i = 0
            let last = p.count - key.count
            while i <= last {
                if p[i] == key[0] && p[i + 1] == key[1] && UnsafeBufferPointer(rebasing: p[i..<(i + key.count)]).elementsEqual(key) {
                    count += 1
                    i += key.count
                } else {
                    i += 1
                }
            }
        }
        return count
    }
}
