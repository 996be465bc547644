import ArgumentParser

/// `edgegate hue ...`: Philips Hue bridge tools.
struct HueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hue",
        abstract: "Philips Hue bridge tools.",
        subcommands: [HuePairCommand.self])
}
