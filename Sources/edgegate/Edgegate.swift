import ArgumentParser
import CommandSupport
import Foundation
import Gateway

/// The one executable: daemon, authoring tools, remote command CLI, dev hub and simulators.
@main
struct Edgegate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgegate",
        abstract: "An edge gateway: field devices in, a mutually authenticated MQTT uplink out, commands back.",
        discussion: "Exit codes: 0 success, 1 the operation failed or was rejected, 2 usage or input error.",
        version: "0.1.0",
        subcommands: [
            RunCommand.self, DemoCommand.self, CertsCommand.self, HubCommand.self, BrokerCommand.self,
            SimCommand.self, CommandCommand.self, MapCommand.self, ConfigCommand.self, StatusCommand.self,
        ]
            + ProtocolRegistry.standard.commandLine.flatMap(\.commands)
    )

    /// Parses and runs, mapping usage errors to exit code 2 as docs/cli.md promises (the
    /// argument parser's own default is 64).
    static func main() async {
        ProcessTuning.limitMallocArenas()
        // The protocols' own commands (`sim modbus`) load maps too, with every protocol.
        await CommandLineContext.$loader.withValue(ProtocolRegistry.standard.loader) {
            await parseAndRun()
        }
    }

    private static func parseAndRun() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                Foundation.exit(0)
            }
            if !message.isEmpty {
                FileHandle.standardError.write(Data((message + "\n").utf8))
            }
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}
