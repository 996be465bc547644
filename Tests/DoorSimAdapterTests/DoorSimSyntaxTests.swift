import DeviceMaps
import DoorSimAdapter
import Foundation
import Gateway
import GatewayCore
import TestSupport
import Testing

@Suite("Door-sim device maps", .timeLimit(.minutes(1)))
struct DoorSimSyntaxTests {
    let loader = DeviceMapLoader(protocols: [DoorSimSyntax.self])

    func diagnostics(_ yaml: String) -> [String] {
        let (map, diagnostics) = loader.parse(yaml: yaml, file: "doors.yaml")
        #expect(map == nil)
        return diagnostics.map(\.description)
    }

    @Test("the README's sample device map validates and means what the README says")
    func readmeSample() throws {
        let sample = try #require(DocumentationSamples.yamlBlocks(inFile: "Sources/DoorSimAdapter/README.md").first)
        let (map, diagnostics) = DeviceMapLoader.standard.parse(yaml: sample, file: "README.md")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let devices = try #require(map?.devices)
        #expect(devices.map(\.id) == ["front-door", "back-door"])
        let front = devices[0].doorSimConnection
        #expect(
            front
                == DoorSimConnection(
                    seed: 7, door: "front",
                    parameters: DoorParameters(
                        openEvery: .seconds(120), openFor: .seconds(20), battery: 100,
                        batteryDrain: 0.1, tamperRate: 0.05)))
        #expect(front.schedule(device: "front-door") == DoorSchedule(seed: 7, door: "front", parameters: front.parameters))
        #expect(devices[0].poll == .seconds(30))
        #expect(devices[0].points.map(\.doorSim.field) == [.contact, .battery, .voltage, .tamper, .events])
        #expect(devices[0].points.allSatisfy { !$0.access.isWritable })
        #expect(devices[0].descriptor.points.map(\.kind) == [.bool, .integer, .number, .bool, .integer])
        let back = devices[1].doorSimConnection
        #expect(back.door == nil && back.speed == 60 && back.parameters.battery == 30 && back.parameters.batteryDrain == 5)
        #expect(back.schedule(device: "back-door").door == "back-door")
        #expect(devices[1].poll == .seconds(1))
        #expect(ProtocolRegistry.standard.plugin(named: "door-sim")?.adapter == DoorSimAdapter.self)
    }

    @Test("map show lists the connection with its defaults and each point's field")
    func fields() throws {
        let device = try #require(
            try doorDevices(
                """
                devices:
                  - id: d
                    protocol: door-sim
                    connection: { seed: 3 }
                    points: { c: { field: contact } }
                """
            ).first)
        #expect(
            device.connection.fields == [
                MapField("seed", .int(3)), MapField("open_every", .string("2m")), MapField("open_for", .string("20s")),
                MapField("battery", .int(100)), MapField("battery_drain", .double(0.1)), MapField("tamper_rate", .double(0.02)),
                MapField("speed", .double(1)),
            ])
        #expect(device.connection.description == "seed 3, opens every 2m for 20s")
        #expect(device.points[0].address.fields == [MapField("field", .string("contact"))])
        #expect(device.points[0].address.typeName == "bool")
    }

    @Test("a writable point is refused: a door sensor only reports")
    func writablePointsAreRefused() {
        #expect(
            diagnostics(
                """
                devices:
                  - id: d
                    protocol: door-sim
                    connection: { seed: 1 }
                    points:
                      c: { field: contact, access: readwrite }
                      t: { field: tamper, access: write }
                """) == [
                    "doors.yaml:6:36: error: device 'd', point 'c': access 'readwrite' is not possible on a door-sim point (a door sensor only reports; remove 'access' (the default is read))",
                    "doors.yaml:7:35: error: device 'd', point 't': access 'write' is not possible on a door-sim point (a door sensor only reports; remove 'access' (the default is read))",
                ])
    }

    @Test("connection mistakes are reported at the key, compiler style, all at once")
    func connectionMistakes() {
        let found = diagnostics(
            """
            devices:
              - id: a
                protocol: door-sim
                connection: { open_every: 10s }
                points: { c: { field: contact } }
              - id: b
                protocol: door-sim
                connection: { seed: 1, open_every: 10s, open_for: 30s }
                points: { c: { field: kontakt } }
              - id: c
                protocol: door-sim
                connection: { seed: -1, speed: 0, tamper_rate: 2, battery: 120, battery_drain: -1, sede: 3 }
                points: { c: { field: contact } }
            """)
        #expect(
            found == [
                "doors.yaml:4:17: error: device 'a': missing required key 'seed'",
                "doors.yaml:8:40: error: device 'b': 'open_every' (10s) must be longer than 'open_for' (30s) (open_every is the mean time from one opening to the next, open time included)",
                "doors.yaml:9:27: error: device 'b', point 'c': unknown field 'kontakt' (did you mean 'contact'? allowed: contact, open, battery, voltage, battery_low, tamper, events)",
                "doors.yaml:12:25: error: device 'c': 'seed' must be between 0 and 9223372036854775807, found -1",
                "doors.yaml:12:36: error: device 'c': 'speed' must be between 0.001 and 10000, found 0 (1 plays the schedule in real time, 60 a simulated minute per second)",
                "doors.yaml:12:52: error: device 'c': 'tamper_rate' must be between 0 and 1, found 2 (the probability that an opening sets off the tamper switch, e.g. 0.02)",
                "doors.yaml:12:64: error: device 'c': 'battery' must be between 0 and 100, found 120",
                "doors.yaml:12:84: error: device 'c': 'battery_drain' must be between 0 and 10000, found -1 (percent of the battery lost per day, e.g. 0.1)",
                "doors.yaml:12:88: error: device 'c': unknown key 'sede' (did you mean 'seed'?)",
            ])
    }

    @Test("the schema of a build with several protocols checks a door-sim device's points against door-sim's keys and rules, Modbus points against Modbus's")
    func schemaRulesPerProtocol() throws {
        let schema = DeviceMapSchema.object(protocols: ProtocolRegistry.standard.syntaxes)
        let defs = try #require(schema["$defs"] as? [String: Any])
        let door = try #require(defs["point-door-sim"] as? [String: Any])
        #expect(door["required"] as? [String] == ["field"])
        #expect((door["properties"] as? [String: Any])?["table"] == nil)
        let modbus = try #require(defs["point-modbus"] as? [String: Any])
        #expect(modbus["required"] as? [String] == ["table", "address"])
        // A device that says `protocol: door-sim` takes door-sim's connection and points.
        let device = try #require(defs["device"] as? [String: Any])
        let rules = try #require(device["allOf"] as? [[String: Any]])
        let doorRule = try #require(
            rules.first {
                (($0["if"] as? [String: Any])?["properties"] as? [String: Any])?["protocol"] as? [String: String] == ["const": "door-sim"]
            })
        let then = try #require((doorRule["then"] as? [String: Any])?["properties"] as? [String: [String: String]])
        #expect(then == ["connection": ["$ref": "#/$defs/connection-door-sim"], "points": ["$ref": "#/$defs/points-door-sim"]])
    }
}
