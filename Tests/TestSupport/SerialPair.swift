import DevTools
import Foundation

/// Two connected pseudo-terminals made by `socat`, a serial cable without hardware for
/// Modbus RTU tests: what is written to one end is read at the other. A pty ignores the baud
/// rate and parity, so both ends may be opened with any line settings.
public final class SerialPair: Sendable {
    /// One end, a symbolic link to its `/dev/pts/N` (for the device under test, e.g. a simulator).
    public let deviceEnd: String
    /// The other end (for the gateway).
    public let gatewayEnd: String
    private let process: ChildProcess
    private let directory: TemporaryDirectory

    /// Why `start` failed.
    public struct StartError: Error, CustomStringConvertible {
        /// A sentence with socat's own output.
        public var description: String
    }

    private init(process: ChildProcess, directory: TemporaryDirectory) {
        self.process = process
        self.directory = directory
        deviceEnd = directory.file("device")
        gatewayEnd = directory.file("gateway")
    }

    /// Starts `socat` (installed by `scripts/install-deps`) and returns once both ends exist.
    public static func start() async throws -> SerialPair {
        let directory = try TemporaryDirectory(prefix: "edgegate-serial")
        let log = directory.file("socat.log")
        let process: ChildProcess
        do {
            process = try TestProcess.spawn(
                "socat",
                [
                    "-d", "-d",
                    "pty,raw,echo=0,link=\(directory.file("device"))",
                    "pty,raw,echo=0,link=\(directory.file("gateway"))",
                ],
                stdout: .file(log), stderr: .file(log))
        } catch {
            directory.remove()
            throw StartError(description: "\(error) (scripts/install-deps installs socat)")
        }
        let pair = SerialPair(process: process, directory: directory)
        // socat creates the links once both ptys are open; under load that can take a moment.
        let deadline = ContinuousClock.now + .seconds(10)
        while !pair.linksExist {
            guard process.isRunning, ContinuousClock.now < deadline else {
                let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                pair.process.signal(SIGKILL)
                directory.remove()
                throw StartError(description: "socat made no pseudo-terminal pair within 10 s: \(output)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return pair
    }

    private var linksExist: Bool {
        [deviceEnd, gatewayEnd].allSatisfy { FileManager.default.fileExists(atPath: $0) }
    }

    /// Stops socat (the links disappear with it) and removes the folder.
    public func stop() async {
        _ = await process.stop(grace: .seconds(2))
        directory.remove()
    }
}

extension SerialPair {
    /// Runs `body` with a fresh pair and stops it afterwards, whether `body` throws or not.
    public static func run<T>(_ body: (SerialPair) async throws -> T) async throws -> T {
        let pair = try await start()
        do {
            let result = try await body(pair)
            await pair.stop()
            return result
        } catch {
            await pair.stop()
            throw error
        }
    }
}
