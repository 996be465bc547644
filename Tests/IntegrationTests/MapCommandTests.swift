import DevTools
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Logging
import MQTTClient
import MQTTDevicesAdapter
import ModbusAdapter
import TestSupport
import Testing
import Uplink

@Suite("edgegate map")
struct MapCommandTests {
    let broken = """
        devices:
          - id: d1
            protocol: modbus
            connection: { host: 127.0.0.1 }
            points: { t: { table: holding, adress: 0 } }
        """

    @Test("validate: exit 0 for the example maps, 1 with every error as file:line:column, 2 without paths")
    func validate() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let clean = try await runEdgegate(["map", "validate", packageRoot.appendingPathComponent("devicemaps").path], in: dir)
        #expect(clean.status == 0, "\(clean.output)")
        #expect(clean.output.contains("11 device(s) valid"), "\(clean.output)")
        try broken.write(toFile: dir.file("plant.yaml"), atomically: true, encoding: .utf8)
        let bad = try await runEdgegate(["map", "validate", dir.file("plant.yaml")], in: dir)
        #expect(bad.status == 1)
        #expect(bad.output.contains("\(dir.file("plant.yaml")):5:36: error:"), "\(bad.output)")
        #expect(bad.output.contains("did you mean 'address'?"))
        #expect(try await runEdgegate(["map", "validate"], in: dir).status == 2)
    }

    @Test("validate --format json: one record per diagnostic, for tools")
    func validateJSON() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try broken.write(toFile: dir.file("plant.yaml"), atomically: true, encoding: .utf8)
        let out = dir.file("report.json")
        #expect(try await runEdgegate(["map", "validate", "--format", "json", dir.file("plant.yaml")], writingStdoutTo: out) == 1)
        guard case .object(let report)? = try? JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: out))),
            case .array(let diagnostics)? = report["diagnostics"], case .object(let first)? = diagnostics.first
        else {
            Issue.record("no JSON report: \((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")")
            return
        }
        #expect(report["valid"] == .bool(false))
        #expect(first["line"] == .integer(5))
        #expect(first["column"] == .integer(36))
        #expect(first["severity"] == .string("error"))
        #expect(first["hint"] == .string("did you mean 'address'?"))
    }

    @Test("show: profiles expanded and defaults filled in, as a table and as JSON")
    func show() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let plant = packageRoot.appendingPathComponent("devicemaps/demo-plant.yaml").path
        let table = try await runEdgegate(["map", "show", plant], in: dir)
        #expect(table.status == 0)
        #expect(table.output.contains("boiler-1  modbus  127.0.0.1:1502 unit 1  poll 500ms  profile boiler-controller"), "\(table.output)")
        #expect(table.output.contains("setpoint     holding   1        int16    big/big     0.1    0       °C     readwrite  5    90"))
        #expect(table.output.contains("readwrite            [standby=0, heat=1, eco=2]"), "\(table.output)")
        #expect(table.output.contains(#"set_temperature  celsius (number, 5…90, default 20)  setpoint=$celsius, mode="heat""#), "\(table.output)")
        let out = dir.file("show.json")
        #expect(try await runEdgegate(["map", "show", "--format", "json", plant], writingStdoutTo: out) == 0)
        guard case .array(let devices)? = try? JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: out))),
            case .object(let boiler)? = devices.first, case .array(let points)? = boiler["points"],
            case .object(let flow)? = points.first(where: { if case .object(let p) = $0 { return p["name"] == .string("flow") } else { return false } })
        else {
            Issue.record("no JSON devices")
            return
        }
        #expect(boiler["poll_ms"] == .integer(500))
        #expect(boiler["unit_id"] == .integer(1))
        #expect(flow["word_order"] == .string("little"))
        #expect(flow["byte_order"] == .string("big"))
        #expect(flow["scale"] == .integer(1))
        guard case .array(let commands)? = boiler["commands"],
            case .object(let setTemperature)? = commands.first(where: {
                if case .object(let c) = $0 { return c["name"] == .string("set_temperature") } else { return false }
            }),
            case .array(let args)? = setTemperature["args"], case .object(let celsius)? = args.first
        else {
            Issue.record("no commands in the JSON")
            return
        }
        #expect(celsius == ["name": .string("celsius"), "type": .string("number"), "min": .integer(5), "max": .integer(90), "default": .integer(20)])
        #expect(setTemperature["write"] == .object(["setpoint": .string("$celsius"), "mode": .string("heat")]))
        #expect(try await runEdgegate(["map", "show", dir.file("missing.yaml")], in: dir).status == 2)
    }

    @Test("show: string length, register bit, enum options and named commands with their arguments")
    func showDetails() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let map = dir.file("panel.yaml")
        try """
        devices:
          - id: panel-1
            protocol: modbus
            connection: { host: 127.0.0.1 }
            points:
              serial:  { table: input, address: 0, type: string, length: 6, byte_order: little }
              status:  { table: input, address: 6, type: uint16 }
              running: { table: input, address: 6, bit: 3 }
              preset:  { table: holding, address: 0, type: uint16, access: readwrite, enum: [1, 2, 4] }
              label:   { table: holding, address: 1, type: string, length: 4, access: readwrite }
            commands:
              choose:
                description: Pick a preset
                args: { n: { type: integer, enum: [1, 2], description: the preset } }
                write: { preset: $n, label: $$manual }
        """.write(toFile: map, atomically: true, encoding: .utf8)
        let table = try await runEdgegate(["map", "show", map], in: dir)
        #expect(table.status == 0, "\(table.output)")
        #expect(table.output.contains(try Regex(#"serial\s+input\s+0\s+string\[6\]\s+little/big"#)), "\(table.output)")
        #expect(table.output.contains(try Regex(#"running\s+input\s+6\s+bool \(bit 3\)"#)), "\(table.output)")
        #expect(table.output.contains(try Regex(#"preset\s+holding.*readwrite\s+\[1, 2, 4\]"#)), "\(table.output)")
        #expect(table.output.contains(#"choose   n (integer, one of [1, 2])  preset=$n, label="$$manual""#), "\(table.output)")

        let out = dir.file("panel.json")
        #expect(try await runEdgegate(["map", "show", "--format", "json", map], writingStdoutTo: out) == 0)
        guard case .array(let devices)? = try? JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: out))),
            case .object(let panel)? = devices.first, case .array(let points)? = panel["points"], points.count == 5,
            case .object(let serial) = points[0], case .object(let status) = points[1], case .object(let running) = points[2],
            case .object(let preset) = points[3], case .array(let commands)? = panel["commands"],
            case .object(let choose)? = commands.first
        else {
            Issue.record("unexpected JSON: \((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")")
            return
        }
        #expect(serial["type"] == .string("string") && serial["length"] == .integer(6))
        #expect(status["length"] == nil && status["bit"] == nil && status["enum"] == nil)
        #expect(running["type"] == .string("bool") && running["bit"] == .integer(3))
        #expect(preset["enum"] == .array([.object(["value": .integer(1)]), .object(["value": .integer(2)]), .object(["value": .integer(4)])]))
        #expect(choose["description"] == .string("Pick a preset"))
        #expect(
            choose["args"]
                == .array([
                    .object([
                        "name": .string("n"), "type": .string("integer"), "description": .string("the preset"),
                        "enum": .array([.object(["value": .integer(1)]), .object(["value": .integer(2)])]),
                    ])
                ]))
        // A literal text that starts with `$` keeps the map's `$$`, so it cannot pass for an argument.
        #expect(choose["write"] == .object(["preset": .string("$n"), "label": .string("$$manual")]))
    }
}

@Suite("edgegate map new")
struct MapNewTests {
    @Test("the printed template validates as printed, with and without a profile", arguments: [[String](), ["--profile", "chiller"]])
    func templateValidates(extra: [String]) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.file("new.yaml")
        #expect(try await runEdgegate(["map", "new"] + extra, writingStdoutTo: file) == 0)
        let checked = try await runEdgegate(["map", "validate", file], in: dir)
        #expect(checked.status == 0, "\(checked.output)")
        #expect(checked.output.contains("1 device(s) valid, 0 warning(s)"))
        let shown = try await runEdgegate(["map", "show", file], in: dir)
        #expect(shown.output.contains("setpoint"))
        // One example of each kind of key: a string, a bit, an enum, a named command, report policies.
        for part in ["string[8]", "bool (bit 0)", "[standby=0, heat=1, eco=2]", "start_pump", "set_temperature"] {
            #expect(shown.output.contains(part), "\(part) in \(shown.output)")
        }
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains("report: { deadband: 0.5, max_interval: 60s }"))
        #expect(text.contains(#"report: { deadband: "5%" }"#))
        if extra.isEmpty {
            #expect(!shown.output.contains("profile"))
        } else {
            #expect(shown.output.contains("profile chiller"))
        }
    }

    @Test("templates saved into one folder load together: ids from --id, --profile or the protocol; a bad --id is a usage error")
    func templatesSideBySide() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let folder = dir.file("maps")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let runs: [(arguments: [String], id: String)] = [
            ([], "modbus-1"), (["--id", "boiler-7"], "boiler-7"), (["--profile", "chiller"], "chiller-1"),
            (["--protocol", "mqtt"], "mqtt-1"), (["--protocol", "door-sim", "--id", "back_door"], "back_door"),
        ]
        for (n, run) in runs.enumerated() {
            let file = "\(folder)/\(n).yaml"
            #expect(try await runEdgegate(["map", "new"] + run.arguments, writingStdoutTo: file) == 0)
            #expect(try String(contentsOfFile: file, encoding: .utf8).contains("  - id: \(run.id) "), "\(run.arguments)")
        }
        let checked = try await runEdgegate(["map", "validate", folder], in: dir)
        #expect(checked.status == 0, "\(checked.output)")
        #expect(checked.output.contains("\(runs.count) device(s) valid"), "\(checked.output)")
        for bad in ["", "two words", "1st", "a/b", "door#1"] {
            let refused = try await runEdgegate(["map", "new", "--id", bad], in: dir)
            #expect(refused.status == 2, "--id '\(bad)': \(refused.output)")
            #expect(refused.output.contains("--id"), "\(refused.output)")
        }
    }

    @Test(
        "the MQTT, Hue and door-sim templates validate as printed, with and without a profile, and show their protocol's keys",
        arguments: [("mqtt", "$.temperature"), ("hue", "transitiontime"), ("door-sim", "contact")], [false, true])
    func otherTemplatesValidate(template: (protocol: String, key: String), withProfile: Bool) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.file("new.yaml")
        let extra = withProfile ? ["--profile", "model"] : []
        #expect(try await runEdgegate(["map", "new", "--protocol", template.protocol] + extra, writingStdoutTo: file) == 0)
        let checked = try await runEdgegate(["map", "validate", file], in: dir)
        #expect(checked.status == 0, "\(checked.output)")
        #expect(checked.output.contains("1 device(s) valid, 0 warning(s)"), "\(checked.output)")
        let shown = try await runEdgegate(["map", "show", file], in: dir)
        let id = withProfile ? "model-1" : "\(template.protocol)-1"
        #expect(shown.output.contains("\(id)  \(template.protocol)"), "\(shown.output)")
        #expect(shown.output.contains(template.key), "\(shown.output)")
        #expect(shown.output.contains("profile model") == withProfile)
    }

    @Test("a protocol without a template is a usage error naming those with one")
    func unknownProtocol() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let result = try await runEdgegate(["map", "new", "--protocol", "bacnet"], in: dir)
        #expect(result.status == 2)
        #expect(result.output.contains("protocol 'bacnet' has no template yet; supported: modbus, mqtt, door-sim, hue"), "\(result.output)")
    }
}

@Suite("edgegate map read")
struct MapReadTests {
    @Test("reads one device once and prints normalized readings; exit 1 with the reason when it cannot")
    func read() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let port = try freeLoopbackPort()
        let map = dir.file("boiler.yaml")
        try boilerMapYAML.replacingOccurrences(of: "PORT", with: "\(port)").write(toFile: map, atomically: true, encoding: .utf8)
        let simulator = try ModbusSimulator(
            devices: DeviceMapLoader.standard.load(paths: [map]).devices, port: port,
            animated: false, logger: Logger(label: "sim"))
        try simulator.start()
        try ProbeClient(port: port).writeHolding(0, 215)
        let good = try await runEdgegate(["map", "read", map, "--device", "boiler-1"], in: dir)
        simulator.stop()
        #expect(good.status == 0, "\(good.output)")
        #expect(good.output.contains(try Regex(#"temperature\s+21\.5\s+°C\s+good"#)), "\(good.output)")
        let down = try await runEdgegate(["map", "read", map, "--device", "boiler-1"], in: dir)
        #expect(down.status == 1)
        #expect(down.output.contains("connection refused by 127.0.0.1:\(port)"), "\(down.output)")
        #expect(try await runEdgegate(["map", "read", map, "--device", "nope"], in: dir).status == 2)
    }
}

@Suite("edgegate map read on MQTT devices", .timeLimit(.minutes(1)))
struct MapReadMQTTTests {
    /// A zigbee2mqtt-style door: availability retained (there at once), state published by the
    /// device every 300 ms without retain, and a point the device never reports.
    static func map(_ broker: TestSiteBroker) -> String {
        """
        devices:
          - id: front-door
            protocol: mqtt
            connection: { broker: "\(broker.url)", insecure: true, topic: "zigbee2mqtt/{id}" }
            points:
              available:   { topic: "{topic}/availability", path: $.state, type: bool, true_value: online,
                             false_value: offline, stale_after: never }
              contact:     { path: $.contact, type: bool }
              battery:     { path: $.battery, type: int64, unit: "%" }
              linkquality: { path: $.linkquality, type: int64 }
          - id: hall-sensor
            protocol: mqtt
            connection: { broker: "\(broker.url)", insecure: true, topic: "zigbee2mqtt/{id}" }
            points:
              temperature: { path: $.temperature, unit: "°C" }
        """
    }

    @Test("map read next to a running gateway: own client id (the gateway stays connected), waits for every point, names the missing ones")
    func readNextToGateway() async throws {
        let broker = try await TestSiteBroker.start()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.file("doors.yaml")
        try Self.map(broker).write(toFile: file, atomically: true, encoding: .utf8)
        let devices = try DeviceMapLoader.standard.load(paths: [file]).devices
        // The daemon's side: the adapter as the gateway makes it, with its default client id.
        let gateway = MQTTDevicesAdapter(devices: devices, logger: Logger(label: "gateway"))
        let seen = ReadingCollector()
        let running = Task { try await gateway.run(sink: seen.sink) }
        let device = try await MQTTConnection.connect(broker.options(clientID: "door-device"), logger: Logger(label: "device"))
        let publishing = Task {
            try await device.publish("zigbee2mqtt/front-door/availability", payload: Array(#"{"state":"online"}"#.utf8), qos: 1, retain: true)
            while !Task.isCancelled {
                try await device.publish("zigbee2mqtt/front-door", payload: Array(#"{"contact":true,"battery":97}"#.utf8), qos: 1, retain: false)
                try await Task.sleep(for: .milliseconds(300))
            }
        }
        func stopAll() async {
            publishing.cancel()
            running.cancel()
            _ = try? await running.value
            await device.disconnect()
            await broker.stop()
        }
        guard await eventually(timeout: .seconds(20), { gateway.connectedBrokers == 1 }) else {
            await stopAll()
            throw ProbeError("the gateway's adapter did not connect: \(broker.log)")
        }
        let read = try await runEdgegate(["map", "read", file, "--device", "front-door", "--timeout", "5s"], in: dir)
        let hall = try await runEdgegate(["map", "read", file, "--device", "hall-sensor", "--timeout", "500ms"], in: dir)
        // The gateway's connection lives on: it still gets the device's messages afterwards.
        let after = seen.all.count
        let stillReading = await seen.waitForBatch(timeout: .seconds(10), from: after) { batch in
            batch.contains { $0.point == "contact" && $0.quality == .good }
        }
        await stopAll()

        // Every point, in map order: the retained one, the ones that come with the next state
        // message, and the one that message lacks.
        #expect(read.status == 1, "linkquality is bad: \(read.output)")
        #expect(read.output.contains(try Regex(#"available\s+true\s+good"#)), "\(read.output)")
        #expect(read.output.contains(try Regex(#"contact\s+true\s+good"#)), "\(read.output)")
        #expect(read.output.contains(try Regex(#"battery\s+97\s+%\s+good"#)), "\(read.output)")
        #expect(
            read.output.contains(try Regex(#"linkquality\s+—\s+bad\s+no field \$\.linkquality in the payload on zigbee2mqtt/front-door"#)),
            "\(read.output)")
        // A device that sends nothing: every point named, with the wait it was given.
        #expect(hall.status == 1)
        #expect(hall.output.contains(try Regex(#"temperature\s+—\s+°C\s+bad\s+nothing received within 500ms"#)), "\(hall.output)")

        #expect(stillReading != nil, "the gateway stopped receiving after map read")
        // Bad readings other than the missing field's: a lost broker makes every point bad.
        let dropped = seen.all.joined().filter { r in
            if case .bad = r.quality { return r.device == "front-door" && r.point != "linkquality" } else { return false }
        }
        #expect(dropped.isEmpty, "the gateway lost its broker while map read ran: \(dropped.map { $0.quality.reason ?? "" })")
        #expect(!broker.log.contains("already connected"), "\(broker.log)")
    }
}

@Suite("edgegate map schema")
struct MapSchemaTests {
    /// Saved bad cases whose errors no JSON Schema can state. Every other saved case must be
    /// rejected by the schema, and these must be accepted (else they no longer belong here).
    static let beyondSchema: Set<String> = [
        // Unique values of one key across list items: `uniqueItems` compares whole items only.
        "duplicate-device-ids",
        // YAML parsers keep one of two equal keys before any schema sees the document.
        "duplicate-yaml-key",
        // `min` above `max`: a schema cannot compare two values of the document.
        "limits-on-read-only", "min-greater-than-max",
        // A device's `profile` must name a profile of the map: a schema cannot refer to the
        // document's own keys.
        "unknown-profile", "unknown-profile-no-profiles",
        // Devices naming the same serial bus with different line settings: a schema checks
        // each device on its own.
        "rtu-bus-settings",
        // MQTT: a payload template's JSON once filled in, a default payload's key taken from
        // the path, and a topic level compared with id_level are the loader's to check.
        "mqtt-template-not-json", "mqtt-id-level-without-wildcard",
        // A device id compared with the topics it fills: the id and the topic are two keys.
        "mqtt-device-id-in-topic",
        // A point's width against its device's `max_registers_per_request`: two parts of the document again.
        "request-limits",
        // Derived points: what an expression means (its grammar, the points it names, their
        // kinds, a constant divisor, cycles between points), a window's size against its
        // step, a state in two lists, a time zone's name: the loader's to check.
        "derived-and-of-numbers", "derived-argument-count", "derived-cycle", "derived-divide-constant-zero",
        "derived-hyphen-subtraction", "derived-if-branches", "derived-leading-dot-number", "derived-missing-parenthesis",
        "derived-modulo-zero", "derived-oee-running-and-planned", "derived-oee-state-not-whole", "derived-oee-text-counter",
        "derived-oee-unknown-zone", "derived-plus-bool", "derived-self-reference", "derived-string-compare-number",
        "derived-trailing-input", "derived-unknown-device", "derived-unknown-function", "derived-unknown-point",
        "derived-unterminated-string", "derived-window-bool-input", "derived-window-broken-input", "derived-window-every-longer",
        "derived-window-not-a-multiple", "derived-window-of-unknown-point",
    ]

    /// The saved device-map cases (the `config-*` cases hold gateway configurations).
    static let cases: [String] = {
        let folder = packageRoot.appendingPathComponent("Tests/DeviceMapsTests/Cases").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { !$0.hasPrefix("config-") && FileManager.default.fileExists(atPath: "\(folder)/\($0)/input.yaml") }
            .sorted()
    }()

    static func yamlFiles(in folder: String) -> [String] {
        let path = packageRoot.appendingPathComponent(folder).path
        return ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            .filter { $0.hasSuffix(".yaml") }.sorted().map { "\(path)/\($0)" }
    }

    @Test("an independent validator accepts every example map and rejects every bad case whose error a schema can state")
    func schema() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let schema = dir.file("devicemap.schema.json")
        #expect(try await runEdgegate(["map", "schema"], writingStdoutTo: schema) == 0)

        var valid = Self.yamlFiles(in: "devicemaps") + Self.yamlFiles(in: "devicemaps/models")
        #expect(valid.count >= 4)
        let templates = ["modbus", "mqtt", "hue", "door-sim", "derived"].flatMap { name in
            [("template-\(name).yaml", ["--protocol", name]), ("template-profile-\(name).yaml", ["--protocol", name, "--profile", "p"])]
        }
        for (name, extra) in templates {
            #expect(try await runEdgegate(["map", "new"] + extra, writingStdoutTo: dir.file(name)) == 0)
            valid.append(dir.file(name))
        }
        for example in DocumentationTests.maps where !example.isInvalid {
            let file = dir.file("doc-\(example.line).yaml")
            try example.yaml.write(toFile: file, atomically: true, encoding: .utf8)
            valid.append(file)
        }
        let typo = dir.file("typo.yaml")
        try """
        devices:
          - id: d1
            protocol: modbus
            connection: { host: 127.0.0.1 }
            points: { t: { table: holding, adress: 0 } }
        """.write(toFile: typo, atomically: true, encoding: .utf8)
        #expect(Self.beyondSchema.isSubset(of: Self.cases), "stale names: \(Self.beyondSchema.subtracting(Self.cases))")
        func casePath(_ name: String) -> String {
            packageRoot.appendingPathComponent("Tests/DeviceMapsTests/Cases/\(name)/input.yaml").path
        }
        valid += Self.beyondSchema.sorted().map(casePath)
        let invalid = Self.cases.filter { !Self.beyondSchema.contains($0) }.map(casePath) + [typo]

        // One Python process for every file: starting one per file would take seconds.
        let out = dir.file("check.txt")
        let check = try TestProcess.spawn(
            try peerPython(), [peerScript("check_schema.py"), schema] + valid + ["--invalid"] + invalid,
            stdout: .file(out, append: false), stderr: .file(out, append: true))
        let status = await check.wait()
        let output = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(output)")
        var verdicts: [String: String] = [:]
        for line in output.split(separator: "\n") {
            if line.hasPrefix("ok ") { verdicts[String(line.dropFirst(3))] = "ok" }
            if line.hasPrefix("invalid "), let colon = line.range(of: ": ") {
                verdicts[String(line[line.index(line.startIndex, offsetBy: 8)..<colon.lowerBound])] = String(line[colon.upperBound...])
            }
        }
        for file in valid { #expect(verdicts[file] == "ok", "\(file): \(verdicts[file] ?? "no verdict")") }
        for file in invalid { #expect(verdicts[file].map { $0 != "ok" } == true, "\(file) was accepted") }

        // The rules between a point's keys are the schema's, not only the loader's.
        let expected = [
            typo: "'adress' was unexpected",
            casePath("type-table-mismatch"): "'bool' was expected",
            casePath("writable-read-only-tables"): "'read' was expected",
            casePath("register-bits"): "'coil' is not one of ['input', 'holding']",
            casePath("host-empty"): "should be non-empty",
            casePath("wide-types"): "65533 is greater than the maximum of 65532",
            casePath("overlapping-registers"): "65535 is greater than the maximum of 65534",
            casePath("yaml-syntax-error"): "not YAML",
        ]
        for (file, message) in expected {
            #expect(verdicts[file]?.contains(message) == true, "\(file): \(verdicts[file] ?? "no verdict")")
        }
    }
}
