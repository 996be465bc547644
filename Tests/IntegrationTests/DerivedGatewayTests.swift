import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Synchronization
import TestSupport
import Testing

/// Derived devices in a running gateway: their readings go through the same pipeline as read
/// ones, and their windows and OEE keep their state across a restart.
@Suite("Derived devices in the gateway", .timeLimit(.minutes(2)))
struct DerivedGatewayTests {
    static let kpiYAML = """

          - id: boiler-kpi
            protocol: derived
            points:
              double_temp: { expr: "boiler-1.temperature * 2", unit: "°C" }
              hot:         { expr: "boiler-1.temperature > 50 && boiler-1.mode == 1" }
              temp_avg:    { window: { of: boiler-1.temperature, agg: avg, size: 1s, grace: 300ms }, unit: "°C" }
              temp_max:    { window: { of: boiler-1.temperature, agg: max, size: 2s, every: 1s, grace: 300ms }, unit: "°C" }
        """

    @Test("derived readings reach the operator like read ones: computed from the latest inputs, in the inventory, windows stamped at their end")
    func flow() async throws {
        try await Plant.run(mapYAML: boilerMapYAML + Self.kpiYAML) { plant in
            let probe = try ProbeClient(port: plant.modbusPort)
            try probe.writeHolding(0, 215)  // 21.5 °C
            try probe.writeHolding(30, 1)  // heat
            try await plant.withGatewayAndOperator { _, view in
                let double = try await waitFor("boiler-kpi.double_temp = 43") {
                    view.latest("double_temp", of: "boiler-kpi").flatMap { $0["value"]?.number == 43 ? $0 : nil }
                }
                #expect(double["unit"] == .string("°C") && double["quality"] == .string("good"), "\(double)")
                let hot = try #require(view.latest("hot", of: "boiler-kpi"))
                #expect(hot["value"] == .bool(false))
                try probe.writeHolding(0, 612)  // 61.2 °C
                _ = try await waitFor("hot turns true") { view.latest("hot", of: "boiler-kpi")?["value"] == .bool(true) ? true : nil }
                // A whole second of 61.2 °C: its window's average is exactly that, stamped at a full second.
                let average = try await waitFor("a 1 s window of 61.2 °C") {
                    view.latest("temp_avg", of: "boiler-kpi").flatMap { $0["value"]?.number == 61.2 ? $0 : nil }
                }
                #expect(average["quality"] == .string("good"), "\(average)")
                let stamp = try #require(average["ts"]?.string)
                #expect(stamp.hasSuffix(".000Z") || !stamp.contains("."), "a window ends on a whole second: \(stamp)")
                _ = try await waitFor("the inventory lists the derived device") { view.inventoryDevices.contains("boiler-kpi") ? true : nil }
                #expect(view.inventoryPoints(of: "boiler-kpi") == ["double_temp", "hot", "temp_avg", "temp_max"])
            }
        }
    }

    static let pressYAML = """
        devices:
          - id: press-1
            protocol: modbus
            connection: { host: 127.0.0.1, port: PORT, unit_id: 1, timeout: 300ms }
            poll: 100ms
            points:
              state: { table: holding, address: 0, type: uint16 }
              parts: { table: holding, address: 1, type: uint16 }
              good:  { table: holding, address: 2, type: uint16 }
          - id: press-kpi
            protocol: derived
            points:
              line:
                oee: { state: press-1.state, running: [1], planned_stop: [3], total_count: press-1.parts,
                       good_count: press-1.good, ideal_cycle: 1s, period: 24h, every: 1s }
        """

    @Test(
        "OEE counts what the machine counted, across a wrap at 65535; a restart in mid-period keeps the period's counts and run time, and the time it was down, with the machine's state changed, counts nowhere"
    )
    func oeeAcrossRestart() async throws {
        try await Plant.run(mapYAML: Self.pressYAML) { plant in
            let probe = try ProbeClient(port: plant.modbusPort)
            try probe.writeHolding(0, [1, 65_530, 65_530])  // running; counters near their wrap
            var runTime = 0.0
            try await plant.withGatewayAndOperator { _, view in
                _ = try await waitFor("a first OEE report") { view.latest("line_total_count", of: "press-kpi") }
                try probe.writeHolding(1, [3, 2])  // 65530 → 3: 9 parts; → 2: 8 good
                _ = try await waitFor("9 parts counted") { view.latest("line_total_count", of: "press-kpi")?["value"]?.integer == 9 ? true : nil }
                _ = try await waitFor("8 good parts") { view.latest("line_good_count", of: "press-kpi")?["value"]?.integer == 8 ? true : nil }
                // The gateway came up in the middle of the day's period: what came before is not known.
                let total = try #require(view.latest("line_total_count", of: "press-kpi"))
                #expect(total["quality"] == .string("uncertain"), "\(total)")
                // The machine stops: its run time stops growing.
                try probe.writeHolding(0, 2)
                runTime = try await waitFor("the run time to stand still") {
                    let times = view.readings.withLock { all in
                        all.filter { $0.device == "press-kpi" && $0.point == "line_run_time" }.suffix(3).compactMap { $0.fields["value"]?.number }
                    }
                    return times.count == 3 && Set(times).count == 1 ? times[0] : nil
                }
                #expect(runTime > 0)
            }
            #expect(FileManager.default.fileExists(atPath: plant.directory.file("derived-state.json")))
            // While the gateway is down the machine runs again and makes 3 more parts, 2 of
            // them good; when it started is not known, so the 3 s it was down count nowhere.
            try probe.writeHolding(0, [1, 6, 4])
            try await Task.sleep(for: .seconds(3))
            try await plant.withGatewayAndOperator { _, view in
                let first = try await waitFor("a run time after the restart") { view.latest("line_run_time", of: "press-kpi")?["value"]?.number }
                // The run time kept from before the restart, and of the time since only what
                // one report saw: none of the 3 s the gateway was down.
                #expect(first >= runTime && first < runTime + 1.5, "run time \(runTime) s before, \(first) s after")
                let total = try await waitFor("12 parts in the period after the restart") {
                    view.latest("line_total_count", of: "press-kpi").flatMap { $0["value"]?.integer == 12 ? $0 : nil }
                }
                #expect(total["quality"] == .string("uncertain"), "\(total)")
                let quality = try await waitFor("quality 10/12") {
                    view.latest("line_quality", of: "press-kpi").flatMap { abs(($0["value"]?.number ?? 0) - 10.0 / 12) < 1e-9 ? $0 : nil }
                }
                #expect(quality["quality"] == .string("uncertain"), "\(quality)")
            }
        }
    }

    @Test("a reload that changes a window starts it fresh and says so; an unchanged window keeps its state")
    func reloadChangesAWindow() async throws {
        try await Plant.run(mapYAML: boilerMapYAML + Self.kpiYAML) { plant in
            try await plant.withGateway { gateway in
                let changed = boilerMapYAML + Self.kpiYAML.replacingOccurrences(of: "agg: avg, size: 1s", with: "agg: avg, size: 2s")
                _ = try await gateway.reload(to: try plant.deviceMap(changed))
                _ = try await waitFor("the change logged") { plant.log.contains("its window starts fresh") ? true : nil }
                #expect(plant.log.lines.contains { $0.contains("its window starts fresh") && $0.contains("boiler-kpi.temp_avg") })
                #expect(!plant.log.lines.contains { $0.contains("its window starts fresh") && $0.contains("boiler-kpi.temp_max") })
            }
        }
    }
}
