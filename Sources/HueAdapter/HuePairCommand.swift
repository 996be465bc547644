import ArgumentParser
import CommandSupport
import Foundation

/// `edgegate hue pair`: the link-button pairing that gives the gateway its username.
struct HuePairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pair",
        abstract: "Pair with a Hue bridge: press its link button, and the new username is printed on standard output.",
        discussion: """
            Asks the bridge for a username every second until its link button is pressed or \
            --timeout passes. Only the username goes to standard output (messages go to \
            standard error), so `export HUE_USERNAME=$(edgegate hue pair --bridge URL)` keeps \
            it out of files; the device map then names the variable with username_env. \
            Exit codes: 0 paired, 1 not paired (timeout, bridge unreachable), 2 usage error.
            """)

    @Option(help: "The bridge: http://host or http://host:port.")
    var bridge: String

    @Option(help: "How the bridge lists this app: app#instance, at most 40 characters.")
    var devicetype = "edgegate#gateway"

    @Option(help: "How long to wait for the link button (e.g. 30s, 2m).")
    var timeout = DurationArgument(.seconds(30))

    func validate() throws {
        if case .failure(let error) = HueBridge.parse(bridge) { throw ValidationError("\(error)") }
        guard (1...40).contains(devicetype.count) else { throw ValidationError("--devicetype must have 1 to 40 characters") }
    }

    func run() async throws {
        guard case .success(let target) = HueBridge.parse(bridge) else { throw ExitCode(2) }
        let limit = timeout.duration
        do {
            let username = try await HuePairing.pair(bridge: target, devicetype: devicetype, timeout: limit) {
                FileHandle.standardError.write(Data("Press the link button on bridge \(target) (waiting up to \(limit))...\n".utf8))
            }
            FileHandle.standardError.write(Data("Paired with bridge \(target) as \(devicetype).\n".utf8))
            print(username)
        } catch {
            throw failOperation("error: \(error)")
        }
    }
}
