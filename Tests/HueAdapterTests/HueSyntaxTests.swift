import DeviceMaps
import GatewayCore
import HueAdapter
import Testing

@Suite("Hue device-map syntax")
struct HueSyntaxTests {
    func parse(_ yaml: String) -> (DeviceMap?, [String]) {
        let (map, diagnostics) = DeviceMapLoader.hue.parse(yaml: yaml, file: "hue.yaml")
        return (map, diagnostics.map(\.description))
    }

    @Test("a light and a sensor load with their connection, the bridge's limits as default min/max, and no secret in map show's fields")
    func loads() throws {
        let (map, diagnostics) = parse(
            """
            devices:
              - id: lamp
                protocol: hue
                connection: { bridge: "http://127.0.0.1:8080", username_env: HUE_USERNAME, timeout: 3s }
                points:
                  bri:   { resource: light, id: 1, field: bri, access: readwrite }
                  dim:   { resource: light, id: 1, field: bri, access: readwrite, min: 10, max: 200 }
                  fade:  { resource: light, id: 1, field: transitiontime, access: write }
                  temp:  { resource: sensor, id: 4, field: temperature, unit: "°C" }
              - id: demo
                protocol: hue
                connection: { bridge: http://192.0.2.20, username: s3cr3t-username }
                points: { on: { resource: light, id: 2, field: on, access: readwrite } }
            """)
        #expect(
            diagnostics == [
                "hue.yaml:12:46: warning: device 'demo': the Hue username is a secret, and this puts it in the device map (keep it in the environment: username_env: HUE_USERNAME)"
            ])
        let lamp = try #require(map?.devices.first)
        #expect(
            lamp.hueConnection
                == HueConnection(
                    bridge: HueBridge(host: "127.0.0.1", port: 8080), username: .environment("HUE_USERNAME"),
                    timeout: .seconds(3)))
        let bri = try #require(lamp.points.first)
        #expect(bri.hue == HuePointAddress(resource: .light, id: "1", field: .bri))
        #expect(bri.min == 1 && bri.max == 254 && bri.kind == .integer)
        #expect(lamp.points[1].min == 10 && lamp.points[1].max == 200)
        #expect(lamp.points[2].min == 0 && lamp.points[2].max == 65535 && lamp.points[2].access == .write)
        #expect(lamp.points[3].min == nil && lamp.points[3].kind == .number)
        let demo = try #require(map?.devices.last)
        #expect(demo.hueConnection.bridge.port == 80)
        let shown = demo.connection.fields.map { "\($0.key)=\($0.text)" } + [demo.connection.description]
        #expect(shown == ["bridge=http://192.0.2.20", "username=(hidden)", "timeout=2s", "http://192.0.2.20 as a username in the map"])
        #expect(!shown.joined().contains("s3cr3t"))
    }

    @Test("limits outside the bridge's, writes to read-only fields, a readable transitiontime and bad connections are errors at file:line:column")
    func errors() {
        let (map, diagnostics) = parse(
            """
            devices:
              - id: lamp
                protocol: hue
                connection: { bridge: "https://127.0.0.1", username_env: 1BAD }
                points:
                  bri:   { resource: light, id: 1, field: bri, access: readwrite, min: 0, max: 300 }
                  seen:  { resource: light, id: 1, field: reachable, access: readwrite }
                  fade:  { resource: light, id: 1, field: transitiontime }
                  temp:  { resource: sensor, id: 4, field: temperature, access: readwrite }
                  hot:   { resource: sensor, id: 4, field: bri }
                  warm:  { resource: light, id: 1, field: ct, access: readwrite, min: 600 }
              - id: nobody
                protocol: hue
                connection: { bridge: http://127.0.0.1, timeout: 45s }
                points: { on: { resource: light, id: 2, field: on } }
            """)
        #expect(map == nil)
        #expect(
            diagnostics == [
                "hue.yaml:4:27: error: device 'lamp': invalid bridge 'https://127.0.0.1' (https is not supported: a bridge serves a self-signed certificate that cannot be verified; use http:// on the local network)",
                "hue.yaml:4:62: error: device 'lamp': '1BAD' is not an environment variable name (letters, digits and _, not starting with a digit: HUE_USERNAME)",
                "hue.yaml:6:76: error: device 'lamp', point 'bri': 'min' (0) is below what the device accepts (light 1 bri accepts 1…254)",
                "hue.yaml:6:84: error: device 'lamp', point 'bri': 'max' (300) is above what the device accepts (light 1 bri accepts 1…254)",
                "hue.yaml:7:66: error: device 'lamp', point 'seen': access 'readwrite' is not possible on field 'reachable' (the bridge reports 'reachable' but does not take it: use access: read)",
                "hue.yaml:8:47: error: device 'lamp', point 'fade': 'transitiontime' can only be written: the bridge never reports it (set access: write; it travels in the same request as the other fields of the command)",
                "hue.yaml:9:69: error: device 'lamp', point 'temp': access 'readwrite' is not possible on field 'temperature' (sensors are read-only: use access: read)",
                "hue.yaml:10:48: error: device 'lamp', point 'hot': a sensor has no field 'bri' (fields: temperature, presence, lightlevel, lux, dark, daylight, open, battery, reachable, lastupdated)",
                "hue.yaml:11:75: error: device 'lamp', point 'warm': 'min' (600) is above what the device accepts (light 1 ct accepts 153…500)",
                "hue.yaml:14:17: error: device 'nobody': the connection needs the bridge's username: 'username_env' names the environment variable that holds it (pair with `edgegate hue pair --bridge URL`, export the username it prints, e.g. as HUE_USERNAME, and write username_env: HUE_USERNAME)",
                "hue.yaml:14:54: error: device 'nobody': 'timeout' must be at most 30s, found 45s (a bridge on the LAN answers within a second; a longer wait only delays stops and reloads)",
            ])
    }

    @Test("bridge URLs: http with an optional port; paths, credentials and other schemes are refused")
    func bridgeURLs() throws {
        #expect(try HueBridge.parse("http://10.0.0.5").get() == HueBridge(host: "10.0.0.5", port: 80))
        #expect(try HueBridge.parse("http://hue.local:8080/").get() == HueBridge(host: "hue.local", port: 8080))
        for bad in ["10.0.0.5", "http://10.0.0.5/api", "http://user@10.0.0.5", "http://10.0.0.5:0", "http://:80", "ftp://x"] {
            #expect(throws: HueError.self, "\(bad)") { try HueBridge.parse(bad).get() }
        }
    }

    @Test("a username from the environment is read when needed and its absence names the variable")
    func usernames() throws {
        #expect(try HueUsername.environment("HUE_U").resolve(["HUE_U": "abc"]).get() == "abc")
        #expect(throws: HueError.usernameMissing("HUE_U")) { try HueUsername.environment("HUE_U").resolve([:]).get() }
        #expect(HueUsername.literal("abc").description == "a username in the map")
    }
}
