import DeviceMaps
import Foundation
@testable import ModbusAdapter
import Testing

/// Saved planner cases: `PlanCases/NAME/input.yaml`, a device map whose comment states the
/// fewest requests one cycle can take (`# optimal: N request(s)`, worked out by hand), and the
/// exact plan in `expected.txt`. `UPDATE_EXPECTED=1` rewrites `expected.txt` from the current
/// plan (review the diff!); the optimum is never rewritten.
@Suite struct PlanCaseTests {
    static let folder = (#filePath as NSString).deletingLastPathComponent + "/PlanCases"
    static let names: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
        .filter { FileManager.default.fileExists(atPath: "\(folder)/\($0)/input.yaml") }
        .sorted()

    /// One line per device, then one per request:
    /// `holding 0–5 (6 registers, 0 unnamed): a, b, c`.
    static func text(_ devices: [DeviceDefinition]) -> String {
        var text = ""
        for device in devices {
            let c = device.modbusConnection
            let blocks = ReadPlan.blocks(for: device)
            text += "\(device.id): \(blocks.count) request\(blocks.count == 1 ? "" : "s") "
                + "(max_gap \(c.maxGap), max_registers_per_request \(c.maxRegistersPerRequest))\n"
            for b in blocks {
                let what = b.table.isBitTable ? "bit" : "register"
                let range = b.count == 1 ? "\(b.start)" : "\(b.start)–\(b.end - 1)"
                text += "  \(b.table.rawValue) \(range) (\(b.count) \(what)\(b.count == 1 ? "" : "s"), \(b.gap) unnamed): "
                    + b.points.map(\.name).joined(separator: ", ") + "\n"
            }
        }
        return text
    }

    @Test func thereAreCases() {
        #expect(Self.names.count >= 10)
    }

    @Test(arguments: names)
    func planIsOptimalAndAsSaved(_ name: String) throws {
        let yaml = try String(contentsOfFile: "\(Self.folder)/\(name)/input.yaml", encoding: .utf8)
        let optimum = try #require(yaml.firstMatch(of: /# optimal: (\d+) requests?\b/).flatMap { Int($0.1) },
                                   "\(name)/input.yaml states no '# optimal: N requests'")
        let (map, diagnostics) = DeviceMapLoader.modbus.parse(yaml: yaml, file: "input.yaml")
        let devices = try #require(map?.devices, "\(name): \(diagnostics)")
        #expect(devices.map { ReadPlan.blocks(for: $0).count }.reduce(0, +) == optimum, "case \(name)")

        let actual = Self.text(devices)
        let expectedFile = "\(Self.folder)/\(name)/expected.txt"
        if ProcessInfo.processInfo.environment["UPDATE_EXPECTED"] == "1" {
            try actual.write(toFile: expectedFile, atomically: true, encoding: .utf8)
            return
        }
        #expect(actual == (try String(contentsOfFile: expectedFile, encoding: .utf8)), "case \(name)")
    }
}
