import DevTools
import Foundation
import GatewayCore
import TestSupport
import Testing

/// The admin endpoint of a real `edgegate run` daemon with the Modbus simulator and the
/// mutual-TLS hub, spoken to by curl.
@Suite("admin endpoint", .serialized, .timeLimit(.minutes(3)))
struct AdminEndpointTests {
    static let token = "test-token-0123456789abcdef"

    /// Writes the boiler's map, a private token file and a configuration whose admin endpoint
    /// listens on a free loopback port; returns the configuration and the port.
    static func setUp(_ plant: Plant, in dir: TemporaryDirectory) throws -> (configuration: String, port: Int) {
        try boilerMapYAML.replacingOccurrences(of: "PORT", with: "\(plant.modbusPort)")
            .write(toFile: dir.file("boiler.yaml"), atomically: true, encoding: .utf8)
        try (token + "\n").write(toFile: dir.file("admin.token"), atomically: true, encoding: .utf8)
        chmod(dir.file("admin.token"), 0o600)
        let port = try freeLoopbackPort()
        let configuration = try Daemon.writeConfiguration(
            for: plant, devicemaps: "boiler.yaml", in: dir,
            extra: "admin: { listen: 127.0.0.1:\(port), token_file: admin.token }")
        return (configuration, port)
    }

    /// A ready daemon on the boiler's map with the admin endpoint, and an independent probe of
    /// the simulator's registers.
    struct Site {
        let plant: Plant
        let dir: TemporaryDirectory
        let port: Int
        let probe: ProbeClient
        let daemon: Daemon
    }

    /// Starts the daemon (after `prepare` ran against the simulator), waits until `/readyz`
    /// says ready, runs `body`, then stops the daemon, which must exit 0.
    static func withReadyDaemon(
        arguments: [String] = [], prepare: (ProbeClient) throws -> Void = { _ in }, _ body: (Site) async throws -> Void
    ) async throws {
        try await Plant.run { plant in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let (configuration, port) = try setUp(plant, in: dir)
            let probe = try ProbeClient(port: plant.modbusPort)
            try prepare(probe)
            let daemon = try await Daemon.start(configuration: configuration, arguments: arguments, in: dir)
            _ = try await waitForAsync("readyz 200", timeout: .seconds(20)) { () async throws -> Bool? in
                try await HTTPProbe.request(port: port, "/readyz").status == 200 ? true : nil
            }
            try await body(Site(plant: plant, dir: dir, port: port, probe: probe, daemon: daemon))
            #expect(try await daemon.stop() == 0)
        }
    }

    @Test("health, readiness, status, devices and device detail show the simulator's values; SSE streams readings and command results")
    func readsAndEvents() async throws {
        try await Plant.run { plant in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let (configuration, port) = try Self.setUp(plant, in: dir)
            let probe = try ProbeClient(port: plant.modbusPort)
            try probe.writeHolding(0, 215)  // temperature 21.5 °C
            let daemon = try await Daemon.start(configuration: configuration, in: dir)

            let health = try await waitForAsync("healthz 200", timeout: .seconds(20)) { () async throws -> HTTPProbe.Answer? in
                let a = try await HTTPProbe.request(port: port, "/healthz")
                return a.status == 200 ? a : nil
            }
            #expect(try health.json()["healthy"] as? Bool == true)
            let ready = try await HTTPProbe.request(port: port, "/readyz")
            #expect(ready.status == 200, "\(ready)")
            #expect(try ready.json()["ready"] as? Bool == true)
            #expect(try ready.json()["uplink"] as? String == "connected")
            #expect(ready.contentType == "application/json")

            let events = try HTTPProbe.stream(port: port, "/api/v1/events", into: dir.file("events.txt"))
            defer { events.signal(SIGTERM) }

            let detail = try await waitForAsync("boiler-1's temperature 21.5", timeout: .seconds(20)) { () async throws -> [String: Any]? in
                let a = try await HTTPProbe.request(port: port, "/api/v1/devices/boiler-1")
                guard a.status == 200, let json = try? a.json(), let points = json["points"] as? [[String: Any]] else { return nil }
                let temperature = points.first { $0["point"] as? String == "temperature" }
                return temperature?["value"] as? Double == 21.5 ? json : nil
            }
            #expect(detail["id"] as? String == "boiler-1" && detail["protocol"] as? String == "modbus")
            #expect(detail["state"] as? String == "up")
            let points = try #require(detail["points"] as? [[String: Any]])
            #expect(points.map { $0["point"] as? String } == ["temperature", "setpoint", "flow", "pump", "alarm", "counter", "mode", "burner", "level"])
            let temperature = try #require(points.first)
            #expect(temperature["quality"] as? String == "good" && temperature["unit"] as? String == "°C")
            #expect((temperature["ts"] as? String).flatMap { Timestamp.parse($0) } != nil)
            #expect((temperature["age_seconds"] as? Double).map { $0 >= 0 } == true)

            let devices = try await HTTPProbe.request(port: port, "/api/v1/devices")
            #expect(devices.status == 200)
            let list = try #require(try devices.json()["devices"] as? [[String: Any]])
            #expect(list.count == 1 && list.first?["id"] as? String == "boiler-1" && list.first?["state"] as? String == "up")
            #expect(try await HTTPProbe.request(port: port, "/api/v1/devices/no-such").status == 404)

            let status = try await HTTPProbe.request(port: port, "/api/v1/status")
            let s = try status.json()
            #expect(s["gateway"] as? String == TestHub.gatewayID && s["uplink"] as? String == "connected")
            #expect(s["version"] as? String == "0.1.0" && s["ready"] as? Bool == true)
            let counts = try #require(s["devices"] as? [String: Any])
            #expect(counts["total"] as? Int == 1 && counts["up"] as? Int == 1 && counts["down"] as? Int == 0)
            #expect(s["outbox"] is [String: Any])

            // The stream carries readings of the device.
            _ = try await waitFor("SSE readings", timeout: .seconds(20)) {
                let text = (try? String(contentsOfFile: dir.file("events.txt"), encoding: .utf8)) ?? ""
                return text.contains("event: readings\ndata: {\"readings\":[{\"device\":\"boiler-1\"") ? true : nil
            }

            // A command with the token: ok, the register changed, the result in the stream and the audit log.
            let command = Array(#"{"id":"admin-ok-1","device":"boiler-1","write":{"setpoint":30}}"#.utf8)
            let answer = try await HTTPProbe.request("POST", port: port, "/api/v1/commands", token: Self.token, body: command)
            #expect(answer.status == 200, "\(answer)")
            let result = try answer.json()
            #expect(result["id"] as? String == "admin-ok-1" && result["status"] as? String == "ok", "\(answer)")
            #expect(try probe.holding(1) == [300])
            _ = try await waitFor("SSE command result", timeout: .seconds(10)) {
                let text = (try? String(contentsOfFile: dir.file("events.txt"), encoding: .utf8)) ?? ""
                return text.contains(#"event: command"#) && text.contains(#""by":"admin:127.0.0.1""#) && text.contains(#""id":"admin-ok-1","status":"ok""#)
                    ? true : nil
            }
            try await daemon.waitForLog("by=admin:127.0.0.1")
            let hour = try #require(try await HTTPProbe.request(port: port, "/api/v1/status").json()["commands_last_hour"] as? [String: Any])
            #expect(hour["ok"] as? Int == 1)

            // GET /metrics of the real daemon, read by prometheus_client's parser: the
            // daemon's own registry, with the command and the readings just seen counted.
            let scrape = try await HTTPProbe.request(port: port, "/metrics")
            #expect(scrape.status == 200 && scrape.contentType == "text/plain; version=0.0.4; charset=utf-8", "\(scrape.status) \(scrape.contentType)")
            let parsed = try #require(try await ParsedScrape.parse([Array(scrape.body.utf8)], in: dir).first)
            #expect(parsed.value("edgegate_build_info", ["version": "0.1.0"]) == 1)
            #expect(parsed.value("edgegate_uplink_connected") == 1)
            #expect(parsed.value("edgegate_commands_total", ["status": "ok"]) == 1)
            #expect(parsed.value("edgegate_device_up", ["device": "boiler-1", "protocol": "modbus"]) == 1)
            #expect((parsed.value("edgegate_readings_total", ["device": "boiler-1", "quality": "good"]) ?? 0) > 0)
            #expect(parsed.type(of: "edgegate_command_duration_seconds") == "histogram")

            // `edgegate status`: the one-screen summary of the same endpoint; exit 1 once nothing answers.
            let summary = try await runEdgegate(
                ["status", "--admin", "http://127.0.0.1:\(port)", "--token-file", dir.file("admin.token")], in: dir)
            #expect(summary.status == 0, "\(summary.output)")
            #expect(summary.output.contains("gateway  \(TestHub.gatewayID) 0.1.0, ready, up "), "\(summary.output)")
            #expect(summary.output.contains("\nuplink   connected\n"), "\(summary.output)")
            #expect(summary.output.contains("\ndevices  1 up, 0 down, 0 not read yet (of 1)\n"), "\(summary.output)")
            #expect(summary.output.contains("\ncommands last hour: ok 1"), "\(summary.output)")

            #expect(try await daemon.stop() == 0)
            #expect(!daemon.log.contains(Self.token))
            let gone = try await runEdgegate(["status", "--admin", "http://127.0.0.1:\(port)"], in: dir)
            #expect(gone.status == 1)
            #expect(gone.output.contains("cannot connect to 127.0.0.1:\(port)"), "\(gone.output)")
        }
    }

    @Test("the console's API: hub, rate and reload state in status; poll counts, descriptors, named commands, trends and the command history")
    func consoleAPI() async throws {
        try await Self.withReadyDaemon(arguments: ["--map-watch-interval", "0s"], prepare: { try $0.writeHolding(0, 215) }) { site in
            let (plant, dir, port, daemon) = (site.plant, site.dir, site.port, site.daemon)

            // Status: the hub, readings per second once a full second has passed, no reload yet.
            let status = try await waitForAsync("readings per second", timeout: .seconds(20)) { () async throws -> [String: Any]? in
                let s = try await HTTPProbe.request(port: port, "/api/v1/status").json()
                return (s["readings_per_second"] as? Double ?? 0) > 0 ? s : nil
            }
            let hub = try #require(status["hub"] as? [String: Any])
            #expect(hub["profile"] as? String == "mqtt" && hub["address"] as? String == "127.0.0.1:\(plant.hub.port)", "\(hub)")
            #expect(hub["reconnects"] as? Int == 0 && hub["last_error"] is NSNull)
            #expect((hub["since"] as? String).flatMap { Timestamp.parse($0) } != nil)
            #expect((status["started_at"] as? String).flatMap { Timestamp.parse($0) } != nil)
            let noReload = try #require(status["reload"] as? [String: Any])
            #expect(noReload["state"] as? String == "none" && (noReload["diagnostics"] as? [Any])?.isEmpty == true)

            // Devices: poll period and counts; the detail: every descriptor field and the named commands.
            let list = try #require(try await HTTPProbe.request(port: port, "/api/v1/devices").json()["devices"] as? [[String: Any]])
            let summary = try #require(list.first)
            #expect(summary["poll_seconds"] as? Double == 0.1 && summary["points"] as? Int == 9, "\(summary)")
            #expect(summary["bad_points"] as? Int == 0 && summary["uncertain_points"] as? Int == 0)
            let polls = try #require(summary["polls"] as? [String: Any])
            #expect((polls["ok"] as? Int ?? 0) > 0 && polls["error"] as? Int == 0, "\(polls)")
            let detailAnswer = try await HTTPProbe.request(port: port, "/api/v1/devices/boiler-1")
            let detailText = detailAnswer.body
            let detail = try detailAnswer.json()
            let points = try #require(detail["points"] as? [[String: Any]])
            let setpoint = try #require(points.first { $0["point"] as? String == "setpoint" })
            #expect(setpoint["type"] as? String == "int16" && setpoint["kind"] as? String == "number" && setpoint["access"] as? String == "readwrite")
            #expect(setpoint["min"] as? Double == 5 && setpoint["max"] as? Double == 90 && setpoint["unit"] as? String == "°C")
            // What the int16 register holds with scale 0.1, and the steps a write moves in.
            #expect(setpoint["range"] as? [Double] == [-3276.8, 3276.7] && setpoint["step"] as? Double == 0.1, "\(setpoint)")
            #expect(setpoint["step_origin"] as? Double == 0)
            let flow = try #require(points.first { $0["point"] as? String == "flow" })
            // Exact in the text (Foundation's parser on Linux is off by an ulp at this size; a browser's is not).
            #expect(
                detailText.contains(
                    #""point":"flow","type":"float32","kind":"number","access":"read","unit":"l/min","range":[-3.4028234663852886e+38,3.4028234663852886e+38],"#
                ))
            #expect(flow["range"] != nil && flow["step"] == nil, "\(flow)")
            let pump = try #require(points.first { $0["point"] as? String == "pump" })
            #expect(pump["range"] == nil && pump["step"] == nil && pump["kind"] as? String == "bool")
            let mode = try #require(points.first { $0["point"] as? String == "mode" })
            let options = try #require(mode["options"] as? [[String: Any]])
            #expect(options.map { $0["name"] as? String } == ["off", "heat"] && options.map { $0["value"] as? Int } == [0, 1])
            let commands = try #require(detail["commands"] as? [[String: Any]])
            #expect(commands.map { $0["name"] as? String } == ["start_pump", "set_temperature"])
            let celsius = try #require((commands.last?["args"] as? [[String: Any]])?.first)
            #expect(celsius["name"] as? String == "celsius" && celsius["type"] as? String == "number" && celsius["min"] as? Double == 10)

            // Trends: numeric points only, in map order, the register's value in them.
            let trends = try await HTTPProbe.request(port: port, "/api/v1/devices/boiler-1/trends").json()
            #expect(trends["step_seconds"] as? Int == 5 && trends["window_seconds"] as? Int == 600)
            let lines = try #require(trends["points"] as? [[String: Any]])
            #expect(lines.map { $0["point"] as? String } == ["temperature", "setpoint", "flow", "counter", "mode", "level"])
            let temperature = try #require(lines.first?["samples"] as? [[Any]])
            #expect(temperature.last?.last as? Double == 21.5, "\(temperature)")
            #expect(try await HTTPProbe.request(port: port, "/api/v1/devices/nope/trends").status == 404)
            // A percent-encoded id is the same id (browsers encode what is not plain).
            #expect(try await HTTPProbe.request(port: port, "/api/v1/devices/boiler%2D1").json()["id"] as? String == "boiler-1")

            // Two commands: the history has them newest first, with who, what, status and duration.
            for (id, value) in [("hist-1", 30), ("hist-2", 95)] {
                let body = Array(#"{"id":"\#(id)","device":"boiler-1","write":{"setpoint":\#(value)}}"#.utf8)
                #expect(try await HTTPProbe.request("POST", port: port, "/api/v1/commands", token: Self.token, body: body).status == 200)
            }
            let history = try #require(try await HTTPProbe.request(port: port, "/api/v1/commands?limit=5").json()["commands"] as? [[String: Any]])
            #expect(history.map { $0["id"] as? String } == ["hist-2", "hist-1"])
            #expect(history.map { $0["status"] as? String } == ["rejected", "ok"])
            #expect(history.last?["what"] as? String == "write setpoint=30" && history.last?["by"] as? String == "admin:127.0.0.1")
            #expect((history.last?["values"] as? [String: Any])?["setpoint"] as? Double == 30)
            #expect((history.last?["duration_ms"] as? Double).map { $0 >= 0 } == true)
            #expect(try await HTTPProbe.request(port: port, "/api/v1/commands?limit=1").json()["commands"].map { ($0 as? [Any])?.count } == 1)

            // A broken map and SIGHUP: the reload is rejected, its diagnostics in the status.
            try (boilerMapYAML.replacingOccurrences(of: "PORT", with: "\(plant.modbusPort)") + "\n    adress: 1\n")
                .write(toFile: dir.file("boiler.yaml"), atomically: true, encoding: .utf8)
            daemon.process.signal(SIGHUP)
            let rejected = try await waitForAsync("reload rejected", timeout: .seconds(20)) { () async throws -> [String: Any]? in
                let r = try await HTTPProbe.request(port: port, "/api/v1/status").json()["reload"] as? [String: Any]
                return r?["state"] as? String == "rejected" ? r : nil
            }
            #expect(rejected["trigger"] as? String == "SIGHUP")
            let diagnostics = try #require(rejected["diagnostics"] as? [String])
            #expect(diagnostics.contains { $0.hasPrefix(dir.file("boiler.yaml") + ":") && $0.contains(": error: ") }, "\(diagnostics)")
        }
    }

    @Test("writes from another origin or site, and any request for a host that is not loopback, are refused and change nothing")
    func otherOriginsRefused() async throws {
        try await Self.withReadyDaemon { site in
            let (port, probe, daemon) = (site.port, site.probe, site.daemon)
            let before = try probe.holding(1)
            let body = Array(#"{"id":"origin-1","device":"boiler-1","write":{"setpoint":44}}"#.utf8)
            let foreign = try await HTTPProbe.request(
                "POST", port: port, "/api/v1/commands", token: Self.token, body: body, headers: ["Origin: http://evil.example"])
            #expect(foreign.status == 403, "\(foreign)")
            let crossSite = try await HTTPProbe.request(
                "POST", port: port, "/api/v1/commands", token: Self.token, body: body, headers: ["Sec-Fetch-Site: cross-site"])
            #expect(crossSite.status == 403, "\(crossSite)")
            let rebound = try await HTTPProbe.request(port: port, "/api/v1/status", headers: ["Host: evil.example:\(port)"])
            #expect(rebound.status == 421, "\(rebound)")
            #expect(try probe.holding(1) == before)
            #expect(daemon.lines(containing: "id=origin-1").isEmpty)
            // The same write from the endpoint's own origin runs.
            let own = try await HTTPProbe.request(
                "POST", port: port, "/api/v1/commands", token: Self.token, body: body,
                headers: ["Origin: http://127.0.0.1:\(port)", "Sec-Fetch-Site: same-origin"])
            #expect(try own.json()["status"] as? String == "ok", "\(own)")
            #expect(try probe.holding(1) == [440])
        }
    }

    @Test("bad requests get 404, 401, 413 or 400 and change nothing: the register keeps its value and the id is not in the ledger")
    func badRequestsChangeNothing() async throws {
        try await Self.withReadyDaemon { site in
            let (port, probe, daemon) = (site.port, site.probe, site.daemon)
            let before = try probe.holding(1)
            let good = Array(#"{"id":"admin-bad-1","device":"boiler-1","write":{"setpoint":42}}"#.utf8)

            let unknown = try await HTTPProbe.request(port: port, "/api/v2/status", token: Self.token)
            #expect(unknown.status == 404, "\(unknown)")
            let unknownPost = try await HTTPProbe.request("POST", port: port, "/api/v1/command", token: Self.token, body: good)
            #expect(unknownPost.status == 404, "\(unknownPost)")
            let noToken = try await HTTPProbe.request("POST", port: port, "/api/v1/commands", body: good)
            #expect(noToken.status == 401, "\(noToken)")
            let wrongToken = try await HTTPProbe.request("POST", port: port, "/api/v1/commands", token: Self.token + "x", body: good)
            #expect(wrongToken.status == 401, "\(wrongToken)")
            let shortToken = try await HTTPProbe.request("POST", port: port, "/api/v1/commands", token: "test", body: good)
            #expect(shortToken.status == 401, "\(shortToken)")
            var oversized = Array(#"{"id":"admin-bad-1","device":"boiler-1","write":{"setpoint":42},"by":""#.utf8)
            oversized += [UInt8](repeating: UInt8(ascii: "a"), count: 70 * 1024) + Array(#""}"#.utf8)
            let tooLarge = try await HTTPProbe.request("POST", port: port, "/api/v1/commands", token: Self.token, body: oversized)
            #expect(tooLarge.status == 413, "\(tooLarge)")
            let malformed = try await HTTPProbe.request(
                "POST", port: port, "/api/v1/commands", token: Self.token, body: Array(#"{"id":"admin-bad-1","device":"boiler-1","write":{"setpoint":42}"#.utf8)
            )
            #expect(malformed.status == 400, "\(malformed)")
            #expect(try malformed.json()["error"] as? String == "command is not valid JSON")
            let noDevice = try await HTTPProbe.request(
                "POST", port: port, "/api/v1/commands", token: Self.token, body: Array(#"{"id":"admin-bad-1","write":{"setpoint":42}}"#.utf8))
            #expect(noDevice.status == 400, "\(noDevice)")
            #expect(try noDevice.json()["error"] as? String == "command admin-bad-1 has no string field 'device'")

            #expect(try probe.holding(1) == before)
            #expect(daemon.lines(containing: "id=admin-bad-1").isEmpty)
            // The daemon keeps answering, and the id was never recorded: now it runs (not `duplicate`).
            let accepted = try await HTTPProbe.request("POST", port: port, "/api/v1/commands", token: Self.token, body: good)
            #expect(try accepted.json()["status"] as? String == "ok", "\(accepted)")
            #expect(try probe.holding(1) == [420])
        }
    }

    @Test("an unsafe admin section stops edgegate run with exit 2 and the reason")
    func unsafeConfigurationsExit2() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try boilerMapYAML.replacingOccurrences(of: "PORT", with: "1502").write(toFile: dir.file("boiler.yaml"), atomically: true, encoding: .utf8)
        func run(_ admin: String) async throws -> (status: Int32, output: String) {
            let config = dir.file("gateway.yaml")
            try """
            gateway: { id: gw-1, devicemaps: [boiler.yaml] }
            uplink: { url: "mqtt://127.0.0.1:1", insecure: true }
            \(admin)
            """.write(toFile: config, atomically: true, encoding: .utf8)
            return try await runEdgegate(["run", "--config", config], in: dir)
        }
        let open = try await run("admin: { listen: 0.0.0.0:9360 }")
        #expect(open.status == 2)
        #expect(open.output.contains("\(dir.file("gateway.yaml")):3:18: error: admin: listen on 0.0.0.0:9360 needs a token_file"), "\(open.output)")

        try "secret-in-a-shared-file\n".write(toFile: dir.file("shared.token"), atomically: true, encoding: .utf8)
        chmod(dir.file("shared.token"), 0o644)
        let shared = try await run("admin: { listen: 0.0.0.0:9360, token_file: shared.token }")
        #expect(shared.status == 2)
        #expect(
            shared.output.contains("admin token file \(dir.file("shared.token")) is readable or writable by its group or others (mode 644)"), "\(shared.output)"
        )
        #expect(!shared.output.contains("secret-in-a-shared-file"))

        try "\n".write(toFile: dir.file("empty.token"), atomically: true, encoding: .utf8)
        chmod(dir.file("empty.token"), 0o600)
        let empty = try await run("admin: { token_file: empty.token }")
        #expect(empty.status == 2)
        #expect(empty.output.contains("admin token file \(dir.file("empty.token")) is empty"), "\(empty.output)")
    }
}
