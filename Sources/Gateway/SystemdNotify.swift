public import Foundation
import GatewayCore
public import Logging
public import ServiceLifecycle
import Uplink

#if canImport(Glibc)
import Glibc
#endif

/// systemd's readiness protocol (sd_notify(3)) without libsystemd: each state is one datagram
/// (`READY=1`, `STATUS=…`, `WATCHDOG=1`, `STOPPING=1`) to the unix socket named by
/// `$NOTIFY_SOCKET`, a path or, starting with `@`, an abstract name.
public struct SystemdNotifier: Sendable {
    /// Where the service manager listens.
    public enum Address: Sendable, Hashable {
        /// A socket file.
        case path(String)
        /// A name in the abstract namespace (`@name`; sent with a leading NUL byte).
        case abstract(String)
    }

    /// The socket; nil when not started by a service manager that listens (no `$NOTIFY_SOCKET`,
    /// or a kind of address this implementation does not speak, such as `vsock:`).
    public let address: Address?
    /// `$WATCHDOG_USEC`: keep-alives are due at least this often (they are sent at half of it);
    /// nil when there is no watchdog, or it watches another process (`$WATCHDOG_PID`).
    public let watchdog: Duration?

    /// `sun_path` holds 108 bytes, the terminating NUL of a path included.
    static let maxAddressBytes = 107

    /// The notifier `environment` asks for, for the process `pid`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment, pid: Int32 = getpid()) {
        address = environment["NOTIFY_SOCKET"].flatMap(Self.address)
        let watched = environment["WATCHDOG_PID"].map { Int32($0) == pid } ?? true
        if watched, let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 {
            watchdog = .microseconds(usec)
        } else {
            watchdog = nil
        }
    }

    private static func address(_ text: String) -> Address? {
        if text.hasPrefix("/"), text.utf8.count <= maxAddressBytes { return .path(text) }
        // The leading NUL takes the place of the `@`.
        if text.hasPrefix("@"), text.utf8.count > 1, text.utf8.count <= maxAddressBytes + 1 { return .abstract(String(text.dropFirst())) }
        return nil
    }

    /// Whether a service manager listens.
    public var isEnabled: Bool { address != nil }

    /// `RELOADING=1` when a reload of the device maps begins (with the monotonic time, which
    /// newer systemd versions ask for), `READY=1` when it has ended, applied or rejected.
    public var reloadObserver: ReloadObserver {
        ReloadObserver(
            began: {
                var now = timespec()
                clock_gettime(CLOCK_MONOTONIC, &now)
                notify("RELOADING=1\nMONOTONIC_USEC=\(Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000)")
            },
            ended: { notify("READY=1") })
    }

    /// Sends `state` (one or more `KEY=value` lines) as one datagram; false when nobody listens
    /// or it could not be sent. Never blocks: a full socket buffer drops the message, as
    /// sd_notify does.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        guard let address else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        let name: [UInt8]
        switch address {
        case .path(let path): name = Array(path.utf8) + [0]
        case .abstract(let abstract): name = [0] + Array(abstract.utf8)
        }
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: name) }
        // An abstract name is exactly its bytes: the length must not include any padding.
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + name.count)
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &socketAddress) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), address, length) }
            }
        }
        return sent == bytes.count
    }
}

/// Tells systemd how the running gateway is: `READY=1` once it runs (its maps compiled and its
/// outbox open: the `Gateway` value exists, and its services start with this one), `STATUS=`
/// with the uplink's state and the outbox backlog whenever they change, `WATCHDOG=1` at half
/// of `$WATCHDOG_USEC`, and `STOPPING=1` as soon as the graceful shutdown begins.
///
/// The keep-alives prove that the daemon lives, not only that a timer fires: each comes from
/// this service's loop in the gateway's service group, on the executor every loop of the
/// gateway runs on, after reading the uplink's statistics and the router's devices behind
/// the locks the telemetry queue, the outbox and the router take. A starved executor or a
/// lock that is never released stops them, and systemd restarts the daemon.
/// List it after the gateway's services: the group stops services in reverse order, so this
/// one hears of the shutdown first.
public struct SystemdNotifyService: Service {
    private let notifier: SystemdNotifier
    private let gateway: Gateway
    private let logger: Logger
    private let statusInterval: Duration

    /// - Parameter statusInterval: how often the status is looked at (keep-alives are due more
    ///   often when the watchdog is short).
    public init(notifier: SystemdNotifier, gateway: Gateway, logger: Logger, statusInterval: Duration = .seconds(1)) {
        self.notifier = notifier
        self.gateway = gateway
        self.logger = logger
        self.statusInterval = statusInterval
    }

    /// Notifies until the graceful shutdown, then says `STOPPING=1`.
    public func run() async throws {
        guard notifier.isEnabled else {
            try? await gracefulShutdown()
            return
        }
        let keepAlive = notifier.watchdog.map { $0 / 2 }
        let tick = min(statusInterval, keepAlive ?? statusInterval)
        logger.debug(
            "systemd notification",
            metadata: ["watchdog": "\(notifier.watchdog.map { "\($0.seconds)s" } ?? "off")", "tick": "\(tick.seconds)s"])
        notifier.notify("READY=1")
        let (notifier, gateway) = (self.notifier, self.gateway)
        // Cancelled when the graceful shutdown reaches this service, the first one it reaches.
        try? await cancelWhenGracefulShutdown {
            var status = UplinkState(gateway)
            notifier.notify("STATUS=\(status.text)")
            var lastKeepAlive = ContinuousClock.now
            if keepAlive != nil { notifier.notify("WATCHDOG=1") }
            while true {
                try await Task.sleep(for: tick)
                let now = UplinkState(gateway, after: status)
                if now.text != status.text { notifier.notify("STATUS=\(now.text)") }
                status = now
                if let keepAlive, ContinuousClock.now - lastKeepAlive >= keepAlive - tick / 4 {
                    notifier.notify("WATCHDOG=1")
                    lastKeepAlive = ContinuousClock.now
                }
            }
        }
        notifier.notify("STOPPING=1")
    }
}

/// What `STATUS=` says: the uplink's state and the outbox's backlog.
private struct UplinkState {
    var connected: Bool
    var everConnected: Bool
    var text: String

    /// Reads the uplink (its statistics behind the queue's and the outbox's locks) and the
    /// router (its devices behind its lock).
    init(_ gateway: Gateway, after previous: UplinkState? = nil) {
        let statistics = gateway.uplink.statistics
        let devices = gateway.router.devices.count
        connected = gateway.uplink.isConnected
        everConnected = connected || previous?.everConnected == true
        let state = connected ? "connected" : everConnected ? "reconnecting" : "connecting"
        text = "uplink \(state); outbox \(statistics.queuedMessages) messages (\(statistics.queuedBytes) bytes); \(devices) devices"
    }
}
