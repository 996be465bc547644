import ArgumentParser
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import ModbusAdapter

/// `edgegate map plan PATH`: the read requests each poll of each device sends.
struct MapPlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Print the read requests each poll sends: per device the requests, registers per request, and the totals.",
        discussion: """
            Per device and table, points are merged into as few requests as possible: across up to \
            max_gap unnamed registers (default 10), at most max_registers_per_request registers \
            (default and Modbus maximum 125; bits: 16 per register, 2000 at most) per request. \
            Each row is one request: table, start address (0-based), count, the unnamed registers \
            it includes (gap) and the points decoded from it. Write-only points are not read. \
            At run time, a request the device answers with "illegal data address" is split to \
            find the points it refuses, and the split is kept: the plan here is where polling starts. \
            Devices of other protocols are listed after the Modbus devices with what reading them \
            asks of the network (MQTT: the topics subscribed; Hue: the bridge's GETs and their \
            period; door-sim: nothing); the totals count the Modbus requests.
            """)

    @Argument(help: "Device-map files or folders.")
    var paths: [String]

    @Option(help: "Output: table (one per device) or json.")
    var format: ShowFormat = .table

    func run() throws {
        let map = try loadDeviceMaps(paths)
        let others = map.devices.filter { $0.protocolName != ModbusSyntax.name }.map { device in
            let adapter = GatewayProtocols.adapter(for: device.protocolName)
            return PlanReport.Other(id: device.id, protocolName: device.protocolName,
                                    requests: adapter.map { $0.requestSummary(of: device, among: $0.own(map.devices)) }
                                        ?? "protocol '\(device.protocolName)' has no adapter in this build")
        }
        let report = PlanReport(map.devices.filter { $0.protocolName == ModbusSyntax.name }, others: others)
        switch format {
        case .table: print(report.table, terminator: "")
        case .json: try printJSON(report)
        }
    }
}

/// The plans of all Modbus devices of a map, and their totals; what the other devices ask of
/// the network.
struct PlanReport: Encodable {
    /// A device of another protocol: no register plan, a sentence on its requests instead.
    struct Other: Encodable {
        let id: String
        let protocolName: String
        let requests: String

        enum CodingKeys: String, CodingKey {
            case id, requests
            case protocolName = "protocol"
        }
    }

    struct Device: Encodable {
        let id: String
        let connection: String
        let pollMilliseconds: Int64
        let maxGap: Int
        let maxRegistersPerRequest: Int
        let requests: [Request]
        /// Registers (FC 3/4) and bits (FC 1/2) one poll reads.
        let registers: Int
        let bits: Int

        enum CodingKeys: String, CodingKey {
            case id, connection, requests, registers, bits
            case pollMilliseconds = "poll_ms", maxGap = "max_gap", maxRegistersPerRequest = "max_registers_per_request"
        }
    }

    struct Request: Encodable {
        let table: String
        let start: Int
        let count: Int
        /// Unnamed registers (or bits) the request includes to merge its points.
        let gap: Int
        let points: [String]
    }

    let devices: [Device]
    /// Devices of other protocols, in map order.
    let others: [Other]
    /// One poll of each device.
    let requestsPerCycle: Int
    let registersPerCycle: Int
    let bitsPerCycle: Int
    /// Requests per second when every device polls at its period.
    let requestsPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case devices
        case others = "other_devices"
        case requestsPerCycle = "requests_per_cycle", registersPerCycle = "registers_per_cycle", bitsPerCycle = "bits_per_cycle"
        case requestsPerSecond = "requests_per_second"
    }

    init(_ definitions: [DeviceDefinition], others: [Other] = []) {
        self.others = others
        devices = definitions.map { d in
            let blocks = ReadPlan.blocks(for: d)
            let c = d.modbusConnection
            return Device(id: d.id, connection: c.description, pollMilliseconds: milliseconds(d.poll), maxGap: c.maxGap,
                          maxRegistersPerRequest: c.maxRegistersPerRequest,
                          requests: blocks.map { Request(table: $0.table.rawValue, start: $0.start, count: $0.count, gap: $0.gap,
                                                         points: $0.points.map(\.name)) },
                          registers: blocks.filter { !$0.table.isBitTable }.map(\.count).reduce(0, +),
                          bits: blocks.filter(\.table.isBitTable).map(\.count).reduce(0, +))
        }
        requestsPerCycle = devices.map(\.requests.count).reduce(0, +)
        registersPerCycle = devices.map(\.registers).reduce(0, +)
        bitsPerCycle = devices.map(\.bits).reduce(0, +)
        let perSecond = devices.filter { $0.pollMilliseconds > 0 }
            .map { Double($0.requests.count) * 1000 / Double($0.pollMilliseconds) }.reduce(0, +)
        requestsPerSecond = (perSecond * 10).rounded() / 10
    }

    /// One table per device, then the totals.
    var table: String {
        var text = ""
        for d in devices {
            text += "\(d.id)  \(d.connection)  poll \(mapDuration(.milliseconds(d.pollMilliseconds)))  "
                + "max_gap \(d.maxGap)  max_registers_per_request \(d.maxRegistersPerRequest)\n"
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
        let counted = others.isEmpty ? Self.plural(devices.count, "device")
            : "\(Self.plural(devices.count, "Modbus device")) (and \(others.count) of other protocols, above)"
        text += "total: \(counted), \(Self.plural(requestsPerCycle, "request")) per cycle "
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
