import CommandSupport
import DeviceMaps

/// `edgegate demo`: one Modbus simulator per TCP port of the maps' Modbus devices.
struct ModbusDemoSimulation: DemoSimulation {
    func startSimulators(for map: DeviceMap, context: DemoContext, started: inout [RunningSimulator]) async throws {
        let tcp = ProtocolPlugin.modbus.own(map.devices).filter { $0.modbusConnection.port != nil }
        for (port, devices) in Dictionary(grouping: tcp, by: { $0.modbusConnection.port ?? 0 }).sorted(by: { $0.key < $1.key }) {
            let simulator = try ModbusSimulator(devices: devices, port: port, logger: context.logger)
            do {
                try simulator.start()
            } catch {
                throw failOperation("error: the Modbus simulator did not start: \(error)")
            }
            started.append(RunningSimulator { simulator.stop() })
            say("demo: Modbus simulator on 127.0.0.1:\(port) for \(devices.map(\.id).joined(separator: ", "))")
        }
    }
}
