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

/// The whole path with real parts: libmodbus simulator → gateway (adapter, router, uplink) →
/// mosquitto with mutual TLS → the operator, and commands back.
@Suite("Gateway end to end", .serialized, .timeLimit(.minutes(2)))
struct GatewayEndToEndTests {

    func number(_ node: JSONValue?) -> Double? {
        node?.number
    }

    @Test("telemetry arrives with the register values normalized: scale, word order, units, quality")
    func telemetry() async throws {
        try await Plant.run { plant in
            let probe = try ProbeClient(port: plant.modbusPort)
            // Known raw values written by an independent client: 215 × 0.1 = 21.5 °C; 70000 = 0x0001_1170.
            try probe.writeHolding(0, 215)
            try probe.writeHolding(20, 0x0001)
            try probe.writeHolding(21, 0x1170)
            try probe.writeCoil(0, true)
            try await plant.withGatewayAndOperator { _, view in
                let temperature = try await waitFor("temperature reading") { view.latest("temperature") }
                #expect(number(temperature["value"]) == 21.5)
                #expect(temperature["unit"] == .string("°C"))
                #expect(temperature["quality"] == .string("good"))
                #expect(temperature["reason"] == nil)
                let counter = try await waitFor("counter reading") { view.latest("counter") }
                #expect(counter["value"] == .integer(70_000))
                #expect(counter["unit"] == nil)
                #expect(try await waitFor("pump") { view.latest("pump") }["value"] == .bool(true))
                // Input and discrete tables cannot be written over Modbus: compare with what the
                // probe reads, decoded here by hand (float32, registers in little word order).
                let raw = try probe.input(10, count: 2)
                let flow = Float(bitPattern: UInt32(raw[1]) << 16 | UInt32(raw[0]))
                let flowReading = try await waitFor("flow") { view.latest("flow") }
                #expect(abs(number(flowReading["value"])! - Double(flow)) < 1e-4)
                #expect(flowReading["unit"] == .string("l/min"))
                let alarm = try await waitFor("alarm") { view.latest("alarm") }
                #expect(alarm["value"] == .bool(try probe.discrete(3)))
                if case .string(let ts)? = temperature["ts"] {
                    #expect(Timestamp.parse(ts) != nil && ts.hasSuffix("Z") && ts.count == 24)
                } else {
                    Issue.record("reading without ts")
                }
            }
        }
    }

    @Test("a valid write changes the register and answers ok with the value read back")
    func validWrite() async throws {
        try await Plant.run { plant in
            let probe = try ProbeClient(port: plant.modbusPort)
            try await plant.withGatewayAndOperator { _, view in
                let response = try await view.send(#"{"id":"w1","device":"boiler-1","write":{"setpoint":21.5}}"#, id: "w1")
                #expect(response["status"] == .string("ok"), "\(response)")
                if case .object(let values)? = response["values"] {
                    #expect(number(values["setpoint"]) == 21.5)
                } else {
                    Issue.record("no read-back values in \(response)")
                }
                #expect(try probe.holding(1) == [215])
                let coil = try await view.send(#"{"id":"w2","device":"boiler-1","write":{"pump":false}}"#, id: "w2")
                #expect(coil["status"] == .string("ok"))
                #expect(try probe.coil(0) == false)
                let wide = try await view.send(#"{"id":"w3","device":"boiler-1","write":{"counter":123456}}"#, id: "w3")
                #expect(wide["status"] == .string("ok"))
                #expect(try probe.holding(20, count: 2) == [0x0001, 0xE240])
            }
        }
    }

    @Test("a named command writes its points and answers with the values read back; a bad argument writes nothing")
    func namedCommand() async throws {
        try await Plant.run { plant in
            let probe = try ProbeClient(port: plant.modbusPort)
            try probe.writeCoil(0, false)
            try await plant.withGatewayAndOperator { _, view in
                let pump = try await view.send(#"{"id":"n1","device":"boiler-1","command":"start_pump"}"#, id: "n1")
                #expect(pump["status"] == .string("ok"), "\(pump)")
                #expect(try probe.coil(0) == true)
                let heat = try await view.send(#"{"id":"n2","device":"boiler-1","command":"set_temperature","args":{"celsius":42.5}}"#, id: "n2")
                #expect(heat["status"] == .string("ok"), "\(heat)")
                #expect(try probe.holding(1) == [425])
                #expect(try probe.holding(30) == [1])
                if case .object(let values)? = heat["values"] {
                    #expect(number(values["setpoint"]) == 42.5)
                    #expect(values["mode"] == .integer(1))
                } else {
                    Issue.record("no read-back values in \(heat)")
                }
                let cold = try await view.send(#"{"id":"n3","device":"boiler-1","command":"set_temperature","args":{"celsius":5}}"#, id: "n3")
                #expect(cold["status"] == .string("rejected"))
                #expect(cold["message"] == .string("boiler-1.set_temperature, argument 'celsius': 5 is below the minimum 10"))
                #expect(try probe.holding(1) == [425])
            }
        }
    }

    @Test("a bit of a holding register is read and written without touching the other bits")
    func registerBit() async throws {
        try await Plant.run { plant in
            let probe = try ProbeClient(port: plant.modbusPort)
            try probe.writeHolding(31, 0b1000_0011)
            try await plant.withGatewayAndOperator { _, view in
                #expect(try await waitFor("burner") { view.latest("burner") }["value"] == .bool(false))
                let on = try await view.send(#"{"id":"b1","device":"boiler-1","write":{"burner":true}}"#, id: "b1")
                #expect(on["status"] == .string("ok"), "\(on)")
                #expect(try probe.holding(31) == [0b1000_0111])
                let off = try await view.send(#"{"id":"b2","device":"boiler-1","write":{"burner":false}}"#, id: "b2")
                #expect(off["status"] == .string("ok"))
                #expect(try probe.holding(31) == [0b1000_0011])
            }
        }
    }

    @Test("a point with a deadband is reported on a change beyond it, not on smaller ones")
    func deadband() async throws {
        try await Plant.run { plant in
            let probe = try ProbeClient(port: plant.modbusPort)
            try probe.writeHolding(32, 100)
            try await plant.withGatewayAndOperator { _, view in
                #expect(try await waitFor("level") { view.latest("level") }["value"] == .integer(100))
                try probe.writeHolding(32, 104)
                // Several polls later (temperature is reported at each poll: no policy) level
                // has still not been re-sent.
                let mark = view.readingCount
                _ = try await waitFor("five more polls") {
                    view.readings.withLock { $0.dropFirst(mark).filter { $0.point == "temperature" }.count >= 5 ? true : nil }
                }
                #expect(view.latest("level", after: mark) == nil)
                try probe.writeHolding(32, 106)
                #expect(try await waitFor("level beyond the deadband") { view.latest("level", after: mark) }["value"] == .integer(106))
            }
        }
    }

    @Test("out-of-range, read-only, unrepresentable and unknown-device commands are refused; registers unchanged")
    func refusedWrites() async throws {
        try await Plant.run { plant in
            let probe = try ProbeClient(port: plant.modbusPort)
            try probe.writeHolding(0, 200)
            try probe.writeHolding(1, 400)
            try await plant.withGatewayAndOperator { _, view in
                let high = try await view.send(#"{"id":"r1","device":"boiler-1","write":{"setpoint":95}}"#, id: "r1")
                #expect(high["status"] == .string("rejected"))
                #expect(high["message"] == .string("boiler-1.setpoint: 95 is above the maximum 90"))
                let readOnly = try await view.send(#"{"id":"r2","device":"boiler-1","write":{"temperature":30}}"#, id: "r2")
                #expect(readOnly["status"] == .string("rejected"))
                #expect(readOnly["message"] == .string("boiler-1.temperature is read-only"))
                let fraction = try await view.send(#"{"id":"r3","device":"boiler-1","write":{"setpoint":21.55}}"#, id: "r3")
                #expect(fraction["status"] == .string("rejected"))
                guard case .string(let m)? = fraction["message"] else {
                    Issue.record("no message in \(fraction)")
                    return
                }
                #expect(m.contains("scale 0.1"))
                let wrongType = try await view.send(#"{"id":"r4","device":"boiler-1","write":{"pump":1}}"#, id: "r4")
                #expect(wrongType["status"] == .string("rejected"))
                let unknown = try await view.send(#"{"id":"r5","device":"boiler-9","write":{"setpoint":20}}"#, id: "r5")
                #expect(unknown["status"] == .string("unknown_device"))
                let late = try await view.send(#"{"id":"r6","device":"boiler-1","write":{"setpoint":20},"expires_at":"2020-01-01T00:00:00Z"}"#, id: "r6")
                #expect(late["status"] == .string("expired"))
                #expect(try probe.holding(0, count: 2) == [200, 400])
            }
        }
    }

    @Test("malformed commands: rejected when an id can be read, counted otherwise; the gateway keeps working")
    func malformedCommands() async throws {
        try await Plant.run { plant in
            try await plant.withGatewayAndOperator { gateway, view in
                let broken = try await view.send(#"{"id":"m1","device":"boiler-1","write":{"setpoint":2"#, id: "m1")
                #expect(broken["status"] == .string("rejected"))
                #expect(broken["message"] == .string("command is not valid JSON"))
                let badValue = try await view.send(#"{"id":"m2","device":"boiler-1","write":{"setpoint":[1]}}"#, id: "m2")
                #expect(badValue["status"] == .string("rejected"))
                for garbage in ["", "\u{0}\u{ff}garbage", "[1,2]", #"{"device":"boiler-1"}"#] {
                    try await view.connection.publish(view.topics.commands, payload: Array(garbage.utf8), qos: 1, retain: false)
                }
                _ = try await waitFor("garbage counted") { gateway.uplink.statistics.malformedCommands == 4 ? true : nil }
                let after = try await view.send(#"{"id":"m3","device":"boiler-1","write":{"setpoint":30}}"#, id: "m3")
                #expect(after["status"] == .string("ok"))
                // Only the three commands with an id were answered.
                #expect(view.responses.withLock { $0.count } == 3)
                #expect(plant.log.contains("malformed command dropped"))
            }
        }
    }

    @Test("status is retained online and the inventory lists writable points")
    func statusAndInventory() async throws {
        try await Plant.run { plant in
            try await plant.withGateway { gateway in
                _ = try await waitFor("uplink connected") { gateway.uplink.isConnected ? true : nil }
                // A subscriber arriving later still gets both: they are retained.
                let late = try await MQTTConnection.connect(plant.hub.options(identity: .operator, clientID: "late"), logger: Logger(label: "late"))
                let topics = MQTTTopics(prefix: TestHub.prefix, gateway: TestHub.gatewayID)
                try await late.subscribe(topics.status, qos: 1)
                try await late.subscribe(topics.devices, qos: 1)
                var seen: [String: [String: JSONValue]] = [:]
                for await message in late.messages {
                    if case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: Data(message.payload)) {
                        #expect(message.retain)
                        seen[message.topic] = o.dictionary
                    }
                    if seen.count == 2 { break }
                }
                #expect(seen[topics.status]?["online"] == .bool(true))
                guard case .array(let devices)? = seen[topics.devices]?["devices"], case .object(let boiler)? = devices.first else {
                    Issue.record("no inventory")
                    return
                }
                #expect(boiler["id"] == .string("boiler-1"))
                #expect(boiler["writable"] == .array([.string("setpoint"), .string("pump"), .string("counter"), .string("mode"), .string("burner")]))
                guard case .array(let commands)? = boiler["commands"] else {
                    Issue.record("no commands in the inventory")
                    return
                }
                let names: [JSONValue?] = commands.map { node -> JSONValue? in
                    guard case .object(let c) = node else { return nil }
                    return c["name"]
                }
                #expect(names == [.string("start_pump"), .string("set_temperature")])
                await late.disconnect()
            }
            // After a clean shutdown the retained status says offline.
            let after = try await MQTTConnection.connect(plant.hub.options(identity: .operator, clientID: "after"), logger: Logger(label: "after"))
            try await after.subscribe(MQTTTopics(prefix: TestHub.prefix, gateway: TestHub.gatewayID).status, qos: 1)
            for await message in after.messages {
                guard case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: Data(message.payload)) else { continue }
                #expect(o["online"] == .bool(false))
                #expect(o["reason"] == .string("shutdown"))
                break
            }
            await after.disconnect()
        }
    }

    @Test("a Modbus server that goes away yields bad readings with a reason; they recover when it returns")
    func modbusOutage() async throws {
        try await Plant.run { plant in
            try await plant.withGatewayAndOperator { _, view in
                _ = try await waitFor("good readings") { view.latest("temperature")?["quality"] == .string("good") ? true : nil }
                plant.simulator.stop()
                let mark = view.readingCount
                let bad = try await waitFor("bad readings") { () -> [String: JSONValue]? in
                    guard let r = view.latest("temperature", after: mark), r["quality"] == .string("bad") else { return nil }
                    return r
                }
                #expect(bad["value"] == .null)
                if case .string(let reason)? = bad["reason"] {
                    #expect(reason.contains("127.0.0.1:\(plant.modbusPort)"), "\(reason)")
                } else {
                    Issue.record("bad reading without reason")
                }
                let replacement = try ModbusSimulatorHandle.start(devices: plant.map.devices, port: plant.modbusPort)
                defer { replacement.stop() }
                let mark2 = view.readingCount
                _ = try await waitFor("recovered", timeout: .seconds(15)) {
                    view.latest("temperature", after: mark2)?["quality"] == .string("good") ? true : nil
                }
            }
        }
    }

    @Test("after a hub outage the gateway reconnects and delivers what it buffered, in seq order without gaps")
    func hubOutage() async throws {
        try await Plant.run { plant in
            // The operator keeps a session on the hub, which persists it across the restart:
            // what the hub accepted before it stopped and what the gateway sends before the
            // operator is back both wait for it, so nothing depends on who reconnects first.
            try await plant.withGateway(initialBackoff: .seconds(1)) { gateway in
                let before = try await OperatorView(hub: plant.hub, session: "operator-outage")
                let seqs = try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await before.collect() }
                    _ = try await waitFor("telemetry before the outage") { before.readingCount > 20 ? true : nil }
                    await plant.hub.hub.stop()
                    _ = try await waitFor("uplink notices") { gateway.uplink.isConnected ? nil : true }
                    try await group.waitForAll()
                    return Set(before.readings.withLock { $0.map(\.seq) })
                }
                // Readings keep coming from the device while the hub is away, into the outbox.
                _ = try await waitFor("telemetry held while the hub is away", timeout: .seconds(10)) {
                    gateway.uplink.statistics.queuedMessages > 0 ? true : nil
                }
                let restarted = try await LocalHub.start(plant.hub.hub.configuration, logger: Logger(label: "hub"))
                let after = try await OperatorView(hub: plant.hub, session: "operator-outage")
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { await after.collect() }
                    _ = try await waitFor("backlog delivered", timeout: .seconds(20)) {
                        gateway.uplink.isConnected && gateway.uplink.statistics.queuedMessages == 0 && after.readingCount > 0 ? true : nil
                    }
                    try await Task.sleep(for: .milliseconds(300))
                    // In order: after dropping redeliveries, seq only ever increases on arrival. A
                    // message the operator had before the outage is a redelivery too: the hub
                    // resends what the operator's session had not acknowledged when it stopped,
                    // in an order of its own (QoS 1 is at least once).
                    var seen = seqs
                    let arrival = after.readings.withLock { $0.map(\.seq) }.filter { seen.insert($0).inserted }
                    #expect(arrival == arrival.sorted(), "telemetry arrived out of order: \(arrival) (before the outage: \(seqs.sorted()))")
                    let all = seqs.union(arrival)
                    let lowest = all.min()!, highest = all.max()!
                    #expect(highest > seqs.max()!)
                    #expect(all.count == highest - lowest + 1, "missing seq: \(Set(lowest...highest).subtracting(all).sorted())")
                    #expect(gateway.uplink.statistics.droppedMessages == 0)
                    await after.connection.disconnect()
                }
                await restarted.stop()
            }
        }
    }

    @Test("a repeated command id is answered duplicate and not executed again; retained commands are refused")
    func duplicatesAndRetained() async throws {
        try await Plant.run { plant in
            let probe = try ProbeClient(port: plant.modbusPort)
            let view = try await OperatorView(hub: plant.hub)
            try await view.connection.publish(
                view.topics.commands, payload: Array(#"{"id":"ret1","device":"boiler-1","write":{"setpoint":44}}"#.utf8), qos: 1, retain: true)
            try await plant.withGateway { gateway in
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { await view.collect() }
                    _ = try await waitFor("uplink connected") { gateway.uplink.isConnected ? true : nil }
                    // The command retained before the gateway started reached it flagged as retained.
                    let retained = try await waitFor("response to ret1") {
                        view.responses.withLock { $0.first { $0["id"] == .string("ret1") } }
                    }
                    #expect(retained["status"] == .string("rejected"))
                    #expect(try probe.holding(1) != [440])
                    let command = #"{"id":"dup1","device":"boiler-1","write":{"setpoint":33}}"#
                    let first = try await view.send(command, id: "dup1")
                    #expect(first["status"] == .string("ok"))
                    #expect(try probe.holding(1) == [330])
                    // Someone changes the register locally; a redelivered command must not undo that.
                    try probe.writeHolding(1, 100)
                    view.responses.withLock { $0.removeAll() }
                    let again = try await view.send(command, id: "dup1")
                    #expect(again["status"] == .string("duplicate"))
                    #expect(view.responses.withLock { $0.filter { $0["id"] == .string("dup1") }.count } == 1)
                    #expect(try probe.holding(1) == [100])

                    try await view.connection.publish(view.topics.commands, payload: [], qos: 1, retain: true)
                    await view.connection.disconnect()
                }
            }
        }
    }

    @Test("the same command id sent five times is executed once, and once only across a gateway restart (command ledger)")
    func exactlyOnceAcrossRestart() async throws {
        try await Plant.run { plant in
            let command = #"{"id":"once-1","device":"boiler-1","write":{"setpoint":37.5}}"#
            // Writes of the setpoint register (holding 1) as the simulator saw them.
            let setpointWrites = { plant.simulator.writeLog.filter { $0.address == 1 }.count }
            try await plant.withGatewayAndOperator { _, view in
                var statuses: [JSONValue?] = []
                for attempt in 0..<5 {
                    view.responses.withLock { $0.removeAll() }
                    statuses.append(try await view.send(command, id: "once-1")["status"])
                    if attempt == 0 { #expect(setpointWrites() == 1) }
                }
                #expect(statuses == [.string("ok")] + Array(repeating: .string("duplicate"), count: 4))
            }
            #expect(setpointWrites() == 1)
            // A new gateway process would start with an empty memory; the ledger in the
            // outbox's folder still knows the id.
            try await plant.withGatewayAndOperator { _, view in
                let again = try await view.send(command, id: "once-1")
                #expect(again["status"] == .string("duplicate"), "\(again)")
                let fresh = try await view.send(#"{"id":"once-2","device":"boiler-1","write":{"setpoint":38}}"#, id: "once-2")
                #expect(fresh["status"] == .string("ok"))
            }
            #expect(setpointWrites() == 2)
            #expect(FileManager.default.fileExists(atPath: plant.directory.file("commands.sqlite")))
        }
    }

    @Test("a gateway given the wrong CA refuses the hub and logs why")
    func wrongCA() async throws {
        try await Plant.run { plant in
            let other = try TemporaryDirectory(prefix: "edgegate-other-ca")
            defer { other.remove() }
            let otherPKI = try await DevPKI.create(in: other.path, logger: Logger(label: "pki"))
            try await plant.withGateway(ca: otherPKI.caCert) { gateway in
                // The client logs OpenSSL's line before the uplink logs its own: wait for the latter.
                _ = try await waitFor("refusal logged") { plant.log.contains("uplink cannot connect to the hub") ? true : nil }
                #expect(!gateway.uplink.isConnected)
                #expect(plant.log.contains("certificate verify failed"))
            }
        }
    }
}

/// Starts a replacement simulator on a port the previous one just released.
enum ModbusSimulatorHandle {
    static func start(devices: [DeviceDefinition], port: Int) throws -> ModbusSimulator {
        let simulator = try ModbusSimulator(devices: devices, port: port, animated: false, logger: Logger(label: "sim2"))
        try simulator.start()
        return simulator
    }
}
