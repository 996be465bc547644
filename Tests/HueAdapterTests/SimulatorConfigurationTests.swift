import DeviceMaps
import HueAdapter
import Testing

@Suite("Hue simulator configuration")
struct SimulatorConfigurationTests {
    @Test("lights, sensors and usernames from YAML; an absent key keeps the defaults")
    func reads() throws {
        let setup = try HueSimConfiguration(
            yaml: """
                lights:
                  - { id: 1, name: Kitchen }
                  - { id: 2, name: Hall, type: Dimmable light }
                usernames: [devuser]
                """)
        #expect(setup.lights.map(\.id) == ["1", "2"] && setup.lights[1].type == "Dimmable light" && setup.lights[0].name == "Kitchen")
        #expect(setup.sensors == HueBridgeSimulator.defaultSensors)
        #expect(setup.usernames == ["devuser"])
        #expect(try HueSimConfiguration(yaml: "sensors: []").sensors.isEmpty)
    }

    @Test("mistakes are refused with the entry and what is wrong")
    func mistakes() {
        let cases = [
            "lights: [{ id: 1, type: Color lamp }]":
                "light 1: unknown type 'Color lamp' (types: Extended color light, Color temperature light, Dimmable light)",
            "sensors: [{ id: 4 }]": "sensor 4: 'type' must be one of ZLLTemperature, ZLLPresence, ZLLLightLevel, CLIPOpenClose",
            "lights: [{ id: 1 }, { id: 1 }]": "light 1 is listed twice",
            "lights: [{ name: x }]": "lights entry 1 needs an 'id'",
            "light: []": "unknown key 'light' (keys: lights, sensors, usernames)",
        ]
        for (yaml, message) in cases {
            #expect(throws: SimulatorError.invalidConfiguration(message), "\(yaml)") { try HueSimConfiguration(yaml: yaml) }
        }
    }
}
