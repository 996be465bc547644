import DeviceMaps
import Foundation
import SavedCases
import Testing

@testable import ModbusAdapter

/// Saved planner cases: `PlanCases/NAME/input.yaml`, a device map whose comment states the
/// fewest requests one cycle can take (`# optimal: N request(s)`, worked out by hand), and the
/// exact plan in `expected.txt` (`SavedCases.planText`). After a deliberate change of the
/// planner, `scripts/update-expected` rewrites `expected.txt` (review the diff!); the optimum
/// is never rewritten, and these tests only compare.
@Suite struct PlanCaseTests {
    static let names: [String] = SavedCases.names(in: SavedCases.planCases)

    @Test func thereAreCases() {
        #expect(Self.names.count >= 10)
    }

    @Test(arguments: names)
    func planIsOptimalAndAsSaved(_ name: String) throws {
        let yaml = try String(contentsOfFile: "\(SavedCases.planCases)/\(name)/input.yaml", encoding: .utf8)
        let optimum = try #require(
            yaml.firstMatch(of: /# optimal: (\d+) requests?\b/).flatMap { Int($0.1) },
            "\(name)/input.yaml states no '# optimal: N requests'")
        let devices = try SavedCases.planDevices(for: name)
        #expect(devices.map { ReadPlan.blocks(for: $0).count }.reduce(0, +) == optimum, "case \(name)")
        let expected = try String(contentsOfFile: "\(SavedCases.planCases)/\(name)/expected.txt", encoding: .utf8)
        #expect(SavedCases.planText(devices) == expected, "case \(name)")
    }
}
