import DevTools
import Foundation
import GatewayCore
import MQTTClient
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `--log-format json` on a real daemon, read by Python's json module (the independent parser):
/// every line one object of the documented shape.
@Suite("JSON log lines of a real daemon", .serialized, .timeLimit(.minutes(2)))
struct LogFormatTests {
    /// The lines of `log` as Python's json module read them (Peers/json_log_lines.py checks the
    /// fixed fields and the timestamp format, or fails naming the line), each re-read from
    /// Python's output.
    static func pythonRead(_ log: String, in dir: TemporaryDirectory) async throws -> [JSONValue] {
        let out = dir.file("python-read.jsonl")
        let (status, output) = try await TestProcess.run(try peerPython(), [peerScript("json_log_lines.py"), log, out])
        guard status == 0 else { throw ProbeError("json_log_lines.py refused the log: \(output)") }
        let text = try String(contentsOfFile: out, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONValue(parsing: Array($0.utf8)) }
    }

    /// The first line whose message is `message`.
    static func line(_ lines: [JSONValue], _ message: String) -> JSONValue? {
        lines.first { $0["message"]?.string == message }
    }

    @Test("run --log-format json: every line is a JSON object with ts, level, label, source, message and metadata fields; the uplink's counters are fields")
    func daemonLines() async throws {
        try await Plant.run { plant in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let configuration = try Daemon.writeBoilerConfiguration(for: plant, in: dir, extra: "outbox: { path: \(dir.file("outbox.sqlite")) }")
            let view = try await OperatorView(hub: plant.hub)
            let collecting = Task { await view.collect() }
            let daemon = try await Daemon.start(configuration: configuration, arguments: ["--log-format", "json", "--log-level", "debug"], in: dir)
            // Some telemetry acknowledged, so that the counters at the stop are not all zero.
            let arrived = try? await waitFor("telemetry at the hub", timeout: .seconds(20)) { view.readingCount > 0 ? true : nil }
            #expect(try await daemon.stop() == 0)
            await view.connection.disconnect()
            await collecting.value
            try #require(arrived == true, "\(daemon.log)")

            let lines = try await Self.pythonRead(daemon.logFile, in: dir)
            #expect(lines.count == daemon.log.split(separator: "\n").count, "every line was read")
            #expect(lines.contains { $0["level"]?.string == "debug" }, "the level is honoured: debug lines too")

            let starting = try #require(Self.line(lines, "gateway starting"), "\(daemon.log)")
            #expect(starting["label"]?.string == "edgegate")
            #expect(starting["source"]?.string == "edgegate", "the module that logged it")
            #expect(starting["level"]?.string == "info")
            #expect(starting["metadata"]?["gateway"]?.string == TestHub.gatewayID)
            #expect(starting["metadata"]?["devices"]?.string == "1")

            let disconnected = try #require(Self.line(lines, "uplink disconnected"), "\(daemon.log)")
            #expect(disconnected["source"]?.string == "Uplink")
            let counters = try #require(disconnected["metadata"]?.object, "\(disconnected)")
            for field in [
                "queued_messages", "queued_bytes", "pending_readings", "acknowledged_messages", "dropped_messages", "dropped_readings",
                "expired_messages", "unsaved_messages", "next_seq", "malformed_commands",
            ] {
                #expect(counters[field]?.string.flatMap { Int($0) } != nil, "\(field) in \(counters)")
            }
            #expect((counters["acknowledged_messages"]?.string.flatMap { Int($0) } ?? 0) > 0, "\(counters)")
            #expect(!daemon.log.contains("UplinkStatistics("), "no Swift debug dump in any line")
            #expect(Self.line(lines, "gateway stopped") != nil)
        }
    }

    @Test("with SAS and --log-format json at trace level, neither the device key nor a token is ever logged")
    func secretsNeverLogged() async throws {
        try await Plant.run(sas: true) { plant in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let key = "c2VjcmV0LWtleS1mb3ItanNvbi1sb2dzLW9uLXRoZS10ZXN0LWh1Yg=="
            let keyFile = dir.file("gw-1.key")
            try (key + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyFile)
            try boilerMapYAML.replacingOccurrences(of: "PORT", with: "\(plant.modbusPort)")
                .write(toFile: dir.file("boiler.yaml"), atomically: true, encoding: .utf8)
            let configuration = dir.file("gateway.yaml")
            try """
            gateway: { id: \(TestHub.gatewayID), devicemaps: [boiler.yaml] }
            uplink:
              profile: azure-iot-hub
              hub: \(AzureCloud.hubName)
              url: mqtts://127.0.0.1:\(plant.hub.sasPort!)
              auth: sas
              key_file: \(keyFile)
              tls: { ca: \(plant.hub.pki.caCert) }
            outbox: { path: \(dir.file("outbox.sqlite")) }
            """.write(toFile: configuration, atomically: true, encoding: .utf8)
            // The hub knows no token for the gateway: it refuses the login, after the gateway
            // made its token and sent it — every step where a secret could slip into a line.
            let log = dir.file("daemon.log")
            let process = try TestProcess.spawn(
                try edgegateExecutable(), ["run", "--config", configuration, "--log-format", "json", "--log-level", "trace"],
                stdout: .file(log, append: false), stderr: .file(log, append: true))
            let daemon = Daemon(process: process, logFile: log)
            do {
                try await daemon.waitForLog("uplink cannot connect to the hub", timeout: .seconds(20))
            } catch {
                _ = await process.stop()
                throw error
            }
            #expect(try await daemon.stop() == 0)
            let lines = try await Self.pythonRead(log, in: dir)
            #expect(Self.line(lines, "uplink cannot connect to the hub") != nil)
            let text = daemon.log
            #expect(!text.contains(key), "the key must never be logged")
            #expect(!text.contains(String(key.dropLast(2))), "nor its base64 text without padding")
            #expect(!text.contains("SharedAccessSignature"), "no token must be logged")
            #expect(!text.contains("sig="), "no token signature must be logged")
        }
    }
}
