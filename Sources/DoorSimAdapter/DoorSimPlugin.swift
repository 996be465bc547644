import ArgumentParser
import CommandSupport
public import DeviceMaps
import GatewayCore

extension ProtocolPlugin {
    /// Simulated door and contact sensors on a seeded schedule.
    public static let doorSim = ProtocolPlugin(
        syntax: DoorSimSyntax.self, adapter: DoorSimAdapter.self, title: "door-sim",
        template: MapTemplate(
            header: [
                "# Simulated door sensors for demos and tests: Sources/DoorSimAdapter/README.md.",
                "# The same seed, door and parameters give the same events in every run. Read-only.",
            ],
            device: [
                "    connection: { seed: 7, open_every: 2m, open_for: 20s, speed: 1 }",
                "    poll: 30s",
            ],
            body: [
                "    points:",
                "      closed:  { field: contact }          # true while closed, as zigbee2mqtt reports it",
                #"      battery: { field: battery, unit: "%" }"#,
                "      tamper:  { field: tamper }",
                "      opened:  { field: events }           # openings since the start",
            ]),
        abilities: [DoorSimRequestSummary(), DoorSimDemoSimulation(), DoorSimCommandLine()])
}

/// `map plan`: nothing goes over a network.
struct DoorSimRequestSummary: RequestSummarizing {
    func requestSummary(of device: DeviceDefinition, among devices: [DeviceDefinition]) -> String {
        "no requests: simulated inside the gateway"
    }
}

/// `edgegate sim doors`: the same doors, published over MQTT as zigbee2mqtt does.
struct DoorSimCommandLine: CommandLineAbility {
    var simulatorCommands: [any ParsableCommand.Type] { [SimDoorsCommand.self] }
}
