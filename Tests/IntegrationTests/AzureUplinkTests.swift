import AzureIoTHub
import DevTools
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Logging
import MQTTClient
import Synchronization
import TestSupport
import Testing
import Uplink

/// The cloud side of Azure IoT Hub, played by the operator on the test hub: it calls direct
/// methods, sends C2D messages, reads D2C events, method answers and twin updates, and answers
/// twin updates. It reads the wire by hand, not through the gateway's own parsers.
final class AzureCloud: Sendable {
    /// The hub name the gateways of these tests are configured with.
    static let hubName = "plant.azure-devices.net"
    /// The device id: the gateway certificate's CN, as IoT Hub's X.509 authentication wants it.
    static let deviceID = TestHub.gatewayID
    /// IoT Hub's user name for the device, written out rather than computed.
    static let userName = "plant.azure-devices.net/gw-1/?api-version=2021-04-12"

    let connection: MQTTConnection
    /// Everything received, each message's JSON decoded once on arrival: the tests poll these
    /// often, and decoding hundreds of kilobytes at every poll would load the machine.
    let received = Mutex<[(message: MQTTMessage, body: [String: JSONValue])]>([])

    init(hub: TestHub) async throws {
        connection = try await MQTTConnection.connect(
            hub.options(identity: .operator, clientID: "cloud-\(UUID().uuidString.prefix(6))"),
            logger: Logger(label: "cloud"))
        // A `#` subscription does not match `$` topics: the $iothub/ ones are named.
        for filter in ["devices/\(Self.deviceID)/messages/events/#", "$iothub/methods/res/#", "$iothub/twin/PATCH/properties/reported/#"] {
            try await connection.subscribe(filter, qos: 1)
        }
    }

    /// Collects until the connection ends; run it in a child task.
    func collect() async {
        for await message in connection.messages {
            let body = Self.json(message.payload)
            received.withLock { $0.append((message, body)) }
        }
    }

    static func json(_ payload: [UInt8]) -> [String: JSONValue] {
        if case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)) { return object.dictionary }
        return [:]
    }

    /// A direct method's answer: its topic, the status the topic carries, its JSON body.
    struct Answer {
        var topic: String
        var status: Int
        var body: [String: JSONValue]
    }

    /// Calls a direct method and waits for the answer carrying the same request id.
    func call(_ method: String, payload: String, rid: String) async throws -> Answer {
        try await connection.publish("$iothub/methods/POST/\(method)/?$rid=\(rid)", payload: Array(payload.utf8), qos: 1, retain: false)
        let (message, body) = try await waitFor("the answer to method '\(method)' with $rid=\(rid)") {
            self.received.withLock { $0.first { $0.message.topic.hasPrefix("$iothub/methods/res/") && $0.message.topic.hasSuffix("/?$rid=\(rid)") } }
        }
        let code = message.topic.dropFirst("$iothub/methods/res/".count).prefix { $0 != "/" }
        return Answer(topic: message.topic, status: Int(code) ?? -1, body: body)
    }

    /// A D2C event: its topic, the property bag decoded, its payload and JSON body.
    struct Event {
        var topic: String
        var properties: [String: String]
        var payload: [UInt8]
        var body: [String: JSONValue]
    }

    /// The events received so far whose `edgegate-type` is `type`.
    func events(_ type: String) -> [Event] {
        let prefix = "devices/\(Self.deviceID)/messages/events/"
        return received.withLock { messages in
            messages.compactMap { message, body -> Event? in
                guard message.topic.hasPrefix(prefix) else { return nil }
                var properties: [String: String] = [:]
                for pair in message.topic.dropFirst(prefix.count).split(separator: "&") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    properties[String(parts[0]).removingPercentEncoding ?? ""] = parts.count > 1 ? String(parts[1]).removingPercentEncoding : ""
                }
                guard properties["edgegate-type"] == type else { return nil }
                return Event(topic: message.topic, properties: properties, payload: message.payload, body: body)
            }
        }
    }

    /// Sends a C2D message with a property bag as IoT Hub writes it (URL-encoded).
    func sendCloudToDevice(_ payload: String, properties: String) async throws {
        try await connection.publish(
            "devices/\(Self.deviceID)/messages/devicebound/\(properties)",
            payload: Array(payload.utf8), qos: 1, retain: false)
    }

    /// The PATCHes of the reported properties received so far: request id and body.
    func twinPatches() -> [(rid: String, body: [String: JSONValue])] {
        let prefix = "$iothub/twin/PATCH/properties/reported/?$rid="
        return received.withLock { messages in
            messages.compactMap { $0.message.topic.hasPrefix(prefix) ? (String($0.message.topic.dropFirst(prefix.count)), $0.body) : nil }
        }
    }

    /// Answers a twin request as IoT Hub does.
    func answerTwin(rid: String, status: Int, body: String = "") async throws {
        try await connection.publish("$iothub/twin/res/\(status)/?$rid=\(rid)&$version=7", payload: Array(body.utf8), qos: 1, retain: false)
    }
}

/// A wall clock the test moves: SAS token expiries count from it.
final class PinnedClock: Sendable {
    let base: Date
    let offset = Mutex<TimeInterval>(0)

    init(base: Date) { self.base = base }

    func now() -> Date { base.addingTimeInterval(offset.withLock { $0 }) }
}

extension Plant {
    enum AzureAuth {
        /// The gateway certificate on the mutual-TLS listener.
        case x509
        /// A device key file on the SAS listener.
        case sas(keyFile: String)
    }

    /// A configuration file of profile azure-iot-hub for this plant, parsed as `edgegate run`
    /// parses it. `url` points at the test hub, whose certificate names 127.0.0.1: host names
    /// are verified as with the real hub.
    func azureConfiguration(_ auth: AzureAuth) throws -> GatewayConfiguration {
        let pki = hub.pki
        let port: Int, credentials: String, tls: String
        switch auth {
        case .x509:
            (port, credentials, tls) = (hub.port, "auth: x509", "{ ca: \(pki.caCert), cert: \(pki.gatewayCert), key: \(pki.gatewayKey) }")
        case .sas(let keyFile):
            (port, credentials, tls) = (hub.sasPort!, "auth: sas\n  key_file: \(keyFile)", "{ ca: \(pki.caCert) }")
        }
        let yaml = """
            gateway: { id: \(TestHub.gatewayID), devicemaps: [maps/] }
            uplink:
              profile: azure-iot-hub
              hub: \(AzureCloud.hubName)
              url: mqtts://127.0.0.1:\(port)
              \(credentials)
              tls: \(tls)
            outbox: { path: \(hub.directory.file("outbox.sqlite")) }
            """
        let (config, diagnostics) = GatewayConfiguration.parse(yaml: yaml, file: hub.directory.file("gateway.yaml"))
        guard let config else { throw ProbeError("the test configuration does not validate: \(diagnostics)") }
        return config
    }

    /// Runs a gateway of profile azure-iot-hub and the cloud for the duration of `body`, once
    /// the gateway is connected.
    func withAzureGateway(
        configuration: GatewayConfiguration? = nil, wallClock: @escaping @Sendable () -> Date = { Date() },
        _ body: @escaping (Gateway, AzureCloud) async throws -> Void
    ) async throws {
        let cloud = try await AzureCloud(hub: hub)
        try await withGateway(configuration: configuration ?? azureConfiguration(.x509), wallClock: wallClock) { gateway in
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await cloud.collect() }
                _ = try await waitFor("uplink connected", timeout: .seconds(15)) { gateway.uplink.isConnected ? true : nil }
                try await body(gateway, cloud)
                await cloud.connection.disconnect()
            }
        }
    }

    /// A device key file (mode 0600) holding `key`.
    func keyFile(_ key: String) throws -> String {
        let path = hub.directory.file("gw-1.key")
        try (key + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        return path
    }
}

/// The `azure-iot-hub` profile end to end with real parts: the libmodbus simulator, the gateway,
/// and mosquitto standing in for IoT Hub (mutual TLS for X.509, a password file for SAS tokens),
/// with the operator playing the cloud.
@Suite("Azure IoT Hub uplink, mosquitto standing in for the hub", .serialized, .timeLimit(.minutes(2)))
struct AzureUplinkTests {
    static let deviceKey = "c2VjcmV0LWtleS1mb3ItZ3ctMS1vbi10aGUtdGVzdC1odWI="

    @Test("a direct method runs a Modbus write and is answered 200 on $iothub/methods/res with the call's $rid")
    func directMethod() async throws {
        try await Plant.run { plant in
            let probe = try ProbeClient(port: plant.modbusPort)
            try probe.writeCoil(0, false)
            try await plant.withAzureGateway { _, cloud in
                let write = try await cloud.call("command", payload: #"{"id":"m1","device":"boiler-1","write":{"setpoint":21.5}}"#, rid: "1a")
                #expect(write.topic == "$iothub/methods/res/200/?$rid=1a")
                #expect(write.body["id"] == .string("m1"))
                #expect(write.body["status"] == .string("ok"), "\(write.body)")
                #expect(write.body["values"] == .object(["setpoint": .number(21.5)]))
                #expect(try probe.holding(1) == [215])

                // A method named after a command of the device map runs it; without an id the
                // gateway makes one and answers with it.
                let pump = try await cloud.call("start_pump", payload: #"{"device":"boiler-1"}"#, rid: "1b")
                #expect(pump.topic == "$iothub/methods/res/200/?$rid=1b")
                #expect(pump.body["status"] == .string("ok"), "\(pump.body)")
                guard case .string(let id)? = pump.body["id"] else {
                    Issue.record("no id in \(pump.body)")
                    return
                }
                #expect(!id.isEmpty)
                #expect(try probe.coil(0) == true)
            }
        }
    }

    @Test("a bad or refused method call is answered with its $rid and an HTTP-like status; the gateway keeps serving")
    func badMethodCalls() async throws {
        try await Plant.run { plant in
            let probe = try ProbeClient(port: plant.modbusPort)
            try probe.writeHolding(1, 200)
            try await plant.withAzureGateway { _, cloud in
                let garbage = try await cloud.call("command", payload: "{not json", rid: "2a")
                #expect(garbage.topic == "$iothub/methods/res/400/?$rid=2a")
                #expect(garbage.body["status"] == .string("rejected"))
                #expect(garbage.body["message"] == .string("method 'command': the payload is not valid JSON"))

                let range = try await cloud.call("command", payload: #"{"id":"m2","device":"boiler-1","write":{"setpoint":500}}"#, rid: "2b")
                #expect(range.topic == "$iothub/methods/res/400/?$rid=2b")
                #expect(range.body["status"] == .string("rejected"))

                let unknown = try await cloud.call("command", payload: #"{"id":"m3","device":"boiler-9","write":{"setpoint":20}}"#, rid: "2c")
                #expect(unknown.topic == "$iothub/methods/res/404/?$rid=2c")
                #expect(unknown.body["status"] == .string("unknown_device"))

                let mixed = try await cloud.call("start_pump", payload: #"{"device":"boiler-1","write":{"pump":true}}"#, rid: "2d")
                #expect(mixed.topic == "$iothub/methods/res/400/?$rid=2d")
                #expect(mixed.body["message"] == .string("method 'start_pump' names the command itself: 'write' goes with method 'command' only"))

                #expect(try probe.holding(1) == [200])
                let good = try await cloud.call("command", payload: #"{"id":"m5","device":"boiler-1","write":{"setpoint":30}}"#, rid: "2e")
                #expect(good.topic == "$iothub/methods/res/200/?$rid=2e")
                #expect(try probe.holding(1) == [300])
            }
        }
    }

    @Test("a C2D message runs its command; the answer is a D2C event marked as a response, correlated by the command id")
    func cloudToDevice() async throws {
        try await Plant.run { plant in
            let probe = try ProbeClient(port: plant.modbusPort)
            try probe.writeCoil(0, false)
            try await plant.withAzureGateway { _, cloud in
                // No id in the payload: the C2D message id stands in.
                try await cloud.sendCloudToDevice(
                    #"{"device":"boiler-1","write":{"pump":true}}"#,
                    properties: "%24.mid=c2d-1&%24.to=%2Fdevices%2Fgw-1%2Fmessages%2FdeviceBound")
                let answer = try await waitFor("the response event to c2d-1") { cloud.events("response").first { $0.body["id"] == .string("c2d-1") } }
                #expect(answer.body["status"] == .string("ok"), "\(answer.body)")
                #expect(answer.properties["$.cid"] == "c2d-1")
                #expect(answer.properties["$.ct"] == "application/json")
                #expect(answer.properties["$.ce"] == "utf-8")
                #expect(answer.body["values"] == .object(["pump": .bool(true)]))
                #expect(try probe.coil(0) == true)

                try await cloud.sendCloudToDevice("{broken", properties: "%24.mid=c2d-2")
                let broken = try await waitFor("the response event to c2d-2") { cloud.events("response").first { $0.body["id"] == .string("c2d-2") } }
                #expect(broken.body["status"] == .string("rejected"))
                #expect(broken.properties["$.cid"] == "c2d-2")
            }
        }
    }

    @Test("telemetry and status arrive as D2C events with content type, encoding and type properties, in the mqtt profile's JSON")
    func telemetry() async throws {
        try await Plant.run { plant in
            let probe = try ProbeClient(port: plant.modbusPort)
            try probe.writeHolding(0, 215)
            try await plant.withAzureGateway { _, cloud in
                let (event, temperature) = try await waitFor("a telemetry event with the temperature") { () -> (AzureCloud.Event, [String: JSONValue])? in
                    for event in cloud.events("telemetry") {
                        guard case .array(let readings)? = event.body["readings"] else { continue }
                        for case .object(let r) in readings where r["point"] == .string("temperature") { return (event, r.dictionary) }
                    }
                    return nil
                }
                #expect(temperature["device"] == .string("boiler-1"))
                #expect(temperature["value"] == .number(21.5))
                #expect(temperature["unit"] == .string("°C"))
                #expect(temperature["quality"] == .string("good"))
                #expect(event.topic == "devices/gw-1/messages/events/$.ct=application%2Fjson&$.ce=utf-8&edgegate-type=telemetry")
                #expect(event.body["gateway"] == .string("gw-1"))
                guard let seq = event.body["seq"]?.integer else {
                    Issue.record("no seq in \(event.body)")
                    return
                }
                #expect(seq >= 1)
                let online = try await waitFor("the online status event") { cloud.events("status").first }
                #expect(online.body["online"] == .bool(true))
                #expect(online.body["gateway"] == .string("gw-1"))
            }
        }
    }

    @Test("telemetry beyond IoT Hub's 256 KB message limit is split into events below it, none lost")
    func messageLimit() async throws {
        try await Plant.run { plant in
            try await plant.withAzureGateway { gateway, cloud in
                let value = String(repeating: "x", count: 200)
                let now = Date()
                let readings = (0..<3000).map { Reading(device: "bulk", point: "p\($0)", value: .string(value), unit: nil, quality: .good, timestamp: now) }
                gateway.uplink.sink.emit(readings)
                let events = try await waitFor("3000 bulk readings", timeout: .seconds(30)) { () -> [AzureCloud.Event]? in
                    let events = cloud.events("telemetry").filter { $0.payload.count > 10_000 }
                    let count = events.reduce(0) { total, event in
                        guard case .array(let list)? = event.body["readings"] else { return total }
                        return total + list.filter { if case .object(let r) = $0 { r["device"] == .string("bulk") } else { false } }.count
                    }
                    return count >= 3000 ? events : nil
                }
                // About 780 KB of readings: at least four messages, each below the limit with
                // its property bag (IoT Hub counts both), none of them empty.
                #expect(events.count >= 4)
                for event in events {
                    #expect(event.payload.count <= AzureIoTHubProfile.maxMessageBytes - 1024)
                    #expect(event.payload.count + event.topic.utf8.count <= 256 * 1024)
                }
            }
        }
    }

    @Test("status and inventory are twin reported properties, each PATCH with its own $rid; a reload reports the new inventory; a refused PATCH is logged")
    func twin() async throws {
        try await Plant.run { plant in
            try await plant.withAzureGateway { gateway, cloud in
                let first = try await waitFor("the status and inventory PATCHes") { () -> [(rid: String, body: [String: JSONValue])]? in
                    let patches = cloud.twinPatches()
                    return patches.contains { $0.body["inventory"] != nil } && patches.contains { $0.body["status"] != nil } ? patches : nil
                }
                let status = try #require(first.first { $0.body["status"] != nil })
                let inventory = try #require(first.first { $0.body["inventory"] != nil })
                #expect(!status.rid.isEmpty && !inventory.rid.isEmpty && status.rid != inventory.rid)
                guard case .object(let online)? = status.body["status"], case .object(let devices)? = inventory.body["inventory"] else {
                    Issue.record("status or inventory is not an object: \(first)")
                    return
                }
                #expect(online["online"] == .bool(true))
                #expect(online["reason"] == .null)
                #expect(devices["complete"] == .bool(true))
                #expect(devices["gateway"] == .string("gw-1"))
                #expect(Self.deviceIDs(devices) == ["boiler-1"])
                #expect(Self.writable(devices, "boiler-1").contains("setpoint"))

                // IoT Hub's answers: 204 for the status, a refusal for the inventory.
                try await cloud.answerTwin(rid: status.rid, status: 204)
                try await cloud.answerTwin(rid: inventory.rid, status: 400, body: #"{"errorCode":400004,"message":"too deep"}"#)
                _ = try await waitFor("the refusal logged") { plant.log.contains("IoT Hub refused a twin update") ? true : nil }
                #expect(plant.log.contains("what=inventory"))
                #expect(plant.log.contains("status=400"))
                #expect(plant.log.contains("too deep"))
                #expect(plant.log.messages(at: .error).filter { $0 == "IoT Hub refused a twin update" }.count == 1, "the 204 is no refusal")

                // A second device in the maps: the twin gets the new inventory.
                let yaml =
                    (boilerMapYAML + """

                          - id: boiler-2
                            profile: boiler-controller
                            connection: { host: 127.0.0.1, port: PORT, unit_id: 1, timeout: 300ms }
                            poll: 1s
                        """).replacingOccurrences(of: "PORT", with: "\(plant.modbusPort)")
                let (map, diagnostics) = DeviceMapLoader.standard.parse(yaml: yaml, file: "plant.yaml")
                try await gateway.reload(to: try #require(map, "\(diagnostics)"))
                let next = try await waitFor("the inventory PATCH after the reload") {
                    cloud.twinPatches().last { patch in
                        if case .object(let inventory)? = patch.body["inventory"] { Self.deviceIDs(inventory) == ["boiler-1", "boiler-2"] } else { false }
                    }
                }
                #expect(!first.contains { $0.rid == next.rid })
            }
        }
    }

    static func deviceIDs(_ inventory: JSONObject) -> [String] {
        guard case .array(let devices)? = inventory["devices"] else { return [] }
        return devices.compactMap { if case .object(let d) = $0, case .string(let id)? = d["id"] { id } else { nil } }
    }

    static func writable(_ inventory: JSONObject, _ device: String) -> [String] {
        guard case .array(let devices)? = inventory["devices"] else { return [] }
        for case .object(let d) in devices where d["id"] == .string(device) {
            if case .array(let names)? = d["writable"] { return names.compactMap { if case .string(let s) = $0 { s } else { nil } } }
        }
        return []
    }

    @Test("with SAS the gateway logs in with IoT Hub's user name and exactly the token Microsoft's SDK makes; the hub refuses another token")
    func sasLogin() async throws {
        try await Plant.run(sas: true) { plant in
            let clock = PinnedClock(base: Date(timeIntervalSince1970: 1_900_000_000))
            let configuration = try plant.azureConfiguration(.sas(keyFile: try plant.keyFile(Self.deviceKey)))
            // The configured lifetime is an hour: the token expires an hour after the clock.
            let expected = try await AzureProtocolTests.microsoftTokens([
                .init(hub: AzureCloud.hubName, device: AzureCloud.deviceID, key: Self.deviceKey, expiry: 1_900_003_600)
            ])[0]
            try await plant.hub.allow(user: AzureCloud.userName, password: expected)

            // The hub checks tokens: one for another expiry is refused.
            let other = try await AzureProtocolTests.microsoftTokens([
                .init(hub: AzureCloud.hubName, device: AzureCloud.deviceID, key: Self.deviceKey, expiry: 1_900_003_601)
            ])[0]
            let options = MQTTOptions(
                host: "127.0.0.1", port: plant.hub.sasPort!, clientID: "probe", username: AzureCloud.userName,
                password: other, tls: MQTTTLS(caFile: plant.hub.pki.caCert), connectTimeout: .seconds(5))
            await #expect {
                try await MQTTConnection.connect(options, logger: Logger(label: "probe"))
            } throws: { error in
                if case .refused = error as? MQTTError { true } else { false }
            }

            try await plant.withAzureGateway(configuration: configuration, wallClock: { clock.now() }) { _, cloud in
                // Connected through the SAS listener; commands work there too.
                let answer = try await cloud.call("command", payload: #"{"id":"s1","device":"boiler-1","write":{"pump":true}}"#, rid: "5a")
                #expect(answer.topic == "$iothub/methods/res/200/?$rid=5a", "\(answer.body)")
            }
            #expect(!plant.log.contains(expected), "the token must never be logged")
            #expect(!plant.log.contains(Self.deviceKey), "the key must never be logged")
        }
    }

    @Test("a SAS token is renewed before it expires: the gateway reconnects with a new token that the hub accepts, with no will and no lost-connection warning")
    func sasRenewal() async throws {
        try await Plant.run(sas: true) { plant in
            let base = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
            let clock = PinnedClock(base: base)
            let keyFile = try plant.keyFile(Self.deviceKey)
            var configuration = try plant.azureConfiguration(.sas(keyFile: keyFile))
            // Shorter than the configuration allows, so that renewals come within the test.
            var azure = try #require(configuration.uplink.profile as? AzureIoTHubSettings)
            azure.authentication = .sas(keyFile: keyFile, ttl: .seconds(3))
            configuration.uplink.profile = azure
            let first = UInt64(base.timeIntervalSince1970) + 3, second = first + 1000
            let tokens = try await AzureProtocolTests.microsoftTokens([
                .init(hub: AzureCloud.hubName, device: AzureCloud.deviceID, key: Self.deviceKey, expiry: first),
                .init(hub: AzureCloud.hubName, device: AzureCloud.deviceID, key: Self.deviceKey, expiry: second),
            ])
            try await plant.hub.allow(user: AzureCloud.userName, password: tokens[0])

            try await plant.withAzureGateway(configuration: configuration, wallClock: { clock.now() }) { gateway, cloud in
                // Time moves on. The hub learns the next token only once the gateway has tried
                // it, because reloading the password file now would end the session at once
                // (mosquitto drops clients whose password no longer matches, as IoT Hub drops
                // those whose token expired) instead of letting the gateway renew on its own.
                let refusals = plant.log.count("not authorised")
                clock.offset.withLock { $0 = 1000 }
                try await plant.hub.allow(user: AzureCloud.userName, password: tokens[1], reload: false)
                _ = try await waitFor("the gateway trying a new token", timeout: .seconds(20)) {
                    plant.log.count("not authorised") > refusals ? true : nil
                }
                plant.hub.reload()
                let renewed = "valid_until=\(Timestamp.rfc3339(Date(timeIntervalSince1970: TimeInterval(second))))"
                _ = try await waitFor("a renewal with the next token", timeout: .seconds(20)) {
                    plant.log.contains("SAS token renewed") && plant.log.contains(renewed) ? true : nil
                }
                _ = try await waitFor("connected again") { gateway.uplink.isConnected ? true : nil }
                #expect(plant.log.contains("SAS token expires soon: reconnecting with a new one"))
                #expect(!plant.log.contains("uplink connection lost"), "\(plant.log.lines.joined(separator: "\n"))")
                #expect(!cloud.events("status").contains { $0.body["reason"] == .string("connection lost") }, "a renewal must not publish the will")
                let answer = try await cloud.call("command", payload: #"{"id":"r1","device":"boiler-1","write":{"pump":true}}"#, rid: "6a")
                #expect(answer.status == 200)

                // The first token no longer opens the hub: the renewal really used the second.
                let options = MQTTOptions(
                    host: "127.0.0.1", port: plant.hub.sasPort!, clientID: "probe", username: AzureCloud.userName,
                    password: tokens[0], tls: MQTTTLS(caFile: plant.hub.pki.caCert), connectTimeout: .seconds(5))
                await #expect {
                    try await MQTTConnection.connect(options, logger: Logger(label: "probe"))
                } throws: { error in
                    if case .refused = error as? MQTTError { true } else { false }
                }
            }
        }
    }
}
