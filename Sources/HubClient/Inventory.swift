import Foundation
public import GatewayCore
import Uplink

/// A gateway's retained inventory (docs/protocol.md, "Inventory"): its devices, their points
/// and named commands, as the gateway last published them.
public struct Inventory: Sendable, Hashable {
    /// A named value of a point or argument (`heat=1`).
    public struct Option: Sendable, Hashable, Decodable {
        /// The value.
        public let value: JSONValue
        /// Its name, when it has one.
        public let name: String?
    }

    /// A point of a device.
    public struct Point: Sendable, Hashable, Decodable {
        /// The point's name.
        public let name: String
        /// Its type as the map states it (`int16`, `bool (bit 2)`, ...).
        public let type: String
        /// Its unit, if any.
        public let unit: String?
        /// `read`, `write` or `readwrite`.
        public let access: String
        /// The lowest value a write may set.
        public let min: JSONValue?
        /// The highest value a write may set.
        public let max: JSONValue?
        /// The only values a write may set, when listed.
        public let options: [Option]?
    }

    /// An argument of a named command.
    public struct Argument: Sendable, Hashable, Decodable {
        /// The argument's name.
        public let name: String
        /// Its type (`number`, `bool`, ...).
        public let type: String
        /// The lowest value accepted.
        public let min: JSONValue?
        /// The highest value accepted.
        public let max: JSONValue?
        /// The only values accepted, when listed.
        public let options: [Option]?
        /// The value when the command leaves it out.
        public let `default`: JSONValue?
    }

    /// A named command of a device map.
    public struct NamedCommand: Sendable, Hashable, Decodable {
        /// The command's name.
        public let name: String
        /// What it does, for people.
        public let description: String?
        /// Its arguments.
        public let args: [Argument]
        /// Point → a literal, or `"$arg"` for an argument's value.
        public let write: [String: JSONValue]
    }

    /// A device of the gateway.
    public struct Device: Sendable, Hashable, Decodable {
        /// The device id.
        public let id: String
        /// Its protocol (`modbus`, `hue`, ...).
        public let `protocol`: String
        /// Its points.
        public let points: [Point]
        /// The names of the points a command may write.
        public let writable: [String]
        /// Its named commands.
        public let commands: [NamedCommand]
    }

    /// The gateway id.
    public let gateway: String
    /// When the gateway published it.
    public let ts: String?
    /// The devices.
    public let devices: [Device]
    /// The payload as received, for tools that pass the inventory on unchanged.
    public let payload: [UInt8]

    private struct Body: Decodable {
        let gateway: String
        let ts: String?
        let devices: [Device]
    }

    /// Reads an inventory message; throws the decoder's error when it is not one.
    public init(_ payload: [UInt8]) throws {
        let body = try JSONDecoder().decode(Body.self, from: Data(payload))
        gateway = body.gateway
        ts = body.ts
        devices = body.devices
        self.payload = payload
    }
}
