import ArgumentParser
import CommandSupport
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import MapReports

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
        let report = MapPlan(map.devices, protocols: ProtocolRegistry.standard.plugins)
        switch format {
        case .table: print(report.table, terminator: "")
        case .json: try printJSON(report)
        }
    }
}
