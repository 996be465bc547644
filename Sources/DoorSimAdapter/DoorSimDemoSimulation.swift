import CommandSupport
import DevTools
import DeviceMaps
import MQTTClient

/// `edgegate demo`: for the maps' devices that read `zigbee2mqtt/NAME` on a plain loopback
/// broker (MQTT devices, found through their protocol's `BrokerTopics`), a site broker on that
/// port and door sensors publishing there as zigbee2mqtt does, as `edgegate sim doors` would.
struct DoorSimDemoSimulation: DemoSimulation {
    func startSimulators(for map: DeviceMap, context: DemoContext, started: inout [RunningSimulator]) async throws {
        var doors: [(port: Int, name: String)] = []
        for plugin in context.plugins {
            guard let topics = plugin.ability((any BrokerTopics).self) else { continue }
            for device in plugin.own(map.devices) {
                guard let state = topics.stateTopic(of: device), !state.useTLS, state.host == "127.0.0.1" else { continue }
                let levels = state.topic.split(separator: "/", omittingEmptySubsequences: false)
                guard levels.count == 2, levels[0] == "zigbee2mqtt" else { continue }
                doors.append((state.port, String(levels[1])))
            }
        }
        for (port, members) in Dictionary(grouping: doors, by: \.port).sorted(by: { $0.key < $1.key }) {
            let broker: SiteBroker
            do {
                broker = try await SiteBroker.start(
                    SiteBroker.Configuration(port: port, runDirectory: "\(context.runDirectory)/site-broker-\(port)"),
                    logger: context.logger)
            } catch {
                throw failOperation("error: the site broker did not start: \(error)")
            }
            started.append(RunningSimulator { await broker.stop() })
            let names = members.map(\.name)
            // Four times real time: each door opens about every 30 s (every 2 simulated minutes).
            let sensors = DoorSensorSimulator(
                options: MQTTOptions(host: "127.0.0.1", port: port, clientID: "zigbee2mqtt-demo"),
                doors: names, seed: 1, speed: 4, reportEvery: .seconds(30), logger: context.logger)
            do throws(MQTTError) {
                try await sensors.start()
            } catch {
                throw failOperation("error: the door sensors could not reach the site broker \(broker.url): \(error)")
            }
            started.append(RunningSimulator { await sensors.stop() })
            say("demo: site broker (mosquitto) on \(broker.url), zigbee2mqtt door sensors \(names.joined(separator: ", "))")
        }
    }
}
