import ArgumentParser
import CommandSupport
import Foundation
import GatewayCore
import MapReports
import Logging
import MQTTClient
import Synchronization
import Uplink

/// `edgegate command devices`: a gateway's devices, points and named commands, from the
/// inventory it keeps retained on the hub.
struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List a gateway's devices: points (type, unit, access, limits, options) and named commands with their arguments.",
        discussion: """
            Reads the inventory the gateway keeps retained on the hub ({prefix}/{gateway}/devices), so it \
            works while the gateway is offline too (it shows what the gateway last published). Prints one \
            table per device, or with --json the inventory as JSON.
            Exit code 0 when the inventory arrived; 1 when none arrived within --wait (the gateway never \
            connected to this hub, or the gateway id or prefix is wrong) or the hub cannot be reached; \
            2 for usage errors.
            """)

    @Flag(help: "Print the inventory as JSON.")
    var json = false

    @Option(help: ArgumentHelp("How long to wait for the retained inventory.", valueName: "duration"))
    var wait: DurationArgument = DurationArgument(.seconds(2))

    @OptionGroup var hub: HubClientOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let target = try hub.resolve()
        let logger = logging.makeLogger("edgegate.command")
        let connection = try await target.connect(purpose: "devices", logger: logger)
        let statuses = "\(target.settings.prefix)/+/status"
        let found: (inventory: [UInt8]?, gateways: Set<String>)
        do {
            try await connection.subscribe(target.topics.devices, qos: 1)
            // The other gateways' retained statuses name the ids this hub knows, for the hint
            // when the inventory does not come.
            try await connection.subscribe(statuses, qos: 0)
            found = await Self.collect(connection, inventory: target.topics.devices, prefix: target.settings.prefix,
                                       wait: wait.duration)
        } catch {
            await connection.disconnect()
            throw failOperation(target.connectFailure(error))
        }
        await connection.disconnect()
        guard let payload = found.inventory else {
            let known = found.gateways.sorted()
            let hint = known.isEmpty ? "no gateway has a status under '\(target.settings.prefix)/' on this hub"
                : "gateways with a status under '\(target.settings.prefix)/': \(known.joined(separator: ", "))"
            throw failOperation("error: no inventory from gateway \(target.gateway) on \(target.settings.hub) under prefix "
                                + "'\(target.settings.prefix)' within \(wait.duration): the gateway has never connected to this hub, "
                                + "or the gateway id or the prefix is wrong (\(hint))")
        }
        let inventory: Inventory
        do {
            inventory = try JSONDecoder().decode(Inventory.self, from: Data(payload))
        } catch {
            throw failOperation("error: the inventory of gateway \(target.gateway) is not one this CLI can read: \(error)")
        }
        if json {
            try printJSON(try JSONDecoder().decode(JSONNode.self, from: Data(payload)))
        } else {
            print(inventory.table, terminator: "")
        }
    }

    /// The retained inventory of `inventory` (nil if none within `wait`) and the gateway ids
    /// seen on status topics meanwhile.
    static func collect(_ connection: MQTTConnection, inventory topic: String, prefix: String,
                        wait: Duration) async -> (inventory: [UInt8]?, gateways: Set<String>) {
        await withTaskGroup(of: ([UInt8]?, Set<String>)?.self) { group in
            let seen = GatewayIDs()
            group.addTask {
                for await message in connection.messages {
                    if message.topic == topic { return (message.payload, seen.all) }
                    let levels = message.topic.dropFirst(prefix.count + 1).split(separator: "/")
                    if message.topic.hasPrefix(prefix + "/"), levels.count == 2, levels[1] == "status" {
                        seen.insert(String(levels[0]))
                    }
                }
                return (nil, seen.all)
            }
            group.addTask {
                try? await Task.sleep(for: wait)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? (nil, seen.all)
        }
    }
}

/// Gateway ids collected while waiting.
private final class GatewayIDs: Sendable {
    private let ids = Mutex<Set<String>>([])

    func insert(_ id: String) { ids.withLock { _ = $0.insert(id) } }

    var all: Set<String> { ids.withLock { $0 } }
}

/// The retained inventory (docs/protocol.md, "Inventory"), as the CLI reads it.
struct Inventory: Decodable {
    struct Option: Decodable {
        let value: JSONNode
        let name: String?
    }

    struct Point: Decodable {
        let name: String
        let type: String
        let unit: String?
        let access: String
        let min: JSONNode?
        let max: JSONNode?
        let options: [Option]?
    }

    struct Argument: Decodable {
        let name: String
        let type: String
        let min: JSONNode?
        let max: JSONNode?
        let options: [Option]?
        let `default`: JSONNode?
    }

    struct NamedCommand: Decodable {
        let name: String
        let description: String?
        let args: [Argument]
        let write: [String: JSONNode]
    }

    struct Device: Decodable {
        let id: String
        let `protocol`: String
        let points: [Point]
        let writable: [String]
        let commands: [NamedCommand]
    }

    let gateway: String
    let ts: String?
    let devices: [Device]

    /// `5…90`, `≥5`, `≤90` or empty.
    static func limits(_ min: JSONNode?, _ max: JSONNode?) -> String {
        switch (min.map(humanText), max.map(humanText)) {
        case (let lo?, let hi?): return "\(lo)…\(hi)"
        case (let lo?, nil): return "≥\(lo)"
        case (nil, let hi?): return "≤\(hi)"
        case (nil, nil): return ""
        }
    }

    /// `off=0, heat=1` or `0, 1, 2`.
    static func options(_ options: [Option]?) -> String {
        (options ?? []).map { o in o.name.map { "\($0)=\(humanText(o.value))" } ?? humanText(o.value) }.joined(separator: ", ")
    }

    /// A named command's write as the map author wrote it: a literal (text unquoted, as
    /// `--arg` takes it) or `$arg` for an argument's value.
    static func template(_ value: JSONNode) -> String {
        if case .string(let s) = value { return s }
        return humanText(value)
    }

    /// `celsius: number 10…80 default 20`.
    static func argument(_ a: Argument) -> String {
        var parts = ["\(a.name): \(a.type)"]
        let range = limits(a.min, a.max)
        if !range.isEmpty { parts.append(range) }
        let choices = options(a.options)
        if !choices.isEmpty { parts.append("(\(choices))") }
        if let d = a.default { parts.append("default \(humanText(d))") }
        return parts.joined(separator: " ")
    }

    /// One heading and two tables (points, commands) per device.
    var table: String {
        var text = "gateway \(gateway): \(devices.count) device\(devices.count == 1 ? "" : "s")"
            + (ts.map { " (inventory of \($0))" } ?? "") + "\n"
        for d in devices {
            text += "\n\(d.id)  \(d.protocol)  \(d.points.count) point\(d.points.count == 1 ? "" : "s"), "
                + "\(d.writable.count) writable, \(d.commands.count) command\(d.commands.count == 1 ? "" : "s")\n"
            if !d.points.isEmpty {
                let rows = d.points.map { p in
                    [p.name, p.type, p.unit ?? "", p.access, Self.limits(p.min, p.max), Self.options(p.options)]
                }
                for line in columns(["point", "type", "unit", "access", "limits", "options"], rows) { text += "  \(line)\n" }
            }
            if !d.commands.isEmpty {
                let rows = d.commands.map { c in
                    [c.name, c.args.isEmpty ? "-" : c.args.map(Self.argument).joined(separator: "; "),
                     c.write.keys.sorted().map { "\($0)=\(Self.template(c.write[$0]!))" }.joined(separator: ", "),
                     c.description ?? ""]
                }
                for line in columns(["command", "arguments", "writes", "description"], rows) { text += "  \(line)\n" }
            }
        }
        return text
    }
}
