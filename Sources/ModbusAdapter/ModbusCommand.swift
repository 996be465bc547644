import ArgumentParser

/// `edgegate modbus ...`: tools that talk to Modbus devices directly, without a device map.
struct ModbusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modbus",
        abstract: "Talk to a Modbus device directly: find what it answers.",
        subcommands: [ModbusScanCommand.self])
}
