import DeviceMaps
import Foundation
import GatewayCore
import ModbusAdapter
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

@Suite("Modbus connections per gateway")
struct ConnectionLimitTests {
    func map(connections: Int) -> String {
        "devices:\n"
            + (1...connections).map { n in
                """
                  - id: meter-\(n)
                    protocol: modbus
                    connection: { host: 127.0.0.1, port: \(10_000 + n) }
                    points: { energy: { table: holding, address: 0, type: uint16 } }

                """
            }.joined()
    }

    @Test("maps needing more Modbus connections than one process can wait on are refused at the first device beyond them, naming the count and the fix")
    func beyondTheLimit() async {
        let limit = ModbusSyntax.maxConnections
        // Two maps of a thousand devices: a second of parsing, kept off the concurrency pool.
        let (atLimit, fine) = await inBackground { DeviceMapLoader.modbus.parse(yaml: map(connections: limit), file: "site.yaml") }
        #expect(atLimit?.devices.count == limit, "\(fine.prefix(3))")
        #expect(fine.isEmpty)

        let (beyond, diagnostics) = await inBackground { DeviceMapLoader.modbus.parse(yaml: map(connections: limit + 5), file: "site.yaml") }
        #expect(beyond == nil)
        let error = diagnostics.first { $0.severity == .error }
        #expect(diagnostics.filter { $0.severity == .error }.count == 1)
        #expect(error?.message.contains("device 'meter-\(limit + 1)': the maps need \(limit + 5) Modbus connections") == true, "\(String(describing: error))")
        #expect(error?.location.file == "site.yaml" && (error?.location.line ?? 0) > 0)
    }
}
