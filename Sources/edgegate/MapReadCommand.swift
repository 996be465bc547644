import ArgumentParser
import CommandSupport
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import MapReports

/// `edgegate map read PATH --device ID`: one reading of every point of one device, printed,
/// like Telegraf's `--test`.
struct MapReadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Connect to one device once, print a reading of each of its points and exit.",
        discussion: """
            Waits until every readable point has a reading, at most --timeout: a polled device \
            (Modbus, Hue, door-sim) answers with its first poll; a device that publishes (MQTT) \
            gives each point with the first message that carries it, which may take until the \
            device's next report. A point with nothing by then is printed bad ("nothing received \
            within ..."). Safe next to a running gateway: its connections use client ids of their \
            own. Exit code 0 when every point was read (good or uncertain), 1 when any point is bad (the reason is \
            printed), 2 for usage or map errors.
            """)

    @Argument(help: "Device-map files or folders.")
    var paths: [String]

    @Option(help: "The device id.")
    var device: String

    @Option(help: "How long to wait for a reading of every point (e.g. 500ms, 10s, 2m).")
    var timeout: DurationArgument = DurationArgument(.seconds(10))

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.makeLogger("edgegate.map")
        let map = try loadDeviceMaps(paths)
        guard let definition = map.devices.first(where: { $0.id == device }) else {
            throw failInput("no device '\(device)' in \(paths.joined(separator: ", ")) (devices: \(map.devices.map(\.id).joined(separator: ", ")))")
        }
        guard let plugin = ProtocolRegistry.standard.plugin(named: definition.protocolName) else {
            throw failInput("device '\(device)': protocol '\(definition.protocolName)' has no adapter in this build")
        }
        let points = definition.points.filter(\.access.isReadable)
        guard !points.isEmpty else {
            throw failInput("device '\(device)' has no readable points (every point is access: write)")
        }
        let adapter = plugin.adapter.init(oneShotReadOf: [definition], logger: logger)
        let started = Date()
        let readings = await Self.collect(points: Set(points.map(\.name)), of: device, from: adapter, within: timeout.duration)
        // A point with nothing by the timeout reads bad, saying so, like any point that failed.
        let silence = Quality.bad("nothing received within \(timeout.duration.mapText)")
        let ended = Date()
        let all = points.map { point in
            readings[point.name] ?? Reading(device: device, point: point.name, value: nil, unit: point.unit, quality: silence, timestamp: ended)
        }
        let rows = all.map { r -> [String] in
            let value =
                r.value.map { v -> String in
                    if case .double(let d) = v { return Value.format(d) }
                    return "\(v)"
                } ?? "—"
            return [r.point, value, r.unit ?? "", r.quality.name, r.quality.reason ?? ""]
        }
        print("\(device) at \(Timestamp.rfc3339(readings.values.map(\.timestamp).min() ?? started))")
        for line in columns(["point", "value", "unit", "quality", "reason"], rows) { print(line) }
        if all.contains(where: { if case .bad = $0.quality { true } else { false } }) { throw ExitCode(1) }
    }

    /// Runs `adapter` until each of `points` has a reading (the latest one counts: a point that
    /// read bad may read good with a later message), or until `timeout`.
    static func collect(
        points: Set<String>, of device: String, from adapter: any MapAdapter,
        within timeout: Duration
    ) async -> [String: Reading] {
        let (stream, continuation) = AsyncStream.makeStream(of: [Reading].self)
        let running = Task {
            try? await adapter.run(sink: ReadingSink { continuation.yield($0) })
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            continuation.finish()
        }
        var latest: [String: Reading] = [:]
        for await batch in stream {
            for reading in batch where reading.device == device && points.contains(reading.point) {
                latest[reading.point] = reading
            }
            if latest.count == points.count { break }
        }
        timer.cancel()
        continuation.finish()
        running.cancel()
        await running.value
        return latest
    }
}
