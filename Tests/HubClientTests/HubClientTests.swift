import DevTools
import Foundation
import GatewayCore
import HubClient
import Logging
import MQTTClient
import Synchronization
import TestSupport
import Testing
import Uplink

/// The operator's hub client against a real mosquitto with mutual TLS and the edgegate ACL;
/// the gateway's side is played by a client with the gateway's certificate that speaks the
/// wire contract through `MQTTWire`.
@Suite("hub client: commands, inventory, watching", .timeLimit(.minutes(2)))
struct HubClientTests {
    let logger = Logger(label: "hub-client-tests")
    let topics = MQTTTopics(prefix: TestHub.prefix, gateway: TestHub.gatewayID)

    /// The operator of the test PKI, as the CLI makes it from its settings.
    func operatorOf(_ hub: TestHub) -> HubOperator {
        HubOperator(
            host: hub.host, port: hub.port, caFile: hub.pki.caCert, certFile: hub.pki.operatorCert,
            keyFile: hub.pki.operatorKey, identity: TestHub.operatorID, prefix: TestHub.prefix)
    }

    /// Runs `body` with a fresh hub, a connected hub client and a gateway connection.
    func withHub(_ body: (TestHub, HubClient, MQTTConnection) async throws -> Void) async throws {
        let hub = try await TestHub.start(logger: logger)
        do {
            let client = try await HubClient.connect(operatorOf(hub), purpose: "test", logger: logger)
            let gateway = try await MQTTConnection.connect(hub.options(identity: .gateway, clientID: TestHub.gatewayID), logger: logger)
            do {
                try await body(hub, client, gateway)
            } catch {
                await client.disconnect()
                await gateway.disconnect()
                throw error
            }
            await client.disconnect()
            await gateway.disconnect()
        } catch {
            await hub.stop()
            throw error
        }
        await hub.stop()
    }

    /// Answers each command the gateway receives with what `answer` returns for it, in order.
    func respond(on gateway: MQTTConnection, _ answer: @escaping @Sendable (Command) -> [CommandResult]) async throws -> Task<Void, Never> {
        try await gateway.subscribe(topics.commands, qos: 1)
        let topics = topics
        return Task {
            for await message in gateway.messages where message.topic == topics.commands {
                guard case .success(let command) = MQTTWire.decodeCommand(message.payload) else { continue }
                for result in answer(command) {
                    try? await gateway.publish(topics.responses, payload: MQTTWire.response(result), qos: 1, retain: false)
                }
            }
        }
    }

    @Test("send: the command arrives as sent (id, device, write, by) and the gateway's response comes back typed")
    func sendOK() async throws {
        try await withHub { _, client, gateway in
            let received = Mutex<Command?>(nil)
            let responder = try await respond(on: gateway) { command in
                received.withLock { $0 = command }
                return [
                    CommandResult(
                        id: command.id, status: .ok, message: "wrote boiler-1.setpoint=21.5",
                        values: ["setpoint": .double(21.5)])
                ]
            }
            defer { responder.cancel() }
            let command = Command(id: "c-ok", device: "boiler-1", action: .write(["setpoint": .double(21.5)]), by: TestHub.operatorID)
            let response = try await client.send(command, to: TestHub.gatewayID, timeout: .seconds(10))
            #expect(response.id == "c-ok")
            #expect(response.status == .ok)
            #expect(response.statusText == "ok")
            #expect(response.message == "wrote boiler-1.setpoint=21.5")
            #expect(response.values == ["setpoint": .number(21.5)])
            #expect(response.elapsed != nil)
            #expect(String(decoding: response.payload, as: UTF8.self).hasPrefix(#"{"id":"c-ok","status":"ok","message":"#))
            let arrived = try #require(received.withLock { $0 })
            #expect(arrived.id == "c-ok")
            #expect(arrived.device == "boiler-1")
            #expect(arrived.action == .write(["setpoint": .double(21.5)]))
            #expect(arrived.by == TestHub.operatorID)
        }
    }

    @Test(
        "send returns the response whose id matches, whatever its status (rejected, duplicate), and skips other ids'",
        arguments: [CommandStatus.rejected, .duplicate, .unknownDevice])
    func sendOtherOutcomes(_ status: CommandStatus) async throws {
        try await withHub { _, client, gateway in
            let responder = try await respond(on: gateway) { command in
                [
                    CommandResult(id: "someone-else", status: .ok, message: "not yours"),
                    CommandResult(id: command.id, status: status, message: "because \(status.rawValue)"),
                ]
            }
            defer { responder.cancel() }
            let command = Command(id: "c-\(status.rawValue)", device: "boiler-1", action: .named("start_pump", arguments: [:]))
            let response = try await client.send(command, to: TestHub.gatewayID, timeout: .seconds(10))
            #expect(response.id == command.id)
            #expect(response.status == status)
            #expect(response.message == "because \(status.rawValue)")
            #expect(response.values.isEmpty)
        }
    }

    @Test("send without an answer says why from the gateway's status: none on the hub, or offline with its reason")
    func sendNoResponse() async throws {
        try await withHub { _, client, gateway in
            let command = Command(id: "c-silent", device: "boiler-1", action: .write(["pump": .bool(true)]))
            let never = await #expect(throws: CommandSendError.self) {
                _ = try await client.send(command, to: TestHub.gatewayID, timeout: .milliseconds(300))
            }
            guard case .noResponse(let id, let gw, let prefix, _, let status)? = never else {
                Issue.record("expected noResponse, got \(String(describing: never))")
                return
            }
            #expect(id == "c-silent" && gw == TestHub.gatewayID && prefix == TestHub.prefix)
            #expect(status == nil)
            #expect("\(never!)".contains("the hub holds no status for gw-1 under prefix 'edgegate'"))

            try await gateway.publish(
                topics.status, payload: MQTTWire.status(gateway: TestHub.gatewayID, online: false, reason: "shutdown"),
                qos: 1, retain: true)
            let offline = await #expect(throws: CommandSendError.self) {
                _ = try await client.send(command, to: TestHub.gatewayID, timeout: .milliseconds(300))
            }
            guard case .noResponse(_, _, _, _, let known)? = offline, let known else {
                Issue.record("expected noResponse with a status, got \(String(describing: offline))")
                return
            }
            #expect(!known.online)
            #expect(known.reason == "shutdown")
            #expect("\(offline!)".contains("the gateway is offline since "))
        }
    }

    @Test("devices reads the retained inventory typed; an unknown gateway fails naming the gateways with a status")
    func devices() async throws {
        try await withHub { _, client, gateway in
            let boiler = DeviceDescriptor(
                id: "boiler-1", protocolName: "modbus",
                points: [
                    PointDescriptor(name: "temperature", kind: .number, unit: "°C", typeName: "int16"),
                    PointDescriptor(
                        name: "mode", kind: .integer, access: .readwrite, min: 0, max: 2, typeName: "uint16",
                        options: [EnumOption(label: "off", value: .int(0)), EnumOption(label: "heat", value: .int(1))]),
                ])
            let payload = MQTTWire.inventory(gateway: TestHub.gatewayID, devices: [boiler])
            try await gateway.publish(topics.devices, payload: payload, qos: 1, retain: true)
            try await gateway.publish(topics.status, payload: MQTTWire.status(gateway: TestHub.gatewayID, online: true), qos: 1, retain: true)

            let inventory = try await client.devices(of: TestHub.gatewayID, wait: .seconds(10))
            #expect(inventory.gateway == TestHub.gatewayID)
            #expect(inventory.payload == payload)
            let device = try #require(inventory.devices.first)
            #expect(inventory.devices.count == 1)
            #expect(device.id == "boiler-1" && device.protocol == "modbus")
            #expect(device.points.map(\.name) == ["temperature", "mode"])
            #expect(device.points[0].unit == "°C" && device.points[0].access == "read" && device.points[0].type == "int16")
            // Whole numbers travel without a fraction, so they read back as integers.
            #expect(device.points[1].min == .integer(0) && device.points[1].max == .integer(2))
            #expect(device.points[1].options?.map(\.name) == ["off", "heat"])
            #expect(device.writable == ["mode"])

            let missing = await #expect(throws: InventoryError.self) {
                _ = try await client.devices(of: "gw-9", wait: .milliseconds(500))
            }
            guard case .none(let gw, let prefix, _, let known)? = missing else {
                Issue.record("expected none, got \(String(describing: missing))")
                return
            }
            #expect(gw == "gw-9" && prefix == TestHub.prefix)
            #expect(known == [TestHub.gatewayID])
        }
    }

    @Test("watch decodes the retained status, telemetry, commands and responses into typed events, in order")
    func watch() async throws {
        try await withHub { _, client, gateway in
            try await gateway.publish(topics.status, payload: MQTTWire.status(gateway: TestHub.gatewayID, online: true), qos: 1, retain: true)
            let events = try await client.watch(TestHub.gatewayID)
            let responder = try await respond(on: gateway) { command in
                [CommandResult(id: command.id, status: .rejected, message: "no such point")]
            }
            defer { responder.cancel() }
            let at = Date(timeIntervalSince1970: 1_800_000_000)
            let readings = [
                Reading(device: "boiler-1", point: "temperature", value: .double(48.5), unit: "°C", quality: .good, timestamp: at),
                Reading(device: "boiler-1", point: "pressure", value: nil, unit: nil, quality: .bad("timeout"), timestamp: at),
            ]
            try await gateway.publish(
                topics.telemetry, payload: MQTTWire.telemetry(gateway: TestHub.gatewayID, seq: 7, readings: readings),
                qos: 1, retain: false)
            let command = Command(id: "c-watch", device: "boiler-1", action: .write(["nope": .int(1)]))
            // Sent on the same client that watches: each operation gets the messages it waits for.
            let response = try await client.send(command, to: TestHub.gatewayID, timeout: .seconds(10))
            #expect(response.status == .rejected)

            let seen = try await withTimeout(.seconds(10), "the watched events") {
                var seen: [HubEvent] = []
                for await event in events {
                    seen.append(event)
                    if case .response = event { break }
                }
                return seen
            }
            // The send on the same client subscribes to the status too, and the hub then sends
            // the retained status again: a repeat, marked retained.
            let statuses = seen.compactMap { if case .status(let s, let retained) = $0 { (s, retained) } else { nil } }
            let others = seen.filter { if case .status = $0 { false } else { true } }
            try #require(!statuses.isEmpty && others.count == 3, "\(seen)")
            guard case .status = seen[0] else { Issue.record("\(seen[0])"); return }
            #expect(statuses.allSatisfy { $0.0 == statuses[0].0 && $0.1 })
            #expect(statuses[0].0.online)
            guard case .telemetry(let telemetry) = others[0] else { Issue.record("\(others[0])"); return }
            #expect(telemetry.seq == 7)
            #expect(telemetry.readings.map(\.point) == ["temperature", "pressure"])
            let good = telemetry.readings[0], bad = telemetry.readings[1]
            #expect(good.device == "boiler-1" && good.value == .number(48.5) && good.unit == "°C" && good.quality == "good")
            #expect(good.timestamp == at)
            #expect(bad.value == .null && bad.quality == "bad" && bad.reason == "timeout")
            guard case .command(let observed) = others[1] else { Issue.record("\(others[1])"); return }
            #expect(observed.id == "c-watch" && observed.device == "boiler-1")
            #expect((try? observed.decoded.get())?.action == .write(["nope": .int(1)]))
            guard case .response(let watched) = others[2] else { Issue.record("\(others[2])"); return }
            #expect(watched.id == "c-watch" && watched.status == .rejected && watched.message == "no such point")
            #expect(watched.elapsed == nil)
        }
    }

    @Test("watch ends when the connection ends, and closed() then gives the reason")
    func watchEnds() async throws {
        let hub = try await TestHub.start(logger: logger)
        let client = try await HubClient.connect(operatorOf(hub), purpose: "test", logger: logger)
        let events = try await client.watch(TestHub.gatewayID, [.telemetry])
        await hub.stop()
        let count = try await withTimeout(.seconds(30), "the end of the watch") {
            var count = 0
            for await _ in events { count += 1 }
            return count
        }
        #expect(count == 0)
        #expect(await client.closed() != nil)
        await client.disconnect()
    }
}
