import ArgumentParser
import CommandSupport
import Foundation

/// `edgegate sim hue`: a Philips Hue bridge (REST API v1) with lights and sensors.
struct SimHueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hue",
        abstract: "Serve a Philips Hue bridge (local REST API v1 over HTTP) with simulated lights and sensors.",
        discussion: """
            Without --config: three color lamps (lights 1-3), a temperature sensor (4), a \
            presence sensor (5), a light-level sensor (6) and a door contact (7). Light writes \
            are checked as a real bridge checks them and answered with its error objects; \
            sensors change over time unless --frozen. Pair with `edgegate hue pair --bridge \
            URL` after pressing the link button (--link-button presses it at start, for 30 s), \
            or whitelist a username at start with --username.
            """)

    @Option(help: "TCP port.")
    var port: Int = 8080

    @Option(help: "IPv4 address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "A YAML file with `lights:`, `sensors:` and `usernames:` (see the Hue adapter's README).")
    var config: String?

    @Option(help: "A username to whitelist from the start (repeatable).")
    var username: [String] = []

    @Flag(help: "Press the link button at start: pairing works for the first 30 s.")
    var linkButton = false

    @Flag(help: "Keep the sensors at their starting values.")
    var frozen = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535") }
    }

    // Not optimized: Swift 6.3.1's CopyPropagation pass crashes on this function in release
    // builds ("Found ownership error"). It runs once per command.
    @_optimize(none)
    func run() async throws {
        let logger = logging.makeLogger("edgegate.sim")
        var setup = HueSimConfiguration()
        if let config {
            do {
                setup = try HueSimConfiguration(yaml: try String(contentsOfFile: config, encoding: .utf8))
            } catch {
                throw failInput("error: \(config): \(error)")
            }
        }
        let simulator = HueBridgeSimulator(
            host: host, port: port, lights: setup.lights, sensors: setup.sensors,
            usernames: setup.usernames + username, animated: !frozen,
            linkButton: linkButton, logger: logger)
        try await runUntilSignalled(logger: logger) {
            do {
                try await simulator.start()
            } catch {
                throw failOperation("error: \(error)")
            }
            let lights = setup.lights.map(\.id).joined(separator: ", ")
            let sensors = setup.sensors.map { "\($0.id) (\($0.type))" }.joined(separator: ", ")
            say("Hue bridge simulator on \(simulator.url): lights \(lights); sensors \(sensors); Ctrl-C stops it")
            return [ForegroundService { await simulator.stop() }]
        }
    }
}
