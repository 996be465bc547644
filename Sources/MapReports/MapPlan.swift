public import DeviceMaps
import GatewayCore

/// What `edgegate map plan` prints: the read requests each poll of each device sends, for
/// the protocols that plan requests (`RequestPlanning`), with their totals; a sentence on what
/// the other devices ask of the network (`RequestSummarizing`).
public struct MapPlan: Encodable {
    /// A planned device: its requests and what they read.
    public struct Device: Encodable {
        public let id: String
        public let protocolName: String
        public let connection: String
        public let pollMilliseconds: Int64
        /// The limits of the plan (`max_gap`, `max_registers_per_request`).
        public let limits: [MapField]
        public let requests: [Request]
        /// Registers and bits one poll reads.
        public let registers: Int
        public let bits: Int

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: MapShow.FieldKey.self)
            try c.encode(id, forKey: "id")
            try c.encode(connection, forKey: "connection")
            try c.encode(pollMilliseconds, forKey: "poll_ms")
            for limit in limits { try c.encode(limit.value, forKey: MapShow.FieldKey(limit.key)) }
            try c.encode(requests, forKey: "requests")
            try c.encode(registers, forKey: "registers")
            try c.encode(bits, forKey: "bits")
        }
    }

    /// One read request.
    public struct Request: Encodable {
        public let table: String
        public let start: Int
        public let count: Int
        /// Unnamed registers (or bits) the request includes to merge its points.
        public let gap: Int
        public let points: [String]
    }

    /// A device of a protocol without a plan: a sentence on its requests instead.
    public struct Other: Encodable {
        public let id: String
        public let protocolName: String
        public let requests: String

        enum CodingKeys: String, CodingKey {
            case id, requests
            case protocolName = "protocol"
        }
    }

    /// The planned devices, in map order.
    public let devices: [Device]
    /// Devices of other protocols, in map order.
    public let others: [Other]
    /// One poll of each planned device.
    public let requestsPerCycle: Int
    public let registersPerCycle: Int
    public let bitsPerCycle: Int
    /// Requests per second when every device polls at its period.
    public let requestsPerSecond: Double
    /// `Modbus device` when one protocol plans requests.
    private let noun: String

    enum CodingKeys: String, CodingKey {
        case devices
        case others = "other_devices"
        case requestsPerCycle = "requests_per_cycle", registersPerCycle = "registers_per_cycle", bitsPerCycle = "bits_per_cycle"
        case requestsPerSecond = "requests_per_second"
    }

    /// The plan of the devices of a map.
    public init(_ definitions: [DeviceDefinition], protocols: [ProtocolPlugin]) {
        var devices: [Device] = []
        var others: [Other] = []
        for d in definitions {
            let plugin = protocols.first { $0.name == d.protocolName }
            if let plugin, let planning = plugin.ability((any RequestPlanning).self) {
                let plan = planning.plan(of: d)
                devices.append(
                    Device(
                        id: d.id, protocolName: d.protocolName, connection: d.connection.description,
                        pollMilliseconds: milliseconds(d.poll), limits: plan.limits,
                        requests: plan.requests.map { Request(table: $0.table, start: $0.start, count: $0.count, gap: $0.gap, points: $0.points) },
                        registers: plan.requests.filter { !$0.countsBits }.map(\.count).reduce(0, +),
                        bits: plan.requests.filter(\.countsBits).map(\.count).reduce(0, +)))
            } else {
                let requests: String
                if let plugin {
                    requests =
                        plugin.ability((any RequestSummarizing).self)?
                        .requestSummary(of: d, among: plugin.own(definitions))
                        ?? "protocol '\(d.protocolName)' describes no read requests"
                } else {
                    requests = "protocol '\(d.protocolName)' has no adapter in this build"
                }
                others.append(Other(id: d.id, protocolName: d.protocolName, requests: requests))
            }
        }
        self.devices = devices
        self.others = others
        // The protocol's own word when one protocol plans requests (`Modbus device`).
        let planners = protocols.filter { $0.ability((any RequestPlanning).self) != nil }
        noun = planners.count == 1 ? "\(planners[0].title) device" : "planned device"
        requestsPerCycle = devices.map(\.requests.count).reduce(0, +)
        registersPerCycle = devices.map(\.registers).reduce(0, +)
        bitsPerCycle = devices.map(\.bits).reduce(0, +)
        let perSecond = devices.filter { $0.pollMilliseconds > 0 }
            .map { Double($0.requests.count) * 1000 / Double($0.pollMilliseconds) }.reduce(0, +)
        requestsPerSecond = (perSecond * 10).rounded() / 10
    }

    /// One table per planned device, a line per other device, then the totals.
    public var table: String {
        var text = ""
        for d in devices {
            text +=
                "\(d.id)  \(d.connection)  poll \(Duration.milliseconds(d.pollMilliseconds).mapText)"
                + d.limits.map { "  \($0.key) \($0.text)" }.joined() + "\n"
            if d.requests.isEmpty {
                text += "  no readable points: nothing to poll\n"
            } else {
                let rows = d.requests.map { [$0.table, String($0.start), String($0.count), String($0.gap), $0.points.joined(separator: ", ")] }
                for line in columns(["table", "start", "count", "gap", "points"], rows) { text += "  " + line + "\n" }
            }
            text += "  \(Self.plural(d.requests.count, "request")) per poll: \(Self.amounts(d.registers, d.bits))\n"
        }
        for other in others {
            text += "\(other.id)  \(other.protocolName)  \(other.requests)\n"
        }
        let counted =
            others.isEmpty
            ? Self.plural(devices.count, "device")
            : "\(Self.plural(devices.count, noun)) (and \(others.count) of other protocols, above)"
        text +=
            "total: \(counted), \(Self.plural(requestsPerCycle, "request")) per cycle "
            + "(one poll of each device): \(Self.amounts(registersPerCycle, bitsPerCycle)); "
            + "\(Value.format(requestsPerSecond)) requests/s at the poll periods\n"
        return text
    }

    private static func plural(_ n: Int, _ word: String) -> String {
        "\(n) \(word)\(n == 1 ? "" : "s")"
    }

    private static func amounts(_ registers: Int, _ bits: Int) -> String {
        "\(plural(registers, "register")), \(plural(bits, "bit"))"
    }
}
