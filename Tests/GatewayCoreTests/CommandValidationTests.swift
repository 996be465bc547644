import GatewayCore
import Testing

@Suite("Command validation")
struct CommandValidationTests {
    let boiler = DeviceDescriptor(
        id: "boiler-1", protocolName: "modbus",
        points: [
            PointDescriptor(name: "temperature", kind: .number, unit: "°C", access: .read, typeName: "int16"),
            PointDescriptor(name: "setpoint", kind: .number, unit: "°C", access: .readwrite, min: 5, max: 90, typeName: "int16"),
            PointDescriptor(name: "pump", kind: .bool, access: .readwrite, typeName: "bool"),
            PointDescriptor(name: "mode", kind: .integer, access: .write, typeName: "uint16"),
        ])

    @Test("a write within limits passes")
    func validWrite() {
        #expect(CommandValidation.problem(in: ["setpoint": .double(21.5), "pump": .bool(true)], for: boiler) == nil)
        #expect(CommandValidation.problem(in: ["setpoint": .int(5)], for: boiler) == nil)
        #expect(CommandValidation.problem(in: ["setpoint": .int(90)], for: boiler) == nil)
        #expect(CommandValidation.problem(in: ["mode": .double(3)], for: boiler) == nil)
    }

    @Test("values outside min/max are refused with the limit in the message")
    func outOfRange() throws {
        let below = try #require(CommandValidation.problem(in: ["setpoint": .double(4.9)], for: boiler))
        #expect(below == "boiler-1.setpoint: 4.9 is below the minimum 5")
        let above = try #require(CommandValidation.problem(in: ["setpoint": .int(91)], for: boiler))
        #expect(above == "boiler-1.setpoint: 91 is above the maximum 90")
    }

    @Test("read-only and unknown points are refused")
    func notWritable() throws {
        #expect(CommandValidation.problem(in: ["temperature": .int(20)], for: boiler) == "boiler-1.temperature is read-only")
        let unknown = try #require(CommandValidation.problem(in: ["setpiont": .int(20)], for: boiler))
        #expect(unknown.contains("no point 'setpiont'"))
        #expect(unknown.contains("writable points: mode, pump, setpoint"))
    }

    @Test(
        "values of the wrong kind are refused",
        arguments: [
            ("pump", Value.int(1)), ("pump", Value.string("on")), ("setpoint", Value.bool(true)),
            ("setpoint", Value.string("21")), ("mode", Value.double(1.5)), ("setpoint", Value.double(.nan)),
        ])
    func wrongKind(point: String, value: Value) {
        #expect(CommandValidation.problem(in: [point: value], for: boiler) != nil)
    }

    @Test("an empty write is refused")
    func emptyWrite() {
        #expect(CommandValidation.problem(in: [:], for: boiler) == "command for boiler-1 writes no point")
    }
}
