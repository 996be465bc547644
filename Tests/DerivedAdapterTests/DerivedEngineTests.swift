import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Logging
import TestSupport
import Testing

@testable import DerivedAdapter

/// The press of `pressMapYAML`.
let pressMap = pressMapYAML

func load(_ yaml: String) throws -> [DeviceDefinition] {
    let (map, diagnostics) = DeviceMapLoader.standard.parse(yaml: yaml, file: "site.yaml")
    guard let map else { throw ProbeError("the map does not load: \(diagnostics)") }
    return map.devices
}

func derived(_ devices: [DeviceDefinition]) -> [DeviceDefinition] {
    devices.filter { $0.protocolName == DerivedSyntax.name }
}

func reading(_ point: String, _ value: Value?, _ quality: Quality = .good, at t: Double, device: String = "press-1") -> Reading {
    Reading(device: device, point: point, value: value, unit: nil, quality: quality, timestamp: Date(timeIntervalSince1970: t))
}

@Suite("derived engine: expressions as readings flow, windows and OEE as time goes")
struct DerivedEngineTests {
    static let kpi = """

          - id: kpi
            protocol: derived
            points:
              power_kw:  { expr: "press-1.voltage * press-1.current / 1000", unit: kW }
              over:      { expr: "power_kw > 5" }
              label:     { expr: "if(over, 'high', 'normal')" }
              ratio:     { expr: "press-1.voltage / press-1.current" }
              temp_avg:  { window: { of: press-1.temperature, agg: avg, size: 10s, grace: 1s } }
              temp_warm: { expr: "temp_avg > 20" }
        """

    @Test("an expression computes from the latest reading of each input once every input was read, stamped with the newest")
    func latestInputs() throws {
        var engine = DerivedEngine(devices: derived(try load(pressMap + Self.kpi)))
        #expect(engine.observe([reading("voltage", .double(400), at: 100)], now: .now).isEmpty, "current was never read: nothing yet")
        let out = engine.observe([reading("current", .double(15), at: 101)], now: .now)
        let power = try #require(out.first { $0.point == "power_kw" })
        #expect(power.value == .double(6) && power.quality == .good && power.unit == "kW")
        #expect(power.timestamp == Date(timeIntervalSince1970: 101))
        #expect(out.first { $0.point == "over" }?.value == .bool(true))
        #expect(out.first { $0.point == "label" }?.value == .string("high"))
        // A new voltage alone: computed with the current read before.
        let next = engine.observe([reading("voltage", .double(200), at: 102)], now: .now)
        #expect(next.first { $0.point == "power_kw" }?.value == .double(3))
        #expect(next.first { $0.point == "label" }?.value == .string("normal"))
    }

    @Test("a bad input makes the result bad naming it, an uncertain one uncertain; a division by zero at run time is bad and says so")
    func quality() throws {
        var engine = DerivedEngine(devices: derived(try load(pressMap + Self.kpi)))
        _ = engine.observe([reading("voltage", .double(400), at: 1), reading("current", .double(15), at: 1)], now: .now)
        let bad = engine.observe([reading("current", nil, .bad("unit 1 did not answer within 300ms"), at: 2)], now: .now)
        let power = try #require(bad.first { $0.point == "power_kw" })
        #expect(power.value == nil && power.quality == .bad("press-1.current: unit 1 did not answer within 300ms"))
        #expect(bad.first { $0.point == "over" }?.quality == .bad("kpi.power_kw: press-1.current: unit 1 did not answer within 300ms"))
        let uncertain = engine.observe([reading("current", .double(10), .uncertain("bridge unreachable"), at: 3)], now: .now)
        #expect(uncertain.first { $0.point == "power_kw" }?.quality == .uncertain("press-1.current: bridge unreachable"))
        let zero = engine.observe([reading("current", .double(0), at: 4)], now: .now)
        let ratio = try #require(zero.first { $0.point == "ratio" })
        #expect(ratio.value == nil)
        guard case .bad(let why) = ratio.quality else {
            Issue.record("\(ratio.quality)")
            return
        }
        #expect(why.contains("division by zero"), "\(why)")
    }

    @Test("a reading stamped more than a minute ahead of the gateway's clock is not taken: it would close every window up to its time")
    func futureReadings() throws {
        var engine = DerivedEngine(devices: derived(try load(pressMap + Self.kpi)))
        let now = Date(timeIntervalSince1970: 5000)
        _ = engine.observe([reading("temperature", .double(20), at: 5000 + 3600)], now: now)
        #expect(engine.futureReadings == 1)
        #expect(engine.advance(to: now.addingTimeInterval(20)).isEmpty)
        _ = engine.observe([reading("temperature", .double(20), at: 5001)], now: now)
        #expect(engine.advance(to: now.addingTimeInterval(20)).contains { $0.point == "temp_avg" && $0.value == .double(20) })
    }

    @Test("the derived devices' own readings coming back through the sink are not inputs")
    func ownReadingsIgnored() throws {
        var engine = DerivedEngine(devices: derived(try load(pressMap + Self.kpi)))
        #expect(engine.observe([reading("power_kw", .double(9), at: 1, device: "kpi")], now: .now).isEmpty)
        #expect(
            engine.observe([reading("voltage", .double(100), at: 1), reading("current", .double(1), at: 1)], now: .now).contains { $0.point == "power_kw" })
    }

    @Test("a window reports once its end and grace passed, stamped at its end; an expression over it follows in the same pass")
    func windowThenExpression() throws {
        var engine = DerivedEngine(devices: derived(try load(pressMap + Self.kpi)))
        for t in stride(from: 1000.0, to: 1010, by: 1) { _ = engine.observe([reading("temperature", .double(t - 980), at: t)], now: .now) }
        #expect(engine.advance(to: Date(timeIntervalSince1970: 1010.5)).isEmpty, "within the grace")
        let out = engine.advance(to: Date(timeIntervalSince1970: 1011))
        let average = try #require(out.first { $0.point == "temp_avg" })
        #expect(average.value == .double(24.5) && average.timestamp == Date(timeIntervalSince1970: 1010))
        #expect(out.first { $0.point == "temp_warm" }?.value == .bool(true))
    }

    @Test("saved state restores windows whose definition is the same; a changed one starts fresh and is named")
    func restoreAndReload() throws {
        var engine = DerivedEngine(devices: derived(try load(pressMap + Self.kpi)))
        _ = engine.observe([reading("voltage", .double(400), at: 2000), reading("current", .double(15), at: 2000)], now: .now)
        for t in stride(from: 2000.0, to: 2005, by: 1) { _ = engine.observe([reading("temperature", .double(10), at: t)], now: .now) }
        let data = try JSONEncoder().encode(engine.saved)
        let saved = try JSONDecoder().decode([String: DerivedEngine.SavedNode].self, from: data)

        var restarted = DerivedEngine(devices: derived(try load(pressMap + Self.kpi)))
        #expect(restarted.restore(saved).isEmpty)
        for t in stride(from: 2005.0, to: 2010, by: 1) { _ = restarted.observe([reading("temperature", .double(30), at: t)], now: .now) }
        let average = restarted.advance(to: Date(timeIntervalSince1970: 2011)).first { $0.point == "temp_avg" }
        #expect(average?.value == .double(20), "the five readings before the restart count: \(String(describing: average))")

        let changed = Self.kpi.replacingOccurrences(of: "size: 10s", with: "size: 20s")
        var reloaded = DerivedEngine(devices: derived(try load(pressMap + changed)))
        #expect(engine.carry(into: &reloaded) == ["kpi.temp_avg"])
        // The latest inputs carry over: a new voltage computes with the current read before the reload.
        #expect(reloaded.observe([reading("voltage", .double(200), at: 2006)], now: .now).first { $0.point == "power_kw" }?.value == .double(3))
    }

    @Test("the adapter lists an OEE point as its eight readings, and refuses writes")
    func descriptors() async throws {
        let oee = """

              - id: line-kpi
                protocol: derived
                points:
                  line:
                    oee: { state: press-1.state, running: [1], total_count: press-1.part_count, good_count: press-1.good_count, ideal_cycle: 2s, period: 1h }
            """
        let adapter = DerivedAdapter(devices: derived(try load(pressMap + oee)), logger: Logger(label: "test"))
        let points = try #require(adapter.devices.first).points
        #expect(
            points.map(\.name) == [
                "line", "line_availability", "line_performance", "line_quality", "line_run_time", "line_planned_time", "line_total_count",
                "line_good_count",
            ])
        #expect(points.first { $0.name == "line_total_count" }?.kind == .integer)
        #expect(points.first { $0.name == "line_run_time" }?.unit == "s")
        await #expect(throws: WriteError.self) { try await adapter.write(device: "line-kpi", values: ["line": .double(1)]) }
    }
}
