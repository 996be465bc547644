import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A unix datagram socket standing in for systemd's notification socket: bound to a path, or
/// to a name in the abstract namespace, it collects every datagram sent to it.
public final class NotifySocket: Sendable {
    /// What `$NOTIFY_SOCKET` should say: the path, or `@name`.
    public let address: String
    private let fd: Int32
    private let received = Mutex<[String]>([])

    /// Binds `path`, or the abstract `name` when `path` starts with `@`.
    public init(_ address: String) throws {
        self.address = address
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestHubError(description: "socket: \(String(cString: strerror(errno)))") }
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        let name: [UInt8] = address.hasPrefix("@") ? [0] + Array(address.utf8.dropFirst()) : Array(address.utf8) + [0]
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: name) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + name.count)
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw TestHubError(description: "bind \(address): \(reason)")
        }
    }

    deinit { close(fd) }

    /// Every datagram received so far, in order (reads what is waiting, without blocking).
    public var messages: [String] {
        received.withLock { list in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                guard n > 0 else { break }
                list.append(String(decoding: buffer[..<n], as: UTF8.self))
            }
            return list
        }
    }
}
