import ArgumentParser
import CommandSupport
import DevTools

/// `edgegate certs ...`: the development PKI.
struct CertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Development certificates.",
        subcommands: [CertsInitCommand.self])
}
