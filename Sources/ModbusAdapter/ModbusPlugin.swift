import ArgumentParser
import CommandSupport
public import DeviceMaps
import GatewayCore

extension ProtocolPlugin {
    /// Modbus TCP and Modbus RTU through libmodbus.
    public static let modbus = ProtocolPlugin(
        syntax: ModbusSyntax.self, adapter: ModbusAdapter.self, title: "Modbus",
        template: MapTemplate(
            header: [
                "# Types: bool, int16, uint16, int32, uint32, int64, uint64, float32, float64, string (with length);",
                "# bit: N reads one bit of a register. byte_order/word_order: big (default) | little.",
                "# engineering value = raw × scale + offset; access: read (default) | readwrite | write.",
            ],
            device: [
                "    connection: { host: 127.0.0.1, port: 502, unit_id: 1, timeout: 1s }   # Modbus TCP",
                "    poll: 1s",
            ],
            deviceExtras: [
                "    report: { deadband: 0.5, max_interval: 60s }   # send a change of more than 0.5, else every 60 s"
            ],
            body: [
                "    points:",
                "      # name:    { table: coil|discrete|input|holding, address: 0-based offset, type: ..., unit: ... }",
                #"      temperature: { table: input, address: 0, type: int16, scale: 0.1, unit: "°C", description: Supply temperature }"#,
                #"      flow:        { table: input, address: 2, type: float32, word_order: little, unit: "l/min","#,
                #"                     report: { deadband: "5%" } }           # this point's own report policy"#,
                "      energy:      { table: input, address: 4, type: uint32, scale: 0.01, unit: kWh }",
                "      serial:      { table: input, address: 6, type: string, length: 8 }   # 8 registers: up to 16 characters",
                "      status:      { table: input, address: 14, type: uint16 }",
                "      running:     { table: input, address: 14, bit: 0 }   # bit 0 (least significant) of status, a bool",
                #"      setpoint:    { table: holding, address: 0, type: int16, scale: 0.1, unit: "°C","#,
                "                     access: readwrite, min: 5, max: 90 }   # writes outside min/max are refused",
                "      mode:        { table: holding, address: 1, type: uint16, access: readwrite,",
                "                     enum: { standby: 0, heat: 1, eco: 2 } }   # the only values a write may set",
                "      pump:        { table: coil, address: 0, access: readwrite }",
                "      alarm:       { table: discrete, address: 0 }",
                #"    commands:                        # the cloud sends {"command": "set_temperature", "args": {"celsius": 21}}"#,
                "      start_pump:  { write: { pump: true } }",
                "      set_temperature:",
                "        args: { celsius: { type: number, min: 5, max: 90, default: 20 } }",
                "        write: { setpoint: $celsius, mode: heat }   # $celsius: the argument; heat: mode's name for 1",
            ]),
        abilities: [ModbusRequestPlanning(), ModbusDemoSimulation(), ModbusCommandLine()])
}

/// `map plan`: the read requests of a device's poll, as `ReadPlan` merges its points.
struct ModbusRequestPlanning: RequestPlanning {
    func plan(of device: DeviceDefinition) -> DevicePlan {
        let connection = device.modbusConnection
        return DevicePlan(
            limits: [
                MapField("max_gap", .int(Int64(connection.maxGap))),
                MapField("max_registers_per_request", .int(Int64(connection.maxRegistersPerRequest))),
            ],
            requests: ReadPlan.blocks(for: device).map {
                DevicePlan.Request(
                    table: $0.table.rawValue, start: $0.start, count: $0.count, gap: $0.gap,
                    points: $0.points.map(\.name), countsBits: $0.table.isBitTable)
            })
    }
}

/// `edgegate modbus scan` and `edgegate sim modbus`.
struct ModbusCommandLine: CommandLineAbility {
    var commands: [any ParsableCommand.Type] { [ModbusCommand.self] }
    var simulatorCommands: [any ParsableCommand.Type] { [SimModbusCommand.self] }
}
