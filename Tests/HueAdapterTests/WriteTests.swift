import DeviceMaps
import Foundation
import GatewayCore
import HueAdapter
import Logging
import Testing

@Suite("Hue adapter writes", .serialized, .timeLimit(.minutes(1)))
struct WriteTests {
    static func lamp(port: Int, id: String = "1", commands: [NamedCommand] = []) -> DeviceDefinition {
        hueDevice(
            "lamp", port: port,
            points: [
                huePoint("on", .light, id, .on, access: .readwrite), huePoint("bri", .light, id, .bri, access: .readwrite),
                huePoint("hue", .light, id, .hue, access: .readwrite), huePoint("sat", .light, id, .sat, access: .readwrite),
                huePoint("ct", .light, id, .ct, access: .readwrite), huePoint("x", .light, id, .x, access: .readwrite),
                huePoint("y", .light, id, .y, access: .readwrite), huePoint("fade", .light, id, .transitiontime, access: .write),
                huePoint("alert", .light, id, .alert, access: .readwrite), huePoint("effect", .light, id, .effect, access: .readwrite),
                huePoint("percent", .light, id, .bri, access: .readwrite, scale: 100.0 / 254),
            ], commands: commands)
    }

    @Test("every field is written with one PUT per command and read back")
    func everyField() async throws {
        try await withBridge { bridge in
            let adapter = HueAdapter(devices: [Self.lamp(port: bridge.port)], logger: quietLogger)
            let back = try await adapter.write(device: "lamp", values: ["on": .bool(true), "bri": .int(200), "fade": .int(40)])
            #expect(back == ["on": .bool(true), "bri": .int(200)])
            #expect(bridge.writeLog.map(\.resource) == ["/lights/1/state"])
            let body = try #require(JSONValue.parse(Data(bridge.writeLog[0].body.utf8)))
            #expect(body == .object(["on": .bool(true), "bri": .integer(200), "transitiontime": .integer(40)]))

            #expect(try await adapter.write(device: "lamp", values: ["hue": .int(40000), "sat": .int(254)]) == ["hue": .int(40000), "sat": .int(254)])
            #expect(bridge.light("1")?.colormode == "hs")
            #expect(try await adapter.write(device: "lamp", values: ["ct": .int(153)]) == ["ct": .int(153)])
            #expect(try await adapter.write(device: "lamp", values: ["x": .double(0.2), "y": .double(0.6)]) == ["x": .double(0.2), "y": .double(0.6)])
            #expect(bridge.light("1")?.xy == [0.2, 0.6] && bridge.light("1")?.colormode == "xy")
            #expect(
                try await adapter.write(device: "lamp", values: ["alert": .string("select"), "effect": .string("colorloop")])
                    == ["alert": .string("select"), "effect": .string("colorloop")])
            let percent = try #require(try await adapter.write(device: "lamp", values: ["percent": .int(50)])["percent"]?.numeric)
            #expect(bridge.light("1")?.bri == 127)
            #expect(abs(percent - 127 * 100.0 / 254) < 1e-9)
            #expect(bridge.requestCount("PUT /lights/1/state") == 6)
        }
    }

    @Test("x alone keeps the light's y: the bridge takes both as xy")
    func xAlone() async throws {
        try await withBridge { bridge in
            bridge.updateLight("1") {
                $0.on = true; $0.xy = [0.3, 0.35]
            }
            let adapter = HueAdapter(devices: [Self.lamp(port: bridge.port)], logger: quietLogger)
            let back = try await adapter.write(device: "lamp", values: ["x": .double(0.5)])
            #expect(back == ["x": .double(0.5)])
            #expect(JSONValue.parse(Data(bridge.writeLog[0].body.utf8)) == .object(["xy": .array([.number(0.5), .number(0.35)])]))
        }
    }

    @Test("a named command with brightness and transition becomes one PUT with bri and transitiontime")
    func namedCommand() async throws {
        try await withBridge { bridge in
            let setLight = NamedCommand(
                name: "set_light",
                arguments: [
                    CommandArgument(name: "brightness", rule: ValueRule(kind: .integer, typeName: "integer", min: 1, max: 254)),
                    CommandArgument(name: "transition", rule: ValueRule(kind: .integer, typeName: "integer", min: 0, max: 100), defaultValue: .int(10)),
                ],
                writes: [
                    TemplateWrite(point: "on", value: .literal(.bool(true))), TemplateWrite(point: "bri", value: .argument("brightness")),
                    TemplateWrite(point: "fade", value: .argument("transition")),
                ])
            let adapter = HueAdapter(devices: [Self.lamp(port: bridge.port, commands: [setLight])], logger: quietLogger)
            let router = CommandRouter(adapters: [adapter], logger: quietLogger)
            let result = await router.execute(Command(id: "c1", device: "lamp", action: .named("set_light", arguments: ["brightness": .int(80)])))
            #expect(result.status == .ok, "\(result.message)")
            #expect(result.values == ["on": .bool(true), "bri": .int(80)])
            #expect(bridge.writeLog.count == 1)
            #expect(JSONValue.parse(Data(bridge.writeLog[0].body.utf8)) == .object(["on": .bool(true), "bri": .integer(80), "transitiontime": .integer(10)]))
        }
    }

    @Test("a command for two lights sends one PUT to each, and nothing when the request of either cannot be sent")
    func twoLights() async throws {
        try await withBridge { bridge in
            let room = hueDevice(
                "room", port: bridge.port,
                points: [
                    huePoint("left", .light, "1", .on, access: .readwrite), huePoint("right", .light, "2", .on, access: .readwrite),
                    huePoint("right_fade", .light, "2", .transitiontime, access: .write),
                ])
            let adapter = HueAdapter(devices: [room], logger: quietLogger)
            #expect(await attempt(adapter, "room", ["left": .bool(true), "right_fade": .int(5)]).rejection?.contains("light 2") == true)
            #expect(bridge.writeLog.isEmpty)
            let back = try await adapter.write(device: "room", values: ["left": .bool(true), "right": .bool(true), "right_fade": .int(5)])
            #expect(back == ["left": .bool(true), "right": .bool(true)])
            #expect(bridge.writeLog.map(\.resource) == ["/lights/1/state", "/lights/2/state"])
        }
    }

    @Test("the router refuses values outside the bridge's limits before any request")
    func routerLimits() async throws {
        try await withBridge { bridge in
            let adapter = HueAdapter(devices: [Self.lamp(port: bridge.port)], logger: quietLogger)
            let router = CommandRouter(adapters: [adapter], logger: quietLogger)
            for (n, values) in [
                ["bri": Value.int(0)], ["bri": .int(255)], ["hue": .int(65536)], ["sat": .int(255)], ["ct": .int(152)],
                ["ct": .int(501)], ["x": .double(1.5)], ["fade": .int(-1)],
            ].enumerated() {
                let result = await router.execute(Command(id: "r\(n)", device: "lamp", action: .write(values)))
                #expect(result.status == .rejected, "\(values): \(result.message)")
            }
            #expect(bridge.writeLog.isEmpty)
        }
    }

    @Test("values the adapter is handed directly out of range: the bridge's own check answers, and the result is rejected with its words")
    func bridgeRanges() async throws {
        try await withBridge { bridge in
            bridge.updateLight("1") { $0.on = true }
            let adapter = HueAdapter(devices: [Self.lamp(port: bridge.port)], logger: quietLogger)
            let result = await attempt(adapter, "lamp", ["bri": .int(300), "on": .bool(true)])
            #expect(
                result.rejection == "lamp.bri: bridge 127.0.0.1:\(bridge.port) refused bri=300: invalid value, 300, for parameter, bri (the bridge applied on)")
            #expect(await attempt(adapter, "lamp", ["ct": .int(100)]).rejection?.contains("invalid value, 100, for parameter, ct") == true)
            #expect(await attempt(adapter, "lamp", ["x": .double(2), "y": .double(0.5)]).rejection?.contains("lamp.x, lamp.y: bridge") == true)
            #expect(bridge.light("1")?.bri == 127 && bridge.light("1")?.ct == 366)
        }
    }

    @Test("bridge errors: device off (201) and a parameter the light lacks (6) are rejected; unknown light (3) and unauthorized user (1) fail")
    func bridgeErrors() async throws {
        try await withBridge(lights: [HueSimLight(id: "1"), HueSimLight(id: "2", type: "Dimmable light")]) { bridge in
            let port = bridge.port
            let adapter = HueAdapter(
                devices: [
                    Self.lamp(port: port), hueDevice("dimmer", port: port, points: [huePoint("ct", .light, "2", .ct, access: .readwrite)]),
                    hueDevice("ghost", port: port, points: [huePoint("on", .light, "9", .on, access: .readwrite)]),
                    hueDevice("stranger", port: port, user: "not-paired", points: [huePoint("on", .light, "1", .on, access: .readwrite)]),
                ], logger: quietLogger)
            #expect(
                await attempt(adapter, "lamp", ["bri": .int(100)]).rejection
                    == "lamp.bri: bridge 127.0.0.1:\(port) refused bri=100: parameter, bri, is not modifiable. Device is set to off.")
            bridge.updateLight("2") { $0.on = true }
            #expect(
                await attempt(adapter, "dimmer", ["ct": .int(300)]).rejection
                    == "dimmer.ct: bridge 127.0.0.1:\(port) refused ct=300: parameter, ct, not available")
            #expect(
                await attempt(adapter, "ghost", ["on": .bool(true)]).failure
                    == "ghost: light 9 is not on bridge 127.0.0.1:\(port) (resource, /lights/9, not available)")
            #expect(
                await attempt(adapter, "stranger", ["on": .bool(true)]).failure
                    == "stranger, light 1: bridge 127.0.0.1:\(port) refused the username: unauthorized user — pair again with `edgegate hue pair`")
        }
    }

    @Test("an unreachable bridge fails the write, naming the bridge")
    func unreachable() async throws {
        let port = try await withBridge { $0.port }
        let adapter = HueAdapter(devices: [Self.lamp(port: port)], logger: quietLogger)
        let failure = try #require(await attempt(adapter, "lamp", ["on": .bool(true)]).failure)
        #expect(failure.hasPrefix("lamp, light 1: bridge 127.0.0.1:\(port) unreachable: "), "\(failure)")
    }

    @Test(
        "what the adapter refuses itself: transitiontime alone, a fraction for a whole-number field, an unknown effect, an unknown point, two points on one field"
    )
    func adapterRefusals() async throws {
        try await withBridge { bridge in
            let adapter = HueAdapter(devices: [Self.lamp(port: bridge.port)], logger: quietLogger)
            #expect(await attempt(adapter, "lamp", ["fade": .int(10)]).rejection?.contains("transitiontime only applies together with another field") == true)
            #expect(await attempt(adapter, "lamp", ["bri": .double(10.5)]).rejection?.contains("takes whole numbers") == true)
            #expect(await attempt(adapter, "lamp", ["effect": .string("strobe")]).rejection?.contains("none, colorloop") == true)
            #expect(await attempt(adapter, "lamp", ["nothing": .int(1)]).rejection == "lamp has no point 'nothing'")
            #expect(
                await attempt(adapter, "lamp", ["bri": .int(10), "percent": .int(50)]).rejection
                    == "lamp.bri and lamp.percent both write bri of light 1: write one of them")
            #expect(bridge.writeLog.isEmpty)
        }
    }
}
