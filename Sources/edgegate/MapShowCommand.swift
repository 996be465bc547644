import ArgumentParser
import CommandSupport
import DeviceMaps
import MapReports

/// `edgegate map show PATH`: devices as the gateway will run them.
struct MapShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print devices as resolved: profiles expanded, defaults filled in.",
        discussion: """
            Per device: its points (table, address, type with string length or register bit, \
            byte/word order, scale, offset, unit, access, write limits and enum options) and its \
            named commands (arguments with type, limits and default, and the points they write).
            """)

    @Argument(help: "Device-map files or folders.")
    var paths: [String]

    @Option(help: "Output: table (one per device) or json.")
    var format: ShowFormat = .table

    func run() throws {
        let map = try loadDeviceMaps(paths)
        switch format {
        case .table:
            print(map.devices.map(MapShow.table).joined(separator: "\n"), terminator: "")
        case .json:
            try printJSON(map.devices.map(MapShow.DeviceRecord.init))
        }
    }
}
