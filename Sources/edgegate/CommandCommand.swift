import ArgumentParser
import Foundation
import GatewayCore
import Logging
import MQTTClient
import Synchronization
import Uplink

/// `edgegate command ...`: the remote command CLI, talking to gateways through the hub.
struct CommandCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "command",
        abstract: "Send commands to gateways, list their devices and watch them, through the hub.",
        discussion: """
            Connects as the operator with mutual TLS. Settings come from flags, else the environment \
            (EDGEGATE_HUB=mqtts://host:port, EDGEGATE_CERTS, EDGEGATE_IDENTITY, EDGEGATE_GATEWAY, \
            EDGEGATE_PREFIX), else ~/.config/edgegate/cli.yaml ($XDG_CONFIG_HOME/edgegate/cli.yaml when \
            set; keys hub, certs, identity, gateway, prefix), else the defaults of the development hub.
            """,
        subcommands: [SendCommand.self, DevicesCommand.self, WatchCommand.self])
}

/// A gateway's retained `status`, as the operator reads it.
struct GatewayStatus: Sendable {
    let online: Bool
    /// When the gateway said it (`ts`); nil for a last will, which the hub publishes at a
    /// moment the payload cannot know.
    let since: String?
    /// For a last will: when the connection it belongs to began (`connected_at`).
    let connectedAt: String?
    let reason: String?

    /// Reads `{"online":bool,"ts",...,"reason"?}`; nil for anything else.
    init?(_ payload: [UInt8]) {
        guard case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)) else { return nil }
        self.init(o)
    }

    /// Reads the fields of a decoded status; nil when `online` is missing.
    init?(_ o: [String: JSONValue]) {
        guard case .bool(let online)? = o["online"] else { return nil }
        self.online = online
        let ts = if case .string(let ts)? = o["ts"] { ts } else { String?.none }
        reason = if case .string(let r)? = o["reason"] { r } else { nil }
        if case .string(let at)? = o["connected_at"] {
            connectedAt = at
            since = ts
        } else if !online, reason == "connection lost" {
            // A will of an older gateway: its `ts` is when the will was made, at connect time,
            // not when the connection was lost.
            connectedAt = ts
            since = nil
        } else {
            connectedAt = nil
            since = ts
        }
    }

    /// `online since …`, `offline since … (shutdown)`, or, for a last will, `offline
    /// (connection lost at a time the hub does not record; it had connected at …)`: never a
    /// time the status does not state.
    var text: String {
        let state = online ? "online" : "offline"
        if let since { return "\(state) since \(since)" + (reason.map { " (\($0))" } ?? "") }
        var parts = [reason.map { "\($0) at a time the hub does not record" } ?? "since a time the hub does not record"]
        if let connectedAt { parts.append("it had connected at \(connectedAt)") }
        return "\(state) (\(parts.joined(separator: "; ")))"
    }
}

/// Why a command got no response.
enum CommandClientError: Error, CustomStringConvertible {
    case hub(MQTTError)
    case noResponse(id: String, gateway: String, prefix: String, after: Duration, status: GatewayStatus?)

    var description: String {
        switch self {
        case .hub(let e): return "hub: \(e)"
        case .noResponse(let id, let gateway, let prefix, let after, let status):
            let head = "no response to command \(id) from gateway \(gateway) within \(after)"
            guard let status else {
                return "\(head): the hub holds no status for \(gateway) under prefix '\(prefix)', so the gateway has never "
                    + "connected to this hub, or the gateway id or the prefix is wrong; the command will not run"
            }
            if !status.online {
                return "\(head): the gateway is \(status.text); the command was not delivered and will not run"
            }
            return "\(head): the gateway is online (since \(status.since ?? "an unknown time")) but did not answer in time; "
                + "its device may be slow or busy with earlier commands, and the command may still run "
                + "(--ttl bounds how late it may start)"
        }
    }
}

/// A gateway's answer: the bytes as received, what was read from them, and the round trip.
struct CommandResponse: Sendable {
    let payload: [UInt8]
    let status: String?
    let message: String?
    let values: [String: JSONValue]
    /// From just before the publish to the response's arrival.
    let elapsed: Duration

    init(payload: [UInt8], fields: [String: JSONValue], elapsed: Duration) {
        self.payload = payload
        status = if case .string(let s)? = fields["status"] { s } else { nil }
        message = if case .string(let m)? = fields["message"] { m } else { nil }
        values = if case .object(let v)? = fields["values"] { v } else { [:] }
        self.elapsed = elapsed
    }
}

/// Sends commands as the operator and waits for the matching response. Used by the CLI and
/// by the demo.
enum CommandClient {
    /// Subscribes to the gateway's responses (first, so a fast answer is not missed) and its
    /// retained status (to explain a silence), then publishes the command at QoS 1 and returns
    /// the response whose id matches.
    /// - Parameter ttl: sent as `ttl_ms`: the gateway refuses to start the command later.
    static func send(_ command: Command, gateway: String, prefix: String, options: MQTTOptions,
                     timeout: Duration, ttl: Duration? = nil, logger: Logger) async -> Result<CommandResponse, CommandClientError> {
        let connection: MQTTConnection
        do {
            connection = try await MQTTConnection.connect(options, logger: logger)
        } catch {
            return .failure(.hub(error))
        }
        let result = await send(command, on: connection, gateway: gateway, prefix: prefix, timeout: timeout, ttl: ttl)
        await connection.disconnect()
        return result
    }

    /// The same on a connection the caller owns.
    static func send(_ command: Command, on connection: MQTTConnection, gateway: String, prefix: String,
                     timeout: Duration, ttl: Duration?) async -> Result<CommandResponse, CommandClientError> {
        let topics = MQTTTopics(prefix: prefix, gateway: gateway)
        let published: ContinuousClock.Instant
        do {
            try await connection.subscribe(topics.responses, qos: 1)
            try await connection.subscribe(topics.status, qos: 1)
            published = .now
            try await connection.publish(topics.commands, payload: MQTTWire.command(command, ttl: ttl), qos: 1, retain: false)
        } catch {
            return .failure(.hub(error))
        }
        let status = LatestStatus()
        let response: CommandResponse? = await withTaskGroup(of: CommandResponse?.self) { group in
            group.addTask {
                for await message in connection.messages {
                    if message.topic == topics.status {
                        status.update(message.payload)
                        continue
                    }
                    guard message.topic == topics.responses,
                          case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: Data(message.payload)),
                          o["id"] == .string(command.id) else { continue }
                    return CommandResponse(payload: message.payload, fields: o, elapsed: .now - published)
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
        if let response { return .success(response) }
        return .failure(.noResponse(id: command.id, gateway: gateway, prefix: prefix, after: timeout, status: status.value))
    }
}

/// The last gateway status seen, shared between the task that reads messages and the one
/// that gives up waiting.
final class LatestStatus: Sendable {
    private let status = Mutex<GatewayStatus?>(nil)

    /// Keeps the status in `payload`, when it is one.
    func update(_ payload: [UInt8]) {
        if let parsed = GatewayStatus(payload) { status.withLock { $0 = parsed } }
    }

    /// The last status, if any arrived.
    var value: GatewayStatus? { status.withLock { $0 } }
}

/// A JSON value as a person reads it: `21.5`, `true`, `"text"`, `null`, `[...]`.
func humanText(_ node: JSONValue) -> String {
    switch node {
    case .null: return "null"
    case .array: return "[...]"
    case .object: return "{...}"
    default: return node.value.map { "\($0)" } ?? "?"
    }
}

/// `setpoint=21.5, mode=1`, keys sorted.
func humanPairs(_ values: [String: JSONValue]) -> String {
    values.keys.sorted().map { "\($0)=\(humanText(values[$0]!))" }.joined(separator: ", ")
}

/// `3 ms`, `0.8 ms`.
func humanMilliseconds(_ d: Duration) -> String {
    let ms = d / .milliseconds(1)
    return String(format: ms < 1 ? "%.1f ms" : "%.0f ms", ms)
}
