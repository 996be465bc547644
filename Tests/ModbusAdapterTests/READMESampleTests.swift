import DeviceMaps
import ModbusAdapter
import Foundation
import Testing

@Suite("Modbus adapter README")
struct READMESampleTests {
    @Test("the README's sample device map validates and means what the README says")
    func sample() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/ModbusAdapter/README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let start = try #require(text.range(of: "```yaml\n"))
        let end = try #require(text.range(of: "```", range: start.upperBound..<text.endIndex))
        let (map, diagnostics) = DeviceMapLoader.modbus.parse(yaml: String(text[start.upperBound..<end.lowerBound]), file: "README.md")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let device = try #require(map?.devices.first)
        #expect(device.id == "ahu-3")
        #expect(device.modbusConnection.unitID == 3)
        #expect(device.poll == .seconds(2))
        #expect(device.points.count == 7)
        let airflow = try #require(device.points.first { $0.name == "airflow" })
        #expect(airflow.modbus.type == .float32 && airflow.modbus.wordOrder == .little)
        #expect(device.points.filter { $0.access.isWritable }.map(\.name) == ["fan_speed", "fan_enable"])
    }
}
