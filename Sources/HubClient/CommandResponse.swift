public import GatewayCore
import Uplink

/// A gateway's answer to a command (docs/protocol.md, "Responses"): the bytes as received
/// and what was read from them.
public struct CommandResponse: Sendable, Hashable {
    /// The id of the command it answers.
    public let id: String
    /// The status as written (`ok`, `rejected`, `duplicate`, ...); nil when missing or not text.
    public let statusText: String?
    /// The gateway's sentence about what happened.
    public let message: String?
    /// Values read back after a write (point → value).
    public let values: [String: JSONValue]
    /// The response object as received.
    public let fields: [String: JSONValue]
    /// The payload as received.
    public let payload: [UInt8]
    /// For a response to `HubClient.send`: from just before the publish to the response's
    /// arrival. Nil for one seen by `watch`.
    public let elapsed: Duration?

    /// The status, when it is one of the contract's.
    public var status: CommandStatus? { statusText.flatMap(CommandStatus.init(rawValue:)) }

    /// Reads a response object; nil when it has no string `id`.
    init?(_ fields: [String: JSONValue], payload: [UInt8], elapsed: Duration?) {
        guard case .string(let id)? = fields["id"] else { return nil }
        self.id = id
        statusText = if case .string(let s)? = fields["status"] { s } else { nil }
        message = if case .string(let m)? = fields["message"] { m } else { nil }
        values = if case .object(let v)? = fields["values"] { v.dictionary } else { [:] }
        self.fields = fields
        self.payload = payload
        self.elapsed = elapsed
    }
}
