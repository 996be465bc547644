import DeviceMaps
import GatewayCore
import ModbusAdapter
import Testing

/// The parts of the format beyond plain registers: wide types, strings, bits, enums, named
/// commands and report policies, as the loader resolves them.
@Suite struct FullFormatTests {
    func load(_ yaml: String) throws -> DeviceDefinition {
        let (map, diagnostics) = DeviceMapLoader.modbus.parse(yaml: yaml, file: "m.yaml")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        return try #require(map?.devices.first)
    }

    @Test func wideTypesStringsAndBitsResolveTheirWidths() throws {
        let d = try load(
            """
            devices:
              - id: d1
                protocol: modbus
                connection: { host: 127.0.0.1 }
                points:
                  energy: { table: input, address: 0, type: uint64, word_order: little }
                  total:  { table: input, address: 4, type: float64 }
                  serial: { table: input, address: 8, type: string, length: 6, byte_order: little }
                  status: { table: holding, address: 20, type: uint16 }
                  ready:  { table: holding, address: 20, bit: 0 }
                  fault:  { table: holding, address: 20, bit: 15, access: readwrite }
            """)
        #expect(d.points.map(\.modbus.registerCount) == [4, 4, 6, 1, 1, 1])
        #expect(d.points.map(\.address.typeName) == ["uint64", "float64", "string[6]", "uint16", "bool (bit 0)", "bool (bit 15)"])
        #expect(d.points[4].modbus.type == .bool && d.points[5].access == .readwrite)
        #expect(d.points.map(\.kind) == [.integer, .number, .string, .integer, .bool, .bool])
    }

    @Test func enumOptionsKeepTheirOrderAndNames() throws {
        let d = try load(
            """
            devices:
              - id: d1
                protocol: modbus
                connection: { host: 127.0.0.1 }
                points:
                  mode:  { table: holding, address: 0, access: readwrite, enum: { off: 0, heat: 1, cool: 2 } }
                  speed: { table: holding, address: 1, access: readwrite, enum: [0, 50, 100] }
            """)
        #expect(
            d.points[0].options == [
                EnumOption(label: "off", value: .int(0)), EnumOption(label: "heat", value: .int(1)),
                EnumOption(label: "cool", value: .int(2)),
            ])
        #expect(d.points[1].options.map(\.value) == [.int(0), .int(50), .int(100)])
        #expect(d.descriptor.point(named: "mode")?.options.count == 3)
    }

    @Test func deviceCommandsReplaceProfileCommandsInPlaceAndExtendThem() throws {
        let d = try load(
            """
            profiles:
              boiler:
                protocol: modbus
                points:
                  setpoint: { table: holding, address: 1, scale: 0.1, access: readwrite, min: 5, max: 90 }
                  pump:     { table: coil, address: 0, access: readwrite }
                commands:
                  start_pump: { write: { pump: true } }
                  stop_pump:  { write: { pump: false } }
            devices:
              - id: b1
                profile: boiler
                connection: { host: 127.0.0.1 }
                commands:
                  start_pump: { description: Start slowly, args: { sp: { type: number, default: 30 } }, write: { setpoint: $sp, pump: true } }
                  heat: { args: { c: number }, write: { setpoint: $c } }
            """)
        #expect(d.commands.map(\.name) == ["start_pump", "stop_pump", "heat"])
        let start = d.commands[0]
        #expect(start.description == "Start slowly")
        #expect(start.arguments == [CommandArgument(name: "sp", rule: ValueRule(kind: .number, typeName: "number"), defaultValue: .int(30))])
        #expect(start.writes == [TemplateWrite(point: "setpoint", value: .argument("sp")), TemplateWrite(point: "pump", value: .literal(.bool(true)))])
        #expect(d.descriptor.command(named: "heat")?.arguments.first?.rule.kind == .number)
    }

    @Test func reportPoliciesComeFromThePointOrElseTheDevice() throws {
        let d = try load(
            """
            devices:
              - id: m1
                protocol: modbus
                connection: { host: 127.0.0.1 }
                report: { deadband: 0.5, max_interval: 1m }
                points:
                  power:   { table: input, address: 0, type: float32, report: { deadband: 2.5% } }
                  voltage: { table: input, address: 2, type: float32 }
            """)
        #expect(d.points[0].report == ReportPolicy(deadband: .percent(2.5)))
        #expect(
            d.reportPolicies == [
                "power": ReportPolicy(deadband: .percent(2.5)),
                "voltage": ReportPolicy(deadband: .absolute(0.5), maxInterval: .seconds(60)),
            ])
    }

    @Test func aBrokenProfileCommandIsReportedOnceNotPerDevice() {
        let yaml = """
            profiles:
              p:
                protocol: modbus
                points: { t: { table: holding, address: 0 } }
                commands: { bad: { write: { t: 1 } } }
            devices:
              - { id: a, profile: p, connection: { host: 127.0.0.1 } }
              - { id: b, profile: p, connection: { host: 127.0.0.1 } }
            """
        let (map, diagnostics) = DeviceMapLoader.modbus.parse(yaml: yaml, file: "m.yaml")
        #expect(map == nil)
        #expect(
            diagnostics.map(\.description) == [
                "m.yaml:5:33: error: profile 'p', command 'bad': point 't' is read-only (set `access: readwrite` on the point if the device accepts writes)"
            ])
    }
}
