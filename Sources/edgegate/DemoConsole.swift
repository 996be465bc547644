import CommandSupport
import Foundation
import GatewayCore
import HubClient
import Logging
import MQTTClient
import ServiceLifecycle
import Uplink

/// The demo's operator window: subscribes to the gateway's telemetry as the operator (over
/// the same mutual-TLS hub a real operator uses), prints live readings at most once a second,
/// a line per device with new readings in the order of their ids (so a derived device such as
/// `press-1-kpi` follows the device it is computed from), and performs the demo's command
/// round trips, one after the other, once readings flow.
struct DemoConsole: Service {
    let gateway: String
    let prefix: String
    let options: MQTTOptions
    /// Connected and subscribed before the gateway starts (`watch`): telemetry is not
    /// retained, and a reading sent once (a door's retained availability) that went out before
    /// the subscription would never be seen.
    let hub: MQTTConnection
    let commands: [Command]
    /// Printed after the commands: what to try next, from another terminal.
    let hint: String?
    let logger: Logger

    /// Connects to the hub as the operator and subscribes to the gateway's telemetry and status.
    static func watch(gateway: String, prefix: String, options: MQTTOptions, logger: Logger) async throws(MQTTError) -> MQTTConnection {
        let topics = MQTTTopics(prefix: prefix, gateway: gateway)
        let hub = try await MQTTConnection.connect(options, logger: logger)
        do throws(MQTTError) {
            try await hub.subscribe(topics.telemetry, qos: 0)
            try await hub.subscribe(topics.status, qos: 1)
        } catch {
            await hub.disconnect()
            throw error
        }
        say("demo: watching \(topics.telemetry) as the operator; Ctrl-C stops everything")
        return hub
    }

    func run() async throws {
        let topics = MQTTTopics(prefix: prefix, gateway: gateway)
        try await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                var latest: [String: [String: Shown]] = [:]
                var updated: Set<String> = []
                var lastPrint: ContinuousClock.Instant?
                var commandSent = false
                for await message in hub.messages {
                    if message.topic == topics.status {
                        say("demo: gateway status \(String(decoding: message.payload, as: UTF8.self))")
                        continue
                    }
                    guard let readings = Self.readings(in: message.payload) else { continue }
                    for (device, point, shown) in readings {
                        latest[device, default: [:]][point] = shown
                        updated.insert(device)
                    }
                    let now = ContinuousClock.now
                    if lastPrint.map({ now - $0 >= .seconds(1) }) ?? true {
                        lastPrint = now
                        for device in updated.sorted() {
                            say("\(Self.clock()) \(device): \(Self.line(latest[device]!))")
                        }
                        updated = []
                    }
                    if !commandSent {
                        commandSent = true
                        group.addTask {
                            for command in commands { await self.roundTrip(command) }
                            if let hint { say(hint) }
                        }
                    }
                }
            }
        }
        await hub.disconnect()
    }

    private func roundTrip(_ command: Command) async {
        say("demo: sending command \(String(decoding: MQTTWire.command(command), as: UTF8.self))")
        var sender = options
        sender.clientID = options.clientID + "-cmd"
        let started = ContinuousClock.now
        let result: Result<CommandResponse, CommandSendError>
        do throws(MQTTError) {
            let client = try await HubClient.connect(sender, prefix: prefix, logger: logger)
            do throws(CommandSendError) {
                result = .success(try await client.send(command, to: gateway, timeout: .seconds(10)))
            } catch {
                result = .failure(error)
            }
            await client.disconnect()
        } catch {
            result = .failure(.hub(error))
        }
        let elapsed = ContinuousClock.now - started
        switch result {
        case .success(let response):
            say("demo: response after \(elapsed.formatted(.units(allowed: [.milliseconds]))) \(String(decoding: response.payload, as: UTF8.self))")
        case .failure(let error):
            say("demo: command failed: \(error)")
        }
    }

    /// How a point's latest reading is printed.
    struct Shown {
        /// "value unit" or "bad (reason)".
        var text: String
        /// The value of a good or uncertain number without a unit, for ratios.
        var fraction: Double?
    }

    /// A device's latest readings, by point name: `name value unit | ...`. The four ratios of
    /// an OEE point (`X`, `X_availability`, `X_performance`, `X_quality`: 0–1, no unit) read
    /// with four decimals and as percentages, `line 0.6981 (69.8 %)`.
    static func line(_ points: [String: Shown]) -> String {
        var ratios: Set<String> = []
        for name in points.keys {
            let group = [name, name + "_availability", name + "_performance", name + "_quality"]
            if group.allSatisfy({ points[$0] != nil }) { ratios.formUnion(group) }
        }
        return points.keys.sorted().map { name in
            let shown = points[name]!
            if ratios.contains(name), let fraction = shown.fraction {
                return "\(name) \(String(format: "%.4f (%.1f %%)", fraction, fraction * 100))"
            }
            return "\(name) \(shown.text)"
        }.joined(separator: " | ")
    }

    /// (device, point, how it shows) for each reading of a telemetry message.
    static func readings(in payload: [UInt8]) -> [(String, String, Shown)]? {
        guard case .object(let root)? = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)),
            case .array(let list)? = root["readings"]
        else { return nil }
        return list.compactMap { node in
            guard case .object(let r) = node, case .string(let device)? = r["device"],
                case .string(let point)? = r["point"]
            else { return nil }
            var text: String
            var fraction: Double?
            if case .string("bad")? = r["quality"] {
                if case .string(let reason)? = r["reason"] { text = "bad (\(reason))" } else { text = "bad" }
            } else {
                if r["unit"] == nil { fraction = r["value"]?.number }
                text =
                    r["value"]?.value.map { v in
                        if case .double(let d) = v { return String(format: "%.2f", d) }
                        return "\(v)"
                    } ?? "null"
                if case .string(let unit)? = r["unit"] { text += " \(unit)" }
            }
            return (device, point, Shown(text: text, fraction: fraction))
        }
    }

    static func clock() -> String {
        let ts = Timestamp.rfc3339(Date())
        return String(ts.dropFirst(11).prefix(8))
    }
}
