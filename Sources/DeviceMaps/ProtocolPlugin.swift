import Foundation
public import GatewayCore
public import Logging

/// Everything the rest of edgegate needs of one protocol, in one value: its part of the
/// device-map format, how to make its adapter, its `map new` template, and what else it can
/// do (abilities such as a read plan for `map plan` or a simulator the demo starts).
///
/// Each protocol target exports one of these (`ProtocolPlugin.modbus`), and one list
/// (`ProtocolRegistry.standard` in the Gateway target) names them all; the loader, the CLI,
/// the demo, the JSON Schema and the gateway go through that list and name no protocol type.
public struct ProtocolPlugin: Sendable {
    /// The device-map syntax; its `name` is the `protocol:` value that selects the protocol.
    public let syntax: any ProtocolSyntax.Type
    /// The adapter that serves the protocol's devices.
    public let adapter: any MapAdapter.Type
    /// The protocol as a sentence names it (`Modbus`, `MQTT`, `Hue`, `door-sim`).
    public let title: String
    /// The commented example that `edgegate map new --protocol NAME` prints.
    public let template: MapTemplate
    /// The optional abilities, each a small protocol of its own (`RequestPlanning`,
    /// `RequestSummarizing`, …); looked up with `ability(_:)`.
    public let abilities: [any ProtocolAbility]

    /// Describes a protocol.
    public init(
        syntax: any ProtocolSyntax.Type, adapter: any MapAdapter.Type, title: String,
        template: MapTemplate, abilities: [any ProtocolAbility] = []
    ) {
        self.syntax = syntax
        self.adapter = adapter
        self.title = title
        self.template = template
        self.abilities = abilities
    }

    /// The `protocol:` value: `modbus`.
    public var name: String { syntax.name }

    /// The ability of type `A`, if the protocol has it: `plugin.ability((any RequestPlanning).self)`.
    public func ability<A>(_ type: A.Type) -> A? {
        for ability in abilities {
            if let found = ability as? A { return found }
        }
        return nil
    }

    /// The devices of `devices` this protocol serves, in their order.
    public func own(_ devices: [DeviceDefinition]) -> [DeviceDefinition] {
        devices.filter { $0.protocolName == name }
    }

    /// The adapter for `devices` (only this protocol's are handed over); nothing connects
    /// until it runs.
    public func makeAdapter(for devices: [DeviceDefinition], logger: Logger) -> any MapAdapter {
        adapter.init(devices: own(devices), logger: logger)
    }
}

/// Something a protocol can do beyond reading and writing its devices. Each ability is a
/// protocol refining this one; a plugin lists the ones it has.
public protocol ProtocolAbility: Sendable {}

/// A protocol whose polls send planned read requests (registers merged into blocks):
/// `edgegate map plan` prints the plan of each of its devices and counts them in the totals.
public protocol RequestPlanning: ProtocolAbility {
    /// The requests one poll of `device` sends, in order.
    func plan(of device: DeviceDefinition) -> DevicePlan
}

/// A protocol whose devices are read some other way (subscriptions, shared HTTP polls, a
/// simulation): `edgegate map plan` prints one sentence per device instead of a plan.
public protocol RequestSummarizing: ProtocolAbility {
    /// What reading `device` asks of the network, in one sentence (`subscribed to
    /// zigbee2mqtt/door on …`). `devices` are all the devices of this protocol in the maps,
    /// for requests that devices share.
    func requestSummary(of device: DeviceDefinition, among devices: [DeviceDefinition]) -> String
}

/// A protocol whose devices `edgegate demo` simulates on this machine (a Modbus server, a Hue
/// bridge): the demo asks each plugin in registry order, then polls the simulated devices.
public protocol DemoSimulation: ProtocolAbility {
    /// Starts a simulator for the devices of `map` it can stand in for (those on loopback
    /// addresses), prints a `demo: ...` line for each, and appends each to `started` as soon
    /// as it runs, so that a later failure stops it again.
    func startSimulators(for map: DeviceMap, context: DemoContext, started: inout [RunningSimulator]) async throws
    /// The commands the demo sends to these devices once the gateway runs.
    func demoCommands(for map: DeviceMap, context: DemoContext) -> [Command]
    /// A line for the operator, printed after the demo's commands (how to try one of these
    /// devices from another terminal); nil for none.
    func hint(for map: DeviceMap, context: DemoContext) -> String?
}

extension DemoSimulation {
    /// None.
    public func demoCommands(for map: DeviceMap, context: DemoContext) -> [Command] { [] }
    /// None.
    public func hint(for map: DeviceMap, context: DemoContext) -> String? { nil }
}

/// What a protocol's demo simulators need to know of the demo.
public struct DemoContext: Sendable {
    /// The gateway id.
    public var gatewayID: String
    /// The flags `edgegate command send` needs besides `--gateway` to reach the demo's hub
    /// (`--hub ...`, `--certs ...`), each after a space; empty when the defaults do.
    public var hubFlags: String
    /// The demo's folder for files of its own (a broker's configuration).
    public var runDirectory: String
    /// Every protocol of the build, for simulators that stand in for another protocol's
    /// devices through one of its abilities (`BrokerTopics`).
    public var plugins: [ProtocolPlugin]
    /// The demo's logger.
    public var logger: Logger

    /// Describes a demo.
    public init(gatewayID: String, hubFlags: String, runDirectory: String, plugins: [ProtocolPlugin], logger: Logger) {
        self.gatewayID = gatewayID
        self.hubFlags = hubFlags
        self.runDirectory = runDirectory
        self.plugins = plugins
        self.logger = logger
    }

    /// A fresh command id: `demo-` and 8 hex digits.
    public static func newCommandID() -> String {
        "demo-\(UUID().uuidString.prefix(8).lowercased())"
    }
}

/// A simulator the demo started, and how to stop it.
public struct RunningSimulator: Sendable {
    /// Stops the simulator.
    public let stop: @Sendable () async -> Void

    /// A started simulator.
    public init(stop: @escaping @Sendable () async -> Void) {
        self.stop = stop
    }
}

/// A protocol whose devices send their state as messages to an MQTT broker: where each one
/// sends, for simulators that publish in the devices' place.
public protocol BrokerTopics: ProtocolAbility {
    /// The broker and the one topic (no wildcards) `device`'s state arrives on; nil when it
    /// has no such topic.
    func stateTopic(of device: DeviceDefinition) -> BrokerTopic?
}

/// A topic on a broker.
public struct BrokerTopic: Sendable, Hashable {
    /// The broker's host.
    public var host: String
    /// The broker's port.
    public var port: Int
    /// True for `mqtts://`.
    public var useTLS: Bool
    /// The topic.
    public var topic: String

    /// Describes a topic.
    public init(host: String, port: Int, useTLS: Bool, topic: String) {
        self.host = host
        self.port = port
        self.useTLS = useTLS
        self.topic = topic
    }
}

/// The read requests of one device's poll, as `map plan` prints them.
public struct DevicePlan: Sendable, Hashable {
    /// One read request.
    public struct Request: Sendable, Hashable {
        /// The table (`holding`, `coil`).
        public var table: String
        /// The first address, 0-based.
        public var start: Int
        /// Registers or bits read.
        public var count: Int
        /// Unnamed registers (or bits) the request includes to merge its points.
        public var gap: Int
        /// The points decoded from it, in order.
        public var points: [String]
        /// True when `count` counts bits rather than registers.
        public var countsBits: Bool

        /// Creates a request.
        public init(table: String, start: Int, count: Int, gap: Int, points: [String], countsBits: Bool) {
            self.table = table
            self.start = start
            self.count = count
            self.gap = gap
            self.points = points
            self.countsBits = countsBits
        }
    }

    /// The limits the plan was made under, as the map spells them (`max_gap`,
    /// `max_registers_per_request`), in print order.
    public var limits: [MapField]
    /// The requests, in the order a poll sends them.
    public var requests: [Request]

    /// Creates a plan.
    public init(limits: [MapField], requests: [Request]) {
        self.limits = limits
        self.requests = requests
    }
}

/// A protocol's `map new` template: comments on its keys, a device's `connection:` and
/// `poll:` lines, and one example of each kind of point and command, which validates as printed.
public struct MapTemplate: Sendable {
    /// Comment lines on the protocol's keys, after the file's own header.
    public var header: [String]
    /// The device's `connection:` and `poll:` lines, indented for a device's keys.
    public var device: [String]
    /// Lines after those, before `protocol:` or `profile:` (a device's `report:` policy).
    public var deviceExtras: [String]
    /// Point and command lines, indented for keys at four spaces (in a profile or a device):
    /// one example of each kind of key, so that authors copy rather than look up.
    public var body: [String]

    /// Creates a template.
    public init(header: [String], device: [String], deviceExtras: [String] = [], body: [String]) {
        self.header = header
        self.device = device
        self.deviceExtras = deviceExtras
        self.body = body
    }
}
