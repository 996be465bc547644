import DevTools
import Foundation
import GatewayCore
import TestSupport
import Testing
import Uplink

@Suite("edgegate map plan")
struct MapPlanCommandTests {
    let yaml = """
        devices:
          - id: boiler-1
            protocol: modbus
            connection: { host: 127.0.0.1, port: 1502, unit_id: 1 }
            poll: 500ms
            points:
              temperature: { table: holding, address: 0, type: int16, scale: 0.1 }
              setpoint:    { table: holding, address: 1, type: int16, scale: 0.1, access: readwrite }
              energy:      { table: holding, address: 8, type: uint32 }
              far:         { table: holding, address: 40 }
              reset:       { table: coil, address: 0, access: write }
              pump:        { table: coil, address: 1, access: readwrite }
              alarm:       { table: discrete, address: 3 }
          - id: meter-7
            protocol: modbus
            connection: { host: 127.0.0.1, port: 1502, unit_id: 7, max_gap: 0, max_registers_per_request: 2 }
            poll: 2s
            points:
              power:  { table: input, address: 0, type: float32 }
              a:      { table: input, address: 2 }
              b:      { table: input, address: 3 }
              c:      { table: input, address: 5 }
        """

    @Test("prints each device's requests with start, count, unnamed registers and points, and the totals")
    func table() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try yaml.write(toFile: dir.file("plant.yaml"), atomically: true, encoding: .utf8)
        let result = try await runEdgegate(["map", "plan", dir.file("plant.yaml")], in: dir)
        #expect(result.status == 0, "\(result.output)")
        #expect(
            result.output == """
                boiler-1  127.0.0.1:1502 unit 1  poll 500ms  max_gap 10  max_registers_per_request 125
                  table     start  count  gap  points
                  coil      1      1      0    pump
                  discrete  3      1      0    alarm
                  holding   0      10     6    temperature, setpoint, energy
                  holding   40     1      0    far
                  4 requests per poll: 11 registers, 2 bits
                meter-7  127.0.0.1:1502 unit 7  poll 2s  max_gap 0  max_registers_per_request 2
                  table  start  count  gap  points
                  input  0      2      0    power
                  input  2      2      0    a, b
                  input  5      1      0    c
                  3 requests per poll: 5 registers, 0 bits
                total: 2 devices, 7 requests per cycle (one poll of each device): 16 registers, 2 bits; 9.5 requests/s at the poll periods

                """)
    }

    @Test("--format json: devices with their requests, and the totals")
    func json() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try yaml.write(toFile: dir.file("plant.yaml"), atomically: true, encoding: .utf8)
        let out = dir.file("plan.json")
        #expect(try await runEdgegate(["map", "plan", "--format", "json", dir.file("plant.yaml")], writingStdoutTo: out) == 0)
        guard case .object(let report)? = try? JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: out))),
            case .array(let devices)? = report["devices"], case .object(let boiler)? = devices.first,
            case .array(let requests)? = boiler["requests"]
        else {
            Issue.record("unexpected JSON: \((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")")
            return
        }
        #expect(report["requests_per_cycle"] == .integer(7))
        #expect(report["registers_per_cycle"] == .integer(16))
        #expect(report["bits_per_cycle"] == .integer(2))
        #expect(report["requests_per_second"] == .number(9.5))
        #expect(boiler["max_gap"] == .integer(10) && boiler["poll_ms"] == .integer(500))
        #expect(requests.count == 4)
        #expect(
            requests[2]
                == .object([
                    "table": .string("holding"), "start": .integer(0), "count": .integer(10), "gap": .integer(6),
                    "points": .array([.string("temperature"), .string("setpoint"), .string("energy")]),
                ]))
    }

    @Test("devices of other protocols are each listed with what reading them asks of the network, and counted apart")
    func otherProtocols() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try
            (yaml + """

                  - id: front-door
                    protocol: mqtt
                    connection: { broker: "mqtt://127.0.0.1:1884", insecure: true, topic: "zigbee2mqtt/{id}" }
                    points:
                      contact:   { path: $.contact, type: bool }
                      available: { topic: "{topic}/availability", path: $.state, type: bool, true_value: online, false_value: offline }
                  - id: lamp
                    protocol: hue
                    connection: { bridge: "http://127.0.0.1:8081", username_env: HUE_USERNAME }
                    poll: 2s
                    points: { "on": { resource: light, id: "1", field: "on", access: readwrite } }
                  - id: motion
                    protocol: hue
                    connection: { bridge: "http://127.0.0.1:8081", username_env: HUE_USERNAME }
                    poll: 500ms
                    points: { motion: { resource: sensor, id: "5", field: presence } }
                  - id: back-door
                    protocol: door-sim
                    connection: { seed: 7 }
                    points: { closed: { field: contact } }
                """).write(toFile: dir.file("site.yaml"), atomically: true, encoding: .utf8)
        let result = try await runEdgegate(["map", "plan", dir.file("site.yaml")], in: dir)
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").map(String.init)
        let others = Array(lines.drop { !$0.hasPrefix("front-door") }.dropLast())
        #expect(
            others == [
                "front-door  mqtt  not polled: subscribed to zigbee2mqtt/front-door, zigbee2mqtt/front-door/availability on mqtt://127.0.0.1:1884; readings come with the device's messages",
                "lamp  hue  polled with its bridge 127.0.0.1:8081: GET /lights and GET /sensors every 500ms, shared by the 2 devices of the bridge (the shortest poll)",
                "motion  hue  polled with its bridge 127.0.0.1:8081: GET /lights and GET /sensors every 500ms, shared by the 2 devices of the bridge (the shortest poll)",
                "back-door  door-sim  no requests: simulated inside the gateway",
            ], "\(result.output)")
        #expect(
            lines.last == "total: 2 Modbus devices (and 4 of other protocols, above), 7 requests per cycle (one poll of each device): "
                + "16 registers, 2 bits; 9.5 requests/s at the poll periods")
    }

    @Test("a map that does not validate exits 2 with its diagnostics; no path is a usage error")
    func errors() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try yaml.replacingOccurrences(of: "max_registers_per_request: 2", with: "max_registers_per_request: 1")
            .write(toFile: dir.file("plant.yaml"), atomically: true, encoding: .utf8)
        let result = try await runEdgegate(["map", "plan", dir.file("plant.yaml")], in: dir)
        #expect(result.status == 2)
        #expect(
            result.output.contains("point 'power': float32 needs 2 registers in one request, and the connection's max_registers_per_request is 1"),
            "\(result.output)")
        #expect(try await runEdgegate(["map", "plan"], in: dir).status == 2)
    }

    @Test("help says how requests are merged and what each column is")
    func help() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let result = try await runEdgegate(["map", "plan", "--help"], in: dir)
        #expect(result.status == 0)
        // Help is wrapped to the terminal's width: compare with the line breaks taken out.
        let text = result.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for part in [
            "max_gap unnamed registers (default 10)", "max_registers_per_request registers", "16 per register",
            "table, start address (0-based), count", "Write-only points are not read", "illegal data address", "--format",
        ] {
            #expect(text.contains(part), "\(part) in: \(text)")
        }
        let map = try await runEdgegate(["map", "--help"], in: dir)
        #expect(map.output.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains("plan Print the read requests each poll sends"))
    }

    @Test("docs/devicemaps.md's plan example is what the command prints for its map")
    func documentedExample() async throws {
        let page = try String(contentsOfFile: packageRoot.appendingPathComponent("docs/devicemaps.md").path, encoding: .utf8)
        let command = "$ edgegate map plan meter-7.yaml\n"
        let output = try #require(page.range(of: command), "no plan example in docs/devicemaps.md")
        let before = page[..<output.lowerBound]
        let yamlStart = try #require(before.range(of: "```yaml\n", options: .backwards))
        let yaml = before[yamlStart.upperBound...]
        let map = String(yaml[..<(try #require(yaml.range(of: "```"))).lowerBound])
        let printed = page[output.upperBound...]
        let expected = String(printed[..<(try #require(printed.range(of: "```"))).lowerBound])

        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try map.write(toFile: dir.file("meter-7.yaml"), atomically: true, encoding: .utf8)
        let result = try await runEdgegate(["map", "plan", dir.file("meter-7.yaml")], in: dir)
        #expect(result.status == 0)
        #expect(result.output == expected)
    }
}
