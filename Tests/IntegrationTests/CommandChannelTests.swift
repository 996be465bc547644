import DevTools
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Logging
import MQTTClient
import ModbusAdapter
import Synchronization
import TestSupport
import Testing
import Uplink

/// A plant whose devices each have a Modbus simulator of their own (so each has its own
/// connection thread in the gateway), optionally slow to answer.
struct SimulatorPlant {
    let plant: Plant
    let simulators: [String: ModbusSimulator]

    /// Starts a hub and one simulator per device of `devices` (id → points YAML), then runs
    /// `body` and stops everything.
    /// - Parameter slow: devices whose simulator answers every request this late.
    static func run(
        devices: [(id: String, points: String)], poll: String = "1s", slow: [String: Duration] = [:],
        _ body: (SimulatorPlant) async throws -> Void
    ) async throws {
        let hub = try await TestHub.start()
        var simulators: [String: ModbusSimulator] = [:]
        func stopAll() async {
            simulators.values.forEach { $0.stop() }
            await hub.stop()
        }
        do {
            var ports: [Int] = []
            while ports.count < devices.count {
                let port = try freeLoopbackPort()
                if !ports.contains(port) && port != hub.port { ports.append(port) }
            }
            let yaml =
                "devices:\n"
                + zip(devices, ports).map { device, port in
                    """
                      - id: \(device.id)
                        protocol: modbus
                        connection: { host: 127.0.0.1, port: \(port), unit_id: 1, timeout: 3s }
                        poll: \(poll)
                        points: \(device.points)

                    """
                }.joined()
            let (map, diagnostics) = DeviceMapLoader.standard.parse(yaml: yaml, file: "plant.yaml")
            guard let map else { throw ProbeError("test map does not validate: \(diagnostics)") }
            for device in map.devices {
                let simulator = try ModbusSimulator(
                    devices: [device], port: device.modbusConnection.port!, animated: false,
                    answerDelays: slow[device.id].map { [1: $0] } ?? [:],
                    logger: Logger(label: "sim"))
                try simulator.start()
                simulators[device.id] = simulator
            }
            let first = map.devices[0]
            let plant = Plant(
                hub: hub, simulator: simulators[first.id]!, modbusPort: first.modbusConnection.port!, map: map,
                directory: try TemporaryDirectory(prefix: "edgegate-plant"))
            try await body(SimulatorPlant(plant: plant, simulators: simulators))
        } catch {
            await stopAll()
            throw error
        }
        await stopAll()
    }

    /// The TCP port of a device's simulator.
    func port(of device: String) -> Int {
        plant.map.devices.first { $0.id == device }!.modbusConnection.port!
    }

    /// The register values the device's simulator was asked to write (FC 6 and 16), in order.
    func writes(to device: String) -> [UInt16] {
        simulators[device]!.writeLog.filter { $0.function == 6 || $0.function == 16 }.flatMap(\.values)
    }
}

/// Publishes `payloads` on `topic` at QoS 1 with up to `window` awaiting the hub's PUBACK:
/// fast, and nothing is lost on the way (QoS 0 may drop under a flood).
func publishAll(_ payloads: [[UInt8]], on connection: MQTTConnection, topic: String, window: Int = 64) async throws {
    var pending: [Int32] = []
    for payload in payloads {
        pending.append(try connection.send(topic, payload: payload, qos: 1, retain: false))
        if pending.count >= window {
            try await connection.acknowledgement(of: pending.removeFirst())
        }
    }
    for id in pending { try await connection.acknowledgement(of: id) }
}

@Suite("Command channel: order, TTL, fuzz, authorization", .serialized, .timeLimit(.minutes(3)))
struct CommandChannelTests {
    static let setpoint = "{ setpoint: { table: holding, address: 0, type: uint16, access: readwrite, min: 0, max: 1000 } }"

    @Test("100 commands across 10 devices, sent in parallel: all answered ok, each device's writes in sending order")
    func orderAndConcurrency() async throws {
        let ids = (0..<10).map { String(format: "dev-%02d", $0) }
        try await SimulatorPlant.run(devices: ids.map { ($0, Self.setpoint) }) { setup in
            try await setup.plant.withGatewayAndOperator { _, view in
                // Per device, ten commands writing 1…10, each published once the hub has the
                // previous one; the ten devices' senders run at the same time on one connection.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for device in ids {
                        group.addTask {
                            for n in 1...10 {
                                let json = #"{"id":"\#(device)-\#(n)","device":"\#(device)","write":{"setpoint":\#(n)}}"#
                                try await view.connection.publish(view.topics.commands, payload: Array(json.utf8), qos: 1, retain: false)
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let responses = try await waitFor("100 responses", timeout: .seconds(30)) {
                    view.responses.withLock { $0.count >= 100 ? $0 : nil }
                }
                #expect(responses.count == 100)
                let statuses = Dictionary(grouping: responses) { $0["status"] }.mapValues(\.count)
                #expect(statuses == [.string("ok"): 100], "\(statuses)")
                for device in ids {
                    #expect(setup.writes(to: device) == Array(1...10), "writes to \(device) out of order")
                    #expect(try ProbeClient(port: setup.port(of: device)).holding(0) == [10])
                }
            }
        }
    }

    @Test("an expired command is answered expired and never executed: expires_at in the past, and a ttl_ms that runs out behind a slow command")
    func ttl() async throws {
        try await SimulatorPlant.run(devices: [("slow-1", Self.setpoint)], poll: "1h", slow: ["slow-1": .milliseconds(700)]) { setup in
            try await setup.plant.withGatewayAndOperator { _, view in
                let past = try await view.send(#"{"id":"t0","device":"slow-1","write":{"setpoint":500},"expires_at":"2020-01-01T00:00:00.000Z"}"#, id: "t0")
                #expect(past["status"] == .string("expired"), "\(past)")
                // t1 takes at least 1.4 s at the device (write, then read-back, 0.7 s each);
                // t2 may wait 300 ms, t3 a minute.
                let commands = [
                    #"{"id":"t1","device":"slow-1","write":{"setpoint":11}}"#,
                    #"{"id":"t2","device":"slow-1","write":{"setpoint":22},"ttl_ms":300}"#,
                    #"{"id":"t3","device":"slow-1","write":{"setpoint":33},"ttl_ms":60000}"#,
                ]
                try await publishAll(commands.map { Array($0.utf8) }, on: view.connection, topic: view.topics.commands)
                let answered = try await waitFor("three responses", timeout: .seconds(20)) { () -> [String: [String: JSONValue]]? in
                    let byID = view.responses.withLock { all in
                        Dictionary(
                            all.compactMap { r -> (String, [String: JSONValue])? in
                                guard case .string(let id)? = r["id"] else { return nil }
                                return (id, r)
                            }, uniquingKeysWith: { a, _ in a })
                    }
                    return ["t1", "t2", "t3"].allSatisfy { byID[$0] != nil } ? byID : nil
                }
                #expect(answered["t1"]?["status"] == .string("ok"))
                #expect(answered["t2"]?["status"] == .string("expired"), "\(answered["t2"] ?? [:])")
                #expect(answered["t3"]?["status"] == .string("ok"))
                // Neither expired command reached the device: only 11 and 33 were written.
                #expect(setup.writes(to: "slow-1") == [11, 33])
            }
        }
    }

    /// The fuzz payloads: those that carry a readable id (each must be answered `rejected`)
    /// and those that do not (each must be counted as malformed).
    static func fuzzPayloads(count: Int) -> (withID: [String: [UInt8]], withoutID: [[UInt8]]) {
        var random = SplitMix64(seed: 0xED6E_6A7E)
        var withID: [String: [UInt8]] = [:]
        var withoutID: [[UInt8]] = []
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &random) } }
        let huge = String(repeating: "x", count: 70_000)
        for n in 0..<count {
            let id = "f-\(n)"
            let head = #"{"id":"\#(id)","device":"boiler-1""#
            switch n % 20 {
            case 0:  // random bytes (never containing a quote, so no id can be read)
                withoutID.append(bytes(Int.random(in: 0...300, using: &random)).map { $0 == 0x22 ? 0x20 : $0 })
            case 1:  // truncated JSON, cut after the id
                let full = head + #","write":{"setpoint":21.5}}"#
                withID[id] = Array(full.utf8.prefix(head.utf8.count + Int.random(in: 0...20, using: &random)))
            case 2:  // truncated before the id
                withoutID.append(Array(#"{"device":"boiler-1","write":{"setp"#.utf8.prefix(Int.random(in: 1...30, using: &random))))
            case 3:  // wrong types
                let bad = [
                    #","write":[1,2]}"#, #","write":{"setpoint":{"a":1}}}"#, #","write":{"setpoint":null}}"#,
                    #","command":42}"#, #","write":{"setpoint":1},"ttl_ms":-5}"#, #","write":{"setpoint":1},"expires_at":7}"#,
                    #","write":{"setpoint":1},"by":false}"#,
                ]
                withID[id] = Array((head + bad[n / 20 % bad.count]).utf8)
            case 4 where n % 100 == 4:  // huge strings, beyond the size limit, id first
                withID[id] = Array((head + #","write":{"setpoint":""# + huge + #""}}"#).utf8)
            case 4:  // long strings within the limit: a point name no device has
                withID[id] = Array((head + #","write":{""# + huge.prefix(5_000) + #"":1}}"#).utf8)
            case 5:  // deep nesting with an id
                let depth = 10 + n % 500
                withID[id] = Array((head + #","write":"# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}").utf8)
            case 6:  // deep nesting without one
                let depth = 100 + n % 5000
                withoutID.append(Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8))
            case 7:  // missing, empty or non-string ids
                let bad = [
                    #"{"device":"boiler-1","write":{"setpoint":1}}"#, #"{"id":"","device":"boiler-1","write":{"setpoint":1}}"#,
                    #"{"id":17,"device":"boiler-1","write":{"setpoint":1}}"#, #"{"id":null}"#, #"{"id":{"x":"y"}}"#,
                    "[]", "17", #""text""#, "null", "{}",
                ]
                withoutID.append(Array(bad[n / 20 % bad.count].utf8))
            case 8:  // unknown fields
                withID[id] = Array((head + #","write":{"setpoint":1},"priority":"high"}"#).utf8)
            case 9:  // duplicated keys: the device twice, the write's point value invalid
                withID[id] = Array((head + #","device":"boiler-1","write":{"setpoint":[1]},"write":{"setpoint":[2]}}"#).utf8)
            case 10:  // both command and write
                withID[id] = Array((head + #","command":"start_pump","write":{"pump":true}}"#).utf8)
            case 11:  // valid shape, refused by the device map: unknown point, read-only, out of range, unknown command
                let bad = [
                    #","write":{"nope":1}}"#, #","write":{"temperature":20}}"#, #","write":{"setpoint":500}}"#,
                    #","command":"explode"}"#, #","command":"set_temperature","args":{"celsius":"hot"}}"#,
                ]
                withID[id] = Array((head + bad[n / 20 % bad.count]).utf8)
            case 12:  // no device
                withID[id] = Array(#"{"id":"\#(id)","write":{"setpoint":1}}"#.utf8)
            case 13:  // an id too long to be remembered
                withoutID.append(Array(#"{"id":"\#(String(repeating: "i", count: 300))","device":"boiler-1","write":{"setpoint":1}}"#.utf8))
            case 14:  // invalid UTF-8 after a readable id
                withID[id] = Array(head.utf8) + [0xFF, 0xFE] + Array("}".utf8)
            case 15:  // args with write
                withID[id] = Array((head + #","write":{"setpoint":1},"args":{}}"#).utf8)
            case 16:  // control characters and quotes in strings of an invalid command
                withID[id] = Array((head + #","write":{"set\u0000point\n\"":1}}"#).utf8)
            case 17:  // JSON that is not an object
                withoutID.append(Array("[\(n),\"id\",\"\(id)\"]".utf8))
            case 18:  // random bytes after a readable id
                withID[id] = Array((head + ",").utf8) + bytes(Int.random(in: 1...100, using: &random))
            default:  // an empty payload
                withoutID.append([])
            }
        }
        return (withID, withoutID)
    }

    @Test(
        "10,000 random and malformed commands: each with a readable id answered rejected, the others counted and logged a few times; the gateway then answers a valid command"
    )
    func fuzz() async throws {
        let (withID, withoutID) = Self.fuzzPayloads(count: 10_000)
        #expect(withID.count + withoutID.count == 10_000)
        try await Plant.run { plant in
            let probe = try ProbeClient(port: plant.modbusPort)
            try probe.writeHolding(1, 400)
            let written = plant.simulator.writeLog.count
            try await plant.withGatewayAndOperator { gateway, view in
                var random = SplitMix64(seed: 42)
                let payloads = (Array(withID.values) + withoutID).shuffled(using: &random)
                try await publishAll(payloads, on: view.connection, topic: view.topics.commands)
                let responses = try await waitFor("\(withID.count) responses", timeout: .seconds(60)) {
                    view.responses.withLock { $0.count >= withID.count ? $0 : nil }
                }
                _ = try await waitFor("\(withoutID.count) malformed counted", timeout: .seconds(10)) {
                    gateway.uplink.statistics.malformedCommands == withoutID.count ? true : nil
                }
                var answered: [String: Int] = [:]
                for response in responses {
                    guard case .string(let id)? = response["id"] else { continue }
                    answered[id, default: 0] += 1
                    #expect(response["status"] == .string("rejected"), "\(response)")
                }
                #expect(Set(answered.keys) == Set(withID.keys))
                #expect(answered.values.allSatisfy { $0 == 1 })
                // Nothing reached the device.
                #expect(plant.simulator.writeLog.count == written)
                #expect(try probe.holding(1) == [400])
                // Logged, but a few lines, not thousands.
                let warnings = plant.log.messages(at: .warning).filter { $0.hasPrefix("malformed command") || $0 == "command rejected" }
                #expect(warnings.count >= 1 && warnings.count <= 40, "\(warnings.count) warning lines")

                let after = try await view.send(#"{"id":"after-fuzz","device":"boiler-1","write":{"setpoint":21.5}}"#, id: "after-fuzz")
                #expect(after["status"] == .string("ok"), "\(after)")
                #expect(try probe.holding(1) == [215])
            }
        }
    }

    @Test("a command published by the gateway's identity or another non-operator identity is refused by the hub's ACL: never executed, never answered")
    func authorization() async throws {
        try await Plant.run { plant in
            let probe = try ProbeClient(port: plant.modbusPort)
            try probe.writeHolding(1, 400)
            let written = plant.simulator.writeLog.count
            let pki = plant.hub.pki
            let intruder = try await DevPKI.issueClientCertificate(
                commonName: "intruder", in: pki.directory, fileStem: "intruder",
                caCert: pki.caCert, caKey: pki.caKey, logger: Logger(label: "pki"))
            try await plant.withGatewayAndOperator { _, view in
                var asGateway = plant.hub.options(identity: .gateway, clientID: "gw-1-impostor")
                asGateway.connectTimeout = .seconds(5)
                var asIntruder = asGateway
                asIntruder.clientID = "intruder"
                asIntruder.tls?.certFile = intruder.cert
                asIntruder.tls?.keyFile = intruder.key
                for (name, options) in [("gateway", asGateway), ("intruder", asIntruder)] {
                    let connection = try await MQTTConnection.connect(options, logger: Logger(label: name))
                    let json = #"{"id":"by-\#(name)","device":"boiler-1","write":{"setpoint":66}}"#
                    // The hub acknowledges and drops it (MQTT 3.1.1 has no way to say no).
                    try await connection.publish(view.topics.commands, payload: Array(json.utf8), qos: 1, retain: false)
                    await connection.disconnect()
                }
                // The operator's command, published after both, is answered: had either
                // reached the gateway, it would have been handled first.
                let allowed = try await view.send(#"{"id":"by-operator","device":"boiler-1","write":{"setpoint":30}}"#, id: "by-operator")
                #expect(allowed["status"] == .string("ok"))
                try await Task.sleep(for: .milliseconds(300))
                let ids = view.responses.withLock { $0.compactMap { r -> String? in if case .string(let id)? = r["id"] { id } else { nil } } }
                #expect(ids == ["by-operator"])
                #expect(plant.simulator.writeLog.dropFirst(written).map(\.values) == [[300]])
                #expect(try probe.holding(1) == [300])
                #expect(!plant.log.contains("by-gateway") && !plant.log.contains("by-intruder"))
            }
        }
    }
}
