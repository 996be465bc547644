import DeviceMaps
import Foundation
import GatewayCore
import HueAdapter
import TestSupport
import Testing

@Suite("Hue adapter README")
struct READMESampleTests {
    @Test("the README's sample device map validates and means what the README says")
    func sample() throws {
        let sample = try #require(DocumentationSamples.yamlBlocks(inFile: "Sources/HueAdapter/README.md").first)
        let (map, diagnostics) = DeviceMapLoader.hue.parse(yaml: sample, file: "README.md")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let devices = try #require(map?.devices)
        #expect(devices.map(\.id) == ["living-room", "hall"])
        let room = devices[0]
        #expect(room.hueConnection == HueConnection(bridge: HueBridge(host: "192.0.2.20"), username: .environment("HUE_USERNAME")))
        #expect(room.poll == .seconds(2))
        #expect(room.points.filter { $0.access.isWritable }.map(\.name) == ["on", "brightness", "color_temperature", "transition"])
        let brightness = try #require(room.points.first { $0.name == "brightness" })
        #expect(brightness.hue.field == .bri && brightness.min == 1 && brightness.max == 254)
        let setLight = try #require(room.commands.first { $0.name == "set_light" })
        #expect(setLight.writes.map(\.point) == ["on", "brightness", "transition"])
        #expect(devices[1].points.map { $0.hue.field } == [.temperature, .presence, .lux, .open, .battery])
    }
}
