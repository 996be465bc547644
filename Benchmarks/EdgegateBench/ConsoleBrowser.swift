import DevTools
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The web console open in a real headless chromium: `Benchmarks/console-browser.py`, run by
/// the Python of `.venv-tests` (selenium), as a child process. It loads the devices page cold
/// and warm, reports the browser's own timing of those loads, keeps the page under test open,
/// and at the end of the window reports what the page shows and the browser's CPU time.
final class ConsoleBrowser: Sendable {
    /// One load of the devices page, in ms from its navigation start (the browser's figures).
    struct LoadTiming: Decodable, Sendable {
        var firstPaintMs: Double?
        var firstContentfulPaintMs: Double?
        var domContentLoadedMs: Double?
        var loadMs: Double?
        var responseEndMs: Double?
        var transferBytes: Double?
        var rowsInDomMs: Double?
        var largestContentfulPaintMs: Double?
    }

    struct Ready: Decodable, Sendable {
        var cold: LoadTiming
        var warm: [LoadTiming]
    }

    /// What the page shows at the end of the window.
    struct Shown: Decodable, Sendable {
        var nowMs: Double
        var page: String?
        var rows: Int
        var timestamps: Int
        var newestMs: Double?
        var oldestMs: Double?
        var medianMs: Double?
        var connection: String?
        var errorBanner: String?
        var readingsEvents: Int?
        var readingsChars: Int?
        var laggedEvents: Int?
        var dropped: Int?
        var jsHeapBytes: Double?
    }

    struct WindowReport: Decodable, Sendable {
        var page: Shown
        var cpuSeconds: Double?
        var wallSeconds: Double?
    }

    private let process: ChildProcess
    private let output: String
    private let log: String

    /// Starts the browser on `url`'s console; `page` is `devices` or `device` (with `device`).
    init(url: String, page: String, device: String?, reloads: Int, work: String) throws {
        let (python, script) = try Self.locate()
        output = "\(work)/console-browser.jsonl"
        log = "\(work)/console-browser.log"
        var arguments = [script, "--url", url, "--page", page, "--reloads", String(reloads)]
        if let device { arguments += ["--device", device] }
        process = try ChildProcess.spawn(python, arguments, stdout: .file(output), stderr: .file(log))
        Cleanup.shared.add(process)
    }

    /// Waits until the page under test shows data; the cold and warm loads' timing.
    func ready(timeout: Duration) async throws -> Ready {
        try await line("ready", as: Ready.self, timeout: timeout)
    }

    /// The measurement window starts: the browser notes its CPU time.
    func windowStarts() { process.signal(SIGUSR1) }

    /// The window ends: what the page shows now, and the browser's CPU in the window.
    func windowEnds(timeout: Duration) async throws -> WindowReport {
        process.signal(SIGUSR2)
        return try await line("report", as: WindowReport.self, timeout: timeout)
    }

    /// Quits the browser; whatever of it is left (chromedriver, chromium: they share the
    /// script's process group) is killed.
    func stop() async {
        if process.isRunning { process.signal(SIGTERM) }
        let deadline = ContinuousClock.now + .seconds(15)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(100)) }
        kill(-process.pid, SIGKILL)
        _ = await process.stop(grace: .seconds(1))
    }

    private func line<T: Decodable>(_ event: String, as type: T.Type, timeout: Duration) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") where line.contains("\"event\": \"\(event)\"") {
                return try decoder.decode(T.self, from: Data(line.utf8))
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let tail = EndToEndBench.tail(of: log, lines: 15)
        throw BenchError("the console browser gave no '\(event)' within \(timeout) (\(process.isRunning ? "running" : "exited")); its log ends:\n\(tail)")
    }

    /// `.venv-tests/bin/python` and `Benchmarks/console-browser.py` in the working folder or
    /// the repository the bench was built in.
    private static func locate() throws -> (python: String, script: String) {
        var folders = [FileManager.default.currentDirectoryPath]
        var url = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        while url.path != "/" {
            folders.append(url.path)
            url.deleteLastPathComponent()
        }
        for folder in folders {
            let python = "\(folder)/.venv-tests/bin/python"
            let script = "\(folder)/Benchmarks/console-browser.py"
            if FileManager.default.isExecutableFile(atPath: python) && FileManager.default.fileExists(atPath: script) {
                return (python, script)
            }
        }
        throw BenchError(
            "--console needs .venv-tests/bin/python (with selenium) and Benchmarks/console-browser.py: run the bench from the repository")
    }
}
