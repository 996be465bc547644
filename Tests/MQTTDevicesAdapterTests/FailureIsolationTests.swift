import DevTools
import DeviceMaps
import Foundation
import GatewayCore
import MQTTClient
import MQTTDevicesAdapter
import TestSupport
import Testing

/// One device's trouble stays that device's: a topic the broker cannot take, a device added
/// while the broker is down, a plain connection nobody allowed.
@Suite("MQTT devices adapter: failures stay where they belong", .timeLimit(.minutes(1)))
struct FailureIsolationTests {
    /// `ok` and `other` on one broker; `other` renamed in code to `id` (the loader refuses it).
    static func map(_ broker: TestSiteBroker, _ ids: [String]) -> String {
        "devices:\n"
            + ids.map { id in
                """
                  - id: \(id)
                    protocol: mqtt
                    connection: { broker: "\(broker.url)", insecure: true, topic: "iso/{id}" }
                    points: { v: { path: $.v, type: int64 }, w: { path: $.w, type: int64 } }

                """
            }.joined()
    }

    static func renaming(_ from: String, to id: String) -> @Sendable ([DeviceDefinition]) -> [DeviceDefinition] {
        { devices in
            devices.map { d in
                var d = d
                if d.id == from { d.id = id }
                return d
            }
        }
    }

    @Test("a topic filter the broker cannot take makes only its points bad, logged once; the session and the other devices go on")
    func refusedFilter() async throws {
        try await withRig({ Self.map($0, ["ok", "other"]) }, adjust: Self.renaming("other", to: "bad#1")) { rig in
            // withRig waited for the session to be up although one filter was refused.
            let bad = try #require(await rig.readings.waitForBatch(timeout: .seconds(20)) { $0.first?.device == "bad#1" })
            #expect(bad.map(\.point) == ["v", "w"])
            for reading in bad {
                #expect(reading.quality.name == "bad" && reading.value == nil)
                #expect(reading.quality == .bad("cannot subscribe to 'iso/bad#1': invalid function arguments provided."), "names the filter")
            }
            let ok = try await rig.reading("ok", "v", after: "iso/ok", #"{"v": 1, "w": 2}"#)
            #expect(ok["v"]?.value == .int(1) && ok["v"]?.quality == .good)
            #expect(rig.adapter.connectedBrokers == 1)
            #expect(!rig.readings.all.joined().contains { $0.device == "ok" && $0.quality != .good }, "ok never read bad")
            #expect(rig.logs.count("cannot reach their broker") == 0)
            #expect(rig.logs.count("subscription failed") == 1, "\(rig.logs.lines)")
        }
    }

    @Test("a device with a refused filter added by update reads bad, and the session stays up for the others")
    func refusedFilterOnUpdate() async throws {
        try await withRig({ Self.map($0, ["ok"]) }) { rig in
            _ = try await rig.reading("ok", "v", after: "iso/ok", #"{"v": 1, "w": 2}"#)
            rig.readings.reset()
            let more = Self.renaming("other", to: "bad+1")(try devices(Self.map(rig.broker, ["ok", "other"])))
            await rig.adapter.update(devices: more)
            // Emitted before update returned.
            let bad = try #require(rig.readings.all.first { $0.first?.device == "bad+1" }, "\(rig.readings.all)")
            #expect(bad.allSatisfy { $0.quality.reason?.contains("iso/bad+1") == true }, "\(bad)")
            #expect(rig.logs.count("subscription failed") == 1, "\(rig.logs.lines)")
            #expect(rig.adapter.connectedBrokers == 1)
            let ok = try await rig.reading("ok", "v", after: "iso/ok", #"{"v": 3, "w": 4}"#)
            #expect(ok["v"]?.value == .int(3))
            #expect(!rig.readings.all.joined().contains { $0.device == "ok" && $0.quality != .good })
        }
    }

    @Test("a device added while its broker is down reads bad with the broker's reason as soon as update returns")
    func addedDuringOutage() async throws {
        let port = try freeLoopbackPort()
        let yaml = { (ids: [String]) in
            "devices:\n"
                + ids.map { id in
                    """
                      - id: \(id)
                        protocol: mqtt
                        connection: { broker: "mqtt://127.0.0.1:\(port)", insecure: true, topic: "x/{id}" }
                        points: { a: { path: $.a } }

                    """
                }.joined()
        }
        let adapter = MQTTDevicesAdapter(devices: try devices(yaml(["d1"])), logger: LogCapture().logger, reconnect: fastReconnect)
        let readings = ReadingCollector()
        let running = Task { try await adapter.run(sink: readings.sink) }
        defer { running.cancel() }
        let first = try #require(await readings.waitForBatch(timeout: .seconds(20)) { _ in true })
        #expect(first.first?.device == "d1" && first.first?.quality.name == "bad")
        await adapter.update(devices: try devices(yaml(["d1", "d2"])))
        let added = try #require(readings.all.first { $0.first?.device == "d2" }, "no reading of d2: \(readings.all)")
        #expect(added.map(\.point) == ["a"])
        #expect(added.first?.quality.reason?.hasPrefix("broker mqtt://127.0.0.1:\(port): ") == true, "\(added)")
    }

    @Test("a plain mqtt:// connection made in code without insecure is refused, naming the broker, and never connects")
    func plainWithoutInsecure() async throws {
        let broker = try await TestSiteBroker.start()
        do {
            var loaded = try devices(
                """
                devices:
                  - id: plain
                    protocol: mqtt
                    connection: { broker: "\(broker.url)", insecure: true, topic: "p/{id}" }
                    points: { a: { path: $.a } }
                """)
            var connection = loaded[0].mqttConnection
            connection.insecure = false
            loaded[0].connection = connection
            let adapter = MQTTDevicesAdapter(devices: loaded, logger: LogCapture().logger, reconnect: fastReconnect)
            let readings = ReadingCollector()
            let running = Task { try await adapter.run(sink: readings.sink) }
            let batch = await readings.waitForBatch(timeout: .seconds(20)) { _ in true }
            let connected = adapter.connectedBrokers
            running.cancel()
            _ = try? await running.value
            let reading = try #require(batch?.first)
            #expect(reading.quality.name == "bad")
            #expect(reading.quality.reason?.hasPrefix("broker \(broker.url): ") == true, "\(reading.quality)")
            #expect(reading.quality.reason?.contains("insecure") == true, "\(reading.quality)")
            #expect(connected == 0)
        } catch {
            await broker.stop()
            throw error
        }
        await broker.stop()
    }
}
