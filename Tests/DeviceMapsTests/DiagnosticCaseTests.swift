import DeviceMaps
import Foundation
import ModbusAdapter
import SavedCases
import Testing

/// Saved diagnostic cases: `Cases/NAME/input.yaml` and the exact diagnostics in `expected.txt`.
/// Folders named `config-*` hold a gateway configuration instead of a device map; `mqtt-*`
/// cases are MQTT device maps (`SavedCases` renders them).
/// After a deliberate change of a message, `scripts/update-expected` rewrites `expected.txt`
/// (review the diff!); these tests only compare.
@Suite struct DiagnosticCaseTests {
    static let names: [String] = SavedCases.names(in: SavedCases.diagnosticCases)

    @Test func thereAreCases() {
        #expect(Self.names.count >= 15)
    }

    @Test(arguments: names)
    func diagnosticsMatch(_ name: String) throws {
        let actual = try SavedCases.diagnosticsText(for: name)
        let expected = try String(contentsOfFile: "\(SavedCases.diagnosticCases)/\(name)/expected.txt", encoding: .utf8)
        #expect(actual == expected, "case \(name)")
    }

    @Test(arguments: names)
    func everyCaseHasAnError(_ name: String) throws {
        // A case that stopped failing would silently test nothing.
        #expect(try SavedCases.diagnostics(for: name).contains { $0.severity == .error }, "case \(name)")
    }
}
