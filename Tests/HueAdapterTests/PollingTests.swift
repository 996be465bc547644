import DeviceMaps
import Foundation
import GatewayCore
import Logging
import TestSupport
import Testing

@testable import HueAdapter

@Suite("Hue adapter polling", .serialized, .timeLimit(.minutes(1)))
struct PollingTests {
    @Test("lights and sensors are read with their conversions: temperature from 0.01 °C, lux from the light level")
    func conversions() async throws {
        try await withBridge { bridge in
            bridge.updateLight("1") {
                $0.on = true; $0.bri = 200; $0.hue = 1000; $0.sat = 50; $0.ct = 250; $0.xy = [0.3, 0.4]
            }
            bridge.updateSensor("4") { $0.temperature = 2153 }
            bridge.updateSensor("5") { $0.presence = true }
            bridge.updateSensor("6") { $0.lightlevel = 20001 }
            bridge.updateSensor("7") { $0.open = true }
            let device = hueDevice(
                "room", port: bridge.port,
                points: [
                    huePoint("on", .light, "1", .on), huePoint("bri", .light, "1", .bri), huePoint("hue", .light, "1", .hue),
                    huePoint("sat", .light, "1", .sat), huePoint("ct", .light, "1", .ct), huePoint("x", .light, "1", .x),
                    huePoint("y", .light, "1", .y), huePoint("mode", .light, "1", .colormode), huePoint("reachable", .light, "1", .reachable),
                    huePoint("percent", .light, "1", .bri, scale: 100.0 / 254),
                    huePoint("temperature", .sensor, "4", .temperature, unit: "°C"), huePoint("battery", .sensor, "4", .battery),
                    huePoint("presence", .sensor, "5", .presence), huePoint("level", .sensor, "6", .lightlevel),
                    huePoint("lux", .sensor, "6", .lux), huePoint("dark", .sensor, "6", .dark), huePoint("daylight", .sensor, "6", .daylight),
                    huePoint("door", .sensor, "7", .open), huePoint("updated", .sensor, "7", .lastupdated),
                ])
            let board = ReadingBoard()
            try await running(HueAdapter(devices: [device], logger: quietLogger), into: board) {
                let expected: [String: Value] = [
                    "on": .bool(true), "bri": .int(200), "hue": .int(1000), "sat": .int(50), "ct": .int(250), "x": .double(0.3),
                    "y": .double(0.4), "mode": .string("ct"), "reachable": .bool(true), "temperature": .double(21.53),
                    "battery": .int(100), "presence": .bool(true), "level": .int(20001), "dark": .bool(false),
                    "daylight": .bool(false), "door": .bool(true), "updated": .string("none"),
                ]
                _ = try await board.wait(for: "room.updated")
                for (point, value) in expected {
                    let reading = try #require(board.latest("room.\(point)"))
                    #expect(reading.value == value, "\(point)")
                    #expect(reading.quality == .good, "\(point)")
                }
                #expect(board.latest("room.temperature")?.unit == "°C")
                let lux = try #require(board.latest("room.lux")?.value?.numeric)
                #expect(abs(lux - 100) < 1e-9)
                let percent = try #require(board.latest("room.percent")?.value?.numeric)
                #expect(abs(percent - 200 * 100 / 254) < 1e-9)
            }
        }
    }

    @Test("devices on one bridge share one GET /lights and one GET /sensors per poll, never a request per point; each device reports at its own period")
    func oneRequestPerCollection() async throws {
        try await withBridge { bridge in
            let devices = (1...3).map { n in
                hueDevice(
                    "lamp-\(n)", port: bridge.port, poll: n == 1 ? .milliseconds(100) : .seconds(60),
                    points: [
                        huePoint("on", .light, "\(n)", .on), huePoint("bri", .light, "\(n)", .bri),
                        huePoint("temperature", .sensor, "4", .temperature),
                    ])
            }
            let board = ReadingBoard()
            try await running(HueAdapter(devices: devices, logger: quietLogger), into: board) {
                let deadline = ContinuousClock.now + .seconds(20)
                while board.batches("lamp-1") < 10, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            }
            let polls = board.batches("lamp-1")
            #expect(polls >= 10)
            // Every poll reads both collections once; the devices polled every minute got their
            // one batch from the first answers and wait for their own period.
            #expect(board.batches("lamp-2") == 1 && board.batches("lamp-3") == 1)
            // A poll cancelled between its requests and its batches adds one request.
            #expect((polls...polls + 1).contains(bridge.requestCount("GET /lights")))
            #expect(bridge.requestCount("GET /sensors") == bridge.requestCount("GET /lights"))
            #expect(bridge.requestCount("GET /lights/1") == 0 && bridge.requestCount("GET /sensors/4") == 0)
        }
    }

    @Test("while the sink is not ready the bridge is not asked and the skipped cycles are counted, logged once; polls resume once it is ready")
    func skipsWhileBusy() async throws {
        try await withBridge { bridge in
            let devices = ["lamp-1", "lamp-2"].map { id in
                hueDevice(id, port: bridge.port, points: [huePoint("on", .light, "1", .on), huePoint("temperature", .sensor, "4", .temperature)])
            }
            let board = ReadingBoard()
            let log = LogCapture()
            let adapter = HueAdapter(devices: devices, logger: log.logger)
            try await running(adapter, into: board) {
                _ = try await board.wait(for: "lamp-2.on")
                #expect(adapter.busySkipCount == 0)
                board.setReady(false)
                // After its first skip the poller asks before every cycle: nothing more is read.
                try #require(await eventually(timeout: .seconds(20)) { adapter.busySkipCount >= 1 })
                board.clear()
                let lights = bridge.requestCount("GET /lights"), sensors = bridge.requestCount("GET /sensors")
                let skips = adapter.busySkipCount
                try #require(await eventually(timeout: .seconds(20)) { adapter.busySkipCount >= skips + 3 })
                #expect(board.batches("lamp-1") == 0 && board.batches("lamp-2") == 0)
                #expect(bridge.requestCount("GET /lights") == lights && bridge.requestCount("GET /sensors") == sensors)

                board.setReady(true)
                _ = try await board.wait(for: "lamp-1.temperature")
                _ = try await board.wait(for: "lamp-2.on")
            }
            let reports = log.messages(at: .warning).filter { $0.contains("telemetry pipeline busy") }
            #expect(reports.count == 1, "\(reports)")
            #expect(reports.first?.contains("Hue poll cycle(s) of 1 bridge(s)") == true, "\(reports)")
        }
    }

    @Test("a map without sensor points never asks for sensors")
    func onlyNeededCollections() async throws {
        try await withBridge { bridge in
            let board = ReadingBoard()
            let device = hueDevice("lamp", port: bridge.port, points: [huePoint("on", .light, "1", .on)])
            try await running(HueAdapter(devices: [device], logger: quietLogger), into: board) {
                _ = try await board.wait(for: "lamp.on")
            }
            #expect(bridge.requestCount("GET /lights") >= 1)
            #expect(bridge.requestCount("GET /sensors") == 0)
        }
    }

    @Test("an unknown user, a light the bridge lacks, a field the light type lacks: bad readings that say why")
    func badReadings() async throws {
        try await withBridge(lights: [HueSimLight(id: "1"), HueSimLight(id: "2", type: "Dimmable light")]) { bridge in
            let stranger = hueDevice("stranger", port: bridge.port, user: "not-paired", points: [huePoint("on", .light, "1", .on)])
            let lamp = hueDevice(
                "lamp", port: bridge.port,
                points: [
                    huePoint("ghost", .light, "7", .on), huePoint("ct", .light, "2", .ct), huePoint("on", .light, "2", .on),
                ])
            let board = ReadingBoard()
            try await running(HueAdapter(devices: [stranger, lamp], logger: quietLogger), into: board) {
                let refused = try await board.wait(for: "stranger.on")
                #expect(refused.value == nil)
                #expect(
                    refused.quality == .bad("bridge 127.0.0.1:\(bridge.port) refused the username: unauthorized user — pair again with `edgegate hue pair`"))
                #expect(try await board.wait(for: "lamp.ghost").quality == .bad("light 7 not on bridge 127.0.0.1:\(bridge.port)"))
                #expect(try await board.wait(for: "lamp.ct").quality == .bad("light 2 (Dimmable light) has no ct"))
                #expect(try await board.wait(for: "lamp.on").quality == .good)
            }
        }
    }

    @Test("an unreachable light keeps its last known state as uncertain; its reachable point stays good")
    func unreachableLight() async throws {
        try await withBridge { bridge in
            let device = hueDevice("lamp", port: bridge.port, points: [huePoint("on", .light, "1", .on), huePoint("reachable", .light, "1", .reachable)])
            let board = ReadingBoard()
            try await running(HueAdapter(devices: [device], logger: quietLogger), into: board) {
                _ = try await board.wait(for: "lamp.on") { $0.quality == .good }
                bridge.updateLight("1") { $0.reachable = false }
                let on = try await board.wait(for: "lamp.on") { $0.quality != .good }
                #expect(on.quality == .uncertain("light 1 unreachable: the bridge reports its last known state"))
                #expect(on.value == .bool(false))
                let reachable = try await board.wait(for: "lamp.reachable") { $0.value == .bool(false) }
                #expect(reachable.quality == .good)
            }
        }
    }

    @Test("an unreachable bridge makes every point bad, naming the bridge, and is logged once per collection")
    func unreachableBridge() async throws {
        let port = try await withBridge { $0.port }  // stopped: nothing listens there any more
        let device = hueDevice("lamp", port: port, points: [huePoint("on", .light, "1", .on), huePoint("t", .sensor, "4", .temperature)])
        let board = ReadingBoard()
        let log = LogCapture()
        try await running(HueAdapter(devices: [device], logger: log.logger), into: board) {
            let polls = board.batches("lamp")
            while board.batches("lamp") < polls + 3 { try await Task.sleep(for: .milliseconds(20)) }
            // Logged once per collection while the reason stays the same, not once per point and poll.
            #expect(log.count("bad reading") == 2, "\(log.lines)")
            for point in ["lamp.on", "lamp.t"] {
                let reading = try await board.wait(for: point)
                #expect(reading.value == nil)
                #expect(reading.quality.reason?.hasPrefix("bridge 127.0.0.1:\(port) unreachable: ") == true, "\(reading.quality)")
            }
        }
    }

    @Test("an update adds and removes devices; no reading of a removed device follows")
    func update() async throws {
        try await withBridge { bridge in
            let one = hueDevice("one", port: bridge.port, points: [huePoint("on", .light, "1", .on)])
            let two = hueDevice("two", port: bridge.port, points: [huePoint("t", .sensor, "4", .temperature)])
            let adapter = HueAdapter(devices: [one], logger: quietLogger)
            let board = ReadingBoard()
            try await running(adapter, into: board) {
                _ = try await board.wait(for: "one.on")
                await adapter.update(devices: [two])
                board.clear()
                _ = try await board.wait(for: "two.t")
                let after = board.batches("two")
                while board.batches("two") < after + 3 { try await Task.sleep(for: .milliseconds(20)) }
                #expect(board.batches("one") == 0)
                #expect(adapter.devices.map(\.id) == ["two"])
            }
        }
    }

    @Test("bridge values that do not fit their field become bad readings that say what came")
    func garbage() throws {
        let light: JSONValue = .object([
            "type": .string("Extended color light"),
            "state": .object(["on": .number(1), "bri": .string("high"), "xy": .array([.number(0.3)])]),
        ])
        let point = { (field: HueField) in huePoint(field.rawValue, .light, "1", field) }
        #expect(throws: HueError.unreadable("light 1 on: the bridge sent 1, not true or false")) { try HueReadout.value(of: point(.on), in: light).get() }
        #expect(throws: HueError.unreadable("light 1 bri: the bridge sent \"high\", not a whole number")) {
            try HueReadout.value(of: point(.bri), in: light).get()
        }
        #expect(throws: HueError.unreadable("light 1 x: the bridge sent [0.3], not two numbers")) { try HueReadout.value(of: point(.x), in: light).get() }
    }
}
