public import DeviceMaps
import Foundation
import Gateway
import ModbusAdapter

/// The saved cases of the test suite and what each one's `expected.txt` holds, rendered by
/// one piece of code for both the tests, which compare, and `scripts/update-expected`, which
/// writes: the tests never rewrite what they check.
public enum SavedCases {
    /// The repository root.
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// `Tests/DeviceMapsTests/Cases`: `NAME/input.yaml` and the exact diagnostics in `NAME/expected.txt`.
    public static let diagnosticCases = root + "/Tests/DeviceMapsTests/Cases"
    /// `Tests/ModbusAdapterTests/PlanCases`: `NAME/input.yaml` and the exact read plan in `NAME/expected.txt`.
    public static let planCases = root + "/Tests/ModbusAdapterTests/PlanCases"

    /// The case names in `folder`: its sub-folders that hold an `input.yaml`, sorted.
    public static func names(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { FileManager.default.fileExists(atPath: "\(folder)/\($0)/input.yaml") }
            .sorted()
    }

    /// The diagnostics of a diagnostic case. Folders named `config-*` hold a gateway
    /// configuration instead of a device map; `mqtt-*` cases are MQTT device maps, `derived-*`
    /// cases derived devices over the other protocols' devices.
    public static func diagnostics(for name: String) throws -> [Diagnostic] {
        let yaml = try String(contentsOfFile: "\(diagnosticCases)/\(name)/input.yaml", encoding: .utf8)
        if name.hasPrefix("config-") {
            return GatewayConfiguration.parse(yaml: yaml, file: "input.yaml").diagnostics
        }
        // `mqtt-*` cases need the MQTT syntax (every protocol of the gateway); the others keep the Modbus-only loader, whose
        // message for an unsupported protocol lists only modbus.
        let loader =
            name.hasPrefix("mqtt-") || name.hasPrefix("derived-") || name == "unsupported-protocols"
            ? DeviceMapLoader.standard : DeviceMapLoader.modbus
        return loader.parse(yaml: yaml, file: "input.yaml").diagnostics
    }

    /// What `expected.txt` of a diagnostic case holds: one diagnostic a line.
    public static func diagnosticsText(for name: String) throws -> String {
        try diagnostics(for: name).map(\.description).joined(separator: "\n") + "\n"
    }

    /// Why a plan case cannot be rendered.
    public struct CaseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The devices of a plan case (its device map must validate).
    public static func planDevices(for name: String) throws -> [DeviceDefinition] {
        let yaml = try String(contentsOfFile: "\(planCases)/\(name)/input.yaml", encoding: .utf8)
        let (map, diagnostics) = DeviceMapLoader.modbus.parse(yaml: yaml, file: "input.yaml")
        guard let devices = map?.devices else { throw CaseError(description: "\(name): \(diagnostics)") }
        return devices
    }

    /// What `expected.txt` of a plan case holds: one line per device, then one per request:
    /// `holding 0–5 (6 registers, 0 unnamed): a, b, c`.
    public static func planText(_ devices: [DeviceDefinition]) -> String {
        var text = ""
        for device in devices {
            let c = device.modbusConnection
            let blocks = ReadPlan.blocks(for: device)
            text +=
                "\(device.id): \(blocks.count) request\(blocks.count == 1 ? "" : "s") "
                + "(max_gap \(c.maxGap), max_registers_per_request \(c.maxRegistersPerRequest))\n"
            for b in blocks {
                let what = b.table.isBitTable ? "bit" : "register"
                let range = b.count == 1 ? "\(b.start)" : "\(b.start)–\(b.end - 1)"
                text +=
                    "  \(b.table.rawValue) \(range) (\(b.count) \(what)\(b.count == 1 ? "" : "s"), \(b.gap) unnamed): "
                    + b.points.map(\.name).joined(separator: ", ") + "\n"
            }
        }
        return text
    }
}
