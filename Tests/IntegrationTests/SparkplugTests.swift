import DevTools
import Foundation
import Gateway
import GatewayCore
import MQTTClient
import SparkplugB
import Synchronization
import TestSupport
import Testing
import Uplink

/// An independent Sparkplug B host application (Tests/IntegrationTests/Peers/sparkplug_host.py:
/// pysparkplug's payloads over paho-mqtt) on the plant's hub, as the operator: one JSON line
/// per message it receives, with the sequence, alias and bdSeq checks of the specification
/// made on its side; commands appended to a file it follows.
final class SparkplugHost: Sendable {
    let process: ChildProcess
    let output: String
    let commands: String

    private init(process: ChildProcess, output: String, commands: String) {
        self.process = process
        self.output = output
        self.commands = commands
    }

    /// Starts the host on the plant's hub and waits until it is subscribed to the group.
    static func start(_ plant: Plant, in directory: TemporaryDirectory, name: String = "host") async throws -> SparkplugHost {
        let pki = plant.hub.pki
        let output = directory.file("\(name).jsonl")
        let commands = try directory.write("\(name).commands", "")
        let process = try TestProcess.spawn(
            try peerPython(),
            [
                peerScript("sparkplug_host.py"), "--port", "\(plant.hub.port)", "--ca", pki.caCert, "--cert", pki.operatorCert,
                "--key", pki.operatorKey, "--group", SparkplugTests.group, "--commands", commands, "--client-id", "sparkplug-\(name)",
            ], stdout: .file(output, append: false), stderr: .file(directory.file("\(name).err"), append: false))
        let host = SparkplugHost(process: process, output: output, commands: commands)
        do {
            _ = try await waitFor("the Sparkplug host subscribed", timeout: .seconds(20)) { host.lines.contains { $0["ready"] == .bool(true) } ? true : nil }
        } catch {
            process.killWithDescendants()
            throw ProbeError("\(error); its error output: \((try? String(contentsOfFile: directory.file("\(name).err"), encoding: .utf8)) ?? "")")
        }
        return host
    }

    /// Every line so far, parsed.
    var lines: [[String: JSONValue]] {
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard case .object(let o)? = try? JSONValue(parsing: Array(line.utf8)) else { return nil }
            return o.dictionary
        }
    }

    /// The Sparkplug messages received so far (lines with a `type`), in arrival order.
    var messages: [SparkplugLine] { lines.compactMap(SparkplugLine.init) }

    /// Appends one command line for the host to carry out.
    func send(_ command: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: commands))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((command + "\n").utf8))
    }

    /// Sends a command and waits until the host says it is done (its publish acknowledged).
    func run(_ command: String, op: String) async throws {
        let before = lines.filter { $0["done"] == .string(op) }.count
        try send(command)
        _ = try await waitFor("the host's \(op)", timeout: .seconds(10)) {
            if let error = lines.last(where: { $0["command_error"] != nil }), error["command"]?.string == command {
                throw ProbeError("the host refused \(command): \(error)")
            }
            return lines.filter { $0["done"] == .string(op) }.count > before ? true : nil
        }
    }

    /// Waits for a message that `match` accepts among those after `index`.
    func message(
        _ what: String, after index: Int = 0, timeout: Duration = .seconds(15), _ match: (SparkplugLine) -> Bool
    ) async throws -> SparkplugLine {
        try await TestSupport.waitFor(what, timeout: timeout) {
            let all = messages
            return all.count > index ? all[index...].first(where: match) : nil
        }
    }

    func stop() async {
        try? send(#"{"op": "quit"}"#)
        if (try? await withTimeout(.seconds(5), "host quit", { await self.process.wait() })) == nil {
            process.killWithDescendants()
        }
    }
}

/// One message as the host decoded it.
struct SparkplugLine {
    let fields: [String: JSONValue]

    init?(_ fields: [String: JSONValue]) {
        guard fields["type"]?.string != nil else { return nil }
        self.fields = fields
    }

    var type: String { fields["type"]?.string ?? "" }
    var device: String? { fields["device"]?.string }
    var seq: Int64? { fields["seq"]?.integer }
    var qos: Int64? { fields["qos"]?.integer }
    var errors: [String] { fields["errors"]?.array?.compactMap(\.string) ?? [] }
    var metrics: [[String: JSONValue]] {
        fields["metrics"]?.array?.compactMap { if case .object(let o) = $0 { o.dictionary } else { nil } } ?? []
    }

    /// The metric of that name (resolved through the birth when sent by alias).
    func metric(_ name: String) -> [String: JSONValue]? { metrics.last { $0["name"]?.string == name } }
}

/// A TCP relay between the gateway and the hub (socat), which a test cuts to make an outage
/// of the gateway's link alone: the host stays connected and sees what the gateway does.
struct Relay {
    let port: Int
    let target: Int
    var process: ChildProcess

    static func start(to target: Int, port: Int? = nil) async throws -> Relay {
        let port = try port ?? freeLoopbackPort()
        let process = try TestProcess.spawn(
            "/usr/bin/socat", ["TCP-LISTEN:\(port),bind=127.0.0.1,reuseaddr,fork", "TCP:127.0.0.1:\(target)"])
        // Listening once a connection is accepted.
        _ = try await TestSupport.waitFor("socat listening on \(port)") {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            return connected == 0 ? true : nil
        }
        return Relay(port: port, target: target, process: process)
    }

    /// Cuts every connection through the relay and stops listening.
    func cut() {
        process.killWithDescendants()
    }
}

@Suite("sparkplug-b uplink against an independent Sparkplug host (pysparkplug)", .serialized)
struct SparkplugTests {
    static let group = "plant-1"

    /// The plant's configuration with the `sparkplug-b` profile, to the hub's port or a relay's.
    static func configuration(_ plant: Plant, port: Int? = nil, primaryHost: String? = nil) -> GatewayConfiguration {
        var configuration = plant.configuration()
        var link = configuration.uplink.link
        link.connection.port = port ?? plant.hub.port
        configuration.uplink = UplinkConfiguration(link: link, profile: SparkplugSettings(group: group, primaryHost: primaryHost))
        return configuration
    }

    /// The metrics of a device's last DBIRTH by name.
    static func birth(of device: String, in messages: [SparkplugLine]) -> [String: [String: JSONValue]]? {
        guard let birth = messages.last(where: { $0.type == "DBIRTH" && $0.device == device }) else { return nil }
        return Dictionary(birth.metrics.compactMap { m in m["name"]?.string.map { ($0, m) } }, uniquingKeysWith: { a, _ in a })
    }

    /// Runs `body` with a host on the plant's hub, and stops the host whatever happens.
    static func withHost(_ plant: Plant, _ body: (SparkplugHost) async throws -> Void) async throws {
        let host = try await SparkplugHost.start(plant, in: plant.directory)
        do {
            try await body(host)
        } catch {
            await host.stop()
            throw error
        }
        await host.stop()
    }

    /// Every error the host found in any message.
    static func errors(_ host: SparkplugHost) -> [String] {
        // The host's checks of its own commands (a wrong type on purpose) are not the gateway's.
        host.messages.filter { !["DCMD", "NCMD"].contains($0.type) }.flatMap { line in
            line.errors.map { "\(line.type) seq \(line.seq.map(String.init) ?? "-"): \($0)" }
        }
    }

    @Test("births carry every point with its datatype, unit and limits; data by alias after a register change; seq wraps 255 → 0 with no gap")
    func birthsAndData() async throws {
        let fast = boilerMapYAML.replacingOccurrences(of: "poll: 100ms", with: "poll: 20ms")
        try await Plant.run(mapYAML: fast) { plant in
            try await Self.withHost(plant) { host in
                try await plant.withGateway(configuration: Self.configuration(plant)) { gateway in
                    let nbirth = try await host.message("NBIRTH") { $0.type == "NBIRTH" }
                    #expect(nbirth.seq == 0)
                    #expect(nbirth.qos == 0)
                    #expect(nbirth.metric("bdSeq")?["datatype"] == .string("INT64"))
                    #expect(nbirth.metric("Node Control/Rebirth")?["value"] == .bool(false))
                    _ = try await host.message("DBIRTH of boiler-1") { $0.type == "DBIRTH" && $0.device == "boiler-1" }
                    let birth = try #require(Self.birth(of: "boiler-1", in: host.messages))
                    #expect(
                        Set(birth.keys) == ["temperature", "setpoint", "flow", "pump", "alarm", "counter", "mode", "burner", "level"])
                    let types = birth.mapValues { $0["datatype"]?.string ?? "" }
                    #expect(
                        types == [
                            "temperature": "DOUBLE", "setpoint": "DOUBLE", "flow": "DOUBLE", "pump": "BOOLEAN", "alarm": "BOOLEAN",
                            "counter": "UINT32", "mode": "UINT16", "burner": "BOOLEAN", "level": "UINT16",
                        ])
                    #expect(birth["temperature"]?["properties"]?.object?["engUnit"] == .string("°C"))
                    #expect(birth["setpoint"]?["properties"]?.object?["engLow"]?.number == 5)
                    #expect(birth["setpoint"]?["properties"]?.object?["engHigh"]?.number == 90)
                    let aliases = birth.values.compactMap { $0["alias"]?.integer }
                    #expect(Set(aliases).count == 9, "every point has an alias of its own: \(aliases)")

                    let start = host.messages.count
                    try ProbeClient(port: plant.modbusPort).writeHolding(0, 235)
                    let data = try await host.message("DDATA with temperature 23.5", after: start) {
                        $0.type == "DDATA" && $0.metric("temperature")?["value"]?.number == 23.5
                    }
                    let metric = try #require(data.metric("temperature"))
                    #expect(metric["name_sent"] == .bool(false), "data metrics go by alias only: \(metric)")
                    #expect(metric["is_historical"] == .bool(false))
                    #expect(data.qos == 1, "DDATA is acknowledged before the outbox lets go of it")

                    // At 50 polls a second, seq wraps within seconds; the host checks every step.
                    _ = try await host.message("seq wrapped past 255", timeout: .seconds(60)) { $0.seq == 255 }
                    let wrapped = try await host.message("the message after seq 255") { _ in
                        guard let last255 = host.messages.lastIndex(where: { $0.seq == 255 }) else { return false }
                        return host.messages.count > last255 + 1
                    }
                    _ = wrapped
                    let all = host.messages
                    let i = try #require(all.lastIndex { $0.seq == 255 })
                    #expect(all[i + 1].seq == 0)
                    _ = gateway
                }
                #expect(Self.errors(host).isEmpty, "\(Self.errors(host).prefix(10))")
                let last = try await host.message("NDEATH of the clean stop") { $0.type == "NDEATH" }
                #expect(last.fields["bdseq_matches_birth"] == .bool(true))
            }
        }
    }

    @Test(
        "DCMD writes by name and by alias go through the router; the read-back is published; an out-of-range write is refused and the value republished; a rebirth request births again"
    )
    func commandsAndRebirth() async throws {
        try await Plant.run { plant in
            try await Self.withHost(plant) { host in
                try await plant.withGateway(configuration: Self.configuration(plant)) { _ in
                    _ = try await host.message("DBIRTH of boiler-1") { $0.type == "DBIRTH" && $0.device == "boiler-1" }
                    let birth = try #require(Self.birth(of: "boiler-1", in: host.messages))
                    let probe = try ProbeClient(port: plant.modbusPort)

                    var start = host.messages.count
                    try await host.run(
                        #"{"op": "dcmd", "node": "gw-1", "device": "boiler-1", "metrics": [{"name": "setpoint", "value": 42.5}]}"#, op: "dcmd")
                    _ = try await host.message("setpoint 42.5 read back", after: start) {
                        $0.type == "DDATA" && $0.metric("setpoint")?["value"]?.number == 42.5
                    }
                    #expect(try probe.holding(1) == [425])

                    let modeAlias = try #require(birth["mode"]?["alias"]?.integer)
                    start = host.messages.count
                    try await host.run(
                        #"{"op": "dcmd", "node": "gw-1", "device": "boiler-1", "metrics": [{"alias": \#(modeAlias), "value": 1}]}"#, op: "dcmd")
                    _ = try await host.message("mode 1 read back", after: start) { $0.type == "DDATA" && $0.metric("mode")?["value"]?.integer == 1 }
                    #expect(try probe.holding(30) == [1])

                    // 95 °C is above the point's max (90): refused by the router, the register unchanged,
                    // and the current value published again so that the host shows the truth.
                    start = host.messages.count
                    try await host.run(
                        #"{"op": "dcmd", "node": "gw-1", "device": "boiler-1", "metrics": [{"name": "setpoint", "value": 95.0}]}"#, op: "dcmd")
                    let republished = try await host.message("setpoint republished after the refusal", after: start) {
                        $0.type == "DDATA" && $0.metric("setpoint") != nil
                    }
                    #expect(republished.metric("setpoint")?["value"]?.number == 42.5)
                    #expect(try probe.holding(1) == [425], "a refused write leaves the register alone")
                    _ = try await waitFor("the refusal logged") { plant.log.contains("sparkplug: write refused") ? true : nil }
                    #expect(plant.log.lines.contains { $0.contains("sparkplug: write refused") && $0.contains("above the maximum") || $0.contains("max") })

                    // A string for a Double metric never reaches the router.
                    start = host.messages.count
                    try await host.run(
                        #"{"op": "dcmd", "node": "gw-1", "device": "boiler-1", "metrics": [{"name": "setpoint", "value": "hot", "datatype": "STRING"}]}"#,
                        op: "dcmd")
                    _ = try await waitFor("the wrong type refused") { plant.log.count("sparkplug: write refused") >= 2 ? true : nil }
                    #expect(try probe.holding(1) == [425])

                    start = host.messages.count
                    try await host.run(#"{"op": "rebirth", "node": "gw-1"}"#, op: "rebirth")
                    let reborn = try await host.message("NBIRTH after the rebirth request", after: start) { $0.type == "NBIRTH" }
                    #expect(reborn.seq == 0)
                    let again = try await host.message("DBIRTH after the rebirth request", after: start) { $0.type == "DBIRTH" }
                    #expect(again.metric("setpoint")?["value"]?.number == 42.5, "the birth carries the current value")
                    #expect(again.metric("mode")?["alias"]?.integer == modeAlias, "aliases stay for as long as the gateway runs")
                }
                #expect(Self.errors(host).isEmpty, "\(Self.errors(host).prefix(10))")
            }
        }
    }

    @Test("edgegate run with profile sparkplug-b, killed with SIGKILL: the broker publishes its will, the NDEATH with the bdSeq of its NBIRTH")
    func killedDaemon() async throws {
        try await Plant.run { plant in
            try await Self.withHost(plant) { host in
                let dir = try TemporaryDirectory()
                defer { dir.remove() }
                let configuration = try Daemon.writeBoilerConfiguration(
                    for: plant, in: dir, extra: "  profile: sparkplug-b\n  group: \(Self.group)")
                let daemon = try await Daemon.start(configuration: configuration, in: dir)
                let birth = try await host.message("NBIRTH") { $0.type == "NBIRTH" }
                _ = try await host.message("DBIRTH") { $0.type == "DBIRTH" && $0.device == "boiler-1" }
                _ = try await host.message("data") { $0.type == "DDATA" }
                daemon.process.signal(SIGKILL)
                #expect(try await withTimeout(.seconds(15), "daemon death") { await daemon.process.wait() } == 128 + SIGKILL)
                let death = try await host.message("NDEATH") { $0.type == "NDEATH" }
                #expect(death.qos == 1)
                #expect(death.fields["bdseq"] == birth.metric("bdSeq")?["value"])
                #expect(death.fields["bdseq_matches_birth"] == .bool(true))
                #expect(Self.errors(host).isEmpty, "\(Self.errors(host).prefix(10))")
            }
        }
    }

    @Test("a link outage: NDEATH by will, then a new birth; what was read meanwhile arrives as historical, with its own timestamps and no gap")
    func outageReplaysHistory() async throws {
        try await Plant.run { plant in
            try await Self.withHost(plant) { host in
                var relay = try await Relay.start(to: plant.hub.port)
                defer { relay.cut() }
                try await plant.withGateway(configuration: Self.configuration(plant, port: relay.port)) { gateway in
                    let first = try await host.message("NBIRTH") { $0.type == "NBIRTH" }
                    _ = try await host.message("live data") { $0.type == "DDATA" }
                    try await Task.sleep(for: .milliseconds(500))
                    let cut = Date()
                    relay.cut()
                    let death = try await host.message("NDEATH by the will") { $0.type == "NDEATH" }
                    #expect(death.fields["bdseq_matches_birth"] == .bool(true))
                    #expect(death.fields["bdseq"] == first.metric("bdSeq")?["value"])
                    _ = try await waitFor("the uplink notices", timeout: .seconds(20)) { gateway.uplink.isConnected ? nil : true }
                    try await Task.sleep(for: .seconds(3))
                    let restored = Date()
                    let start = host.messages.count
                    relay = try await Relay.start(to: plant.hub.port, port: relay.port)
                    let reborn = try await host.message("a new NBIRTH", after: start, timeout: .seconds(20)) { $0.type == "NBIRTH" }
                    #expect(reborn.seq == 0)
                    #expect(reborn.metric("bdSeq")?["value"] != first.metric("bdSeq")?["value"], "a new connection has a new bdSeq")
                    _ = try await waitFor("the backlog delivered", timeout: .seconds(30)) {
                        gateway.uplink.isConnected && gateway.uplink.statistics.queuedMessages == 0 ? true : nil
                    }
                    try await Task.sleep(for: .milliseconds(500))

                    let ms = { (d: Date) in Int64(d.timeIntervalSince1970 * 1000) }
                    let points = host.messages.filter { $0.type == "DDATA" }.flatMap { line in
                        line.metrics.filter { $0["name"]?.string == "temperature" }
                    }
                    let stamps = points.compactMap { $0["timestamp"]?.integer }.sorted()
                    let inside = points.filter {
                        guard let t = $0["timestamp"]?.integer else { return false }
                        return t > ms(cut) + 500 && t < ms(restored) - 500
                    }
                    #expect(inside.count >= 20, "readings of the outage arrived: \(inside.count)")
                    #expect(inside.allSatisfy { $0["is_historical"] == .bool(true) }, "readings of the outage are historical")
                    let gaps = zip(stamps, stamps.dropFirst()).map { $1 - $0 }
                    #expect((gaps.max() ?? 0) < 600, "no gap in the temperature's timestamps across the outage: largest \(gaps.max() ?? 0) ms")
                    let live = host.messages[start...].filter { $0.type == "DDATA" }.last?.metric("temperature")
                    #expect(live?["is_historical"] == .bool(false), "the newest data is live again")
                }
                #expect(Self.errors(host).isEmpty, "\(Self.errors(host).prefix(10))")
            }
        }
    }

    @Test(
        "a reload that adds a point and a device publishes their DBIRTH; an unreachable device dies (DDEATH); a reload that removes a device publishes nothing more for it"
    )
    func reloadsAndDeaths() async throws {
        try await Plant.run { plant in
            try await Self.withHost(plant) { host in
                try await plant.withGateway(configuration: Self.configuration(plant)) { gateway in
                    _ = try await host.message("DBIRTH of boiler-1") { $0.type == "DBIRTH" && $0.device == "boiler-1" }
                    let before = try #require(Self.birth(of: "boiler-1", in: host.messages))
                    // A point more on boiler-1, and boiler-2 at a port where nothing listens.
                    let refusing = try HeldPort()
                    defer { refusing.close() }
                    let grown =
                        boilerMapYAML.replacingOccurrences(
                            of: "\n      level:       { table: holding, address: 32, type: uint16, report: { deadband: 5 } }",
                            with: "\n      level:       { table: holding, address: 32, type: uint16, report: { deadband: 5 } }"
                                + "\n      pressure:    { table: holding, address: 40, type: int16, scale: 0.01, unit: bar }")
                            + """

                              - id: boiler-2
                                profile: boiler-controller
                                connection: { host: 127.0.0.1, port: \(refusing.port), unit_id: 1, timeout: 100ms }
                                poll: 100ms
                            """
                    var start = host.messages.count
                    _ = try await gateway.reload(to: try plant.deviceMap(grown))
                    let reborn = try await host.message("a new DBIRTH of boiler-1", after: start) { $0.type == "DBIRTH" && $0.device == "boiler-1" }
                    #expect(reborn.metric("pressure")?["datatype"] == .string("DOUBLE"))
                    #expect(reborn.metric("pressure")?["properties"]?.object?["engUnit"] == .string("bar"))
                    #expect(reborn.metric("temperature")?["alias"] == before["temperature"]?["alias"], "a point keeps its alias")
                    _ = try await host.message("DBIRTH of boiler-2", after: start) { $0.type == "DBIRTH" && $0.device == "boiler-2" }
                    let death = try await host.message("boiler-2 dies: nothing answers it", after: start, timeout: .seconds(20)) {
                        $0.type == "DDEATH" && $0.device == "boiler-2"
                    }
                    _ = death
                    #expect(plant.log.contains("sparkplug: device unreachable: DDEATH"))

                    start = host.messages.count
                    _ = try await gateway.reload(to: try plant.deviceMap(boilerMapYAML))
                    let shrunk = try await host.message("boiler-1 born again without pressure", after: start) {
                        $0.type == "DBIRTH" && $0.device == "boiler-1"
                    }
                    #expect(shrunk.metric("pressure") == nil)
                    try await Task.sleep(for: .seconds(1))
                    #expect(!host.messages[start...].contains { $0.device == "boiler-2" }, "nothing more of a removed device that is already dead")
                    _ = try await host.message("live data of boiler-1 after the reloads", after: start) { $0.type == "DDATA" && $0.device == "boiler-1" }
                }
                #expect(Self.errors(host).isEmpty, "\(Self.errors(host).prefix(10))")
            }
        }
    }

    @Test(
        "primary_host: no birth until its STATE says online; offline → NDEATH and silence; online again → a new birth and the data of the meantime as historical"
    )
    func primaryHost() async throws {
        try await Plant.run { plant in
            try await Self.withHost(plant) { host in
                try await host.run(#"{"op": "state", "host": "scada-1", "online": false}"#, op: "state")
                try await plant.withGateway(configuration: Self.configuration(plant, primaryHost: "scada-1")) { gateway in
                    _ = try await waitFor("the gateway waits for the primary host") {
                        plant.log.contains("sparkplug: waiting for the primary host to be online before the birth") ? true : nil
                    }
                    try await Task.sleep(for: .seconds(1))
                    #expect(!host.messages.contains { $0.type == "NBIRTH" }, "no birth while the primary host is offline")

                    try await host.run(#"{"op": "state", "host": "scada-1", "online": true}"#, op: "state")
                    _ = try await host.message("NBIRTH once the primary host is online") { $0.type == "NBIRTH" }
                    _ = try await host.message("data") { $0.type == "DDATA" }

                    try await host.run(#"{"op": "state", "host": "scada-1", "online": false}"#, op: "state")
                    let death = try await host.message("NDEATH when the primary host goes offline") { $0.type == "NDEATH" }
                    #expect(death.fields["bdseq_matches_birth"] == .bool(true))
                    let quiet = host.messages.count
                    try await Task.sleep(for: .seconds(2))
                    #expect(
                        !host.messages[quiet...].contains { ["NBIRTH", "DBIRTH", "DDATA"].contains($0.type) },
                        "nothing is published while the primary host is offline")
                    let offlineSince = Date()

                    let start = host.messages.count
                    try await host.run(#"{"op": "state", "host": "scada-1", "online": true}"#, op: "state")
                    _ = try await host.message("a new NBIRTH", after: start, timeout: .seconds(20)) { $0.type == "NBIRTH" }
                    let historical = try await host.message("the data of the meantime, historical", after: start) {
                        $0.type == "DDATA" && $0.metrics.contains { $0["is_historical"] == .bool(true) }
                    }
                    let stamp = try #require(historical.metrics.first?["timestamp"]?.integer)
                    #expect(stamp < Int64(offlineSince.timeIntervalSince1970 * 1000), "read while the host was offline")
                    _ = gateway
                }
                #expect(Self.errors(host).isEmpty, "\(Self.errors(host).prefix(10))")
            }
        }
    }
}
