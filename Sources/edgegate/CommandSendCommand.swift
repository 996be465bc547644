import ArgumentParser
import CommandSupport
import Foundation
import GatewayCore
import HubClient
import Logging

/// `edgegate command send`: publish one command as the operator and wait for its response.
struct CommandSendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send a command to a device and print the gateway's response.",
        discussion: """
            Either point writes (--write POINT=VALUE, repeatable) or a named command of the device map \
            (--command NAME with --arg NAME=VALUE). Values: true/false, numbers, anything else as text.
            Prints one line: status, device, the gateway's message, the round trip and the values read \
            back; with --json, the response JSON only.
            Exit code 0 when the gateway answers `ok`; 1 for any other status, no answer within \
            --timeout, or a hub that cannot be reached; 2 for usage errors.
            Example: edgegate command send --gateway gw-1 --device boiler-1 --write setpoint=21.5
            """)

    @Option(help: "The device id.")
    var device: String

    @Option(name: .customLong("write"), help: ArgumentHelp("A point write (repeatable).", valueName: "point=value"))
    var writes: [String] = []

    @Option(help: ArgumentHelp("A named command of the device map (instead of --write).", valueName: "name"))
    var command: String?

    @Option(name: .customLong("arg"), help: ArgumentHelp("An argument of --command (repeatable).", valueName: "name=value"))
    var arguments: [String] = []

    @Option(
        help: ArgumentHelp(
            "The gateway must not start the command later than this after it arrives (sent as ttl_ms).",
            valueName: "duration"))
    var ttl: DurationArgument?

    @Option(help: ArgumentHelp("How long to wait for the response.", valueName: "duration"))
    var timeout: DurationArgument = DurationArgument(.seconds(5))

    @Option(help: "Command id (default: a new UUID). Reusing one tests idempotency.")
    var id: String?

    @Flag(help: "Print the response JSON only.")
    var json = false

    @OptionGroup var hub: HubClientOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if writes.isEmpty == (command == nil) {
            throw ValidationError("give either --write POINT=VALUE or --command NAME")
        }
        if command == nil && !arguments.isEmpty {
            throw ValidationError("--arg belongs to --command")
        }
        if let ttl, ttl.duration <= .zero {
            throw ValidationError("--ttl must be longer than zero")
        }
        if timeout.duration <= .zero {
            throw ValidationError("--timeout must be longer than zero")
        }
        _ = try Self.parsePairs(writes, option: "--write")
        _ = try Self.parsePairs(arguments, option: "--arg")
    }

    func run() async throws {
        let target = try hub.resolve()
        let logger = logging.makeLogger("edgegate.command")
        let action: CommandAction =
            if let command {
                .named(command, arguments: try Self.parsePairs(arguments, option: "--arg"))
            } else {
                .write(try Self.parsePairs(writes, option: "--write"))
            }
        let sent = Command(id: id ?? UUID().uuidString.lowercased(), device: device, action: action, by: target.settings.identity)
        let client = try await target.connect(purpose: "send", logger: logger)
        let response: CommandResponse
        do throws(CommandSendError) {
            response = try await client.send(sent, to: target.gateway, timeout: timeout.duration, ttl: ttl?.duration)
        } catch {
            await client.disconnect()
            if case .hub(let error) = error { throw failOperation(target.connectFailure(error)) }
            throw failOperation("error: \(error)")
        }
        await client.disconnect()
        if json {
            print(String(decoding: response.payload, as: UTF8.self))
        } else {
            print(Self.summary(response, device: device))
        }
        if response.status != .ok {
            throw ExitCode(1)
        }
    }

    /// `ok  boiler-1  wrote boiler-1.setpoint=21.5  (3 ms)  values: setpoint=21.5`.
    static func summary(_ response: CommandResponse, device: String) -> String {
        var line = "\(response.statusText ?? "?")  \(device)  \(response.message ?? "")  (\(humanMilliseconds(response.elapsed ?? .zero)))"
        if !response.values.isEmpty { line += "  values: \(humanPairs(response.values))" }
        return line
    }

    /// `name=value` pairs; values become bool, int, double or string in that order of preference.
    static func parsePairs(_ pairs: [String], option: String) throws -> [String: Value] {
        var values: [String: Value] = [:]
        for pair in pairs {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                throw ValidationError("\(option) expects NAME=VALUE, got '\(pair)'")
            }
            let name = String(pair[..<eq])
            let text = String(pair[pair.index(after: eq)...])
            values[name] = parseValue(text)
        }
        return values
    }

    static func parseValue(_ text: String) -> Value {
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if let i = Int64(text) { return .int(i) }
        if let d = Double(text), d.isFinite { return .double(d) }
        if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") {
            return .string(String(text.dropFirst().dropLast()))
        }
        return .string(text)
    }
}
