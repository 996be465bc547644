import Foundation
import GatewayCore
import TestSupport
import Testing

@testable import Uplink

@Suite("mqtt wire contract")
struct MQTTWireTests {
    let ts = Date(timeIntervalSince1970: 1_795_442_400.123)  // 2026-11-23T14:00:00.123Z

    func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test("timestamps are RFC 3339 UTC with milliseconds")
    func timestamp() {
        #expect(Timestamp.rfc3339(ts) == "2026-11-23T14:00:00.123Z")
        #expect(abs(Timestamp.parse("2026-11-23T15:00:00.123+01:00")!.timeIntervalSince(ts)) < 0.000_5)
    }

    @Test("telemetry carries gateway, seq and every reading field; bad readings have null and a reason")
    func telemetry() throws {
        let readings = [
            Reading(device: "boiler-1", point: "temperature", value: .double(21.5), unit: "°C", quality: .good, timestamp: ts),
            Reading(device: "boiler-1", point: "pump", value: .bool(true), unit: nil, quality: .good, timestamp: ts),
            Reading(device: "meter \"7\"", point: "energy", value: nil, unit: "kWh", quality: .bad("connection refused"), timestamp: ts),
        ]
        let json = try object(MQTTWire.telemetry(gateway: "gw-1", seq: 42, readings: readings))
        #expect(json["gateway"] as? String == "gw-1")
        #expect((json["seq"] as? NSNumber)?.intValue == 42)
        let list = try #require(json["readings"] as? [[String: Any]])
        #expect(list.count == 3)
        #expect(list[0]["device"] as? String == "boiler-1")
        #expect(list[0]["point"] as? String == "temperature")
        #expect((list[0]["value"] as? NSNumber)?.doubleValue == 21.5)
        #expect(list[0]["unit"] as? String == "°C")
        #expect(list[0]["quality"] as? String == "good")
        #expect(list[0]["reason"] == nil)
        #expect(list[0]["ts"] as? String == "2026-11-23T14:00:00.123Z")
        #expect(list[1]["unit"] == nil)
        #expect(list[2]["device"] as? String == "meter \"7\"")
        #expect(list[2]["value"] is NSNull)
        #expect(list[2]["quality"] as? String == "bad")
        #expect(list[2]["reason"] as? String == "connection refused")
    }

    @Test("a telemetry message reads back into its readings: values, units, qualities and reasons, times to the millisecond")
    func telemetryReadsBack() throws {
        let readings = [
            Reading(device: "boiler-1", point: "temperature", value: .double(21.5), unit: "°C", quality: .good, timestamp: ts),
            Reading(device: "boiler-1", point: "counter", value: .int(4_294_967_295), unit: nil, quality: .good, timestamp: ts),
            Reading(device: "boiler-1", point: "pump", value: .bool(true), unit: nil, quality: .uncertain("stale \"flag\""), timestamp: ts),
            Reading(device: "lamp", point: "name", value: .string("hall ☀"), unit: nil, quality: .good, timestamp: ts + 1),
            Reading(device: "lamp", point: "on", value: nil, unit: nil, quality: .bad("timeout after 300 ms"), timestamp: ts + 2),
        ]
        let back = try #require(MQTTWire.readings(inTelemetry: MQTTWire.telemetry(gateway: "gw-1", seq: 7, readings: readings)))
        #expect(back == readings)
        #expect(MQTTWire.readings(inTelemetry: Array("{\"online\":true}".utf8)) == nil)
        #expect(MQTTWire.readings(inTelemetry: Array("not json".utf8)) == nil)
    }

    @Test("the reader's own scanner and the general JSON parser agree on 2,000 random messages")
    func telemetryScannerAgrees() throws {
        var random = SplitMix64(seed: 42)
        let texts = ["", "°C", "kWh", "hall ☀", "a\"b", "back\\slash", "tab\there", "line\nbreak", "plain"]
        var scannedMessages = 0
        for _ in 0..<2000 {
            let count = Int(random.next() % 20)
            let base = Date(timeIntervalSince1970: 1_700_000_000 + Double(random.next() % 100_000_000) / 1000)
            let readings = (0..<count).map { k -> Reading in
                let value: Value? =
                    switch random.next() % 6 {
                    case 0: .bool(random.next() % 2 == 0)
                    case 1: .int(Int64(bitPattern: random.next()))
                    case 2: .double(Double(Int64(bitPattern: random.next() % 2_000_000)) / 1000)
                    case 3: .double(Double(bitPattern: random.next() % 0x7FE0_0000_0000_0000))
                    case 4: .string(texts[Int(random.next() % UInt64(texts.count))])
                    default: nil
                    }
                let reason = texts[Int(random.next() % UInt64(texts.count))]
                let quality: Quality = value == nil ? .bad(reason) : random.next() % 5 == 0 ? .uncertain(reason) : .good
                let unit = random.next() % 3 == 0 ? texts[Int(random.next() % UInt64(texts.count))] : nil
                return Reading(
                    device: "dev-\(random.next() % 3)", point: "p\(k)", value: value, unit: unit, quality: quality,
                    timestamp: base + Double(random.next() % 3))
            }
            let payload = MQTTWire.telemetry(gateway: "gw-1", seq: random.next() % 1000, readings: readings)
            let general = try #require(MQTTWire.parsedReadings(payload))
            #expect(general.count == readings.count)
            if let scanned = MQTTWire.scannedReadings(payload) {
                scannedMessages += 1
                #expect(scanned == general)
            } else {
                // Only an escape in a string sends a message of ours the general way.
                #expect(payload.contains(UInt8(ascii: "\\")), "\(String(decoding: payload, as: UTF8.self))")
            }
        }
        #expect(scannedMessages > 200, "the scanner read \(scannedMessages) of 2,000 messages")
    }

    @Test("responses carry id, status, message, read-back values and ts")
    func response() throws {
        let result = CommandResult(id: "c-1", status: .unknownDevice, message: "no device", values: ["setpoint": .double(21.5)], timestamp: ts)
        let json = try object(MQTTWire.response(result))
        #expect(json["id"] as? String == "c-1")
        #expect(json["status"] as? String == "unknown_device")
        #expect(json["message"] as? String == "no device")
        #expect(((json["values"] as? [String: Any])?["setpoint"] as? NSNumber)?.doubleValue == 21.5)
        #expect(json["ts"] as? String == "2026-11-23T14:00:00.123Z")
    }

    @Test("the inventory lists points with type, access and limits, and the writable ones")
    func inventory() throws {
        let device = DeviceDescriptor(
            id: "boiler-1", protocolName: "modbus",
            points: [
                PointDescriptor(name: "temperature", kind: .number, unit: "°C", typeName: "int16"),
                PointDescriptor(name: "setpoint", kind: .number, unit: "°C", access: .readwrite, min: 5, max: 90, typeName: "int16"),
            ])
        let json = try object(MQTTWire.inventory(gateway: "gw-1", devices: [device], at: ts))
        let devices = try #require(json["devices"] as? [[String: Any]])
        #expect(devices.first?["id"] as? String == "boiler-1")
        #expect(devices.first?["writable"] as? [String] == ["setpoint"])
        let points = try #require(devices.first?["points"] as? [[String: Any]])
        #expect(points[1]["access"] as? String == "readwrite")
        #expect((points[1]["min"] as? NSNumber)?.doubleValue == 5)
        #expect((points[1]["max"] as? NSNumber)?.doubleValue == 90)
    }

    @Test("the inventory lists enum options and named commands with their arguments and writes")
    func inventoryCommands() throws {
        let mode = PointDescriptor(
            name: "mode", kind: .integer, access: .readwrite, typeName: "uint16",
            options: [EnumOption(label: "off", value: .int(0)), EnumOption(label: "heat", value: .int(1))])
        let heat = NamedCommand(
            name: "heat",
            arguments: [
                CommandArgument(
                    name: "celsius", rule: ValueRule(kind: .number, typeName: "number", min: 5, max: 90),
                    defaultValue: .int(20))
            ],
            writes: [TemplateWrite(point: "setpoint", value: .argument("celsius")), TemplateWrite(point: "mode", value: .literal(.int(1)))],
            description: "Heat to a setpoint")
        let device = DeviceDescriptor(id: "boiler-1", protocolName: "modbus", points: [mode], commands: [heat])
        let json = try object(MQTTWire.inventory(gateway: "gw-1", devices: [device], at: ts))
        let d = try #require((json["devices"] as? [[String: Any]])?.first)
        let options = try #require((d["points"] as? [[String: Any]])?.first?["options"] as? [[String: Any]])
        #expect(options.map { $0["name"] as? String } == ["off", "heat"])
        #expect(options.map { ($0["value"] as? NSNumber)?.intValue } == [0, 1])
        let command = try #require((d["commands"] as? [[String: Any]])?.first)
        #expect(command["name"] as? String == "heat")
        #expect(command["description"] as? String == "Heat to a setpoint")
        let arg = try #require((command["args"] as? [[String: Any]])?.first)
        #expect(arg["name"] as? String == "celsius" && arg["type"] as? String == "number")
        #expect((arg["min"] as? NSNumber)?.doubleValue == 5 && (arg["max"] as? NSNumber)?.doubleValue == 90)
        #expect((arg["default"] as? NSNumber)?.intValue == 20)
        let write = try #require(command["write"] as? [String: Any])
        #expect(write["setpoint"] as? String == "$celsius")
        #expect((write["mode"] as? NSNumber)?.intValue == 1)
    }

    @Test("a write command decodes with typed values")
    func decodeWrite() throws {
        let payload = #"{"id":"c-1","device":"boiler-1","write":{"setpoint":21.5,"pump":true,"mode":3,"label":"x"},"expires_at":"2026-11-23T14:00:00.123Z"}"#
        let command = try MQTTWire.decodeCommand(Array(payload.utf8)).get()
        #expect(command.id == "c-1")
        #expect(command.device == "boiler-1")
        #expect(command.action == .write(["setpoint": .double(21.5), "pump": .bool(true), "mode": .int(3), "label": .string("x")]))
        #expect(abs(command.expiresAt!.timeIntervalSince(ts)) < 0.000_5)
    }

    @Test("ttl_ms sets the expiry relative to arrival")
    func ttl() throws {
        let payload = #"{"id":"c-2","device":"d","command":"start","args":{"speed":2},"ttl_ms":1500}"#
        let command = try MQTTWire.decodeCommand(Array(payload.utf8), now: ts).get()
        #expect(command.action == .named("start", arguments: ["speed": .int(2)]))
        #expect(command.expiresAt == ts.addingTimeInterval(1.5))
    }

    @Test(
        "malformed commands name the problem and keep the id when it can be read",
        arguments: [
            (#"{"id":"a1","device":"d"}"#, "a1", "needs either 'command' or 'write'"),
            (#"{"id":"a2","device":"d","write":{"x":[1]}}"#, "a2", "write.x must be a bool, number or string, got an array"),
            (#"{"id":"a3","device":"d","write":{"x":null}}"#, "a3", "write.x must be a bool, number or string, got null"),
            (#"{"id":"a4","write":{"x":1}}"#, "a4", "has no string field 'device'"),
            (#"{"id":"a5","device":"d","write":{"x":1},"expires_at":"tomorrow"}"#, "a5", "'expires_at' must be an RFC 3339 time"),
            (#"{"id":"a6","device":"d","write":{"x":1},"colour":"red"}"#, "a6", "unknown field 'colour'"),
            (#"{"id":"a7","device":"d","write":{"x":1},"command":"c"}"#, "a7", "has both 'command' and 'write'"),
            (#"{"id":"a8","device":"d","write":{"x":1}"#, "a8", "not valid JSON"),
            (#"{"id":"a9","device":"d","write":[1,2]}"#, "a9", "'write' must be an object, got an array"),
            (#"{"id":"b1","device":"d","write":{"x":1},"by":7}"#, "b1", "'by' must be a non-empty string of at most 200 characters"),
            (
                #"{"id":"b2","device":"d","write":{"x":"# + String(repeating: "[", count: 9) + String(repeating: "]", count: 9) + "}}",
                "b2", "command nests deeper than 8 levels"
            ),
            (
                #"{"id":"b3","device":"d","write":{"x":""# + String(repeating: "y", count: 70_000) + #""}}"#,
                "b3", "command is 70041 bytes; at most 65536 are accepted"
            ),
            (#"{"id":"b4","device":"d",\#u{FF}"#, "b4", "not valid JSON"),
        ])
    func malformedWithID(payload: String, id: String, message: String) throws {
        guard case .failure(let error) = MQTTWire.decodeCommand(Array(payload.utf8)) else {
            Issue.record("decoded a malformed command")
            return
        }
        #expect(error.id == id)
        #expect(error.message.contains(message), "\(error.message)")
    }

    @Test(
        "garbage without an id yields an error without id",
        arguments: [
            "", "not json", "[1,2,3]", #"{"device":"d","write":{"x":1}}"#, #"{"id":7}"#, "\u{0}\u{1}\u{2}",
            #"{"id":""# + String(repeating: "i", count: 201) + #"","device":"d","write":{"x":1}}"#,
            String(repeating: "[", count: 100_000),
        ])
    func malformedWithoutID(payload: String) {
        guard case .failure(let error) = MQTTWire.decodeCommand(Array(payload.utf8)) else {
            Issue.record("decoded garbage")
            return
        }
        #expect(error.id == nil)
    }

    @Test("an encoded command decodes to the same command")
    func roundTrip() throws {
        let command = Command(id: "r1", device: "boiler-1", action: .write(["setpoint": .double(21.5), "pump": .bool(false)]), expiresAt: ts)
        let decoded = try MQTTWire.decodeCommand(MQTTWire.command(command)).get()
        #expect(decoded.id == command.id && decoded.device == command.device && decoded.action == command.action)
        #expect(abs(decoded.expiresAt!.timeIntervalSince(ts)) < 0.000_5)
    }

    @Test("what the CLI sends: ttl_ms instead of expires_at (counted from arrival), and who sent it in 'by'")
    func ttlAndBy() throws {
        let command = Command(id: "r2", device: "boiler-1", action: .named("start_pump", arguments: [:]), expiresAt: ts, by: "operator")
        let json = try object(MQTTWire.command(command, ttl: .milliseconds(2500)))
        #expect((json["ttl_ms"] as? NSNumber)?.intValue == 2500)
        #expect(json["expires_at"] == nil)
        #expect(json["by"] as? String == "operator")
        let arrival = ts.addingTimeInterval(60)
        let decoded = try MQTTWire.decodeCommand(MQTTWire.command(command, ttl: .milliseconds(2500)), now: arrival).get()
        #expect(decoded.expiresAt == arrival.addingTimeInterval(2.5))
        #expect(decoded.by == "operator")
        #expect(decoded.action == command.action)
    }

    @Test("the nesting check counts brackets outside strings only")
    func nesting() {
        #expect(!MQTTWire.nestsDeeper(Array(#"{"a":"[[[[[[[[[[[[","b":"\"[[[[[[[[[["}"#.utf8), than: 2))
        #expect(MQTTWire.nestsDeeper(Array(#"{"a":[[{"b":1}]]}"#.utf8), than: 3))
        #expect(!MQTTWire.nestsDeeper(Array(#"{"a":[[{"b":1}]]}"#.utf8), than: 4))
    }
}
