import DevTools
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import HubClient
import Logging
import MQTTClient
import Synchronization
import TestSupport
import Testing
import Uplink

/// What a finished `edgegate` run printed, each stream on its own.
struct CLIRun {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs `edgegate` with a clean environment (`TestProcess`: nothing of `parent`, this process's
/// environment, besides PATH, HOME and TMPDIR) plus `environment`, and `XDG_CONFIG_HOME`
/// pointing into `directory` (unless given), so that neither the `EDGEGATE_*` variables of
/// whoever runs the tests nor a `cli.yaml` of the machine's user interferes.
func runCLI(
    _ arguments: [String], environment: [String: String] = [:], in directory: TemporaryDirectory,
    parent: [String: String] = ProcessInfo.processInfo.environment
) async throws -> CLIRun {
    let tag = UUID().uuidString.prefix(6)
    let (out, err) = (directory.file("out-\(tag).txt"), directory.file("err-\(tag).txt"))
    var environment = environment
    if environment["XDG_CONFIG_HOME"] == nil { environment["XDG_CONFIG_HOME"] = directory.file("xdg") }
    let child = try TestProcess.spawn(
        try edgegateExecutable(), arguments, stdout: .file(out), stderr: .file(err),
        environment: environment, parent: parent)
    let status = try await withTimeout(.seconds(30), "edgegate \(arguments.prefix(2).joined(separator: " "))") { await child.wait() }
    func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
    return CLIRun(status: status, stdout: read(out), stderr: read(err))
}

/// The help text with line breaks and indentation taken out (help wraps to the terminal).
func helpText(_ arguments: [String], in directory: TemporaryDirectory) async throws -> String {
    let run = try await runCLI(arguments + ["--help"], in: directory)
    #expect(run.status == 0)
    return run.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
}

@Suite("Remote command CLI", .serialized, .timeLimit(.minutes(3)))
struct CommandCLITests {
    /// Flags that reach the plant's hub as the operator.
    func hubFlags(_ plant: Plant) -> [String] {
        ["--hub", "mqtts://127.0.0.1:\(plant.hub.port)", "--certs", plant.hub.pki.directory]
    }

    @Test("help: each command subcommand says what it prints, its settings and its exit codes")
    func help() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let group = try await helpText(["command"], in: dir)
        for part in [
            "EDGEGATE_HUB=mqtts://host:port", "EDGEGATE_CERTS", "EDGEGATE_IDENTITY", "EDGEGATE_GATEWAY", "EDGEGATE_PREFIX",
            "~/.config/edgegate/cli.yaml", "$XDG_CONFIG_HOME", "send", "devices", "watch",
        ] {
            #expect(group.contains(part), "\(part) in: \(group)")
        }
        let send = try await helpText(["command", "send"], in: dir)
        for part in [
            "--ttl <duration>", "--json", "--write <point=value>", "--command <name>", "--arg <name=value>", "--id <id>",
            "--timeout <duration>", "--hub <url>", "--hub-host", "--hub-port", "Exit code 0 when the gateway answers `ok`",
            "1 for any other status, no answer within --timeout, or a hub that cannot be reached; 2 for usage errors",
        ] {
            #expect(send.contains(part), "\(part) in: \(send)")
        }
        let devices = try await helpText(["command", "devices"], in: dir)
        for part in [
            "retained", "--json", "--wait <duration>", "--gateway <id>", "limits", "named commands with their arguments",
            "1 when none arrived within --wait",
        ] {
            #expect(devices.contains(part), "\(part) in: \(devices)")
        }
        let watch = try await helpText(["command", "watch"], in: dir)
        for part in [
            "updates in place", "--device <id>", "--json", "one JSON object per line", "SIGINT or SIGTERM (exit code 0)",
            "quality", "age",
        ] {
            #expect(watch.contains(part), "\(part) in: \(watch)")
        }
    }

    @Test("the cli.yaml example of docs/operations.md is a valid settings file")
    func documentedSettingsFile() throws {
        let examples = try DocExample.blocks(in: "docs/operations.md").filter { $0.topKeys.contains("hub") }
        #expect(examples.count == 1)
        for example in examples {
            let (settings, diagnostics) = CLISettingsFile.parse(yaml: example.yaml, file: example.testDescription, home: "/home/op")
            #expect(diagnostics.isEmpty, "\(diagnostics)")
            #expect(settings?.hub == MQTTURL(host: "hub.example.com", port: 8883))
            #expect(settings?.certs == "/home/op/.config/edgegate/certs")
            #expect(Set(settings?.locations.keys.map { $0 } ?? []) == Set(CLISettingsFile.keys))
        }
    }

    @Test("send: ok exits 0 with a one-line summary (or the response JSON), rejected exits 1; the audit line names who and what")
    func sendOutcomes() async throws {
        try await Plant.run { plant in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try await plant.withGateway { gateway in
                _ = try await waitFor("uplink connected") { gateway.uplink.isConnected ? true : nil }
                let ok = try await runCLI(
                    ["command", "send", "--gateway", "gw-1", "--device", "boiler-1", "--write", "setpoint=21.5"]
                        + hubFlags(plant), in: dir)
                #expect(ok.status == 0, "\(ok)")
                #expect(
                    ok.stdout.wholeMatch(of: #/ok  boiler-1  wrote boiler-1\.setpoint=21\.5  \(\d+(\.\d)? ms\)  values: setpoint=21\.5\n/#) != nil,
                    "\(ok.stdout)")
                #expect(try ProbeClient(port: plant.modbusPort).holding(1) == [215])
                _ = try await waitFor("audit line") {
                    plant.log.contains("by=operator") && plant.log.contains("what=write setpoint=21.5") ? true : nil
                }

                let named = try await runCLI(
                    [
                        "command", "send", "--gateway", "gw-1", "--device", "boiler-1", "--command", "set_temperature",
                        "--arg", "celsius=42.5", "--ttl", "30s", "--json", "--id", "cli-json",
                    ] + hubFlags(plant), in: dir)
                #expect(named.status == 0, "\(named)")
                // Machine output: the response JSON alone, one line.
                #expect(named.stdout.filter { $0 == "\n" }.count == 1)
                let response = try JSONDecoder().decode(JSONValue.self, from: Data(named.stdout.utf8))
                guard case .object(let fields) = response else { throw ProbeError("not an object: \(named.stdout)") }
                #expect(fields["id"] == .string("cli-json"))
                #expect(fields["status"] == .string("ok"))
                #expect(fields["values"] == .object(["mode": .integer(1), "setpoint": .number(42.5)]))
                #expect(plant.log.contains("what=set_temperature celsius=42.5"))

                let rejected = try await runCLI(
                    ["command", "send", "--gateway", "gw-1", "--device", "boiler-1", "--write", "setpoint=500"]
                        + hubFlags(plant), in: dir)
                #expect(rejected.status == 1)
                #expect(rejected.stdout.hasPrefix("rejected  boiler-1  boiler-1.setpoint: 500 is above the maximum 90  ("), "\(rejected.stdout)")
                #expect(try ProbeClient(port: plant.modbusPort).holding(1) == [425])
            }
        }
    }

    @Test("send without an answer exits 1 and says why from the gateway's status: never connected, or offline")
    func sendTimeout() async throws {
        try await Plant.run { plant in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let arguments =
                ["command", "send", "--gateway", "gw-1", "--device", "boiler-1", "--write", "setpoint=20", "--timeout", "500ms"]
                + hubFlags(plant)
            let never = try await runCLI(arguments, in: dir)
            #expect(never.status == 1)
            #expect(never.stdout.isEmpty)
            #expect(never.stderr.contains("no response to command"), "\(never.stderr)")
            #expect(never.stderr.contains("within 500ms: the hub holds no status for gw-1 under prefix 'edgegate'"), "\(never.stderr)")
            // A gateway that ran and stopped leaves `online: false` behind.
            try await plant.withGateway { gateway in
                _ = try await waitFor("uplink connected") { gateway.uplink.isConnected ? true : nil }
            }
            let offline = try await runCLI(arguments, in: dir)
            #expect(offline.status == 1)
            #expect(offline.stderr.contains("the gateway is offline since"), "\(offline.stderr)")
            #expect(offline.stderr.contains("(shutdown); the command was not delivered and will not run"), "\(offline.stderr)")
        }
    }

    @Test("a gateway killed with SIGKILL: its will states no time it cannot know, and send never calls the connect time the moment it went offline")
    func killedGateway() async throws {
        try await Plant.run { plant in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try boilerMapYAML.replacingOccurrences(of: "PORT", with: "\(plant.modbusPort)")
                .write(toFile: dir.file("boiler.yaml"), atomically: true, encoding: .utf8)
            let configuration = try Daemon.writeConfiguration(for: plant, devicemaps: "boiler.yaml", in: dir)
            // The operator follows the status topic: the online status, then the will.
            let watcher = try await MQTTConnection.connect(
                plant.hub.options(identity: .operator, clientID: "status-watch"),
                logger: Logger(label: "status-watch"))
            let statuses = Mutex<[[String: JSONValue]]>([])
            let collecting = Task {
                for await message in watcher.messages {
                    if case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: Data(message.payload)) {
                        statuses.withLock { $0.append(o.dictionary) }
                    }
                }
            }
            defer { collecting.cancel() }
            try await watcher.subscribe(MQTTTopics(prefix: TestHub.prefix, gateway: TestHub.gatewayID).status, qos: 1)
            let daemon = try await Daemon.start(configuration: configuration, in: dir)
            let online = try await waitFor("online status") { statuses.withLock { $0.last { $0["online"] == .bool(true) } } }
            daemon.process.signal(SIGKILL)
            #expect(try await withTimeout(.seconds(15), "daemon death") { await daemon.process.wait() } == 128 + SIGKILL)
            let will = try await waitFor("the will") { statuses.withLock { $0.last { $0["online"] == .bool(false) } } }
            await watcher.disconnect()

            let send = try await runCLI(
                [
                    "command", "send", "--gateway", "gw-1", "--device", "boiler-1", "--write", "setpoint=20",
                    "--timeout", "500ms",
                ] + hubFlags(plant), in: dir)
            #expect(send.status == 1)
            #expect(!send.stderr.contains("offline since"), "\(send.stderr)")

            #expect(will["reason"] == .string("connection lost"))
            #expect(will["ts"] == nil, "a will is made at connect time and cannot know when the connection is lost: \(will)")
            guard case .string(let connectedAt)? = will["connected_at"], case .string(let cameOnline)? = online["ts"],
                let connected = Timestamp.parse(connectedAt), let up = Timestamp.parse(cameOnline)
            else {
                Issue.record("no connected_at in the will \(will) or no ts in the online status \(online)")
                return
            }
            #expect(connected <= up, "the connection began before the gateway said it was online")
            #expect(
                send.stderr.contains(
                    "the gateway is offline (connection lost at a time the hub does not record; it had connected at \(connectedAt)); "
                        + "the command was not delivered and will not run"), "\(send.stderr)")
        }
    }

    @Test("connection failures exit 1 naming the hub, the certificate files and the failed check; usage errors exit 2")
    func connectionFailures() async throws {
        try await Plant.run { plant in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let certs = plant.hub.pki.directory
            // Held bound, never listening, for the whole test: refused, and nobody else's meanwhile.
            let refusing = try HeldPort()
            defer { refusing.close() }
            let port = refusing.port
            let unreachable = try await runCLI(
                [
                    "command", "send", "--gateway", "gw-1", "--device", "boiler-1", "--write", "setpoint=20",
                    "--hub", "mqtts://127.0.0.1:\(port)", "--certs", certs,
                ], in: dir)
            #expect(unreachable.status == 1)
            #expect(unreachable.stderr.contains("broker 127.0.0.1:\(port) unreachable: connection refused"), "\(unreachable.stderr)")
            #expect(unreachable.stderr.contains("hub mqtts://127.0.0.1:\(port) (from --hub)"), "\(unreachable.stderr)")
            #expect(unreachable.stderr.contains("certificate \(certs)/operator.pem"), "\(unreachable.stderr)")

            // Another CA: our check of the hub's certificate fails, and the message says against which file.
            let other = try await DevPKI.create(in: dir.file("other"), logger: Logger(label: "pki"))
            for file in ["operator.pem", "operator.key"] {
                try FileManager.default.removeItem(atPath: dir.file("other/\(file)"))
                try FileManager.default.copyItem(atPath: "\(certs)/\(file)", toPath: dir.file("other/\(file)"))
            }
            let wrongCA = try await runCLI(
                [
                    "command", "devices", "--gateway", "gw-1", "--hub-port", "\(plant.hub.port)",
                    "--certs", other.directory,
                ], in: dir)
            #expect(wrongCA.status == 1)
            #expect(wrongCA.stderr.contains("TLS handshake with 127.0.0.1:\(plant.hub.port) failed"), "\(wrongCA.stderr)")
            #expect(wrongCA.stderr.contains("failed our check against the CA file '\(other.caCert)'"), "\(wrongCA.stderr)")
            #expect(wrongCA.stderr.contains("certificate verify failed"), "\(wrongCA.stderr)")
            #expect(wrongCA.stderr.contains("(from --hub-port)"), "\(wrongCA.stderr)")

            for (arguments, message) in [
                (["command", "watch"] + hubFlags(plant), "which gateway? give --gateway ID, set EDGEGATE_GATEWAY"),
                (["command", "devices", "--gateway", "gw-1", "--hub", "mqtt://127.0.0.1:1883"], "connects with mutual TLS only"),
                (["command", "devices", "--gateway", "gw-1", "--hub", "mqtts://a", "--hub-port", "1"], "give either --hub or --hub-host/--hub-port"),
                (["command", "devices", "--gateway", "gw/1"] + hubFlags(plant), "cannot be an MQTT topic level"),
                (["command", "devices", "--gateway", "gw-1", "--certs", dir.file("nowhere")], "missing \(dir.file("nowhere"))/ca.pem"),
                (["command", "send", "--gateway", "gw-1", "--device", "boiler-1", "--write", "setpoint=1", "--ttl", "0s"], "--ttl must be longer than zero"),
            ] {
                let run = try await runCLI(arguments, in: dir)
                #expect(run.status == 2, "\(arguments): \(run)")
                #expect(run.stderr.contains(message), "\(arguments): \(run.stderr)")
            }
        }
    }

    @Test("settings from cli.yaml and the environment drive the binary: file < environment < flag; a broken file is a usage error")
    func settingsSources() async throws {
        try await Plant.run { plant in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try FileManager.default.createDirectory(atPath: dir.file("xdg/edgegate"), withIntermediateDirectories: true)
            try """
            hub: mqtts://127.0.0.1:\(plant.hub.port)
            certs: \(plant.hub.pki.directory)
            gateway: gw-1
            """.write(toFile: dir.file("xdg/edgegate/cli.yaml"), atomically: true, encoding: .utf8)
            try await plant.withGateway { gateway in
                _ = try await waitFor("uplink connected") { gateway.uplink.isConnected ? true : nil }
                // An answer is awaited generously (a loaded machine may take seconds); where none
                // can come (no gateway gw-9), briefly.
                let write = ["command", "send", "--device", "boiler-1", "--write", "setpoint=30"]
                let send = write + ["--timeout", "20s"]
                let fromFile = try await runCLI(send, in: dir)
                #expect(fromFile.status == 0, "\(fromFile)")
                let fromEnvironment = try await runCLI(write + ["--timeout", "2s"], environment: ["EDGEGATE_GATEWAY": "gw-9"], in: dir)
                #expect(fromEnvironment.status == 1)
                #expect(fromEnvironment.stderr.contains("from gateway gw-9"), "\(fromEnvironment.stderr)")
                let fromFlag = try await runCLI(send + ["--gateway", "gw-1"], environment: ["EDGEGATE_GATEWAY": "gw-9"], in: dir)
                #expect(fromFlag.status == 0, "\(fromFlag)")
                let refusing = try HeldPort()
                defer { refusing.close() }
                let wrongHub = try await runCLI(send, environment: ["EDGEGATE_HUB": "mqtts://127.0.0.1:\(refusing.port)"], in: dir)
                #expect(wrongHub.status == 1)
                #expect(wrongHub.stderr.contains("(from EDGEGATE_HUB)"), "\(wrongHub.stderr)")
            }
            try "hub: mqtts://127.0.0.1:1\ngatway: gw-1\n".write(toFile: dir.file("xdg/edgegate/cli.yaml"), atomically: true, encoding: .utf8)
            let broken = try await runCLI(["command", "devices"], in: dir)
            #expect(broken.status == 2)
            #expect(
                broken.stderr.contains("\(dir.file("xdg/edgegate/cli.yaml")):2:1: error: unknown key 'gatway' (did you mean 'gateway'?)"),
                "\(broken.stderr)")
        }
    }

    @Test("the binary under test sees only the settings its test gives: EDGEGATE_* and HUE_* of whoever runs the tests stay out")
    func cleanEnvironment() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // The environment of someone who uses the CLI daily, as the parent: passed as a value,
        // so that tests running in parallel never see it (setenv would be process-wide).
        var hostile = ProcessInfo.processInfo.environment
        hostile["EDGEGATE_HUB"] = "https://hub.invalid:443"
        hostile["EDGEGATE_GATEWAY"] = "gw-from-the-shell"
        hostile["EDGEGATE_CERTS"] = "/nonexistent/certs"
        hostile["HUE_USERNAME"] = "from-the-shell"
        hostile["XDG_CONFIG_HOME"] = "/nonexistent/xdg"
        // Without a gateway from the test, the binary must ask for one (a usage error), not
        // use the shell's and fail on its https hub.
        let watch = try await runCLI(["command", "watch"], in: dir, parent: hostile)
        #expect(watch.status == 2, "\(watch)")
        #expect(watch.stderr.contains("which gateway? give --gateway ID, set EDGEGATE_GATEWAY"), "\(watch.stderr)")
        #expect(!watch.stderr.contains("hub.invalid") && !watch.stderr.contains("gw-from-the-shell"), "\(watch.stderr)")

        // What a child gets is exactly the clean base plus what the test sets.
        let listing = dir.file("env.txt")
        let env = try TestProcess.spawn("env", [], stdout: .file(listing), environment: ["EDGEGATE_GATEWAY": "gw-1"], parent: hostile)
        #expect(await env.wait() == 0)
        let variables = Set(try String(contentsOfFile: listing, encoding: .utf8).split(separator: "\n").map { String($0.prefix { $0 != "=" }) })
        let expected = Set(["LANG", "LC_ALL", "EDGEGATE_GATEWAY"] + TestProcess.passedOn.filter { hostile[$0] != nil } + ["PATH"])
        #expect(variables == expected)
        #expect(try String(contentsOfFile: listing, encoding: .utf8).contains("EDGEGATE_GATEWAY=gw-1\n"))
    }

    @Test("devices prints the retained inventory as tables or JSON; an unknown gateway exits 1 naming the ones the hub knows")
    func devices() async throws {
        try await Plant.run { plant in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try await plant.withGateway { gateway in
                _ = try await waitFor("uplink connected") { gateway.uplink.isConnected ? true : nil }
                let table = try await runCLI(["command", "devices", "--gateway", "gw-1"] + hubFlags(plant), in: dir)
                #expect(table.status == 0, "\(table)")
                let lines = table.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                #expect(lines.first?.hasPrefix("gateway gw-1: 1 device (inventory of ") == true, "\(table.stdout)")
                for expected in [
                    "boiler-1  modbus  9 points, 5 writable, 2 commands",
                    "  point        type          unit   access     limits  options",
                    "  temperature  int16         °C     read",
                    "  setpoint     int16         °C     readwrite  5…90",
                    "  mode         uint16               readwrite          off=0, heat=1",
                    "  burner       bool (bit 2)         readwrite",
                    "  command          arguments              writes                        description",
                    "  start_pump       -                      pump=true",
                    "  set_temperature  celsius: number 10…80  mode=heat, setpoint=$celsius",
                ] {
                    #expect(lines.contains(expected), "missing line '\(expected)' in:\n\(table.stdout)")
                }
                let json = try await runCLI(["command", "devices", "--gateway", "gw-1", "--json"] + hubFlags(plant), in: dir)
                #expect(json.status == 0)
                guard case .object(let inventory) = try JSONDecoder().decode(JSONValue.self, from: Data(json.stdout.utf8)),
                    case .array(let list)? = inventory["devices"], case .object(let boiler)? = list.first
                else {
                    throw ProbeError("not an inventory: \(json.stdout)")
                }
                #expect(inventory["gateway"] == .string("gw-1"))
                #expect(boiler["id"] == .string("boiler-1"))
                #expect(boiler["writable"] == .array(["setpoint", "pump", "counter", "mode", "burner"].map { .string($0) }))
            }
            let unknown = try await runCLI(["command", "devices", "--gateway", "gw-9", "--wait", "500ms"] + hubFlags(plant), in: dir)
            #expect(unknown.status == 1)
            #expect(
                unknown.stderr.contains("no inventory from gateway gw-9 on mqtts://127.0.0.1:\(plant.hub.port) under prefix 'edgegate'"),
                "\(unknown.stderr)")
            #expect(unknown.stderr.contains("gateways with a status under 'edgegate/': gw-1"), "\(unknown.stderr)")
        }
    }

    @Test("watch prints telemetry and the response to a command sent meanwhile, as JSON lines or plain lines, and stops on SIGINT/SIGTERM with exit 0")
    func watch() async throws {
        try await Plant.run { plant in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try await plant.withGateway { gateway in
                _ = try await waitFor("uplink connected") { gateway.uplink.isConnected ? true : nil }
                let environment = ["XDG_CONFIG_HOME": dir.file("xdg")]
                let (jsonOut, linesOut) = (dir.file("watch.jsonl"), dir.file("watch.txt"))
                let jsonWatch = try TestProcess.spawn(
                    try edgegateExecutable(), ["command", "watch", "--gateway", "gw-1", "--json"] + hubFlags(plant),
                    stdout: .file(jsonOut), stderr: .file(dir.file("watch-json.err")), environment: environment)
                let linesWatch = try TestProcess.spawn(
                    try edgegateExecutable(), ["command", "watch", "--gateway", "gw-1", "--device", "boiler-1"] + hubFlags(plant),
                    stdout: .file(linesOut), stderr: .file(dir.file("watch-lines.err")), environment: environment)
                func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
                _ = try await waitFor("readings in both", timeout: .seconds(15)) {
                    text(jsonOut).contains(#""kind":"reading""#) && text(linesOut).contains("  reading   boiler-1  ") ? true : nil
                }
                let sent = try await runCLI(
                    [
                        "command", "send", "--gateway", "gw-1", "--device", "boiler-1", "--write", "pump=true",
                        "--id", "watched-1",
                    ] + hubFlags(plant), in: dir)
                #expect(sent.status == 0)
                _ = try await waitFor("the response in both", timeout: .seconds(10)) {
                    text(jsonOut).contains(#""id":"watched-1","kind":"response""#) && text(linesOut).contains("response  watched-1  ok") ? true : nil
                }
                jsonWatch.signal(SIGINT)
                linesWatch.signal(SIGTERM)
                #expect(try await withTimeout(.seconds(10), "watch --json stop") { await jsonWatch.wait() } == 0)
                #expect(try await withTimeout(.seconds(10), "watch stop") { await linesWatch.wait() } == 0)

                var kinds: [String: Int] = [:]
                for line in text(jsonOut).split(separator: "\n") {
                    guard case .object(let event) = try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)),
                        case .string(let kind)? = event["kind"]
                    else {
                        Issue.record("not an event: \(line)")
                        continue
                    }
                    kinds[kind, default: 0] += 1
                    if kind == "reading" {
                        #expect(event["gateway"] == .string("gw-1") && event["device"] == .string("boiler-1") && event["ts"] != nil, "\(line)")
                    }
                    if kind == "response" {
                        #expect(
                            event["device"] == .string("boiler-1") && event["status"] == .string("ok")
                                && event["values"] == .object(["pump": .bool(true)]), "\(line)")
                    }
                }
                #expect(kinds["command"] == 1 && kinds["response"] == 1 && kinds["status"] == 1 && (kinds["reading"] ?? 0) > 0, "\(kinds)")
                let lines = text(linesOut)
                #expect(lines.contains("command   watched-1  boiler-1  write pump=true  by operator"), "\(lines)")
                #expect(lines.contains("response  watched-1  ok  wrote boiler-1.pump=true  values: pump=true"), "\(lines)")
                #expect(lines.contains("status    online since "), "\(lines)")
            }
        }
    }
}
