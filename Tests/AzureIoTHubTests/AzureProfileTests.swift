import Foundation
import GatewayCore
import Logging
import MQTTClient
import TestSupport
import Testing

@testable import AzureIoTHub
@testable import Uplink

/// The `azure-iot-hub` profile's decisions without a hub: credentials, names, the mapping of
/// methods and C2D messages to commands, statuses, twin documents.
@Suite("azure-iot-hub profile")
struct AzureProfileTests {
    static let key = "c2VjcmV0LWtleS0xMjM0NTY3ODkw"
    static let clock = Date(timeIntervalSince1970: 1_800_000_000.7)
    let configured = MQTTOptions(
        host: "myhub.azure-devices.net", port: 8883, clientID: "configured", username: "u", password: "p",
        tls: MQTTTLS(caFile: "ca.pem"))

    func profile(_ authentication: AzureIoTHubProfile.Authentication, logger: Logger = Logger(label: "t")) -> AzureIoTHubProfile {
        AzureIoTHubProfile(
            hub: "myhub.azure-devices.net", deviceID: "gw-1", gatewayID: "gw-1", authentication: authentication,
            logger: logger, now: { Self.clock })
    }

    func json(_ bytes: [UInt8]) -> [String: JSONValue] {
        if case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) { return o.dictionary }
        return [:]
    }

    @Test("SAS: client id = device id, IoT Hub's user name, a token valid for the TTL from now, renewed at 80 % of it; the will is a status event")
    func sasPlan() throws {
        let plan = try profile(.sas(key: { Self.key }, ttl: .seconds(3600))).connectionPlan(configured)
        #expect(plan.options.clientID == "gw-1")
        #expect(plan.options.username == "myhub.azure-devices.net/gw-1/?api-version=2021-04-12")
        #expect(plan.options.password == (try AzureIoTHub.sasToken(hub: "myhub.azure-devices.net", deviceID: "gw-1", key: Self.key, expiry: 1_800_003_600)))
        #expect(plan.expiry == Date(timeIntervalSince1970: 1_800_003_600))
        #expect(plan.renewAfter == .seconds(2880))
        #expect(plan.credential == "SAS token")
        #expect(plan.options.tls == configured.tls)
        #expect(!plan.options.description.contains("SharedAccessSignature"), "the token must not appear in logs")
        let will = try #require(plan.options.will)
        #expect(will.topic == "devices/gw-1/messages/events/$.ct=application%2Fjson&$.ce=utf-8&edgegate-type=status")
        #expect(will.qos == 1 && !will.retain)
        #expect(json(will.payload)["online"] == .bool(false))
        #expect(json(will.payload)["reason"] == .string("connection lost"))
        // Made before connecting, the will cannot know when the connection will be lost: it
        // states no `ts`, only when its connection began.
        #expect(json(will.payload)["ts"] == nil)
        guard case .string(let connectedAt)? = json(will.payload)["connected_at"] else {
            Issue.record("no connected_at in \(String(decoding: will.payload, as: UTF8.self))")
            return
        }
        #expect(Timestamp.parse(connectedAt) != nil, "\(connectedAt)")
    }

    @Test("X.509: the certificate is the credential: no password, nothing to renew")
    func x509Plan() throws {
        let plan = try profile(.x509).connectionPlan(configured)
        #expect(plan.options.clientID == "gw-1")
        #expect(plan.options.username == "myhub.azure-devices.net/gw-1/?api-version=2021-04-12")
        #expect(plan.options.password == nil)
        #expect(plan.renewAfter == nil && plan.expiry == nil)
    }

    @Test("a key that cannot be read or is not base64 fails the plan with the reason, never the key")
    func badKeys() {
        #expect(throws: UplinkCredentialError("cannot read the device key file 'k': permission denied")) {
            try profile(
                .sas(
                    key: { () throws(AzureIoTHub.CredentialError) -> String in
                        throw .keyFile("cannot read the device key file 'k': permission denied")
                    }, ttl: .seconds(60))
            ).connectionPlan(configured)
        }
        #expect(throws: UplinkCredentialError(AzureIoTHub.CredentialError.keyNotBase64.description)) {
            try profile(.sas(key: { "not base64!" }, ttl: .seconds(60))).connectionPlan(configured)
        }
    }

    @Test("telemetry goes to the events topic with content type, encoding and type, below 256 KB with its properties")
    func telemetry() {
        let p = profile(.x509)
        #expect(p.telemetryTopic == "devices/gw-1/messages/events/$.ct=application%2Fjson&$.ce=utf-8&edgegate-type=telemetry")
        #expect(p.maxTelemetryBytes == 255 * 1024)
    }

    @Test("direct methods: `command` takes the command JSON; another name is that named command; a missing id is made")
    func methodMapping() throws {
        let write = try AzureIoTHub.methodCommand(name: "command", payload: Array(#"{"id":"a","device":"boiler-1","write":{"setpoint":21.5}}"#.utf8)).get()
        #expect(write == Command(id: "a", device: "boiler-1", action: .write(["setpoint": .double(21.5)])))

        let named = try AzureIoTHub.methodCommand(
            name: "set_temperature", payload: Array(#"{"device":"boiler-1","args":{"celsius":40}}"#.utf8),
            newID: { "made-1" }
        ).get()
        #expect(named == Command(id: "made-1", device: "boiler-1", action: .named("set_temperature", arguments: ["celsius": .int(40)])))

        let expiring = try AzureIoTHub.methodCommand(
            name: "start_pump", payload: Array(#"{"device":"boiler-1","ttl_ms":5000}"#.utf8),
            now: Self.clock, newID: { "made-2" }
        ).get()
        #expect(expiring.expiresAt == Self.clock.addingTimeInterval(5))
    }

    @Test("a method payload that is no command is refused with an id, so that the call is always answered")
    func methodRefusals() {
        func failure(_ name: String, _ payload: String) -> CommandDecodingError? {
            if case .failure(let e) = AzureIoTHub.methodCommand(name: name, payload: Array(payload.utf8), newID: { "made" }) { return e }
            return nil
        }
        #expect(failure("command", "{oops") == CommandDecodingError(id: "made", message: "method 'command': the payload is not valid JSON"))
        #expect(failure("command", #"{"id":"x7","device":"#)?.id == "x7", "the id is salvaged from broken JSON")
        #expect(failure("command", "null") == CommandDecodingError(id: "made", message: "method 'command': the payload must be a JSON object, got null"))
        #expect(failure("command", #"{"id":5,"device":"b","write":{}}"#)?.id == "made")
        #expect(
            failure("start_pump", #"{"id":"c","device":"b","command":"other"}"#)
                == CommandDecodingError(id: "c", message: "method 'start_pump' names the command itself: 'command' goes with method 'command' only"))
        #expect(failure("command", #"{"device":"b"}"#) == CommandDecodingError(id: "made", message: "command made needs either 'command' or 'write'"))
    }

    @Test("every command status has a method status; a busy refusal is 429")
    func statuses() {
        let expected: [CommandStatus: Int] = [.ok: 200, .duplicate: 200, .rejected: 400, .unknownDevice: 404, .expired: 410, .failed: 502, .timeout: 504]
        #expect(Set(expected.keys) == Set(CommandStatus.allCases))
        for (status, code) in expected {
            #expect(AzureIoTHub.methodStatus(status) == code, "\(status)")
        }
        #expect(AzureIoTHub.methodStatus(.rejected, busy: true) == 429)
    }

    @Test("C2D: the message id stands in for a missing command id, also when the payload is broken")
    func cloudToDevice() throws {
        let command = try AzureIoTHub.cloudToDeviceCommand(payload: Array(#"{"device":"boiler-1","write":{"pump":true}}"#.utf8), messageID: "m-1").get()
        #expect(command.id == "m-1")
        let own = try AzureIoTHub.cloudToDeviceCommand(payload: Array(#"{"id":"c-9","device":"boiler-1","write":{"pump":true}}"#.utf8), messageID: "m-2").get()
        #expect(own.id == "c-9")
        guard case .failure(let broken) = AzureIoTHub.cloudToDeviceCommand(payload: Array("{broken".utf8), messageID: "m-3") else {
            Issue.record("broken JSON decoded")
            return
        }
        #expect(broken.id == "m-3")
        guard case .failure(let anonymous) = AzureIoTHub.cloudToDeviceCommand(payload: Array("{broken".utf8), messageID: nil) else {
            Issue.record("broken JSON decoded")
            return
        }
        #expect(anonymous.id == nil, "without any id the message cannot be answered")
    }

    @Test("incoming topics: methods and C2D become commands answered on the right topic; twin answers and others do not")
    func incoming() throws {
        let p = profile(.x509)
        let result = CommandResult(id: "c-1", status: .unknownDevice, message: "no device boiler-9")

        let method = try #require(
            p.command(
                from: MQTTMessage(
                    topic: "$iothub/methods/POST/command/?$rid=2f", payload: Array(#"{"id":"c-1","device":"boiler-9","write":{"a":1}}"#.utf8), qos: 0,
                    retain: false)))
        #expect(try method.command.get().id == "c-1")
        #expect(method.answer!(result, false).topic == "$iothub/methods/res/404/?$rid=2f")
        #expect(method.answer!(result, true).topic == "$iothub/methods/res/429/?$rid=2f")
        #expect(json(method.answer!(result, false).payload)["status"] == .string("unknown_device"))

        let c2d = try #require(
            p.command(
                from: MQTTMessage(
                    topic: "devices/gw-1/messages/devicebound/%24.mid=m%2F1&%24.to=%2Fdevices%2Fgw-1%2Fmessages%2FdeviceBound",
                    payload: Array(#"{"device":"boiler-9","write":{"a":1}}"#.utf8), qos: 1, retain: false)))
        #expect(try c2d.command.get().id == "m/1")
        let answer = c2d.answer!(CommandResult(id: "m/1", status: .ok, message: "done"), false)
        #expect(answer.topic == "devices/gw-1/messages/events/$.ct=application%2Fjson&$.ce=utf-8&edgegate-type=response&$.cid=m%2F1")
        #expect(answer.qos == 1 && !answer.retain)

        #expect(p.command(from: MQTTMessage(topic: "$iothub/twin/res/204/?$rid=1&$version=3", payload: [], qos: 0, retain: false)) == nil)
        #expect(p.command(from: MQTTMessage(topic: "devices/gw-2/messages/devicebound/", payload: [], qos: 1, retain: false)) == nil)
        #expect(
            p.command(from: MQTTMessage(topic: "$iothub/methods/POST/command/", payload: [], qos: 0, retain: false)) == nil,
            "a call without a request id cannot be answered")
    }

    @Test("method and twin answer topics are read exactly")
    func topics() {
        let call = AzureIoTHub.MethodCall(topic: "$iothub/methods/POST/start_pump/?$rid=1f")
        #expect(call?.name == "start_pump" && call?.requestID == "1f")
        #expect(AzureIoTHub.MethodCall(topic: "$iothub/methods/POST//?$rid=1") == nil)
        #expect(AzureIoTHub.MethodCall(topic: "$iothub/methods/POST/x/?foo=1") == nil)
        let answer = AzureIoTHub.TwinAnswer(topic: "$iothub/twin/res/204/?$rid=12&$version=4")
        #expect(answer?.status == 204 && answer?.requestID == "12")
        #expect(AzureIoTHub.TwinAnswer(topic: "$iothub/twin/res/abc/?$rid=12") == nil)
        #expect(AzureIoTHub.propertyBag("%24.mid=a%26b&x=&iothub-ack=full") == ["$.mid": "a&b", "x": "", "iothub-ack": "full"])
    }

    @Test("twin documents write every key, null included, because a PATCH merges and would keep stale ones")
    func twinDocuments() throws {
        let online = json(AzureIoTHub.statusPatch(gateway: "gw-1", online: true, reason: nil, at: Self.clock))
        #expect(online["status"] == .object(["online": .bool(true), "ts": .string("2027-01-15T08:00:00.700Z"), "gateway": .string("gw-1"), "reason": .null]))
        let offline = json(AzureIoTHub.statusPatch(gateway: "gw-1", online: false, reason: "shutdown", at: Self.clock))
        #expect(
            offline["status"]
                == .object(["online": .bool(false), "ts": .string("2027-01-15T08:00:00.700Z"), "gateway": .string("gw-1"), "reason": .string("shutdown")]))

        let device = DeviceDescriptor(
            id: "boiler-1", protocolName: "modbus",
            points: [
                PointDescriptor(name: "setpoint", kind: .number, unit: "°C", access: .readwrite, min: 5, max: 90, typeName: "int16")
            ])
        let (patch, complete) = AzureIoTHub.inventoryPatch(gateway: "gw-1", devices: [device], limit: 24 * 1024, at: Self.clock)
        #expect(complete)
        guard case .object(let inventory)? = json(patch)["inventory"] else {
            Issue.record("no inventory in \(String(decoding: patch, as: UTF8.self))")
            return
        }
        #expect(inventory["complete"] == .bool(true))
        #expect(inventory["gateway"] == .string("gw-1"))
        // The rest is the mqtt profile's inventory, key for key.
        var mqtt = json(MQTTWire.inventory(gateway: "gw-1", devices: [device], at: Self.clock))
        mqtt["complete"] = .bool(true)
        #expect(inventory.dictionary == mqtt)
    }

    @Test("an inventory too large for the twin is reported in short within the limit, as many devices as fit, complete: false")
    func largeInventory() async throws {
        let points = (0..<20).map {
            PointDescriptor(name: "point-\($0)", kind: .number, unit: "kWh", access: .readwrite, min: 0, max: 1000, typeName: "uint32")
        }
        let devices = (0..<1000).map { DeviceDescriptor(id: "meter-\($0)", protocolName: "modbus", points: points) }
        let limit = 24 * 1024
        // Half a second of encoding in a debug build, kept off the concurrency pool.
        let full: Int = await inBackground { MQTTWire.inventory(gateway: "gw-1", devices: devices).count }
        #expect(full > limit)
        let (patch, complete): ([UInt8], Bool) = await inBackground {
            AzureIoTHub.inventoryPatch(gateway: "gw-1", devices: devices, limit: limit, at: Self.clock)
        }
        #expect(!complete)
        #expect(patch.count <= limit)
        guard case .object(let inventory)? = json(patch)["inventory"], case .array(let listed)? = inventory["devices"] else {
            Issue.record("no device list in \(String(decoding: patch, as: UTF8.self))")
            return
        }
        #expect(inventory["complete"] == .bool(false))
        #expect(Set(inventory.keys) == ["complete", "gateway", "ts", "devices"])
        #expect(listed.count > 100 && listed.count < 1000)
        #expect(listed.first == .object(["id": .string("meter-0"), "protocol": .string("modbus")]))
    }
}
