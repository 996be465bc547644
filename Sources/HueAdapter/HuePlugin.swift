import ArgumentParser
import CommandSupport
public import DeviceMaps
import GatewayCore

extension ProtocolPlugin {
    /// Philips Hue bridges, local REST API v1.
    public static let hue = ProtocolPlugin(
        syntax: HueSyntax.self, adapter: HueAdapter.self, title: "Hue",
        template: MapTemplate(
            header: [
                "# Philips Hue bridges, local API v1: Sources/HueAdapter/README.md. Pair once and keep the",
                "# username in the environment: export HUE_USERNAME=$(edgegate hue pair --bridge http://BRIDGE)",
                "# resource: light | sensor; id: the bridge's id; field: on, bri, hue, sat, ct, x, y, transitiontime, ...",
            ],
            device: [
                #"    connection: { bridge: "http://192.0.2.20", username_env: HUE_USERNAME }"#,
                "    poll: 1s",
            ],
            body: [
                "    points:",
                #"      "on":       { resource: light, id: "1", field: "on", access: readwrite }"#,
                #"      brightness: { resource: light, id: "1", field: bri, access: readwrite }   # the bridge's 1…254"#,
                #"      transition: { resource: light, id: "1", field: transitiontime, scale: 0.1, unit: s, access: write }"#,
                #"      reachable:  { resource: light, id: "1", field: reachable }"#,
                #"      motion:     { resource: sensor, id: "5", field: presence }"#,
                #"      temperature: { resource: sensor, id: "4", field: temperature, unit: "°C" }"#,
                "    commands:",
                "      dim:",
                "        args: { level: { type: integer, min: 1, max: 254 }, seconds: { type: number, min: 0, max: 60, default: 1 } }",
                #"        write: { "on": true, brightness: $level, transition: $seconds }   # one PUT to the light"#,
            ]),
        abilities: [HueRequestSummary(), HueDemoSimulation(), HueCommandLine()])
}

/// `map plan`: the GETs of the bridge poller that reads a device.
struct HueRequestSummary: RequestSummarizing {
    func requestSummary(of device: DeviceDefinition, among devices: [DeviceDefinition]) -> String {
        HueAdapter.requestSummary(of: device, among: devices)
    }
}

/// `edgegate hue pair` and `edgegate sim hue`.
struct HueCommandLine: CommandLineAbility {
    var commands: [any ParsableCommand.Type] { [HueCommand.self] }
    var simulatorCommands: [any ParsableCommand.Type] { [SimHueCommand.self] }
}
