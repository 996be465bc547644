import DevTools
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import HueAdapter
import Logging
import MQTTClient
import Synchronization
import TestSupport
import Testing
import Uplink

/// The devices of the mixed gateway, one text each, so that a reload can add and drop them.
/// `PORT` is the Modbus simulator's port, `SITE` the site broker's URL, `BRIDGE` the Hue bridge's.
enum MixedMaps {
    static let boiler = """
          - id: boiler-1
            protocol: modbus
            connection: { host: 127.0.0.1, port: PORT, unit_id: 1, timeout: 2s }
            poll: 250ms
            points:
              temperature: { table: holding, address: 0, type: int16, scale: 0.1, unit: "°C" }
              setpoint:    { table: holding, address: 1, type: int16, scale: 0.1, unit: "°C", access: readwrite, min: 5, max: 90 }
        """

    /// A zigbee2mqtt light whose state is switched with an explicit payload template.
    static let hallLight = """
          - id: hall-light
            protocol: mqtt
            connection: { broker: "SITE", insecure: true, topic: "zigbee2mqtt/{id}" }
            points:
              state:      { path: $.state, type: bool, true_value: "ON", false_value: "OFF", access: readwrite,
                            payload: '{"state": "{value}"}' }
              brightness: { path: $.brightness, type: int64 }
        """

    /// The light a reload adds, on the same broker (so it joins the hall light's connection).
    static let porchLight = """
          - id: porch-light
            protocol: mqtt
            connection: { broker: "SITE", insecure: true, topic: "zigbee2mqtt/{id}" }
            points:
              state: { path: $.state, type: bool, true_value: "ON", false_value: "OFF", access: readwrite }
        """

    /// Light 1 of the bridge; the username comes from the environment, as in production.
    static let lamp = """
          - id: living-room-lamp
            protocol: hue
            connection: { bridge: "BRIDGE", username_env: \(hueUsernameVariable) }
            poll: 500ms
            points:
              on:         { resource: light, id: 1, field: on, access: readwrite }
              brightness: { resource: light, id: 1, field: bri, access: readwrite }
              transition: { resource: light, id: 1, field: transitiontime, access: write, unit: ds, max: 100 }
            commands:
              dim:
                args: { level: { type: integer, min: 1, max: 254 } }
                write: { on: true, brightness: $level, transition: 4 }
        """

    static let door = """
          - id: front-door
            protocol: door-sim
            connection: { seed: 7, door: front }
            poll: 250ms
            points:
              closed:  { field: contact }
              battery: { field: battery, unit: "%" }
        """

    /// The poll periods above, in seconds, for the gap check across a reload.
    static let boilerPoll = 0.25, lampPoll = 0.5

    static let hueUsernameVariable = "EDGEGATE_MIXED_GATEWAY_TEST_HUE_USERNAME"
    /// Whitelisted by the test bridge; must never appear in a log line or the inventory.
    static let hueUsername = "mixed-gateway-secret-username"
}

/// What the mixed gateway talks to besides the plant's hub and Modbus simulator: a site broker
/// for the zigbee2mqtt lights, with a client playing the lights, and a Hue bridge simulator.
struct MixedSite {
    let plant: Plant
    let broker: TestSiteBroker
    let bridge: HueBridgeSimulator
    /// Publishes as zigbee2mqtt does for its lights.
    let lights: MQTTConnection

    /// A device map of `devices` (texts of `MixedMaps`) with the broker's and bridge's addresses filled in.
    static func yaml(_ devices: [String], broker: TestSiteBroker, bridge: HueBridgeSimulator) -> String {
        ("devices:\n" + devices.joined(separator: "\n"))
            .replacingOccurrences(of: "SITE", with: broker.url)
            .replacingOccurrences(of: "BRIDGE", with: bridge.url)
    }

    /// The same for a reload of the running gateway.
    func deviceMap(_ devices: [String]) throws -> DeviceMap {
        try plant.deviceMap(Self.yaml(devices, broker: broker, bridge: bridge))
    }

    /// Publishes a light's state as zigbee2mqtt does (QoS 1, acknowledged by the broker).
    func publish(_ light: String, _ payload: String, retain: Bool = false) async throws {
        try await lights.publish("zigbee2mqtt/\(light)", payload: Array(payload.utf8), qos: 1, retain: retain)
    }

    /// Starts the site broker, the bridge (light 1 off at brightness 77, frozen sensors) and a
    /// plant serving `devices`; runs `body`; stops everything whatever happens.
    static func run(_ devices: [String], _ body: (MixedSite) async throws -> Void) async throws {
        // Set before the gateway starts (the adapter reads it at its first request). Only the
        // first call changes the environment (no overwrite): the variable is this suite's own,
        // so other suites reading the environment meanwhile see at most one variable appear.
        setenv(MixedMaps.hueUsernameVariable, MixedMaps.hueUsername, 0)
        let broker = try await TestSiteBroker.start()
        var light = HueBridgeSimulator.defaultLights[0]
        light.on = false
        light.bri = 77
        let bridge = HueBridgeSimulator(
            lights: [light] + HueBridgeSimulator.defaultLights.dropFirst(), usernames: [MixedMaps.hueUsername],
            animated: false, logger: Logger(label: "hue-sim"))
        do {
            try await bridge.start()
            let lights = try await MQTTConnection.connect(
                broker.options(clientID: "zigbee2mqtt-\(UUID().uuidString.prefix(6))"),
                logger: Logger(label: "zigbee2mqtt"))
            do {
                try await Plant.run(mapYAML: yaml(devices, broker: broker, bridge: bridge)) { plant in
                    try await body(MixedSite(plant: plant, broker: broker, bridge: bridge, lights: lights))
                }
            } catch {
                await lights.disconnect()
                throw error
            }
            await lights.disconnect()
        } catch {
            await bridge.stop()
            await broker.stop()
            throw error
        }
        await bridge.stop()
        await broker.stop()
    }
}

/// One gateway with a device of every protocol (Modbus, MQTT, Hue, door-sim), assembled from a
/// configuration and a device map as `edgegate run` assembles it, through the mutual-TLS hub:
/// real mosquitto hub and site broker, libmodbus simulator, Hue bridge simulator over HTTP.
@Suite("Gateway with Modbus, MQTT, Hue and door-sim devices", .serialized, .timeLimit(.minutes(2)))
struct MixedGatewayTests {
    static let allDevices = [MixedMaps.boiler, MixedMaps.hallLight, MixedMaps.lamp, MixedMaps.door]

    /// Waits for the newest reading of `device.point` received after `mark` readings that
    /// satisfies `predicate`, and returns it.
    func reading(
        _ view: OperatorView, _ device: String, _ point: String, after mark: Int = 0,
        where predicate: @escaping ([String: JSONValue]) -> Bool = { _ in true }
    ) async throws -> [String: JSONValue] {
        try await waitFor("a reading of \(device).\(point)", timeout: .seconds(30)) {
            view.latest(point, of: device, after: mark).flatMap { predicate($0) ? $0 : nil }
        }
    }

    /// A list of names as the inventory writes it.
    func names(_ list: [String]) -> JSONValue { .array(list.map { .string($0) }) }

    /// Light 1's state PUTs the bridge received.
    func lampWrites(_ bridge: HueBridgeSimulator) -> [HueSimWrite] {
        bridge.writeLog.filter { $0.method == "PUT" && $0.resource == "/lights/1/state" }
    }

    @Test(
        "telemetry and the retained inventory of every device reach the operator; commands through the hub reach each device as its protocol takes them, and the router refuses what the map forbids"
    )
    func telemetryInventoryAndCommands() async throws {
        try await MixedSite.run(Self.allDevices) { site in
            let probe = try ProbeClient(port: site.plant.modbusPort)
            try probe.writeHolding(0, 215)
            // Retained, as zigbee2mqtt keeps a light's state: it arrives whenever the gateway subscribes.
            try await site.publish("hall-light", #"{"state":"ON","brightness":120}"#, retain: true)
            try await site.plant.withGatewayAndOperator { _, view in
                // Telemetry of every device, with the values its own source holds.
                let temperature = try await reading(view, "boiler-1", "temperature")
                #expect(temperature["value"] == .number(21.5) && temperature["unit"] == .string("°C"), "\(temperature)")
                let state = try await reading(view, "hall-light", "state")
                #expect(state["value"] == .bool(true) && state["quality"] == .string("good"), "\(state)")
                #expect(try await reading(view, "hall-light", "brightness")["value"] == .integer(120))
                let brightness = try await reading(view, "living-room-lamp", "brightness")
                #expect(brightness["value"] == .integer(77) && brightness["quality"] == .string("good"), "\(brightness)")
                #expect(try await reading(view, "living-room-lamp", "on")["value"] == .bool(false))
                #expect(view.latest("transition", of: "living-room-lamp") == nil, "a write-only point is never reported")
                let closed = try await reading(view, "front-door", "closed")
                #expect(closed["quality"] == .string("good"), "\(closed)")
                if case .bool = closed["value"] {} else { Issue.record("front-door.closed is not a bool: \(closed)") }
                let battery = try await reading(view, "front-door", "battery")
                #expect(battery["value"] == .integer(100) && battery["unit"] == .string("%"), "\(battery)")

                // The retained inventory: every device with its protocol, points, writable points, commands.
                _ = try await waitFor("inventory of the four devices") {
                    view.inventoryDevices == ["boiler-1", "front-door", "hall-light", "living-room-lamp"] ? true : nil
                }
                let expected: [(id: String, kind: String, points: [String], writable: [String], commands: [String])] = [
                    ("boiler-1", "modbus", ["temperature", "setpoint"], ["setpoint"], []),
                    ("hall-light", "mqtt", ["state", "brightness"], ["state"], []),
                    ("living-room-lamp", "hue", ["on", "brightness", "transition"], ["on", "brightness", "transition"], ["dim"]),
                    ("front-door", "door-sim", ["closed", "battery"], [], []),
                ]
                for device in expected {
                    let entry = try #require(view.inventoryDevice(device.id))
                    #expect(entry["protocol"] == .string(device.kind), "\(device.id): \(entry)")
                    #expect(view.inventoryPoints(of: device.id) == device.points, "\(device.id): \(entry)")
                    #expect(entry["writable"] == names(device.writable), "\(device.id): \(entry)")
                    guard case .array(let commands)? = entry["commands"] else {
                        Issue.record("\(device.id): no commands in \(entry)")
                        continue
                    }
                    let commandNames = commands.compactMap { node -> String? in
                        if case .object(let c) = node, case .string(let name)? = c["name"] { return name }
                        return nil
                    }
                    #expect(commandNames == device.commands, "\(device.id): \(entry)")
                }

                // MQTT write: exactly the templated payload on the light's command topic.
                let setTopic = "zigbee2mqtt/hall-light/set"
                let subscriber = try await SiteSubscriber(broker: site.broker, filter: "\(setTopic)/#")
                let off = try await view.send(#"{"id":"mx-1","device":"hall-light","write":{"state":false}}"#, id: "mx-1")
                #expect(off["status"] == .string("ok"), "\(off)")
                #expect(off["values"] == .object(["state": .bool(false)]), "MQTT has no read-back: the values as sent. \(off)")
                // A second write marks the end: messages to one subscriber keep their order.
                let on = try await view.send(#"{"id":"mx-2","device":"hall-light","write":{"state":true}}"#, id: "mx-2")
                #expect(on["status"] == .string("ok"), "\(on)")
                _ = try await waitFor("both commands on \(setTopic)", timeout: .seconds(20)) { subscriber.messages.count >= 2 ? true : nil }
                let published = subscriber.messages
                #expect(published.map(\.topic) == [setTopic, setTopic], "\(published)")
                #expect(published.map(\.payload) == [#"{"state": "OFF"}"#, #"{"state": "ON"}"#], "\(published)")
                await subscriber.close()

                // Hue named command: one PUT with every field of the light, then the values read back.
                let putsBefore = lampWrites(site.bridge).count
                let readBacksBefore = site.bridge.requestCount("GET /lights/1")
                let dim = try await view.send(#"{"id":"mx-3","device":"living-room-lamp","command":"dim","args":{"level":200}}"#, id: "mx-3")
                #expect(dim["status"] == .string("ok"), "\(dim)")
                #expect(dim["values"] == .object(["on": .bool(true), "brightness": .integer(200)]), "\(dim)")
                let puts = lampWrites(site.bridge).dropFirst(putsBefore)
                #expect(puts.count == 1, "\(puts)")
                let body = try puts.first.map { try JSONDecoder().decode(JSONValue.self, from: Data($0.body.utf8)) }
                #expect(body == .object(["on": .bool(true), "bri": .integer(200), "transitiontime": .integer(4)]), "\(puts)")
                #expect(site.bridge.requestCount("GET /lights/1") == readBacksBefore + 1, "one read-back GET of the light")
                #expect(site.bridge.light("1")?.bri == 200 && site.bridge.light("1")?.on == true)

                // Beyond the bridge's range: refused by the router, nothing sent to the bridge.
                let tooBright = try await view.send(#"{"id":"mx-4","device":"living-room-lamp","write":{"brightness":300}}"#, id: "mx-4")
                #expect(tooBright["status"] == .string("rejected"), "\(tooBright)")
                #expect(tooBright["message"] == .string("living-room-lamp.brightness: 300 is above the maximum 254"), "\(tooBright)")
                #expect(lampWrites(site.bridge).count == putsBefore + 1)

                // A door sensor only reports.
                let door = try await view.send(#"{"id":"mx-5","device":"front-door","write":{"closed":false}}"#, id: "mx-5")
                #expect(door["status"] == .string("rejected"), "\(door)")
                #expect(door["message"] == .string("front-door.closed is read-only"), "\(door)")

                // The same id twice: executed once, the repeat answered duplicate.
                let again = #"{"id":"mx-6","device":"living-room-lamp","command":"dim","args":{"level":90}}"#
                let first = try await view.send(again, id: "mx-6")
                #expect(first["status"] == .string("ok"), "\(first)")
                #expect(lampWrites(site.bridge).count == putsBefore + 2)
                // Someone dims the lamp at the wall; a repeated command must not undo that.
                site.bridge.updateLight("1") { $0.bri = 33 }
                view.responses.withLock { $0.removeAll() }
                let repeated = try await view.send(again, id: "mx-6")
                #expect(repeated["status"] == .string("duplicate"), "\(repeated)")
                #expect(lampWrites(site.bridge).count == putsBefore + 2, "\(lampWrites(site.bridge))")
                #expect(site.bridge.light("1")?.bri == 33)

                // The Hue username is a secret: in no log line and not in the inventory.
                #expect(!site.plant.log.contains(MixedMaps.hueUsername))
                #expect(!"\(view.inventory.withLock { $0 } ?? [:])".contains(MixedMaps.hueUsername))
            }
        }
    }

    @Test(
        "a hot reload adds an MQTT light and removes the door-sim device: the new light reports, the door stops, the inventory follows, and the Modbus and Hue devices report throughout"
    )
    func reload() async throws {
        try await MixedSite.run(Self.allDevices) { site in
            try await site.publish("hall-light", #"{"state":"ON","brightness":120}"#, retain: true)
            try await site.plant.withGatewayAndOperator { gateway, view in
                for (device, point) in [
                    ("boiler-1", "temperature"), ("hall-light", "state"), ("living-room-lamp", "brightness"),
                    ("front-door", "closed"),
                ] {
                    _ = try await reading(view, device, point)
                }
                _ = try await waitFor("inventory of the four devices") {
                    view.inventoryDevices == ["boiler-1", "front-door", "hall-light", "living-room-lamp"] ? true : nil
                }
                // The porch light's state waits on the broker for the subscription the reload makes.
                try await site.publish("porch-light", #"{"state":"OFF"}"#, retain: true)

                let reloadStarted = Date()
                let diff = try await gateway.reload(
                    to: site.deviceMap([
                        MixedMaps.boiler, MixedMaps.hallLight, MixedMaps.lamp,
                        MixedMaps.porchLight,
                    ]))
                #expect(diff.added.map(\.id) == ["porch-light"] && diff.removed == ["front-door"] && diff.changed.isEmpty, "\(diff)")
                #expect(Set(diff.unchanged) == ["boiler-1", "hall-light", "living-room-lamp"], "\(diff)")

                // The new light reports: its retained state, then a live one published after the reload.
                #expect(try await reading(view, "porch-light", "state")["value"] == .bool(false))
                try await site.publish("porch-light", #"{"state":"ON"}"#)
                _ = try await reading(view, "porch-light", "state", where: { $0["value"] == .bool(true) })
                // Readings go through one FIFO from the adapters to the operator, so whatever
                // arrives after this one was emitted after the reload returned.
                let mark = try #require(
                    view.readings.withLock { all in
                        all.firstIndex { $0.device == "porch-light" && $0.fields["value"] == .bool(true) }
                    })

                _ = try await waitFor("inventory with the porch light, without the door") {
                    view.inventoryDevices == ["boiler-1", "hall-light", "living-room-lamp", "porch-light"] ? true : nil
                }
                #expect(view.inventoryPoints(of: "porch-light") == ["state"])
                #expect(view.inventoryDevice("porch-light")?["writable"] == names(["state"]))
                let gone = try await view.send(#"{"id":"rl-1","device":"front-door","write":{"closed":true}}"#, id: "rl-1")
                #expect(gone["status"] == .string("unknown_device"), "\(gone)")
                let porch = try await view.send(#"{"id":"rl-2","device":"porch-light","write":{"state":false}}"#, id: "rl-2")
                #expect(porch["status"] == .string("ok"), "\(porch)")

                // Many door poll periods later (the boiler and the door poll at the same period),
                // nothing more from the door.
                _ = try await waitFor("eight boiler polls and four lamp polls after the reload", timeout: .seconds(30)) {
                    view.readings.withLock { all in
                        let after = all.dropFirst(mark)
                        return after.filter { $0.device == "boiler-1" && $0.point == "temperature" }.count >= 8
                            && after.filter { $0.device == "living-room-lamp" && $0.point == "brightness" }.count >= 4 ? true : nil
                    }
                }
                let doorAfter = view.readings.withLock { $0.dropFirst(mark).filter { $0.device == "front-door" }.count }
                #expect(doorAfter == 0, "front-door readings after it was removed: \(doorAfter)")

                // The devices the reload left alone reported throughout: readings on both sides
                // of it, never further apart than several of their poll periods (loose on purpose: the
                // machine is loaded; a device restarted or stalled by the reload would exceed it).
                let reloadEnded = try #require(
                    view.readings.withLock { all -> Date? in
                        guard case .string(let ts)? = all[mark].fields["ts"] else { return nil }
                        return Timestamp.parse(ts)
                    })
                for (device, point, poll) in [
                    ("boiler-1", "temperature", MixedMaps.boilerPoll),
                    ("living-room-lamp", "brightness", MixedMaps.lampPoll),
                ] {
                    let stamps = view.readings.withLock { all in
                        all.filter { $0.device == device && $0.point == point }.compactMap { reading -> Date? in
                            guard case .string(let ts)? = reading.fields["ts"] else { return nil }
                            return Timestamp.parse(ts)
                        }
                    }.sorted()
                    #expect(
                        (stamps.first ?? .distantFuture) < reloadStarted && (stamps.last ?? .distantPast) > reloadEnded,
                        "\(device).\(point): readings from \(String(describing: stamps.first)) to \(String(describing: stamps.last))")
                    let longest = zip(stamps.dropFirst(), stamps).map { $0.timeIntervalSince($1) }.max() ?? 0
                    #expect(longest < 8 * poll, "\(device).\(point): longest gap \(longest) s between readings, poll \(poll) s")
                }
                // The Modbus connection stayed open across the reload.
                #expect(site.plant.log.count("connected to 127.0.0.1:\(site.plant.modbusPort)") == 1, "\(site.plant.log.lines.suffix(20))")
            }
        }
    }
}
