import DevTools
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("What the CLI says when it cannot start, and what a stop logs", .serialized, .timeLimit(.minutes(2)))
struct StartAndStopMessageTests {
    @Test("run --config names the path and the problem: a missing file, a folder (exit 2)")
    func unreadableConfiguration() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let missing = dir.file("nope.yaml")
        let run = try await runCLI(["run", "--config", missing], in: dir)
        #expect(run.status == 2)
        #expect(run.stderr == "\(missing): error: cannot read the configuration: no such file\n", "\(run.stderr)")

        try FileManager.default.createDirectory(atPath: dir.file("conf"), withIntermediateDirectories: true)
        let folder = try await runCLI(["run", "--config", dir.file("conf")], in: dir)
        #expect(folder.status == 2)
        #expect(
            folder.stderr == "\(dir.file("conf")): error: cannot read the configuration: it is a folder, not a file (name the YAML file itself)\n",
            "\(folder.stderr)")
        // (A file without read permission cannot be shown here when the tests run as root,
        // who reads anything.)
    }

    @Test("hub on a port another program holds: exit 1, and the first line names the port before mosquitto's words")
    func hubOnBusyPort() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let certs = dir.file("certs")
        #expect(try await runEdgegate(["certs", "init", "--dir", certs], in: dir).status == 0)
        let held = try HeldPort(listening: true)
        defer { held.close() }
        let run = try await runCLI(["hub", "--port", "\(held.port)", "--certs", certs, "--run-dir", dir.file("run")], in: dir)
        #expect(run.status == 1)
        let first = run.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(
            first.hasPrefix(
                "error: port \(held.port) on 127.0.0.1 is already in use (another hub or program listens there); "
                    + "choose another with --port"), "\(run.stderr)")
        #expect(run.stderr.contains("Address already in use"), "mosquitto's own words follow: \(run.stderr)")
    }

    @Test("a clean stop while the hub is unreachable logs the uplink statistics")
    func stopWithoutHub() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // Connections to both are refused: no hub, no device.
        let hub = try HeldPort(listening: false)
        let device = try HeldPort(listening: false)
        defer { hub.close(); device.close() }
        try boilerMapYAML.replacingOccurrences(of: "PORT", with: "\(device.port)")
            .write(toFile: dir.file("boiler.yaml"), atomically: true, encoding: .utf8)
        try """
        gateway: { id: gw-1, devicemaps: [boiler.yaml] }
        uplink: { url: "mqtt://127.0.0.1:\(hub.port)", insecure: true }
        outbox: { path: outbox.sqlite }
        """.write(toFile: dir.file("gateway.yaml"), atomically: true, encoding: .utf8)
        let log = dir.file("daemon.log")
        let process = try TestProcess.spawn(
            try edgegateExecutable(), ["run", "--config", dir.file("gateway.yaml")],
            stdout: .file(log, append: false), stderr: .file(log, append: true))
        let daemon = Daemon(process: process, logFile: log)
        do {
            try await daemon.waitForLog("uplink cannot connect to the hub", timeout: .seconds(20))
        } catch {
            _ = await process.stop()
            throw error
        }
        #expect(try await daemon.stop() == 0)
        let lines = daemon.log.split(separator: "\n").map(String.init)
        let statistics = try #require(lines.firstIndex { $0.contains("uplink stopped while not connected to the hub") }, "\(daemon.log)")
        // One field per counter, not a dump of the Swift struct.
        for field in ["queued_messages=", "acknowledged_messages=0", "dropped_messages=0", "next_seq="] {
            #expect(lines[statistics].contains(field), "\(field) in \(lines[statistics])")
        }
        #expect(!lines[statistics].contains("UplinkStatistics("), "\(lines[statistics])")
        let stopped = try #require(lines.firstIndex { $0.contains("gateway stopped") }, "\(daemon.log)")
        #expect(statistics < stopped)
        #expect(!daemon.log.contains("uplink disconnected"), "it never had a session to end")
    }
}
