import DevTools
import Foundation
import Testing
import TestSupport

@Suite("edgegate demo", .timeLimit(.minutes(2)))
struct DemoTests {
    @Test("the demo shows live readings and a command round trip, and Ctrl-C stops every child it started")
    func demo() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // The example plant, moved to a free port so the test never collides with a running demo.
        let modbusPort = try freeLoopbackPort()
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let plant = try String(contentsOf: packageRoot.appendingPathComponent("devicemaps/demo-plant.yaml"), encoding: .utf8)
        try plant.replacingOccurrences(of: "port: 1502", with: "port: \(modbusPort)")
            .write(toFile: dir.file("plant.yaml"), atomically: true, encoding: .utf8)
        let output = dir.file("demo.txt")
        let demo = try ChildProcess.spawn(try edgegateExecutable(), [
            "demo", "--maps", dir.file("plant.yaml"), "--certs", dir.file("certs"),
            "--hub-port", "\(try freeLoopbackPort())", "--run-dir", dir.file("var"),
        ], stdout: .file(output, append: false), stderr: .file(dir.file("demo.log"), append: false))
        func text() -> String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }
        do {
            _ = try await waitFor("readings and the command's response", timeout: .seconds(30)) {
                text().contains("boiler-1: alarm") && text().contains("tank-1: fill_valve") && text().contains(#""status":"ok""#) ? true : nil
            }
        } catch {
            // What the demo printed and logged says why, when it did not get there.
            let log = (try? String(contentsOfFile: dir.file("demo.log"), encoding: .utf8)) ?? ""
            demo.signal(SIGINT)  // lets the demo stop the hub it started
            if (try? await withTimeout(.seconds(20), "demo stop", { await demo.wait() })) == nil { demo.signal(SIGKILL) }
            Issue.record("\(error)\n--- stdout:\n\(text())\n--- log:\n\(log.suffix(3000))")
            return
        }
        // The demo asks by name: set_temperature with celsius 21.5 writes the setpoint and mode heat (1).
        #expect(text().contains(#""command":"set_temperature","args":{"celsius":21.5}"#), "\(text())")
        #expect(text().contains(#""values":{"mode":1,"setpoint":21.5}"#), "\(text())")
        let hubPID = try #require(text().firstMatch(of: /pid (\d+)/).flatMap { Int32($0.1) })
        #expect(kill(hubPID, 0) == 0)
        demo.signal(SIGINT)
        let status = try await withTimeout(.seconds(20), "demo stop") { await demo.wait() }
        #expect(status == 0)
        #expect(text().contains("demo: stopped"))
        // The hub (mosquitto) is gone: signal 0 to its pid fails.
        #expect(kill(hubPID, 0) == -1)
    }
}
