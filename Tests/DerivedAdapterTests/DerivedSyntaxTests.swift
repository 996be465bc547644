import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import MapReports
import TestSupport
import Testing

@testable import DerivedAdapter

@Suite("derived maps: references resolved among all devices, kinds from the expressions")
struct DerivedSyntaxTests {
    func points(_ yaml: String) throws -> [String: DerivedPoint] {
        let device = try #require(derived(try load(pressMap + yaml)).first)
        return Dictionary(uniqueKeysWithValues: device.points.map { ($0.name, $0.address as! DerivedPoint) })
    }

    @Test("each point's kind comes from what it computes: comparisons bool, whole-number arithmetic integer, division number, text string")
    func kinds() throws {
        let p = try points(
            """

              - id: kpi
                protocol: derived
                points:
                  on:      { expr: "press-1.state == 1 || press-1.running" }
                  parts:   { expr: "press-1.part_count - press-1.good_count" }
                  share:   { expr: "press-1.good_count / press-1.part_count" }
                  volts:   { expr: "press-1.voltage" }
                  label:   { expr: "if(on, 'run', 'stop')" }
                  n:       { window: { of: press-1.part_count, agg: count, size: 1m } }
                  top:     { window: { of: press-1.part_count, agg: max, size: 1m } }
                  hot:     { window: { of: press-1.temperature, agg: max, size: 1m } }
                  rate:    { window: { of: press-1.part_count, agg: rate, size: 1m } }
                  rate2:   { window: { of: "press-1.part_count + 0", agg: rate, size: 1m } }
            """)
        #expect(p["on"]?.kind == .bool)
        #expect(p["parts"]?.kind == .integer)
        #expect(p["share"]?.kind == .number)
        #expect(p["volts"]?.kind == .number, "a scaled register gives numbers")
        #expect(p["label"]?.kind == .string)
        #expect(p["n"]?.kind == .integer && p["top"]?.kind == .integer && p["hot"]?.kind == .number && p["rate"]?.kind == .number)
        // The wrap of a counter comes from its type, when the input is the point itself.
        #expect(p["rate"]?.moduli == [65_536])
        #expect(p["rate2"]?.moduli == [nil])
    }

    @Test("a derived device may read a device of another file loaded at once, and another derived device")
    func acrossFiles() throws {
        let files = [
            ("press.yaml", pressMap),
            (
                "kpi.yaml",
                """
                devices:
                  - id: kpi
                    protocol: derived
                    points:
                      power: { expr: "press-1.voltage * press-1.current" }
                  - id: kpi-2
                    protocol: derived
                    points:
                      double: { expr: "kpi.power * 2" }
                """
            ),
        ]
        let (map, diagnostics) = DeviceMapLoader.standard.parse(files: files)
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        #expect(map?.devices.map(\.id) == ["press-1", "kpi", "kpi-2"])
    }

    @Test("the sample of the plugin's page loads without a diagnostic, and its OEE point gives eight readings")
    func readmeSample() throws {
        let sample = try #require(DocumentationSamples.yamlBlocks(inFile: "Sources/DerivedAdapter/README.md").first)
        let (map, diagnostics) = DeviceMapLoader.standard.parse(yaml: sample, file: "README.md")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let kpi = try #require(map?.devices.first { $0.protocolName == "derived" })
        #expect(DerivedAdapter.descriptor(kpi).points.count == kpi.points.count - 1 + 8)
    }

    @Test("map show prints what each point computes, and map plan that nothing goes over a network")
    func showAndPlan() throws {
        let devices = try load(
            pressMap + """

                  - id: kpi
                    protocol: derived
                    points:
                      power: { expr: "press-1.voltage * press-1.current / 1000", unit: kW }
                      avg:   { window: { of: press-1.temperature, agg: avg, size: 5m, every: 10s } }
                """)
        let table = MapShow.table(devices[1])
        #expect(table.contains("press-1.voltage * press-1.current / 1000"), "\(table)")
        #expect(table.contains("avg of press-1.temperature over 5m every 10s"), "\(table)")
        let plan = MapPlan(devices, protocols: ProtocolRegistry.standard.plugins).table
        #expect(plan.contains("kpi  derived  no requests: computed in the gateway from 3 points"), "\(plan)")
    }
}
