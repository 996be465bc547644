public import DevTools
public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Child processes of tests: started with a clean, explicit environment, and killed together
/// with what they started.
///
/// A child that inherited the caller's environment would read whatever the person or CI job
/// running the tests has exported (`EDGEGATE_HUB`, `EDGEGATE_GATEWAY`, `HUE_USERNAME`,
/// `XDG_CONFIG_HOME`, ...) and behave differently from the test's intent.
public enum TestProcess {
    /// The variables a child may take from the parent: what programs need to run at all.
    /// Everything else, the gateway's own variables above all, is what the test sets.
    public static let passedOn = ["PATH", "HOME", "TMPDIR", "LLVM_PROFILE_FILE"]

    /// The environment a test child starts from: `PATH`, `HOME` and `TMPDIR` (and the coverage
    /// profile path) from `parent` when set, a UTF-8 C locale, and nothing else.
    public static func cleanEnvironment(from parent: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        var clean = ["LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"]
        for key in passedOn { if let value = parent[key] { clean[key] = value } }
        if clean["PATH"] == nil { clean["PATH"] = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" }
        return clean
    }

    /// `ChildProcess.spawn` with the clean environment of `parent` plus `environment`.
    public static func spawn(
        _ executable: String, _ arguments: [String],
        stdout: ChildProcess.Output = .inherit, stderr: ChildProcess.Output = .inherit,
        environment: [String: String] = [:],
        parent: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ChildProcess {
        try ChildProcess.spawn(
            executable, arguments, stdout: stdout, stderr: stderr, environment: environment,
            baseEnvironment: cleanEnvironment(from: parent))
    }

    /// `ChildProcess.run` with the clean environment of `parent` plus `environment`.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        parent: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> (status: Int32, output: String) {
        try await ChildProcess.run(executable, arguments, environment: environment, baseEnvironment: cleanEnvironment(from: parent))
    }
}

/// A process as `/proc` knows it: its id and its start time (clock ticks after boot), which
/// together name it even after its pid has been reused.
public struct ProcessIdentity: Hashable, Sendable, CustomStringConvertible {
    /// The process id.
    public let pid: pid_t
    /// Field 22 of `/proc/PID/stat`.
    public let startTime: UInt64

    /// Whether this very process still exists (a zombie counts as gone: it has exited).
    public var isAlive: Bool {
        guard let stat = ProcStat(pid: pid) else { return false }
        return stat.startTime == startTime && stat.state != "Z" && stat.state != "X"
    }

    public var description: String { "\(pid)" }

    /// The processes whose parent is `parent`, right now.
    public static func children(of parent: pid_t) -> [ProcessIdentity] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.compactMap { pid in
            guard let stat = ProcStat(pid: pid), stat.parent == parent else { return nil }
            return ProcessIdentity(pid: pid, startTime: stat.startTime)
        }.sorted { $0.pid < $1.pid }
    }

    /// The children of `root`, theirs, and so on.
    public static func descendants(of root: pid_t) -> [ProcessIdentity] {
        var found: [ProcessIdentity] = []
        var queue = [root]
        while let next = queue.popLast() {
            let children = children(of: next)
            found += children
            queue += children.map(\.pid)
        }
        return found
    }
}

/// The fields of `/proc/PID/stat` that tests need.
struct ProcStat {
    let state: Character
    let parent: pid_t
    let startTime: UInt64

    init?(pid: pid_t) {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // After the command name (which may hold spaces and parentheses): state is field 3.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let state = fields[0].first, let parent = pid_t(fields[1]),
            let start = UInt64(fields[19])
        else { return nil }
        self.state = state
        self.parent = parent
        self.startTime = start
    }
}

extension ChildProcess {
    /// Kills the child and every process it started (SIGKILL), if it still runs: for a test
    /// that leaves early, so that nothing the child spawned outlives it. The child is stopped
    /// first, so that it starts nothing new while its descendants are collected; a descendant
    /// in a process group of its own (as `ChildProcess` makes them) is found through `/proc`.
    /// Only descendants of this child are touched, never processes of other tests.
    public func killWithDescendants() {
        guard isRunning else { return }
        signal(SIGSTOP)
        let descendants = ProcessIdentity.descendants(of: pid)
        for process in descendants {
            // Stopped before killed, so that none starts another process in between.
            if process.isAlive { kill(process.pid, SIGSTOP) }
        }
        for process in ProcessIdentity.descendants(of: pid) + descendants where process.isAlive {
            kill(process.pid, SIGKILL)
        }
        signal(SIGKILL)
    }
}

/// A loopback port held by this process until `close()`, so that no other test or program
/// can take it meanwhile, as it could a port that was merely free a moment ago: bound only (a
/// connection to it is refused, on Linux: "nothing listens here"), or listening without ever
/// accepting (a busy port; the kernel completes TCP handshakes, nothing speaks).
public final class HeldPort: Sendable {
    /// The port number on 127.0.0.1.
    public let port: Int
    /// The socket, for a test that accepts on it itself.
    public let fd: Int32

    /// Binds a socket to 127.0.0.1 on a port the system picks, and listens on it if asked.
    public init(listening: Bool = false) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestHubError(description: "socket(): \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard named, !listening || listen(fd, 8) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw TestHubError(description: "cannot hold a port on 127.0.0.1: \(reason)")
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Frees the port (it may be taken by anyone after this).
    public func close() {
        Glibc.close(fd)
    }
}

/// Runs `start`, which picks its ports with `freeLoopbackPort()` and binds them, again while it
/// fails because a port was taken meanwhile (`isPortTaken` tells; `attempts` times at most): a
/// port is only known to be free until someone else binds it, and tests run in parallel.
public func withFreshPorts<T>(attempts: Int = 3, isPortTaken: (any Error) -> Bool, _ start: () throws -> T) throws -> T {
    var attempt = 1
    while true {
        do {
            return try start()
        } catch  where attempt < attempts && isPortTaken(error) {
            attempt += 1
        }
    }
}
