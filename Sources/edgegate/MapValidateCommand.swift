import ArgumentParser
import DeviceMaps
import Gateway

/// `edgegate map validate PATH...`: every problem at once, compiler style.
struct MapValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check device maps and print every problem as file:line:column: error|warning: message.",
        discussion: "Exit code 0 when no errors were found (warnings may be printed), 1 when errors were found, 2 for usage errors.")

    @Argument(help: "Device-map files or folders.")
    var paths: [String]

    @Option(help: "Output: text (for people and editors) or json (for tools).")
    var format: DiagnosticsFormat = .text

    func validate() throws {
        if paths.isEmpty { throw ValidationError("give at least one device-map file or folder") }
    }

    func run() throws {
        let (map, diagnostics) = DeviceMapLoader.standard.validate(paths: paths)
        let devices = map?.devices.count ?? 0
        try ValidationOutput(
            diagnostics: diagnostics, valid: map != nil, validSummary: "\(devices) device(s) valid",
            gateway: nil, devices: devices
        ).print(format: format)
    }
}
