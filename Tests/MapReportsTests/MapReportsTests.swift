import DeviceMaps
import Foundation
import Gateway
import MapReports
import TestSupport
import Testing

@Suite("map reports")
struct MapReportsTests {
    static func load(_ yaml: String) throws -> DeviceMap {
        let (map, diagnostics) = ProtocolRegistry.standard.loader.parse(yaml: yaml, file: "plant.yaml")
        return try #require(map, "\(diagnostics)")
    }

    @Test("columns pad each cell to its column's widest and leave no trailing spaces")
    func columnLayout() {
        let lines = columns(["point", "v"], [["a", "12345"], ["longer", ""]])
        #expect(lines == ["point   v", "a       12345", "longer"])
    }

    @Test("map plan counts the requests of planned devices per cycle and per second at their periods; others are listed apart")
    func planTotals() throws {
        let map = try Self.load(
            """
            devices:
              - id: fast
                protocol: modbus
                connection: { host: 127.0.0.1, port: 502, unit_id: 1 }
                poll: 500ms
                points:
                  a: { table: holding, address: 0 }
                  b: { table: holding, address: 200 }
                  c: { table: coil, address: 0 }
              - id: slow
                protocol: modbus
                connection: { host: 127.0.0.1, port: 502, unit_id: 2 }
                poll: 2s
                points:
                  a: { table: input, address: 0, type: float32 }
              - id: door
                protocol: door-sim
                connection: { seed: 1 }
                points:
                  closed: { field: contact }
            """)
        let plan = MapPlan(map.devices, protocols: ProtocolRegistry.standard.plugins)
        #expect(plan.devices.map(\.id) == ["fast", "slow"])
        #expect(plan.others.map(\.id) == ["door"])
        // fast: holding 0 and 200 are too far apart to merge (max_gap 10), plus the coil: 3 requests.
        #expect(plan.devices[0].requests.count == 3)
        #expect(plan.devices[0].registers == 2 && plan.devices[0].bits == 1)
        #expect(plan.requestsPerCycle == 4 && plan.registersPerCycle == 4 && plan.bitsPerCycle == 1)
        // 3 requests every 0.5 s and 1 every 2 s.
        #expect(plan.requestsPerSecond == 6.5)
        #expect(
            plan.table.hasSuffix(
                "total: 2 Modbus devices (and 1 of other protocols, above), 4 requests per cycle (one poll of each device): 4 registers, 1 bit; 6.5 requests/s at the poll periods\n"
            ),
            "\(plan.table)")
    }

    @Test("map new's default id is <profile>-1 when that is a plain id, else <protocol>-1")
    func defaultIDs() {
        #expect(MapNew.defaultID(protocol: "modbus", profile: nil) == "modbus-1")
        #expect(MapNew.defaultID(protocol: "modbus", profile: "chiller") == "chiller-1")
        #expect(MapNew.defaultID(protocol: "hue", profile: "9lives") == "hue-1")
        #expect(MapNew.isPlainID("boiler-1.b_2") && !MapNew.isPlainID("1boiler") && !MapNew.isPlainID("bö") && !MapNew.isPlainID(""))
    }

    @Test("every protocol's template loads without a diagnostic, alone and as a profile, and map show lists its points")
    func templates() throws {
        for plugin in ProtocolRegistry.standard.plugins {
            for profile in [nil, "model"] as [String?] {
                let id = MapNew.defaultID(protocol: plugin.name, profile: profile)
                let text = MapNew.text(of: plugin, profile: profile, id: id)
                // A derived device reads other devices: its template is checked beside the press it names.
                let companion = plugin.name == "derived" ? [("press.yaml", pressMapYAML)] : []
                let (map, diagnostics) = ProtocolRegistry.standard.loader.parse(files: companion + [("\(plugin.name).yaml", text)])
                #expect(diagnostics.isEmpty, "\(plugin.name): \(diagnostics)")
                let device = try #require(map?.devices.last)
                let table = MapShow.table(device)
                #expect(table.hasPrefix("\(id)  \(plugin.name)  "), "\(table)")
                for point in device.points { #expect(table.contains("\n  \(point.name) "), "\(point.name) in \(table)") }
            }
        }
    }
}
