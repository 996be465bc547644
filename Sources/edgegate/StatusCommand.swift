import Admin
import ArgumentParser
import CommandSupport
import Foundation
import GatewayCore

/// `edgegate status`: a one-screen summary of a running gateway, from its admin endpoint.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Summarize a running gateway from its admin endpoint: uplink, outbox, devices, recent commands.",
        discussion: """
            Reads /readyz, /api/v1/status and /api/v1/devices of the admin endpoint (admin.listen of the gateway \
            configuration). Exit code 0 when the gateway is ready, 1 when it is not or cannot be reached, 2 for usage errors.
            """)

    @Option(help: "The admin endpoint's address.")
    var admin = "http://127.0.0.1:9360"

    @Option(help: "A file holding the bearer token (needed when the endpoint listens off loopback).")
    var tokenFile: String?

    func run() throws {
        // The same rules as the daemon's: a token file others can read is refused.
        let token: AdminToken?
        do {
            token = try AdminSettings(tokenFile: tokenFile).readToken()
        } catch {
            throw failInput(error.description)
        }
        let client: AdminClient
        do {
            client = try AdminClient(url: admin, token: token?.text)
        } catch {
            throw failInput(error.description)
        }
        let status: JSONValue
        let devices: [JSONValue]
        let ready: JSONValue
        do {
            ready = try Self.object(try client.get("/readyz"), "/readyz", accepting: [200, 503])
            status = try Self.object(try client.get("/api/v1/status"), "/api/v1/status", accepting: [200])
            let list = try Self.object(try client.get("/api/v1/devices"), "/api/v1/devices", accepting: [200])
            devices = list["devices"]?.array ?? []
        } catch {
            throw failOperation("edgegate status: \(admin): \(error)")
        }
        print(Self.summary(ready: ready, status: status, devices: devices))
        if ready["ready"]?.bool != true { throw ExitCode(1) }
    }

    private static func object(_ answer: AdminClient.Answer, _ path: String, accepting: Set<Int>) throws -> JSONValue {
        guard accepting.contains(answer.status) else {
            let text = String(decoding: answer.body, as: UTF8.self)
            throw AdminClient.Failure(description: "\(path) answered \(answer.status): \(text)")
        }
        guard let value = try? JSONValue(parsing: Array(answer.body)), value.object != nil else {
            throw AdminClient.Failure(description: "\(path) did not answer a JSON object")
        }
        return value
    }

    /// The screen: one line per topic, then one per device that is down.
    static func summary(ready: JSONValue, status: JSONValue, devices: [JSONValue]) -> String {
        func int(_ value: JSONValue?, _ key: String) -> Int64 { value?[key]?.integer ?? 0 }
        func duration(_ seconds: Double) -> String { Duration.seconds(Int64(seconds)).mapText }
        var lines: [String] = []
        let gateway = status["gateway"]?.string ?? "?"
        let version = status["version"]?.string ?? "?"
        let uptime = status["uptime_seconds"]?.number ?? 0
        let readiness = ready["ready"]?.bool == true ? "ready" : "NOT READY (\(ready["reason"]?.string ?? "no reason given"))"
        lines.append("gateway  \(gateway) \(version), \(readiness), up \(duration(uptime))")
        lines.append("uplink   \(status["uplink"]?.string ?? "?")")
        let outbox = status["outbox"]
        var backlog = "outbox   \(int(outbox, "messages")) message(s), \(int(outbox, "bytes")) bytes waiting"
        if let age = outbox?["oldest_age_seconds"]?.number { backlog += ", oldest \(duration(age))" }
        let dropped = int(outbox, "dropped_readings")
        if dropped > 0 { backlog += ", \(dropped) reading(s) dropped" }
        lines.append(backlog)
        let counts = status["devices"]
        lines.append("devices  \(int(counts, "up")) up, \(int(counts, "down")) down, \(int(counts, "unknown")) not read yet (of \(int(counts, "total")))")
        for device in devices where device["state"]?.string == "down" {
            let error = device["last_error"]?.string ?? "no error recorded"
            lines.append("  down   \(device["id"]?.string ?? "?"): \(error)")
        }
        let commands = status["commands_last_hour"]?.object ?? JSONObject()
        let byStatus = commands.keys.sorted().map { "\($0) \(int(status["commands_last_hour"], $0))" }
        lines.append("commands last hour: " + (byStatus.isEmpty ? "none" : byStatus.joined(separator: ", ")))
        return lines.joined(separator: "\n")
    }
}
