import DevTools
import Foundation
import GatewayCore
import TestSupport

/// A real browser for the console's tests: Debian's headless chromium driven by Selenium from
/// PyPI, through `Peers/console_browser.py`, which also carries pymodbus as a Modbus client
/// independent of edgegate's adapter. One request at a time, through files in the peer's
/// folder (the peer's file header describes them); every wait is Selenium's own
/// `WebDriverWait` in the browser, never a sleep here.
final class ConsoleBrowser {
    /// What a `wait` waits for, of the first element a CSS selector matches.
    enum Condition {
        /// It exists.
        case present
        /// No element matches.
        case absent
        /// It exists and is shown.
        case displayed
        /// It exists and is not shown.
        case hidden
        /// Its text, trimmed, is exactly this.
        case text(String)
        /// Its text is not empty and differs from this.
        case textOtherThan(String)
        /// Its text contains this.
        case contains(String)
        /// Its class list has this class.
        case hasClass(String)

        var fields: JSONObject {
            switch self {
            case .present: ["condition": .string("present")]
            case .absent: ["condition": .string("absent")]
            case .displayed: ["condition": .string("displayed")]
            case .hidden: ["condition": .string("hidden")]
            case .text(let value): ["condition": .string("text"), "value": .string(value)]
            case .textOtherThan(let value): ["condition": .string("text_not"), "value": .string(value)]
            case .contains(let value): ["condition": .string("contains"), "value": .string(value)]
            case .hasClass(let value): ["condition": .string("class"), "value": .string(value)]
            }
        }
    }

    /// One entry of the browser's console (chromium's `goog:loggingPrefs` browser log).
    struct ConsoleEntry: CustomStringConvertible {
        /// SEVERE for errors (uncaught exceptions, `console.error`, failed requests), WARNING, INFO, ...
        var level: String
        /// `javascript`, `console-api`, `network`, ...
        var source: String
        var message: String

        var description: String { "\(level) \(source): \(message)" }
    }

    private let process: ChildProcess
    private let directory: String
    private var sequence = 0
    /// Every console entry read so far, in order.
    private(set) var console: [ConsoleEntry] = []

    private init(process: ChildProcess, directory: String) {
        self.process = process
        self.directory = directory
    }

    /// Starts the browser with its profile and logs in `folder` (created) and waits until it runs.
    static func start(in folder: String) async throws -> ConsoleBrowser {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let log = folder + "/peer.log"
        let process = try TestProcess.spawn(
            try peerPython(), [peerScript("console_browser.py"), folder], stdout: .file(log, append: false), stderr: .file(log, append: true))
        let browser = ConsoleBrowser(process: process, directory: folder)
        do {
            // Chromium's first start on a busy machine can take a while.
            _ = try await waitFor("the browser to start", timeout: .seconds(90)) { () throws -> Bool? in
                if let failed = try? String(contentsOfFile: folder + "/failed", encoding: .utf8) {
                    throw ProbeError("the browser did not start: \(failed)")
                }
                try browser.checkRunning()
                return FileManager.default.fileExists(atPath: folder + "/ready") ? true : nil
            }
        } catch {
            process.killWithDescendants()
            throw error
        }
        return browser
    }

    private func checkRunning() throws {
        guard process.isRunning else {
            let log = (try? String(contentsOfFile: directory + "/peer.log", encoding: .utf8)) ?? ""
            throw ProbeError("console_browser.py exited (\(process.exitStatus ?? -1)): \(log)")
        }
    }

    /// Sends one request and returns the peer's `value`; the peer's error is thrown. `timeout`
    /// is the peer's own (a wait's); the answer is awaited for a minute longer.
    @discardableResult
    func call(_ request: JSONObject, timeout: Duration = .seconds(30)) async throws -> JSONValue {
        sequence += 1
        let name = "\(sequence).json"
        let requests = directory + "/requests", responses = directory + "/responses"
        try FileManager.default.createDirectory(atPath: requests, withIntermediateDirectories: true)
        // Written whole, then renamed: the peer never reads half a request.
        try Data(JSONValue.object(request).text.utf8).write(to: URL(fileURLWithPath: requests + "/" + name), options: .atomic)
        let answer = try await waitFor("the browser's answer to \(JSONValue.object(request).text)", timeout: timeout + .seconds(60)) {
            () throws -> JSONValue? in
            if let data = FileManager.default.contents(atPath: responses + "/" + name) { return JSONValue.parse(data) ?? .null }
            try checkRunning()
            return nil
        }
        guard answer["ok"]?.bool == true else {
            throw ProbeError("browser: \(answer["error"]?.string ?? answer.text)")
        }
        return answer["value"] ?? .null
    }

    /// Loads `url`.
    func open(_ url: String) async throws {
        try await call(["op": .string("open"), "url": .string(url)], timeout: .seconds(60))
    }

    /// Waits until the first element matching `selector` meets `condition`, and returns its
    /// text then; throws with the last text seen when it does not within `timeout`.
    @discardableResult
    func wait(_ selector: String, _ condition: Condition, timeout: Duration = .seconds(30)) async throws -> String {
        var request: JSONObject = ["op": .string("wait"), "selector": .string(selector), "timeout": .number(timeout.seconds)]
        for (key, value) in condition.fields { request.append(key, value) }
        return try await call(request, timeout: timeout).string ?? ""
    }

    /// The text of the first element matching `selector` (an error when none does).
    func text(_ selector: String) async throws -> String {
        try await call(["op": .string("text"), "selector": .string(selector)]).string ?? ""
    }

    /// The texts of every element matching `selector`.
    func texts(_ selector: String) async throws -> [String] {
        try await call(["op": .string("texts"), "selector": .string(selector)]).array?.compactMap(\.string) ?? []
    }

    /// An attribute (or property) of the first element matching `selector`; nil when absent.
    func attribute(_ selector: String, _ name: String) async throws -> String? {
        try await call(["op": .string("attribute"), "selector": .string(selector), "name": .string(name)]).string
    }

    /// How many elements match `selector`.
    func count(_ selector: String) async throws -> Int {
        Int(try await call(["op": .string("count"), "selector": .string(selector)]).integer ?? -1)
    }

    /// Clicks the first element matching `selector`.
    func click(_ selector: String) async throws {
        try await call(["op": .string("click"), "selector": .string(selector)])
    }

    /// Clears the first element matching `selector` and types `text` into it.
    func type(_ selector: String, _ text: String) async throws {
        try await call(["op": .string("type"), "selector": .string(selector), "text": .string(text)])
    }

    /// Chooses the option of value `value` of the select matching `selector`.
    func select(_ selector: String, value: String) async throws {
        try await call(["op": .string("select"), "selector": .string(selector), "value": .string(value)])
    }

    /// Runs `javascript` (a function body) in the page and returns its result.
    @discardableResult
    func script(_ javascript: String, _ arguments: [JSONValue] = []) async throws -> JSONValue {
        try await call(["op": .string("script"), "js": .string(javascript), "args": .array(arguments)])
    }

    /// Saves the window as a PNG at `path` (its folder must exist).
    func screenshot(_ path: String) async throws {
        try await call(["op": .string("screenshot"), "path": .string(path)])
    }

    /// Reads the console's new entries into `console` and returns the SEVERE ones of all so far.
    func severeEntries() async throws -> [ConsoleEntry] {
        let entries = try await call(["op": .string("logs")]).array ?? []
        console += entries.map {
            ConsoleEntry(level: $0["level"]?.string ?? "", source: $0["source"]?.string ?? "", message: $0["message"]?.string ?? "")
        }
        return console.filter { $0.level == "SEVERE" }
    }

    /// Holding registers of unit 1 of the Modbus server on 127.0.0.1:`port`, read by pymodbus.
    func modbusHolding(port: Int, _ address: Int, count: Int = 1) async throws -> [Int] {
        let registers = try await call([
            "op": .string("modbus_read"), "port": .integer(Int64(port)), "address": .integer(Int64(address)), "count": .integer(Int64(count)),
        ])
        return registers.array?.compactMap { $0.integer.map(Int.init) } ?? []
    }

    /// Writes one holding register of unit 1 on 127.0.0.1:`port` with pymodbus (FC 6).
    func modbusWrite(port: Int, _ address: Int, _ value: Int) async throws {
        try await call(["op": .string("modbus_write"), "port": .integer(Int64(port)), "address": .integer(Int64(address)), "value": .integer(Int64(value))])
    }

    /// Closes the browser; kills it with everything it started when it does not close in time.
    func quit() async {
        if process.isRunning { _ = try? await call(["op": .string("quit")], timeout: .seconds(5)) }
        _ = try? await withTimeout(.seconds(20), "browser quit") { [process] in await process.wait() }
        process.killWithDescendants()
    }
}

extension Duration {
    /// The duration in seconds, fractions included.
    fileprivate var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}

/// The PNG at `path`: its width and height from the IHDR chunk; nil when it is not a PNG.
func pngSize(_ path: String) -> (width: Int, height: Int)? {
    guard let data = FileManager.default.contents(atPath: path), data.count > 24,
        data.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
        data[data.startIndex + 12..<data.startIndex + 16] == Data("IHDR".utf8)
    else { return nil }
    func big(_ offset: Int) -> Int { data[data.startIndex + offset..<data.startIndex + offset + 4].reduce(0) { $0 << 8 | Int($1) } }
    return (big(16), big(20))
}
