import ArgumentParser
import Foundation
import GatewayCore
import Logging
import MQTTClient
import Uplink

/// `edgegate command ...`: the remote command CLI, talking to gateways through the hub.
struct CommandCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "command",
        abstract: "Send commands to gateways through the hub.",
        subcommands: [SendCommand.self])
}

/// `edgegate command send`: publish one command as the operator and wait for its response.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send a command and print the gateway's response.",
        discussion: """
            Exit code 0 when the gateway answers `ok`, 1 for any other status or no answer within \
            the timeout, 2 for usage errors.
            Example: edgegate command send --gateway gw-1 --device boiler-1 --write setpoint=21.5
            """)

    @Option(help: "The gateway id.")
    var gateway: String

    @Option(help: "The device id.")
    var device: String

    @Option(name: .customLong("write"), help: "A point write, POINT=VALUE (repeatable). Values: true/false, numbers, or text.")
    var writes: [String] = []

    @Option(help: "A named command of the device map (instead of --write).")
    var command: String?

    @Option(name: .customLong("arg"), help: "An argument of --command, NAME=VALUE (repeatable).")
    var arguments: [String] = []

    @Option(help: "How long to wait for the response.")
    var timeout: DurationArgument = DurationArgument(.seconds(5))

    @Option(help: "Command id (default: a new UUID). Reusing one tests idempotency.")
    var id: String?

    @OptionGroup var hub: HubClientOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if writes.isEmpty == (command == nil) {
            throw ValidationError("give either --write POINT=VALUE or --command NAME")
        }
        if command == nil && !arguments.isEmpty {
            throw ValidationError("--arg belongs to --command")
        }
        _ = try Self.parsePairs(writes, option: "--write")
        _ = try Self.parsePairs(arguments, option: "--arg")
    }

    func run() async throws {
        try hub.checkFiles()
        let logger = logging.makeLogger("edgegate.command")
        let action: CommandAction = if let command {
            .named(command, arguments: try Self.parsePairs(arguments, option: "--arg"))
        } else {
            .write(try Self.parsePairs(writes, option: "--write"))
        }
        let sent = Command(id: id ?? UUID().uuidString.lowercased(), device: device, action: action)
        let result: Result<CommandResponse, CommandClientError> = await CommandClient.send(
            sent, gateway: gateway, prefix: hub.prefix,
            options: hub.mqttOptions(clientID: "\(hub.identity)-\(UUID().uuidString.prefix(8))"),
            timeout: timeout.duration, logger: logger)
        switch result {
        case .success(let response):
            print(String(decoding: response.payload, as: UTF8.self))
            if response.status != CommandStatus.ok.rawValue {
                throw ExitCode(1)
            }
        case .failure(let error):
            throw failOperation("error: \(error)")
        }
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

/// Why a command got no response.
enum CommandClientError: Error, CustomStringConvertible {
    case hub(MQTTError)
    case noResponse(id: String, gateway: String, after: Duration)

    var description: String {
        switch self {
        case .hub(let e): return "hub: \(e)"
        case .noResponse(let id, let gateway, let after):
            return "no response to command \(id) from gateway \(gateway) within \(after) (is the gateway running and connected?)"
        }
    }
}

/// A gateway's answer: the bytes as received, and the status read from them.
struct CommandResponse: Sendable {
    let payload: [UInt8]
    let status: String?
}

/// Sends commands as the operator and waits for the matching response. Used by the CLI and
/// by the demo.
enum CommandClient {
    /// Subscribes to the gateway's responses first (so a fast answer is not missed), then
    /// publishes the command at QoS 1 and returns the response whose id matches.
    static func send(_ command: Command, gateway: String, prefix: String, options: MQTTOptions,
                     timeout: Duration, logger: Logger) async -> Result<CommandResponse, CommandClientError> {
        let topics = MQTTTopics(prefix: prefix, gateway: gateway)
        let connection: MQTTConnection
        do {
            connection = try await MQTTConnection.connect(options, logger: logger)
        } catch {
            return .failure(.hub(error))
        }
        do {
            try await connection.subscribe(topics.responses, qos: 1)
            try await connection.publish(topics.commands, payload: MQTTWire.command(command), qos: 1, retain: false)
        } catch {
            await connection.disconnect()
            return .failure(.hub(error))
        }
        let response: CommandResponse? = await withTaskGroup(of: CommandResponse?.self) { group in
            group.addTask {
                for await message in connection.messages where message.topic == topics.responses {
                    if let node = try? JSONDecoder().decode(JSONNode.self, from: Data(message.payload)),
                       case .object(let o) = node, case .string(let id)? = o["id"], id == command.id {
                        let status: String? = if case .string(let s)? = o["status"] { s } else { nil }
                        return CommandResponse(payload: message.payload, status: status)
                    }
                }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        await connection.disconnect()
        guard let response else {
            return .failure(.noResponse(id: command.id, gateway: gateway, after: timeout))
        }
        return .success(response)
    }
}
