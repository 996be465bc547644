public import Foundation
public import GatewayCore
import MQTTClient
public import Uplink

/// One thing that passed through the hub for a watched gateway, decoded.
public enum HubEvent: Sendable, Hashable {
    /// A telemetry message: a batch of readings.
    case telemetry(Telemetry)
    /// The gateway's status; `retained` when the hub kept it from before the watch began
    /// (not a change seen live).
    case status(GatewayStatus, retained: Bool)
    /// The gateway's inventory (retained, and again when its device maps change).
    case inventory(Inventory)
    /// A command sent to the gateway, by anyone.
    case command(ObservedCommand)
    /// A response of the gateway.
    case response(CommandResponse)

    /// Which kinds of event `HubClient.watch` subscribes to.
    public struct Kinds: OptionSet, Sendable, Hashable {
        /// The raw bits.
        public let rawValue: Int
        /// Creates a set from raw bits.
        public init(rawValue: Int) { self.rawValue = rawValue }

        /// `.telemetry`.
        public static let telemetry = Kinds(rawValue: 1 << 0)
        /// `.status`.
        public static let status = Kinds(rawValue: 1 << 1)
        /// `.inventory`.
        public static let inventory = Kinds(rawValue: 1 << 2)
        /// `.command`.
        public static let commands = Kinds(rawValue: 1 << 3)
        /// `.response`.
        public static let responses = Kinds(rawValue: 1 << 4)
        /// Every kind.
        public static let all: Kinds = [.telemetry, .status, .inventory, .commands, .responses]
    }
}

/// A telemetry message (docs/protocol.md, "Telemetry").
public struct Telemetry: Sendable, Hashable {
    /// The message's sequence number, when it has one.
    public let seq: UInt64?
    /// Its readings that name a device and a point, in order.
    public let readings: [TelemetryReading]
    /// The message object as received.
    public let fields: [String: JSONValue]

    /// Reads a telemetry object; nil when it has no `readings` array.
    public init?(_ fields: [String: JSONValue]) {
        guard case .array(let list)? = fields["readings"] else { return nil }
        seq = if let n = fields["seq"]?.integer, n >= 0 { UInt64(n) } else { nil }
        readings = list.compactMap { node in
            guard case .object(let r) = node else { return nil }
            return TelemetryReading(r.dictionary)
        }
        self.fields = fields
    }
}

/// One reading of a telemetry message.
public struct TelemetryReading: Sendable, Hashable {
    /// The device id.
    public let device: String
    /// The point name.
    public let point: String
    /// The value; `null` for a bad reading.
    public let value: JSONValue?
    /// The point's unit, if any.
    public let unit: String?
    /// `good`, `uncertain` or `bad`, when stated.
    public let quality: String?
    /// Why the reading is uncertain or bad.
    public let reason: String?
    /// When it was read (`ts`, RFC 3339), as written.
    public let ts: String?
    /// The reading object as received.
    public let fields: [String: JSONValue]

    /// When it was read, parsed; nil when missing or not RFC 3339.
    public var timestamp: Date? { ts.flatMap(Timestamp.parse) }

    /// Reads a reading object; nil when it names no device or point.
    public init?(_ r: [String: JSONValue]) {
        guard case .string(let device)? = r["device"], case .string(let point)? = r["point"] else { return nil }
        self.device = device
        self.point = point
        value = r["value"]
        unit = if case .string(let u)? = r["unit"] { u } else { nil }
        quality = if case .string(let q)? = r["quality"] { q } else { nil }
        reason = if case .string(let why)? = r["reason"] { why } else { nil }
        ts = if case .string(let t)? = r["ts"] { t } else { nil }
        fields = r
    }
}

/// A command on its way to a gateway, as the hub passes it on.
public struct ObservedCommand: Sendable, Hashable {
    /// The command id.
    public let id: String
    /// The device it addresses.
    public let device: String
    /// The command as the gateway will decode it, or why the gateway will reject it.
    public let decoded: Result<Command, CommandDecodingError>
    /// The command object as received.
    public let fields: [String: JSONValue]

    /// Reads a command message; nil when it has no string `id` and `device`.
    init?(_ fields: [String: JSONValue], payload: [UInt8]) {
        guard case .string(let id)? = fields["id"], case .string(let device)? = fields["device"] else { return nil }
        self.id = id
        self.device = device
        decoded = MQTTWire.decodeCommand(payload)
        self.fields = fields
    }
}

/// The events of `HubClient.watch`, in arrival order. Ends when the connection ends or the
/// consuming task is cancelled; ending it early stops the delivery. Single consumer.
public struct HubEvents: AsyncSequence, Sendable {
    public typealias Element = HubEvent
    public typealias Failure = Never

    let messages: AsyncStream<MQTTMessage>
    let topics: MQTTTopics

    /// The iterator.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var messages: AsyncStream<MQTTMessage>.Iterator
        let topics: MQTTTopics

        /// The next event that decodes; nil once the stream ended.
        public mutating func next() async -> HubEvent? {
            while let message = await messages.next() {
                if let event = HubEvent(message, topics: topics) { return event }
            }
            return nil
        }

        /// The same, for callers that pass an isolation.
        public mutating func next(isolation actor: isolated (any Actor)?) async -> HubEvent? {
            while let message = await messages.next(isolation: actor) {
                if let event = HubEvent(message, topics: topics) { return event }
            }
            return nil
        }
    }

    /// Starts reading.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(messages: messages.makeAsyncIterator(), topics: topics)
    }
}

extension HubEvent {
    /// Decodes a message of one of `topics`; nil for anything that is not a JSON object of
    /// the kind its topic carries.
    init?(_ message: MQTTMessage, topics: MQTTTopics) {
        guard let object = jsonObject(message.payload) else { return nil }
        switch message.topic {
        case topics.telemetry:
            guard let telemetry = Telemetry(object) else { return nil }
            self = .telemetry(telemetry)
        case topics.status:
            guard let status = GatewayStatus(object) else { return nil }
            self = .status(status, retained: message.retain)
        case topics.devices:
            guard let inventory = try? Inventory(message.payload) else { return nil }
            self = .inventory(inventory)
        case topics.commands:
            guard let command = ObservedCommand(object, payload: message.payload) else { return nil }
            self = .command(command)
        case topics.responses:
            guard let response = CommandResponse(object, payload: message.payload, elapsed: nil) else { return nil }
            self = .response(response)
        default:
            return nil
        }
    }
}
