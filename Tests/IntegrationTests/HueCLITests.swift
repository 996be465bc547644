import DevTools
import Foundation
import TestSupport
import Testing

@Suite("edgegate sim hue and hue pair", .serialized, .timeLimit(.minutes(2)))
struct HueCLITests {
    /// Help is wrapped to the terminal's width: compared with the line breaks taken out.
    func help(_ arguments: [String], in dir: TemporaryDirectory) async throws -> String {
        let result = try await runEdgegate(arguments + ["--help"], in: dir)
        #expect(result.status == 0)
        return result.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    @Test("help: sim hue names its defaults and options, hue pair what it prints and its exit codes")
    func helpTexts() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let sim = try await help(["sim", "hue"], in: dir)
        for part in ["three color lamps", "--config", "--username", "--link-button", "--frozen", "(default: 8080)"] {
            #expect(sim.contains(part), "\(part) in: \(sim)")
        }
        let pair = try await help(["hue", "pair"], in: dir)
        for part in ["--bridge", "--devicetype", "--timeout", "Only the username goes to standard output", "1 not paired (timeout, bridge unreachable)"] {
            #expect(pair.contains(part), "\(part) in: \(pair)")
        }
        #expect(try await help(["sim"], in: dir).contains("hue Serve a Philips Hue bridge"))
    }

    @Test("hue pair against sim hue: times out with exit 1 until the button is pressed, then prints only the username, which the bridge knows")
    func pair() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let port = try freeLoopbackPort()
        try "lights: [{ id: 1, name: Desk }]\nsensors: []\nusernames: [operator]\n".write(toFile: dir.file("bridge.yaml"), atomically: true, encoding: .utf8)
        let sim = try TestProcess.spawn(
            try edgegateExecutable(), ["sim", "hue", "--port", "\(port)", "--config", dir.file("bridge.yaml")],
            stdout: .file(dir.file("sim.txt"), append: false), stderr: .file(dir.file("sim.err"), append: false))
        defer { sim.signal(SIGTERM) }
        _ = try await waitFor("simulator listening", timeout: .seconds(20)) {
            ((try? String(contentsOfFile: dir.file("sim.txt"), encoding: .utf8)) ?? "").contains("Ctrl-C") ? true : nil
        }
        let bridge = "http://127.0.0.1:\(port)"
        let early = try await runEdgegate(["hue", "pair", "--bridge", bridge, "--timeout", "1500ms"], in: dir)
        #expect(early.status == 1)
        #expect(early.output.contains("Press the link button on bridge 127.0.0.1:\(port)"), "\(early.output)")
        #expect(early.output.contains("error: bridge 127.0.0.1:\(port): the link button was not pressed within 1.5s"), "\(early.output)")

        // An app paired before presses the button through the API, as the v1 API allows.
        try await pressLinkButton(port: port, as: "operator", in: dir)

        let out = dir.file("username.txt")
        #expect(try await runEdgegate(["hue", "pair", "--bridge", bridge, "--devicetype", "edgegate#test"], writingStdoutTo: out) == 0)
        let username = try String(contentsOfFile: out, encoding: .utf8)
        #expect(username.hasSuffix("\n") && !username.dropLast().contains("\n") && username.count > 20, "\(username)")
        let status = try await request(["GET", "http://127.0.0.1:\(port)/api/\(username.dropLast())/lights"], in: dir)
        #expect(status.contains("\"Desk\""), "\(status)")

        sim.signal(SIGTERM)
        #expect(try await withTimeout(.seconds(15), "sim stop") { await sim.wait() } == 0)
    }

    @Test("hue pair: an unreachable bridge exits 1 naming it; a bad URL exits 2")
    func failures() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let port = try freeLoopbackPort()
        let unreachable = try await runEdgegate(["hue", "pair", "--bridge", "http://127.0.0.1:\(port)", "--timeout", "5s"], in: dir)
        #expect(unreachable.status == 1)
        #expect(unreachable.output.contains("error: bridge 127.0.0.1:\(port) unreachable: "), "\(unreachable.output)")
        let bad = try await runEdgegate(["hue", "pair", "--bridge", "https://127.0.0.1"], in: dir)
        #expect(bad.status == 2)
        #expect(bad.output.contains("https is not supported"), "\(bad.output)")
    }

    /// `PUT /api/<user>/config {"linkbutton": true}` with Python's HTTP client, independent of ours.
    private func pressLinkButton(port: Int, as user: String, in dir: TemporaryDirectory) async throws {
        let answer = try await request(["PUT", "http://127.0.0.1:\(port)/api/\(user)/config", #"{"linkbutton":true}"#], in: dir)
        guard answer.contains("success") else { throw ProbeError("link button not pressed: \(answer)") }
    }

    /// Peers/hue_request.py: one request, its answer's body.
    private func request(_ arguments: [String], in dir: TemporaryDirectory) async throws -> String {
        let out = dir.file("request-\(UUID().uuidString.prefix(6)).txt")
        let child = try TestProcess.spawn(
            try peerPython(), [peerScript("hue_request.py")] + arguments,
            stdout: .file(out, append: false), stderr: .file(out, append: true))
        _ = try await withTimeout(.seconds(20), "hue_request.py") { await child.wait() }
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }
}
