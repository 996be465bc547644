import DeviceMaps
import ModbusAdapter
import Foundation
import TestSupport
import Testing

@Suite("Modbus adapter README")
struct READMESampleTests {
    @Test("the README's sample device map validates and means what the README says")
    func sample() throws {
        let sample = try #require(DocumentationSamples.yamlBlocks(inFile: "Sources/ModbusAdapter/README.md").first)
        let (map, diagnostics) = DeviceMapLoader.modbus.parse(yaml: sample, file: "README.md")
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
