import ArgumentParser
import CommandSupport
import DeviceMaps
import Gateway

/// `edgegate sim ...`: device simulators for demos and tests, one per protocol that has one.
struct SimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Device simulators.",
        subcommands: ProtocolRegistry.standard.commandLine.flatMap(\.simulatorCommands))
}

extension ProtocolRegistry {
    /// The command-line abilities of the protocols, in registry order.
    var commandLine: [any CommandLineAbility] {
        plugins.compactMap { $0.ability((any CommandLineAbility).self) }
    }
}
