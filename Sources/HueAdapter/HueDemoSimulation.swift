import CommandSupport
import DeviceMaps
import Foundation
import GatewayCore

/// `edgegate demo`: for the maps' Hue devices on a loopback bridge, a simulated bridge on that
/// port; dimming the living-room lamp as a command, and how to switch it off by hand.
struct HueDemoSimulation: DemoSimulation {
    /// A simulated bridge per port, paired the way `edgegate hue pair` does (link button,
    /// then `POST /api`), and the username put where the map looks for it (`username_env`),
    /// unless that variable is set already, whose value the bridge then accepts too.
    // Not optimized: Swift 6.3.1's CopyPropagation pass crashes on this function in release
    // builds ("Found ownership error"). It runs once, at demo start.
    @_optimize(none)
    func startSimulators(for map: DeviceMap, context: DemoContext, started: inout [RunningSimulator]) async throws {
        let hue = map.devices.compactMap { $0.connection as? HueConnection }.filter { $0.bridge.host == "127.0.0.1" }
        for (bridge, connections) in Dictionary(grouping: hue, by: \.bridge).sorted(by: { $0.key.port < $1.key.port }) {
            let simulator = HueBridgeSimulator(port: bridge.port, logger: context.logger)
            do {
                try await simulator.start()
            } catch {
                throw failOperation("error: the Hue bridge simulator did not start on \(bridge.url): \(error)")
            }
            started.append(RunningSimulator { await simulator.stop() })
            simulator.pressLinkButton()
            let username: String
            do throws(HueError) {
                username = try await HuePairing.pair(bridge: bridge, devicetype: "edgegate#demo", timeout: .seconds(10))
            } catch {
                throw failOperation("error: pairing with the Hue bridge simulator failed: \(error)")
            }
            var variables: Set<String> = []
            for connection in connections {
                switch connection.username {
                case .literal(let name): simulator.addUsername(name)
                case .environment(let variable):
                    if let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty {
                        simulator.addUsername(value)
                    } else {
                        setenv(variable, username, 1)
                        variables.insert(variable)
                    }
                }
            }
            let paired = variables.isEmpty ? "" : ", paired (username in \(variables.sorted().joined(separator: ", ")))"
            say("demo: Hue bridge simulator on \(bridge.url)\(paired)")
        }
    }

    /// Dimming the living-room lamp up, when the maps have it.
    func demoCommands(for map: DeviceMap, context: DemoContext) -> [Command] {
        guard let lamp = map.devices.first(where: { $0.id == "living-room-lamp" }),
            lamp.commands.contains(where: { $0.name == "dim" })
        else { return [] }
        return [
            Command(
                id: DemoContext.newCommandID(), device: lamp.id,
                action: .named("dim", arguments: ["level": .int(200), "seconds": .double(2)]))
        ]
    }

    /// How to switch the lamp from another terminal with the operator CLI, when the maps have it.
    func hint(for map: DeviceMap, context: DemoContext) -> String? {
        guard let lamp = map.devices.first(where: { $0.id == "living-room-lamp" }),
            lamp.commands.contains(where: { $0.name == "switch_off" })
        else { return nil }
        let flags = "--gateway \(context.gatewayID) --device \(lamp.id) --command switch_off\(context.hubFlags)"
        return "demo: switch the lamp off from another terminal: edgegate command send \(flags)"
    }
}
