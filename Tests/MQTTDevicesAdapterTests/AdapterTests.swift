import DevTools
import DeviceMaps
import Foundation
import GatewayCore
import Logging
import MQTTClient
import MQTTDevicesAdapter
import TestSupport
import Testing

@Suite("MQTT devices adapter against a real mosquitto", .timeLimit(.minutes(1)))
struct AdapterTests {
    @Test("devices sharing a wildcard topic get the messages whose id level names them; undeclared ids are counted, never devices")
    func wildcardsAndIDLevel() async throws {
        try await withRig({ broker in
            """
            devices:
              - id: s1
                protocol: mqtt
                connection: { broker: "\(broker.url)", insecure: true, topic: "sensors/+/state", id_level: 2 }
                points: { temp: { path: $.t, type: float64, unit: "°C" } }
              - id: s2
                protocol: mqtt
                connection: { broker: "\(broker.url)", insecure: true, topic: "sensors/+/state", id_level: 2 }
                points: { temp: { path: $.t, type: float64, unit: "°C" } }
              - id: hall
                protocol: mqtt
                connection: { broker: "\(broker.url)", insecure: true, topic: "site/{id}/#" }
                points: { lux: { path: $.lux, type: int64 } }
            """
        }) { rig in
            let s2 = try await rig.reading("s2", "temp", after: "sensors/s2/state", #"{"t": 19.5}"#)
            #expect(s2["temp"]?.value == .double(19.5) && s2["temp"]?.unit == "°C")
            #expect(!rig.readings.all.joined().contains { $0.device == "s1" })

            try await rig.publish("sensors/ghost/state", #"{"t": 1}"#)
            try await rig.publish("sensors/ghost/state", #"{"t": 2}"#)
            let s1 = try await rig.reading("s1", "temp", after: "sensors/s1/state", #"{"t": 21.25}"#)
            #expect(s1["temp"]?.value == .double(21.25))
            #expect(await eventually { rig.adapter.unknownIDMessages == 2 })
            #expect(!rig.readings.all.joined().contains { $0.device == "ghost" || $0.value == .double(1) || $0.value == .double(2) })
            #expect(rig.logs.count("undeclared device id") == 1, "logged once per id")

            // `#` matches the rest of the topic, at any depth.
            let hall = try await rig.reading("hall", "lux", after: "site/hall/floor/1", #"{"lux": 300}"#)
            #expect(hall["lux"]?.value == .int(300))
        }
    }

    @Test("JSON paths reach nested members, array elements and quoted keys; a missing field is bad with the path and topic")
    func jsonPaths() async throws {
        try await withRig({ broker in
            """
            devices:
              - id: d1
                protocol: mqtt
                connection: { broker: "\(broker.url)", insecure: true, topic: "dev/{id}" }
                points:
                  nested:  { path: $.a.b, type: float64 }
                  element: { path: "$.list[1]", type: int64 }
                  deep:    { path: "$.a.arr[2].c", type: string }
                  spaced:  { path: '$["key with space"]', type: bool }
                  missing: { path: $.a.nope, type: float64 }
                  whole:   { topic: "{topic}/raw", path: $, type: string }
            """
        }) { rig in
            let r = try await rig.reading(
                "d1", "nested", after: "dev/d1",
                #"{"a": {"b": 1.25, "arr": [0, 1, {"c": "x"}]}, "list": [5, 7], "key with space": true}"#)
            #expect(r["nested"]?.value == .double(1.25))
            #expect(r["element"]?.value == .int(7))
            #expect(r["deep"]?.value == .string("x"))
            #expect(r["spaced"]?.value == .bool(true))
            #expect(r["missing"]?.quality == .bad("no field $.a.nope in the payload on dev/d1"))
            #expect(r["missing"]?.value == nil)
            #expect(r["whole"] == nil, "a point on another topic is not part of this message's batch")

            let raw = try await rig.reading("d1", "whole", after: "dev/d1/raw", "plain text, not JSON")
            #expect(raw.keys.sorted() == ["whole"])
            #expect(raw["whole"]?.value == .string("plain text, not JSON"))
        }
    }

    @Test("values convert to the point's type, with true_value/false_value, scale and offset, and wrong types are bad with the reason")
    func typeConversion() async throws {
        try await withRig({ broker in
            """
            devices:
              - id: t1
                protocol: mqtt
                connection: { broker: "\(broker.url)", insecure: true, topic: "conv/{id}" }
                points:
                  i:      { path: $.i, type: int64 }
                  f:      { path: $.f, type: float64 }
                  i_as_f: { path: $.i, type: float64 }
                  s:      { path: $.s, type: string }
                  b:      { path: $.b, type: bool }
                  state:  { path: $.state, type: bool, true_value: "ON", false_value: "OFF" }
                  scaled: { path: $.raw, type: int64, scale: 0.1, offset: -5, unit: "°C" }
                  big:    { path: $.big, type: int64 }
                  over:   { path: $.over, type: int64 }
                  wrong:  { path: $.s, type: float64 }
                  frac:   { path: $.f, type: int64 }
                  online: { topic: "{topic}/availability", path: $.state, type: bool, true_value: online, false_value: offline }
            """
        }) { rig in
            let r = try await rig.reading(
                "t1", "i", after: "conv/t1",
                """
                {"i": 42, "f": 21.5, "s": "hello", "b": false, "state": "ON", "raw": 250,
                 "big": 9223372036854775807, "over": 9223372036854775808}
                """)
            #expect(r["i"]?.value == .int(42))
            #expect(r["f"]?.value == .double(21.5))
            #expect(r["i_as_f"]?.value == .double(42))
            #expect(r["s"]?.value == .string("hello"))
            #expect(r["b"]?.value == .bool(false))
            #expect(r["state"]?.value == .bool(true))
            #expect(r["scaled"]?.value == .double(20) && r["scaled"]?.unit == "°C")
            #expect(r["big"]?.value == .int(Int64.max), "exact beyond 2^53")
            #expect(r["over"]?.quality == .bad("$.over on conv/t1 is 9223372036854775808, which does not fit int64"))
            #expect(r["wrong"]?.quality == .bad(#"$.s on conv/t1 is the string "hello", expected a number"#))
            #expect(r["frac"]?.quality == .bad("$.f on conv/t1 is the number 21.5, expected a whole number (type int64)"))

            let off = try await rig.reading("t1", "state", after: "conv/t1", #"{"state": "OFF"}"#)
            #expect(off["state"]?.value == .bool(false))
            let blink = try await rig.reading("t1", "state", after: "conv/t1", #"{"state": "BLINK"}"#)
            #expect(blink["state"]?.quality == .bad(#"$.state on conv/t1 is the string "BLINK", expected ON or OFF"#))
            let malformed = try await rig.reading("t1", "state", after: "conv/t1", #"{"state": "ON""#)
            #expect(malformed["state"]?.quality == .bad("malformed JSON on conv/t1: unexpected end at byte 14"))

            // zigbee2mqtt's availability: {"state":"online"} now, a bare `offline` before 1.24.
            let current = try await rig.reading("t1", "online", after: "conv/t1/availability", #"{"state":"online"}"#)
            #expect(current["online"]?.value == .bool(true))
            let legacy = try await rig.reading("t1", "online", after: "conv/t1/availability", "offline")
            #expect(legacy["online"]?.value == .bool(false))
            // Bad: the first message (over, wrong, frac) and the three on conv/t1 after it, which
            // carry `state` only, so every other point of that topic misses its field.
            #expect(rig.adapter.statistics(device: "t1")?.badPayloads == 4)
            #expect(rig.adapter.statistics(device: "t1")?.messages == 6)
        }
    }

    @Test("a point without a message for stale_after turns bad naming the topic, and the next message makes it good")
    func staleness() async throws {
        try await withRig({ broker in
            """
            devices:
              - id: door
                protocol: mqtt
                connection: { broker: "\(broker.url)", insecure: true, topic: "doors/{id}", stale_after: 1h }
                poll: 100ms
                points:
                  contact: { path: $.contact, type: bool, stale_after: 300ms }
                  battery: { path: $.battery, type: float64 }
            """
        }) { rig in
            // The staleness clock starts at the subscription: on a slow machine `contact` may go
            // stale, in a batch of its own, before the first message arrives. The message's own
            // batch is the one with `battery`; the staleness that counts here comes after it.
            // Published without `rig.reading`, which forgets the batches before it: a stale batch
            // from before the message must stay in view to be counted below.
            try await rig.publish("doors/door", #"{"contact": true, "battery": 90}"#)
            let first = try #require(await rig.readings.waitForBatch(timeout: .seconds(20)) { batch in batch.contains { $0.point == "battery" } })
            #expect(first.first { $0.point == "contact" }?.quality == .good)
            let message = try #require(rig.readings.all.firstIndex { batch in batch.contains { $0.point == "battery" } })
            let stale = await rig.readings.waitForBatch(timeout: .seconds(20), from: message + 1) { batch in
                batch.contains { $0.point == "contact" && $0.quality != .good }
            }
            let batch = try #require(stale)
            #expect(batch.map(\.point) == ["contact"], "battery has the device's 1h")
            #expect(batch.first?.quality == .bad("no message on doors/door for 300ms"))
            // Every stale reading counted, and only those: the one after the message, and one
            // before it when the machine was that slow.
            let staleBatches = rig.readings.all.filter { batch in batch.contains { $0.point == "contact" && $0.quality != .good } }
            #expect(rig.adapter.statistics(device: "door")?.staleReadings == staleBatches.count)
            #expect((1...2).contains(staleBatches.count))

            let again = try await rig.reading("door", "battery", after: "doors/door", #"{"contact": false, "battery": 90}"#)
            #expect(again["contact"]?.quality == .good && again["contact"]?.value == .bool(false))
        }
    }

    @Test("stale_after: never on a point opts out of the device's stale_after (zigbee2mqtt's retained availability)")
    func staleNever() async throws {
        try await withRig({ broker in
            """
            devices:
              - id: door
                protocol: mqtt
                connection: { broker: "\(broker.url)", insecure: true, topic: "doors/{id}", stale_after: 300ms }
                poll: 100ms
                points:
                  contact:   { path: $.contact, type: bool }
                  available: { topic: "{topic}/availability", path: $.state, type: bool, true_value: online, false_value: offline,
                               stale_after: never }
            """
        }) { rig in
            // Both points count from the same subscription instant: with a limit, both would
            // turn stale in the same check, in one batch.
            let stale = try #require(
                await rig.readings.waitForBatch(timeout: .seconds(20)) { batch in
                    batch.contains { $0.quality != .good }
                })
            #expect(stale.map(\.point) == ["contact"])
            #expect(!rig.readings.all.joined().contains { $0.point == "available" })
        }
    }

    @Test("10,000 random payloads: no crash, every one accounted for, and a valid payload afterwards reads correctly")
    func fuzz() async throws {
        try await withRig({ broker in
            """
            devices:
              - id: fz
                protocol: mqtt
                connection: { broker: "\(broker.url)", insecure: true, topic: "fuzz/{id}" }
                points:
                  v: { path: $.a.v, type: float64 }
                  n: { path: "$.n[0]", type: int64 }
            """
        }) { rig in
            var generator = Fuzz(seed: 0x5EED_2026)
            let total = 10_000
            var valid = 0
            var sent = 0
            while sent < total {
                // Bounded lag: the broker and the adapter's buffer stay far below their limits.
                guard await eventually(timeout: .seconds(30), { (rig.adapter.statistics(device: "fz")?.messages ?? 0) >= sent - 1000 }) else {
                    throw TestFailure("the adapter fell behind: \(String(describing: rig.adapter.statistics(device: "fz"))) of \(sent)")
                }
                var ids: [Int32] = []
                for _ in 0..<min(500, total - sent) {
                    let (payload, isValid) = generator.payload()
                    if isValid { valid += 1 }
                    ids.append(try rig.device.send("fuzz/fz", payload: payload, qos: 1, retain: false))
                    sent += 1
                }
                for id in ids { try await rig.device.acknowledgement(of: id) }
            }
            let counted = await eventually(timeout: .seconds(30)) { rig.adapter.statistics(device: "fz")?.messages == total }
            let stats = try #require(rig.adapter.statistics(device: "fz"))
            #expect(counted, "\(stats)")
            let batches = rig.readings.all.filter { $0.first?.device == "fz" }
            #expect(batches.count == total)
            #expect(batches.allSatisfy { $0.count == 2 })
            let good = batches.filter { $0.allSatisfy { $0.quality == .good } }.count
            #expect(good == valid, "only the generator's valid payloads read good")
            #expect(good + stats.badPayloads == total)
            #expect(batches.joined().allSatisfy { $0.quality == .good ? $0.value != nil : $0.value == nil })

            let after = try await rig.reading("fz", "v", after: "fuzz/fz", #"{"a": {"v": 3.5}, "n": [12]}"#)
            #expect(after["v"]?.value == .double(3.5) && after["n"]?.value == .int(12))
        }
    }

    @Test("writes publish the template to the command topic; points sharing it go out as one merged object")
    func commands() async throws {
        try await withRig({ broker in
            """
            devices:
              - id: lamp
                protocol: mqtt
                connection: { broker: "\(broker.url)", insecure: true, topic: "zigbee2mqtt/{id}" }
                points:
                  state:      { path: $.state, type: bool, true_value: "ON", false_value: "OFF", access: readwrite }
                  brightness: { path: $.brightness, type: int64, access: readwrite, min: 0, max: 254 }
                  color_temp: { path: $.color_temp, type: int64, access: readwrite, command_topic: "{topic}/set/color_temp", payload: "{value}" }
                  effect:     { path: $.effect, type: string, access: readwrite, payload: '{"effect": "{value}", "source": "edgegate"}' }
                  level:      { path: $.level, type: float64, scale: 0.5, access: readwrite }
                  linkquality: { path: $.linkquality, type: int64 }
            """
        }) { rig in
            let sub = try await SiteSubscriber(broker: rig.broker, filter: "zigbee2mqtt/lamp/set/#")
            defer { Task { await sub.close() } }
            func next(_ count: Int) async throws -> [(topic: String, payload: String)] {
                guard await eventually(timeout: .seconds(20), { sub.messages.count >= count }) else {
                    throw TestFailure("expected \(count) commands, got \(sub.messages)")
                }
                return sub.messages
            }

            #expect(try await rig.adapter.write(device: "lamp", values: ["state": .bool(true)]) == ["state": .bool(true)])
            var got = try await next(1)
            #expect(got[0].topic == "zigbee2mqtt/lamp/set" && got[0].payload == #"{"state": "ON"}"#)

            _ = try await rig.adapter.write(device: "lamp", values: ["state": .bool(false), "brightness": .int(200)])
            got = try await next(2)
            #expect(got[1].topic == "zigbee2mqtt/lamp/set" && got[1].payload == #"{"state":"OFF","brightness":200}"#)

            _ = try await rig.adapter.write(
                device: "lamp",
                values: [
                    "color_temp": .int(350), "effect": .string(#"say "hi""#),
                    "level": .int(10),
                ])
            got = try await next(4)
            #expect(got[2].topic == "zigbee2mqtt/lamp/set/color_temp" && got[2].payload == "350")
            #expect(got[3].topic == "zigbee2mqtt/lamp/set")
            #expect(got[3].payload == #"{"effect":"say \"hi\"","source":"edgegate","level":20}"#, "level 10 at scale 0.5 is raw 20")

            // Values the templates cannot express are refused before anything is published.
            for (point, value) in [
                ("brightness", Value.double(2.5)), ("level", .double(.infinity)), ("effect", .int(3)),
                ("linkquality", .int(1)),
            ] {
                await #expect(throws: WriteError.self) {
                    try await rig.adapter.write(device: "lamp", values: ["state": .bool(true), point: value])
                }
            }
            let refusal = await #expect(throws: WriteError.self) {
                try await rig.adapter.write(device: "lamp", values: ["brightness": .double(2.5)])
            }
            #expect(refusal == .rejected("lamp.brightness: 2.5 is not a whole number (nothing was published)"))
            _ = try await rig.adapter.write(device: "lamp", values: ["brightness": .int(1)])
            got = try await next(5)
            #expect(got.count == 5 && got[4].payload == #"{"brightness": 1}"#, "nothing published in between: \(got)")
        }
    }

    @Test("an unreachable broker makes every point bad with a reason naming the broker")
    func brokerDown() async throws {
        let port = try freeLoopbackPort()
        let logs = LogCapture()
        let adapter = MQTTDevicesAdapter(
            devices: try devices(
                """
                devices:
                  - id: d
                    protocol: mqtt
                    connection: { broker: "mqtt://127.0.0.1:\(port)", insecure: true, topic: "x/{id}" }
                    points: { a: { path: $.a }, b: { path: $.b, type: bool }, w: { path: $.w, access: write } }
                """), logger: logs.logger, reconnect: fastReconnect)
        let readings = ReadingCollector()
        let running = Task { try await adapter.run(sink: readings.sink) }
        defer { running.cancel() }
        let batch = try #require(await readings.waitForBatch(timeout: .seconds(20)) { _ in true })
        #expect(batch.map(\.point) == ["a", "b"])
        for reading in batch {
            #expect(reading.quality.name == "bad")
            #expect(reading.quality.reason?.hasPrefix("broker mqtt://127.0.0.1:\(port): ") == true, "\(reading.quality)")
        }
        // Retries go on, but the same failure is reported (and logged) once.
        try await Task.sleep(for: .milliseconds(600))
        #expect(readings.all.count == 1)
        #expect(logs.count("cannot reach their broker") == 1)
        let refusal = await #expect(throws: WriteError.self) { try await adapter.write(device: "d", values: ["a": Value.int(1)]) }
        #expect(refusal == .rejected("d.a is read-only"))
        let failure = await #expect(throws: WriteError.self) { try await adapter.write(device: "d", values: ["w": Value.int(1)]) }
        #expect(failure.map { "\($0)" }?.contains("d.w: write failed: broker mqtt://127.0.0.1:\(port): ") == true, "\(String(describing: failure))")
    }

    @Test("a device on mutual TLS reads through the broker's TLS listener")
    func mutualTLS() async throws {
        try await withRig(
            tls: true,
            { broker in
                let pki = broker.pki!
                return """
                    devices:
                      - id: secure
                        protocol: mqtt
                        connection: { broker: "mqtts://127.0.0.1:\(broker.tlsPort!)", ca: "\(pki.caCert)",
                                      cert: "\(pki.gatewayCert)", key: "\(pki.gatewayKey)", topic: "tls/{id}" }
                        points: { t: { path: $.t } }
                    """
            }
        ) { rig in
            let r = try await rig.reading("secure", "t", after: "tls/secure", #"{"t": 7.5}"#)
            #expect(r["t"]?.value == .double(7.5))
        }
    }
}

/// Deterministic payloads for the fuzz test: random bytes, truncated and mangled JSON, wrong
/// types, huge numbers, deep nesting, empty payloads, and valid ones (which it reports).
struct Fuzz {
    private var random: SplitMix64

    init(seed: UInt64) {
        random = SplitMix64(seed: seed)
    }

    mutating func next() -> UInt64 { random.next() }

    mutating func int(_ range: Range<Int>) -> Int { range.lowerBound + random.below(range.count) }

    mutating func validJSON() -> String {
        let v = Double(int(-100_000..<100_000)) / 100
        return #"{"a": {"v": \#(v), "x": [1, 2]}, "n": [\#(int(-1000..<1000)), "z"], "extra": "\u00e9"}"#
    }

    /// A payload, and whether both points read good from it.
    mutating func payload() -> ([UInt8], Bool) {
        switch int(0..<10) {
        case 0: return ((0..<int(0..<200)).map { _ in UInt8(truncatingIfNeeded: next()) }, false)
        case 1:
            let text = Array(validJSON().utf8)
            return (Array(text.prefix(int(0..<text.count))), false)
        case 2:
            let wrong = [#""1.5""#, "true", "null", "[1]", "{}", #""""#]
            return (Array(#"{"a": {"v": \#(wrong[int(0..<wrong.count)])}, "n": [1]}"#.utf8), false)
        case 3:
            let huge = ["1e999", "-1e999", "123456789012345678901234567890"]
            let pick = huge[int(0..<huge.count)]
            // A huge v is beyond float64 only for the exponents; the 30 digits fit a double, so n carries it too.
            return (Array(#"{"a": {"v": \#(pick)}, "n": [\#(pick)]}"#.utf8), false)
        case 4:
            let depth = int(1..<5000)
            return (Array((String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)).utf8), false)
        case 5: return ([], false)
        case 6:
            let roots = ["[1, 2]", "42", #""text""#, "null", #"{"a": [1], "n": [1]}"#, #"{"a": {"v": 1}, "n": []}"#]
            return (Array(roots[int(0..<roots.count)].utf8), false)
        case 7: return (Array(#"{"a": {"v": "\#u{FFFF}\#u{0}"}, "n": [1]}"#.utf8) + [0xC3, 0x28], false)
        default: return (Array(validJSON().utf8), true)
        }
    }
}

@Suite("MQTT devices adapter: reloads and broker restarts", .timeLimit(.minutes(1)))
struct AdapterLifecycleTests {
    static func map(_ broker: TestSiteBroker, _ ids: [String]) -> String {
        "devices:\n"
            + ids.map { id in
                """
                  - id: \(id)
                    protocol: mqtt
                    connection: { broker: "\(broker.url)", insecure: true, topic: "\(id == "a" ? "up" : "other")/{id}" }
                    points: { v: { path: $.v, type: int64 } }

                """
            }.joined()
    }

    @Test("update adds a device whose new topic reads as soon as update returns, and a removed device reads no more")
    func update() async throws {
        try await withRig({ Self.map($0, ["a"]) }) { rig in
            _ = try await rig.reading("a", "v", after: "up/a", #"{"v": 1}"#)
            await rig.adapter.update(devices: try devices(Self.map(rig.broker, ["a", "b"])))
            #expect(rig.adapter.devices.map(\.id) == ["a", "b"])
            let b = try await rig.reading("b", "v", after: "other/b", #"{"v": 2}"#)
            #expect(b["v"]?.value == .int(2))

            await rig.adapter.update(devices: try devices(Self.map(rig.broker, ["b"])))
            rig.readings.reset()
            try await rig.publish("up/a", #"{"v": 3}"#)
            try await rig.publish("other/b", #"{"v": 4}"#)
            // One publisher, in order: once b's message is read, a's has been seen and dropped.
            #expect(await rig.readings.waitForBatch(timeout: .seconds(20)) { $0.first?.value == .int(4) } != nil)
            #expect(!rig.readings.all.joined().contains { $0.device == "a" })
            await #expect(throws: WriteError.self) { try await rig.adapter.write(device: "a", values: ["v": Value.int(1)]) }
        }
    }

    @Test("a broker restart makes the points bad naming the broker, then the adapter reconnects and resubscribes")
    func brokerRestart() async throws {
        try await withRig({ Self.map($0, ["a"]) }) { rig in
            _ = try await rig.reading("a", "v", after: "up/a", #"{"v": 1}"#)
            rig.readings.reset()
            try await rig.broker.restart()
            let lost = try #require(await rig.readings.waitForBatch(timeout: .seconds(20)) { $0.first?.quality != .good })
            #expect(lost.first?.quality.reason?.hasPrefix("broker \(rig.broker.url): ") == true, "\(lost)")
            #expect(await eventually(timeout: .seconds(20)) { rig.adapter.connectedBrokers == 1 })
            let device = try await MQTTConnection.connect(
                rig.broker.options(clientID: "test-device-after-restart"),
                logger: Logger(label: "test-device"))
            defer { Task { await device.disconnect() } }
            rig.readings.reset()
            try await device.publish("up/a", payload: Array(#"{"v": 5}"#.utf8), qos: 1, retain: false)
            let back = try #require(await rig.readings.waitForBatch(timeout: .seconds(20)) { _ in true })
            #expect(back.first?.value == .int(5) && back.first?.quality == .good)
        }
    }
}
