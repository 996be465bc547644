import ArgumentParser
import DeviceMaps
import Gateway

/// `edgegate config validate FILE`: the configuration and the device maps it names, every
/// problem at once, as `edgegate run` would find them at start-up.
struct ConfigValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a gateway configuration and the device maps it names; print every problem as file:line:column: error|warning: message.",
        discussion: """
            Checks what `edgegate run --config FILE` checks before it starts: the configuration's keys and values \
            (and, for an azure-iot-hub SAS uplink, that the device key file is readable and holds a base64 key), \
            then every device map of gateway.devicemaps. It connects nowhere and creates nothing: the outbox, the \
            command ledger and the TLS files are opened only by `run`. \
            Exit code 0 when no errors were found (warnings may be printed), 1 when errors were found, 2 for usage errors.
            """)

    @Argument(help: "The gateway configuration file (YAML).")
    var file: String

    @Option(help: "Output: text (for people and editors) or json (for tools).")
    var format: DiagnosticsFormat = .text

    func run() throws {
        let check = GatewayConfiguration.validate(file: file)
        var diagnostics = check.diagnostics
        var devices = 0, mapsValid = true
        // The maps are checked also when the configuration has errors elsewhere: every problem at once.
        if !check.devicemaps.isEmpty {
            let (map, mapDiagnostics) = DeviceMapLoader.standard.validate(paths: check.devicemaps)
            diagnostics += mapDiagnostics
            devices = map?.devices.count ?? 0
            mapsValid = map != nil
        }
        let valid = check.config != nil && mapsValid
        let gateway = check.config?.gatewayID
        try ValidationOutput(
            diagnostics: diagnostics, valid: valid,
            validSummary: "configuration valid: \(gateway ?? ""), \(devices) device(s)",
            gateway: gateway, devices: devices
        ).print(format: format)
    }
}
