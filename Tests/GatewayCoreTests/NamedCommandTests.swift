import Foundation
import GatewayCore
import Logging
import Synchronization
import Testing

@Suite("Named commands and enum options")
struct NamedCommandTests {
    static let mode = PointDescriptor(
        name: "mode", kind: .integer, access: .readwrite, typeName: "uint16",
        options: [
            EnumOption(label: "off", value: .int(0)), EnumOption(label: "heat", value: .int(1)),
            EnumOption(label: "cool", value: .int(2)),
        ])
    static let device = DeviceDescriptor(
        id: "boiler-1", protocolName: "test",
        points: [
            PointDescriptor(name: "setpoint", kind: .number, access: .readwrite, min: 5, max: 90, typeName: "int16"),
            PointDescriptor(name: "pump", kind: .bool, access: .readwrite, typeName: "bool"),
            mode,
        ],
        commands: [
            NamedCommand(name: "start_pump", writes: [TemplateWrite(point: "pump", value: .literal(.bool(true)))]),
            NamedCommand(
                name: "heat",
                arguments: [
                    CommandArgument(name: "celsius", rule: ValueRule(kind: .number, typeName: "number", min: 10, max: 80)),
                    CommandArgument(name: "mode", rule: ValueRule(kind: .string, typeName: "string"), defaultValue: .string("heat")),
                ],
                writes: [
                    TemplateWrite(point: "setpoint", value: .argument("celsius")),
                    TemplateWrite(point: "mode", value: .argument("mode")),
                    TemplateWrite(point: "pump", value: .literal(.bool(true))),
                ]),
        ])

    func run(_ action: CommandAction, id: String = "c1") async -> (CommandResult, [String]) {
        let adapter = ScriptedAdapter(devices: [Self.device])
        let router = CommandRouter(adapters: [adapter], logger: Logger(label: "test"))
        let result = await router.execute(Command(id: id, device: "boiler-1", action: action))
        return (result, adapter.log.withLock { $0 })
    }

    @Test("a named command without arguments writes its literal values")
    func literal() async {
        let (result, log) = await run(.named("start_pump", arguments: [:]))
        #expect(result.status == .ok, "\(result.message)")
        #expect(log == ["start boiler-1 pump=true", "end boiler-1 pump=true"])
    }

    @Test("arguments are substituted, defaults fill in, and enum names become their values")
    func arguments() async {
        let (result, log) = await run(.named("heat", arguments: ["celsius": .double(21.5)]))
        #expect(result.status == .ok, "\(result.message)")
        #expect(log.first == "start boiler-1 mode=1,pump=true,setpoint=21.5")
        let (cool, coolLog) = await run(.named("heat", arguments: ["celsius": .int(18), "mode": .string("cool")]))
        #expect(cool.status == .ok)
        #expect(coolLog.first == "start boiler-1 mode=2,pump=true,setpoint=18")
    }

    @Test(
        "bad arguments are rejected before anything is written, naming command and argument",
        arguments: [
            (["celsius": Value.int(81)], "boiler-1.heat, argument 'celsius': 81 is above the maximum 80"),
            ([:], "boiler-1.heat needs the argument 'celsius' (number)"),
            (["celsius": .int(20), "speed": .int(1)], "boiler-1.heat has no argument 'speed' (arguments: celsius, mode)"),
            (["celsius": .string("warm")], "boiler-1.heat, argument 'celsius': expects a number (number), got \"warm\""),
            (["celsius": .int(20), "mode": .string("boost")], "boiler-1.mode: \"boost\" is not one of the allowed values [off=0, heat=1, cool=2]"),
        ])
    func rejected(_ args: [String: Value], _ message: String) async {
        let (result, log) = await run(.named("heat", arguments: args))
        #expect(result.status == .rejected)
        #expect(result.message == message)
        #expect(log.isEmpty)
    }

    @Test("an unknown command is rejected with the device's command names")
    func unknown() async {
        let (result, log) = await run(.named("stop", arguments: [:]))
        #expect(result.status == .rejected)
        #expect(result.message == "boiler-1 has no command 'stop' (commands: start_pump, heat)")
        #expect(log.isEmpty)
    }

    @Test("a direct write to an enum point accepts a value or a name and refuses others")
    func enumWrites() async {
        let (byValue, _) = await run(.write(["mode": .int(2)]))
        #expect(byValue.status == .ok)
        let (byName, log) = await run(.write(["mode": .string("heat")]))
        #expect(byName.status == .ok)
        #expect(log.first == "start boiler-1 mode=1")
        let (other, none) = await run(.write(["mode": .int(3)]))
        #expect(other.status == .rejected)
        #expect(other.message == "boiler-1.mode: 3 is not one of the allowed values [off=0, heat=1, cool=2]")
        #expect(none.isEmpty)
    }
}
