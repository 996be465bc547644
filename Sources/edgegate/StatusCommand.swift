import Admin
import ArgumentParser
import CommandSupport
import Foundation

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
        var token: String?
        if let tokenFile {
            guard let data = FileManager.default.contents(atPath: tokenFile) else {
                throw failInput("cannot read the token file \(tokenFile)")
            }
            token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let client: AdminClient
        do {
            client = try AdminClient(url: admin, token: token)
        } catch {
            throw failInput(error.description)
        }
        let status: [String: Any]
        let devices: [[String: Any]]
        let ready: [String: Any]
        do {
            let readiness = try client.get("/readyz")
            ready = try Self.object(readiness, "/readyz", accepting: [200, 503])
            status = try Self.object(try client.get("/api/v1/status"), "/api/v1/status", accepting: [200])
            let list = try Self.object(try client.get("/api/v1/devices"), "/api/v1/devices", accepting: [200])
            devices = list["devices"] as? [[String: Any]] ?? []
        } catch {
            throw failOperation("edgegate status: \(admin): \(error)")
        }
        print(Self.summary(ready: ready, status: status, devices: devices))
        if ready["ready"] as? Bool != true { throw ExitCode(1) }
    }

    private static func object(_ answer: AdminClient.Answer, _ path: String, accepting: Set<Int>) throws -> [String: Any] {
        guard accepting.contains(answer.status) else {
            let text = String(decoding: answer.body, as: UTF8.self)
            throw AdminClient.Failure(description: "\(path) answered \(answer.status): \(text)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any] else {
            throw AdminClient.Failure(description: "\(path) did not answer JSON")
        }
        return object
    }

    /// The screen: one line per topic, then one per device that is down.
    static func summary(ready: [String: Any], status: [String: Any], devices: [[String: Any]]) -> String {
        func int(_ object: [String: Any]?, _ key: String) -> Int { (object?[key] as? NSNumber)?.intValue ?? 0 }
        var lines: [String] = []
        let gateway = status["gateway"] as? String ?? "?"
        let version = status["version"] as? String ?? "?"
        let uptime = (status["uptime_seconds"] as? NSNumber)?.doubleValue ?? 0
        let readiness = ready["ready"] as? Bool == true ? "ready" : "NOT READY (\(ready["reason"] as? String ?? "no reason given"))"
        lines.append("gateway  \(gateway) \(version), \(readiness), up \(duration(uptime))")
        lines.append("uplink   \(status["uplink"] as? String ?? "?")")
        let outbox = status["outbox"] as? [String: Any]
        var backlog = "outbox   \(int(outbox, "messages")) message(s), \(int(outbox, "bytes")) bytes waiting"
        if let age = (outbox?["oldest_age_seconds"] as? NSNumber)?.doubleValue { backlog += ", oldest \(duration(age))" }
        let dropped = int(outbox, "dropped_readings")
        if dropped > 0 { backlog += ", \(dropped) reading(s) dropped" }
        lines.append(backlog)
        let counts = status["devices"] as? [String: Any]
        lines.append("devices  \(int(counts, "up")) up, \(int(counts, "down")) down, \(int(counts, "unknown")) not read yet (of \(int(counts, "total")))")
        for device in devices where device["state"] as? String == "down" {
            let error = device["last_error"] as? String ?? "no error recorded"
            lines.append("  down   \(device["id"] as? String ?? "?"): \(error)")
        }
        let commands = (status["commands_last_hour"] as? [String: Any]) ?? [:]
        let byStatus = commands.keys.sorted().map { "\($0) \(int(commands, $0))" }
        lines.append("commands last hour: " + (byStatus.isEmpty ? "none" : byStatus.joined(separator: ", ")))
        return lines.joined(separator: "\n")
    }

    private static func duration(_ seconds: Double) -> String {
        let s = Int(seconds)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        return "\(s / 3600)h\(s % 3600 / 60)m"
    }
}
