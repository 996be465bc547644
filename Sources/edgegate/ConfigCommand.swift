import ArgumentParser

/// `edgegate config ...`: the gateway configuration.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "The gateway configuration: validate.",
        subcommands: [ConfigValidateCommand.self])
}
