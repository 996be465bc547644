import Foundation
public import GatewayCore
import Uplink

/// A gateway's retained `status` (docs/protocol.md, "Status"), as the operator reads it:
/// online since when, or offline and why.
public struct GatewayStatus: Sendable, Hashable {
    /// Whether the gateway is connected to the hub.
    public let online: Bool
    /// When the gateway said it (`ts`); nil for a last will, which the hub publishes at a
    /// moment the payload cannot know.
    public let since: String?
    /// For a last will: when the connection it belongs to began (`connected_at`).
    public let connectedAt: String?
    /// Why it went offline (`shutdown`, `connection lost`), when it says.
    public let reason: String?
    /// The status object as received.
    public let fields: [String: JSONValue]

    /// Reads `{"online":bool,"ts",...,"reason"?}`; nil for anything else.
    public init?(_ payload: [UInt8]) {
        guard let object = jsonObject(payload) else { return nil }
        self.init(object)
    }

    /// Reads the fields of a decoded status; nil when `online` is missing.
    public init?(_ o: [String: JSONValue]) {
        guard case .bool(let online)? = o["online"] else { return nil }
        self.online = online
        fields = o
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
    public var text: String {
        let state = online ? "online" : "offline"
        if let since { return "\(state) since \(since)" + (reason.map { " (\($0))" } ?? "") }
        var parts = [reason.map { "\($0) at a time the hub does not record" } ?? "since a time the hub does not record"]
        if let connectedAt { parts.append("it had connected at \(connectedAt)") }
        return "\(state) (\(parts.joined(separator: "; ")))"
    }
}
