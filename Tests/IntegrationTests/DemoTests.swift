import DevTools
import Foundation
import Testing
import TestSupport

@Suite("edgegate demo", .timeLimit(.minutes(2)))
struct DemoTests {
    @Test("the demo shows live readings of every kind of device, a Modbus and a Hue command, a Hue lamp switched from the CLI, and Ctrl-C stops every child it started")
    func demo() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // The example maps, moved to free ports so the test never collides with a running demo:
        // the Modbus simulator, the site broker of the zigbee2mqtt doors and the Hue bridge.
        let ports = ["1502": try freeLoopbackPort(), "1884": try freeLoopbackPort(), "8081": try freeLoopbackPort()]
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        try FileManager.default.createDirectory(atPath: dir.file("maps"), withIntermediateDirectories: true)
        for name in ["demo-plant.yaml", "building.yaml"] {
            var map = try String(contentsOf: packageRoot.appendingPathComponent("devicemaps/\(name)"), encoding: .utf8)
            for (port, free) in ports { map = map.replacingOccurrences(of: "127.0.0.1:\(port)", with: "127.0.0.1:\(free)")
                                             .replacingOccurrences(of: "port: \(port)", with: "port: \(free)") }
            try map.write(toFile: dir.file("maps/\(name)"), atomically: true, encoding: .utf8)
        }
        let output = dir.file("demo.txt")
        let hubPort = try freeLoopbackPort()
        let demo = try ChildProcess.spawn(try edgegateExecutable(), [
            "demo", "--maps", dir.file("maps"), "--certs", dir.file("certs"),
            "--hub-port", "\(hubPort)", "--run-dir", dir.file("var"),
        ], stdout: .file(output, append: false), stderr: .file(dir.file("demo.log"), append: false))
        func text() -> String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }
        do {
            _ = try await waitFor("readings of every device and both commands' responses", timeout: .seconds(40)) {
                let t = text()
                let seen = ["boiler-1: alarm", "tank-1: fill_valve", "room-1: humidity", "front-door: available true",
                            "garage-door: available true", "back-door: battery", "hall-sensor: battery", "kitchen-lamp: brightness",
                            "demo: switch the lamp off"].allSatisfy { t.contains($0) }
                return seen && t.ranges(of: #""status":"ok""#).count == 2 ? true : nil
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
        // The Hue lamp dimmed up through the simulated bridge: the values are its read-back.
        #expect(text().contains(#""device":"living-room-lamp","command":"dim","args":{"level":200,"seconds":2}"#), "\(text())")
        #expect(text().contains(#""values":{"brightness":200,"on":true}"#), "\(text())")
        // The operator CLI switches it off, as the demo suggests, and the next readings say so.
        let hint = try #require(text().firstMatch(of: /switch the lamp off from another terminal: edgegate (.*)/).map { String($0.1) })
        let cli = try await runEdgegate(hint.split(separator: " ").map(String.init), in: dir)
        #expect(cli.status == 0, "\(cli.output)")
        #expect(cli.output.contains("ok  living-room-lamp  wrote living-room-lamp.on=false"), "\(cli.output)")
        _ = try await waitFor("the lamp reported off", timeout: .seconds(20)) {
            text().contains(/living-room-lamp: .*\| on false \|/) ? true : nil
        }
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
