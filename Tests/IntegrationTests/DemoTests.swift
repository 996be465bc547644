import DevTools
import Foundation
import TestSupport
import Testing

@Suite("edgegate demo", .timeLimit(.minutes(4)))
struct DemoTests {
    @Test(
        "the demo shows live readings of every kind of device, a Modbus and a Hue command, a Hue lamp switched from the CLI, and Ctrl-C stops every child it started"
    )
    func demo() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let output = dir.file("demo.txt")
        func text() -> String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }
        func log() -> String { (try? String(contentsOfFile: dir.file("demo.log"), encoding: .utf8)) ?? "" }
        // The ports are free when picked, but the demo binds them later: another test may take
        // one meanwhile, and then the demo stops at start-up saying so; it starts again on
        // other ports (a few times at most).
        var started: ChildProcess?
        var adminPort = 0
        for attempt in 1...3 {
            adminPort = try freeLoopbackPort()
            let demo = try startDemo(in: dir, packageRoot: packageRoot, output: output, adminPort: adminPort)
            // Whatever happens below (a `#require` that throws included), the demo and every
            // process it started die with the test.
            let ready: Bool
            do {
                // Readiness, not speed: a PKI, a hub, four simulators and the gateway on a loaded
                // 2-core runner may take a while; the demo's speed is not what this test checks.
                ready = try await waitFor("readings of every device and both commands' responses, or the demo's exit", timeout: .seconds(90)) {
                    if !demo.isRunning { return false }
                    let t = text()
                    let seen = [
                        "boiler-1: alarm", "tank-1: fill_valve", "press-1: current", "room-1: humidity", "front-door: available true",
                        "garage-door: available true", "back-door: battery", "hall-sensor: battery", "kitchen-lamp: brightness",
                        "demo: switch the lamp off",
                    ].allSatisfy { t.contains($0) }
                    return seen && t.ranges(of: #""status":"ok""#).count == 2 ? true : nil
                }
            } catch {
                demo.killWithDescendants()
                // What the demo printed and logged says why, when it did not get there.
                Issue.record("\(error)\n--- stdout:\n\(text())\n--- log:\n\(log().suffix(3000))")
                return
            }
            if ready {
                started = demo
                break
            }
            let taken = log().contains("in use")
            demo.killWithDescendants()
            guard taken && attempt < 3 else {
                Issue.record("the demo exited with status \(await demo.wait())\n--- stdout:\n\(text())\n--- log:\n\(log().suffix(3000))")
                return
            }
            try? FileManager.default.removeItem(atPath: dir.file("var"))
        }
        let demo = try #require(started)
        defer { demo.killWithDescendants() }
        // The demo asks by name: set_temperature with celsius 21.5 writes the setpoint and mode heat (1).
        #expect(text().contains(#""command":"set_temperature","args":{"celsius":21.5}"#), "\(text())")
        #expect(text().contains(#""values":{"mode":1,"setpoint":21.5}"#), "\(text())")
        // The Hue lamp dimmed up through the simulated bridge: the values are its read-back.
        #expect(text().contains(#""device":"living-room-lamp","command":"dim","args":{"level":200,"seconds":2}"#), "\(text())")
        #expect(text().contains(#""values":{"brightness":200,"on":true}"#), "\(text())")
        // The web console is served, its token made private in the run folder.
        #expect(
            text().contains("demo: web console on http://127.0.0.1:\(adminPort)/ (writes ask for the token in \(dir.file("var"))/admin.token)"), "\(text())")
        let page = try await HTTPProbe.request(port: adminPort, "/")
        #expect(page.status == 200 && page.contentType == "text/html; charset=utf-8", "\(page.status) \(page.contentType)")
        let mode = try FileManager.default.attributesOfItem(atPath: dir.file("var/admin.token"))[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let devices = try await HTTPProbe.request(port: adminPort, "/api/v1/devices").json()["devices"] as? [[String: Any]]
        #expect(devices?.contains { $0["id"] as? String == "boiler-1" } == true)
        // The operator CLI switches it off, as the demo suggests, and the next readings say so.
        let hint = try #require(text().firstMatch(of: /switch the lamp off from another terminal: edgegate (.*)/).map { String($0.1) })
        let cli = try await runEdgegate(hint.split(separator: " ").map(String.init), in: dir)
        #expect(cli.status == 0, "\(cli.output)")
        #expect(cli.output.contains("ok  living-room-lamp  wrote living-room-lamp.on=false"), "\(cli.output)")
        _ = try await waitFor("the lamp reported off", timeout: .seconds(20)) {
            text().contains(/living-room-lamp: .*\| on false \|/) ? true : nil
        }
        // press-1's key figures, computed in the gateway (devicemaps/demo-kpi.yaml), print right
        // after its raw points: its power from volts and amps (390-410 V, 10-20 A), and its OEE
        // (every 10 s) with the ratios as percentages beside their values.
        let power = try await waitFor("press-1-kpi's power and OEE after press-1", timeout: .seconds(60)) { () -> Double? in
            let t = text()
            guard t.contains(/press-1-kpi: (.*\| )?line \d\.\d{4} \(\d+\.\d %\) \| line_availability \d\.\d{4} \(\d+\.\d %\)/) else { return nil }
            return t.firstMatch(of: /\n\d\d:\d\d:\d\d press-1: [^\n]*\n\d\d:\d\d:\d\d press-1-kpi: [^\n]*power_kw (\d+(?:\.\d+)?) kW/).flatMap { Double($0.1) }
        }
        #expect((3.9...8.2).contains(power), "\(power) kW")
        // Every process the demo started (the hub and the site broker are mosquitto children;
        // the simulators run inside the demo), named by pid and start time.
        let children = ProcessIdentity.children(of: demo.pid)
        let hubPID = try #require(text().firstMatch(of: /pid (\d+)/).flatMap { Int32($0.1) })
        let commandLines = children.map { child in
            ((try? String(contentsOfFile: "/proc/\(child.pid)/cmdline", encoding: .utf8)) ?? "").replacingOccurrences(of: "\0", with: " ")
        }
        #expect(children.count == 2, "\(commandLines)")
        #expect(children.contains { $0.pid == hubPID }, "hub \(hubPID) among \(children)")
        #expect(commandLines.contains { $0.contains("mosquitto") && $0.contains("/var/hub/") }, "\(commandLines)")
        #expect(commandLines.contains { $0.contains("mosquitto") && $0.contains("/var/site-broker-") }, "\(commandLines)")
        #expect(children.allSatisfy { $0.isAlive })
        demo.signal(SIGINT)
        let status = try await withTimeout(.seconds(20), "demo stop") { await demo.wait() }
        #expect(status == 0)
        #expect(text().contains("demo: stopped"))
        // Every child is gone, not merely orphaned: no process with its pid and start time.
        let alive = children.filter { $0.isAlive }
        #expect(alive.isEmpty, "still running after Ctrl-C: \(alive)")
    }

    /// Starts the demo on the example maps, moved to fresh free ports so that the test never
    /// collides with a running demo: the Modbus simulator, the site broker of the zigbee2mqtt
    /// doors, the Hue bridge and the hub.
    func startDemo(in dir: TemporaryDirectory, packageRoot: URL, output: String, adminPort: Int) throws -> ChildProcess {
        let ports = ["1502": try freeLoopbackPort(), "1884": try freeLoopbackPort(), "8081": try freeLoopbackPort()]
        try FileManager.default.createDirectory(atPath: dir.file("maps"), withIntermediateDirectories: true)
        for name in ["demo-plant.yaml", "demo-kpi.yaml", "building.yaml"] {
            var map = try String(contentsOf: packageRoot.appendingPathComponent("devicemaps/\(name)"), encoding: .utf8)
            for (port, free) in ports {
                map = map.replacingOccurrences(of: "127.0.0.1:\(port)", with: "127.0.0.1:\(free)")
                    .replacingOccurrences(of: "port: \(port)", with: "port: \(free)")
            }
            try map.write(toFile: dir.file("maps/\(name)"), atomically: true, encoding: .utf8)
        }
        return try TestProcess.spawn(
            try edgegateExecutable(),
            [
                "demo", "--maps", dir.file("maps"), "--certs", dir.file("certs"),
                "--hub-port", "\(try freeLoopbackPort())", "--run-dir", dir.file("var"), "--admin-port", "\(adminPort)",
            ], stdout: .file(output, append: false), stderr: .file(dir.file("demo.log"), append: false))
    }
}
