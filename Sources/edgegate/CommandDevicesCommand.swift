import ArgumentParser
import CommandSupport
import Foundation
import GatewayCore
import HubClient
import Logging
import MapReports
import Uplink

/// `edgegate command devices`: a gateway's devices, points and named commands, from the
/// inventory it keeps retained on the hub.
struct CommandDevicesCommand: AsyncParsableCommand {
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
        let client = try await target.connect(purpose: "devices", logger: logger)
        let inventory: Inventory
        do throws(InventoryError) {
            inventory = try await client.devices(of: target.gateway, wait: wait.duration)
        } catch {
            await client.disconnect()
            switch error {
            case .hub(let error):
                throw failOperation(target.connectFailure(error))
            case .none(_, _, _, let known):
                let hint =
                    known.isEmpty
                    ? "no gateway has a status under '\(target.settings.prefix)/' on this hub"
                    : "gateways with a status under '\(target.settings.prefix)/': \(known.joined(separator: ", "))"
                throw failOperation(
                    "error: no inventory from gateway \(target.gateway) on \(target.settings.hub) under prefix "
                        + "'\(target.settings.prefix)' within \(wait.duration.mapText): the gateway has never connected to this hub, "
                        + "or the gateway id or the prefix is wrong (\(hint))")
            case .unreadable(_, let reason):
                throw failOperation("error: the inventory of gateway \(target.gateway) is not one this CLI can read: \(reason)")
            }
        }
        await client.disconnect()
        if json {
            try printJSON(try JSONDecoder().decode(JSONValue.self, from: Data(inventory.payload)))
        } else {
            print(inventory.table, terminator: "")
        }
    }
}

/// The inventory as tables for a person.
extension Inventory {
    /// `5…90`, `≥5`, `≤90` or empty.
    fileprivate static func limits(_ min: JSONValue?, _ max: JSONValue?) -> String {
        switch (min.map(humanText), max.map(humanText)) {
        case (let lo?, let hi?): return "\(lo)…\(hi)"
        case (let lo?, nil): return "≥\(lo)"
        case (nil, let hi?): return "≤\(hi)"
        case (nil, nil): return ""
        }
    }

    /// `off=0, heat=1` or `0, 1, 2`.
    fileprivate static func options(_ options: [Option]?) -> String {
        (options ?? []).map { o in o.name.map { "\($0)=\(humanText(o.value))" } ?? humanText(o.value) }.joined(separator: ", ")
    }

    /// A named command's write as the map author wrote it: a literal (text unquoted, as
    /// `--arg` takes it) or `$arg` for an argument's value.
    fileprivate static func template(_ value: JSONValue) -> String {
        if case .string(let s) = value { return s }
        return humanText(value)
    }

    /// `celsius: number 10…80 default 20`.
    fileprivate static func argument(_ a: Argument) -> String {
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
        var text =
            "gateway \(gateway): \(devices.count) device\(devices.count == 1 ? "" : "s")"
            + (ts.map { " (inventory of \($0))" } ?? "") + "\n"
        for d in devices {
            text +=
                "\n\(d.id)  \(d.protocol)  \(d.points.count) point\(d.points.count == 1 ? "" : "s"), "
                + "\(d.writable.count) writable, \(d.commands.count) command\(d.commands.count == 1 ? "" : "s")\n"
            if !d.points.isEmpty {
                let rows = d.points.map { p in
                    [p.name, p.type, p.unit ?? "", p.access, Self.limits(p.min, p.max), Self.options(p.options)]
                }
                for line in columns(["point", "type", "unit", "access", "limits", "options"], rows) { text += "  \(line)\n" }
            }
            if !d.commands.isEmpty {
                let rows = d.commands.map { c in
                    [
                        c.name, c.args.isEmpty ? "-" : c.args.map(Self.argument).joined(separator: "; "),
                        c.write.keys.sorted().map { "\($0)=\(Self.template(c.write[$0]!))" }.joined(separator: ", "),
                        c.description ?? "",
                    ]
                }
                for line in columns(["command", "arguments", "writes", "description"], rows) { text += "  \(line)\n" }
            }
        }
        return text
    }
}
