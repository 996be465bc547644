import DevTools
import Foundation
import Gateway
import MQTTClient
import TestSupport
import Testing
import Uplink

/// packaging/edgegate.service and packaging/gateway.yaml, what the Debian package installs as
/// the unit and /etc/edgegate/gateway.yaml.
@Suite("the systemd unit and the packaged configuration", .serialized, .timeLimit(.minutes(2)))
struct PackagingTests {
    static let unit = DocumentationSamples.repositoryRoot + "/packaging/edgegate.service"
    static let configuration = DocumentationSamples.repositoryRoot + "/packaging/gateway.yaml"

    /// systemd-analyze, from the systemd package (scripts/install-deps); no systemd needs to run.
    static func systemdAnalyze(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let path = "/usr/bin/systemd-analyze"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ProbeError("\(path) is missing: install the systemd package (scripts/install-deps does)")
        }
        return try await TestProcess.run(path, arguments)
    }

    @Test("systemd-analyze verify accepts the unit (its ExecStart pointed at the built executable, which /usr/bin/edgegate is once installed)")
    func verify() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        #expect(text.contains("\nExecStart=/usr/bin/edgegate run --config /etc/edgegate/gateway.yaml --log-format json\n"))
        // verify checks that the program exists; only the path changes.
        let copy = dir.file("edgegate.service")
        try text.replacingOccurrences(of: "/usr/bin/edgegate", with: try edgegateExecutable()).write(toFile: copy, atomically: true, encoding: .utf8)
        let (status, output) = try await Self.systemdAnalyze(["verify", copy])
        #expect(status == 0, "\(output)")
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "no warning either: \(output)")

        // And the installed path, as it stands, fails only for the missing program.
        let (asIs, asIsOutput) = try await Self.systemdAnalyze(["verify", Self.unit])
        if !FileManager.default.isExecutableFile(atPath: "/usr/bin/edgegate") {
            #expect(asIs != 0)
            #expect(asIsOutput.contains("Command /usr/bin/edgegate is not executable"), "\(asIsOutput)")
            #expect(asIsOutput.split(separator: "\n").count == 1, "nothing else: \(asIsOutput)")
        }
    }

    @Test(
        "the unit is Type=notify with a watchdog, reload by SIGHUP, the edgegate user with dialout, and the hardening that systemd-analyze security scores below 2.0 (OK)"
    )
    func security() async throws {
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        let settings = Set(text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") && $0.contains("=") })
        for setting in [
            "Type=notify", "NotifyAccess=main", "WatchdogSec=30", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID",
            "User=edgegate", "Group=edgegate", "SupplementaryGroups=dialout", "StateDirectory=edgegate", "ConfigurationDirectory=edgegate",
            "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
            "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "MemoryDenyWriteExecute=yes",
        ] {
            #expect(settings.contains(setting), "\(setting)")
        }
        let (status, output) = try await Self.systemdAnalyze(["security", "--offline=true", Self.unit])
        #expect(status == 0, "\(output)")
        let overall = try #require(output.split(separator: "\n").first { $0.contains("Overall exposure level for edgegate.service:") }, "\(output)")
        let words = overall.split(separator: " ")
        let score = try #require(words.firstIndex { $0.hasSuffix("edgegate.service:") }.flatMap { Double(words[$0 + 1]) }, "\(overall)")
        #expect(score < 2.0, "\(overall)")
        #expect(overall.contains(" OK"), "\(overall)")
        // The same limit as systemd applies it (exposure in tenths): over 1.9 fails.
        let (limited, limitedOutput) = try await Self.systemdAnalyze(["security", "--offline=true", "--threshold=19", Self.unit])
        #expect(limited == 0, "\(limitedOutput)")
    }

    @Test(
        "the packaged gateway.yaml: maps in /etc/edgegate/devicemaps, outbox in /var/lib/edgegate, certificates in /etc/edgegate/certs; it validates once the maps folder exists"
    )
    func packagedConfiguration() async throws {
        let text = try String(contentsOfFile: Self.configuration, encoding: .utf8)
        let (parsed, diagnostics) = GatewayConfiguration.parse(yaml: text, file: "/etc/edgegate/gateway.yaml")
        let configuration = try #require(parsed, "\(diagnostics)")
        #expect(configuration.devicemaps == ["/etc/edgegate/devicemaps"])
        #expect(configuration.outbox.path == "/var/lib/edgegate/outbox.sqlite")
        let tls = try #require(configuration.uplink.link.connection.tls)
        #expect(tls.caFile == "/etc/edgegate/certs/ca.pem")
        #expect(tls.certFile == "/etc/edgegate/certs/gateway.pem")
        #expect(tls.keyFile == "/etc/edgegate/certs/gateway.key")

        // `edgegate config validate` as an operator runs it, the maps folder holding the demo plant.
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("devicemaps"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: DocumentationSamples.repositoryRoot + "/devicemaps/demo-plant.yaml", toPath: dir.file("devicemaps/demo-plant.yaml"))
        let local = try dir.write("gateway.yaml", text.replacingOccurrences(of: "/etc/edgegate/devicemaps/", with: dir.file("devicemaps/")))
        let (status, output) = try await runEdgegate(["config", "validate", local], in: dir)
        #expect(status == 0, "\(output)")
        #expect(output.contains("configuration valid: gw-1"), "\(output)")
    }

    @Test("the daemon runs with memory-deny-write-execute on, as MemoryDenyWriteExecute=yes starts it: connects, delivers, stops cleanly")
    func memoryDenyWriteExecute() async throws {
        try await Plant.run { plant in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let configuration = try Daemon.writeBoilerConfiguration(for: plant, in: dir, extra: "outbox: { path: \(dir.file("outbox.sqlite")) }")
            let view = try await OperatorView(hub: plant.hub)
            let collecting = Task { await view.collect() }
            defer { collecting.cancel() }
            let log = dir.file("daemon.log")
            let process = try TestProcess.spawn(
                try peerPython(), [peerScript("mdwe_exec.py"), try edgegateExecutable(), "run", "--config", configuration],
                stdout: .file(log, append: false), stderr: .file(log, append: true))
            let daemon = Daemon(process: process, logFile: log)
            do {
                try await daemon.waitForLog("uplink connected", timeout: .seconds(20))
                _ = try await waitFor("telemetry at the hub", timeout: .seconds(20)) { view.readingCount > 0 ? true : nil }
            } catch {
                _ = await process.stop()
                await view.connection.disconnect()
                throw error
            }
            #expect(try await daemon.stop() == 0)
            await view.connection.disconnect()
            #expect(daemon.log.hasPrefix("mdwe 1\n"), "the kernel's write-xor-execute was on: \(daemon.log.prefix(300))")
            #expect(daemon.log.contains("uplink disconnected"), "\(daemon.log)")
        }
    }
}
