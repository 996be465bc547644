public import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Glibc)
/// glibc's `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34 and later), looked up when
/// first used: Swift's Glibc module leaves out the GNU extensions of `spawn.h`. Nil with an
/// older C library, whose children then inherit what the parent left open.
private let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
    guard let process = dlopen(nil, RTLD_NOW),
        let symbol = dlsym(process, "posix_spawn_file_actions_addclosefrom_np")
    else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}()
#endif

/// A child process started with `posix_spawn`, with an empty signal mask, default
/// signal dispositions, and no open descriptor of the parent besides its standard streams.
///
/// Foundation's `Process`, used from async code, passes on the spawning thread's signal
/// mask, in which SIGTERM and SIGINT are blocked: children such as mosquitto then ignore
/// `terminate()`. Spawning ourselves makes `stop()` reliable.
public final class ChildProcess: Sendable {
    /// Where a standard stream of the child goes.
    public enum Output: Sendable, Equatable {
        /// The parent's stream.
        case inherit
        /// `/dev/null`.
        case discard
        /// A file, created if needed (mode 0644), truncated or appended to.
        case file(String, append: Bool = false)
    }

    /// Why a child could not be started.
    public struct SpawnError: Error, CustomStringConvertible, Sendable {
        /// The program that failed to start.
        public var executable: String
        /// `errno` from `posix_spawn`.
        public var code: Int32
        /// A human sentence.
        public var description: String {
            "cannot start \(executable): \(String(cString: strerror(code)))"
        }
    }

    private struct State {
        var status: Int32?
        var waiters: [CheckedContinuation<Int32, Never>] = []
    }

    /// The state the reaper thread shares: held apart from `self`, so that the thread does not
    /// keep the handle alive and `deinit` can run while the child still does.
    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    /// The child's process id.
    public let pid: pid_t
    /// The program as given to `spawn` (for messages).
    public let executable: String
    private let shared = Shared()

    private init(pid: pid_t, executable: String) {
        self.pid = pid
        self.executable = executable
    }

    /// A child still running when its handle goes away dies with it: whoever started it can no
    /// longer stop it (a test whose `#require` threw, a start-up that failed half-way), and it
    /// would hold its ports and files for as long as it ran. SIGKILL, because it also ends a
    /// stopped (SIGSTOPped) process, which SIGTERM does not until SIGCONT; then this waits
    /// (briefly: SIGKILL cannot be caught) until the reaper thread has collected it.
    deinit {
        let wasRunning = shared.state.withLock { s in
            guard s.status == nil else { return false }
            kill(pid, SIGKILL)
            return true
        }
        guard wasRunning else { return }
        let deadline = ContinuousClock.now + .seconds(5)
        while shared.state.withLock({ $0.status == nil }) && ContinuousClock.now < deadline {
            usleep(1_000)
        }
    }

    /// Starts `executable` (a path, or a name looked up on PATH) with `arguments`, the
    /// environment `baseEnvironment` (by default this process's) plus `environment`, and the
    /// given stdout/stderr destinations.
    ///
    /// The child is killed when the returned handle goes away while it still runs: keep the
    /// handle for as long as the child should live.
    public static func spawn(
        _ executable: String, _ arguments: [String],
        stdout: Output = .inherit, stderr: Output = .inherit,
        environment: [String: String] = [:],
        baseEnvironment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ChildProcess {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        // Every catchable signal back to its default action (an ignored SIGPIPE or SIGTERM
        // would otherwise survive exec).
        var all = sigset_t()
        sigfillset(&all)
        sigdelset(&all, SIGKILL)
        sigdelset(&all, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &all)
        // A process group of its own: Ctrl-C in a terminal signals the whole foreground group,
        // and the parent must decide when its children stop (the hub last, after the gateway
        // has said goodbye), not the terminal.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (fd, output) in [(STDOUT_FILENO, stdout), (STDERR_FILENO, stderr)] {
            switch output {
            case .inherit:
                break
            case .discard:
                posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0)
            case .file(let path, let append):
                posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o644)
            }
        }

        // Only stdin, stdout and stderr pass to the child. Descriptors this process opened
        // without close-on-exec (SwiftNIO's listening sockets, a free-port probe) would
        // otherwise live on in the child: a server stopped later keeps its port bound, and
        // its clients' connections hang unanswered, for as long as the child runs.
        #if canImport(Glibc)
        _ = addCloseFrom?(&actions, STDERR_FILENO + 1)
        #endif

        var merged = baseEnvironment
        for (key, value) in environment { merged[key] = value }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw SpawnError(executable: executable, code: rc) }

        let child = ChildProcess(pid: pid, executable: executable)
        child.startReaper()
        return child
    }

    /// A dedicated thread blocks in `waitid` so no task of the cooperative pool ever does.
    private func startReaper() {
        let (shared, pid) = (shared, pid)
        let thread = Thread {
            var info = siginfo_t()
            // WNOWAIT: the pid stays reserved (a zombie) until the status is recorded, so
            // `signal` under the lock can never hit a recycled pid.
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
            shared.state.withLock { s in
                var raw: Int32 = 0
                while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
                // 128 + N for "killed by signal N", the shell's convention.
                let status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
                s.status = status
                for waiter in s.waiters { waiter.resume(returning: status) }
                s.waiters = []
            }
        }
        thread.name = "wait \(pid)"
        thread.start()
    }

    /// Whether the child has not exited yet.
    public var isRunning: Bool {
        shared.state.withLock { $0.status == nil }
    }

    /// The exit status once the child has exited (128 + N when killed by signal N).
    public var exitStatus: Int32? {
        shared.state.withLock { $0.status }
    }

    /// Sends `sig` to the child if it is still running.
    public func signal(_ sig: Int32) {
        shared.state.withLock { s in
            if s.status == nil { kill(pid, sig) }
        }
    }

    /// Waits for the child to exit and returns its exit status (128 + N when killed by signal N).
    public func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            shared.state.withLock { s in
                if let status = s.status {
                    continuation.resume(returning: status)
                } else {
                    s.waiters.append(continuation)
                }
            }
        }
    }

    /// Asks the child to stop with SIGTERM, sends SIGKILL if it is still running after
    /// `grace`, and returns its exit status.
    public func stop(grace: Duration = .seconds(5)) async -> Int32 {
        signal(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        signal(SIGKILL)
        return await wait()
    }

    /// Runs a program to completion and returns its exit status and combined stdout and stderr.
    /// The environment is as for `spawn`.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        baseEnvironment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> (status: Int32, output: String) {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("edgegate-run-\(UUID().uuidString).out").path
        // Both streams append to one file, so their lines interleave instead of overwriting.
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        defer { unlink(path) }
        let child = try spawn(
            executable, arguments, stdout: .file(path, append: true), stderr: .file(path, append: true),
            environment: environment, baseEnvironment: baseEnvironment)
        let status = await child.wait()
        let output = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return (status, output)
    }
}
