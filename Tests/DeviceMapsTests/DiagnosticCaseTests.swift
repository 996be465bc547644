import DeviceMaps
import ModbusAdapter
import Foundation
import Testing

/// Saved diagnostic cases: `Cases/NAME/input.yaml` and the exact diagnostics in `expected.txt`.
/// Folders named `config-*` hold a gateway configuration instead of a device map; `mqtt-*`
/// cases are MQTT device maps.
/// `UPDATE_EXPECTED=1` rewrites `expected.txt` from the current output (review the diff!).
@Suite struct DiagnosticCaseTests {
    static let names: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: Repo.cases)) ?? [])
        .filter { FileManager.default.fileExists(atPath: "\(Repo.cases)/\($0)/input.yaml") }
        .sorted()

    static func diagnostics(for name: String) throws -> [Diagnostic] {
        let yaml = try String(contentsOfFile: "\(Repo.cases)/\(name)/input.yaml", encoding: .utf8)
        if name.hasPrefix("config-") {
            return GatewayConfiguration.parse(yaml: yaml, file: "input.yaml").diagnostics
        }
        // `mqtt-*` cases need the MQTT syntax; the others keep the Modbus-only loader, whose
        // message for an unsupported protocol lists only modbus.
        let loader = name.hasPrefix("mqtt-") || name == "unsupported-protocols" ? DeviceMapLoader.examples : DeviceMapLoader.modbus
        return loader.parse(yaml: yaml, file: "input.yaml").diagnostics
    }

    @Test func thereAreCases() {
        #expect(Self.names.count >= 15)
    }

    @Test(arguments: names)
    func diagnosticsMatch(_ name: String) throws {
        let actual = try Self.diagnostics(for: name).map(\.description).joined(separator: "\n") + "\n"
        let expectedFile = "\(Repo.cases)/\(name)/expected.txt"
        if ProcessInfo.processInfo.environment["UPDATE_EXPECTED"] == "1" {
            try actual.write(toFile: expectedFile, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOfFile: expectedFile, encoding: .utf8)
        #expect(actual == expected, "case \(name)")
    }

    @Test(arguments: names)
    func everyCaseHasAnError(_ name: String) throws {
        // A case that stopped failing would silently test nothing.
        #expect(try Self.diagnostics(for: name).contains { $0.severity == .error }, "case \(name)")
    }
}
