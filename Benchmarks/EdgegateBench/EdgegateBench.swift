import ArgumentParser
import DevTools
import DeviceMaps
import Foundation
import GatewayCore
import Logging
import MQTTClient
import ModbusAdapter
import Synchronization
import Uplink

#if canImport(Glibc)
import Glibc
#endif

/// `edgegate-bench`: the end-to-end scenario by default, `plan` for request planning,
/// `commands` for command round trips.
/// See docs/benchmarks.md.
@main
struct EdgegateBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgegate-bench",
        abstract: "Benchmarks of edgegate; without a subcommand, the end-to-end scenario.",
        subcommands: [EndToEndBench.self, PlanBench.self, CommandsBench.self, PipelineBench.self],
        defaultSubcommand: EndToEndBench.self)
}

/// `edgegate-bench end-to-end` (the default): readings/s delivered to the hub, the daemon's CPU
/// and peak RSS and command round trips, with the outbox on (file, sync full or normal) or
/// off (memory), and optionally a hub outage for the backlog's drain rate. See
/// docs/benchmarks.md.
struct EndToEndBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "end-to-end",
        abstract: "Measure readings/s delivered to the hub, the daemon's CPU and peak RSS, and command round trips.",
        discussion: """
            Needs both executables built in the same configuration, side by side:
              swift build -c release --product edgegate && swift build -c release --product edgegate-bench
            then: $(swift build -c release --show-bin-path)/edgegate-bench
            The daemon runs as a separate process (`edgegate run`), so its CPU and memory are its own.
            """)

    @Option(help: "Simulated devices, each on its own Modbus TCP port.")
    var devices = 10

    @Option(help: "Holding registers (= points) per device.")
    var registers = 100

    @Option(help: "Poll period of every device, in milliseconds.")
    var pollMs = 100

    @Option(help: "Expressions of derived devices over the site's points, each reading two points of one device (0: no derived device).")
    var derivedExpressions = 0

    @Option(help: "Windows of derived devices over single points (10 s, reported every second).")
    var derivedWindows = 0

    @Option(help: "Seconds between the first telemetry message and the measurement window.")
    var warmup = 5.0

    @Option(help: "Seconds of the throughput/CPU measurement window.")
    var duration = 30.0

    @Option(help: "Write commands sent one after another after the window.")
    var commands = 200

    @Option(help: "Seconds to wait for each command's response.")
    var commandTimeout = 5.0

    @Option(help: "The outbox: `file` (SQLite in the work folder) or `memory` (`path: :memory:`, nothing on disk).")
    var outbox = "file"

    @Option(help: "outbox.sync of the daemon: `full` (fsync per commit, survives power loss) or `normal`.")
    var sync = "full"

    @Option(help: "After the commands, stop the hub for this many seconds, restart it and measure the backlog's drain (0: no outage).")
    var outage = 0.0

    @Option(help: "The daemon's admin endpoint: on (a free loopback port) or off.")
    var admin = "off"

    @Option(help: "With --admin on: scrape GET /metrics this often during the window, in milliseconds (0: never).")
    var scrapeMs = 0

    @Option(
        help:
            "With --admin on: the web console open in a headless chromium through the window: none, devices (the devices list) or device (one device's page).")
    var console = "none"

    @Option(help: "The device whose page --console device shows (default: the first).")
    var consoleDevice: String?

    @Option(help: "With --console: warm loads of the devices page after the cold one, for their timing.")
    var consoleReloads = 3

    @Option(help: "With --admin on: independent readers of GET /api/v1/events through the window (bytes/s, lagged events).")
    var eventReaders = 0

    @Option(help: "The uplink profile: mqtt (JSON) or sparkplug-b (then --commands 0 and no --outage).")
    var profile = "mqtt"

    @OptionGroup var daemonOptions: DaemonOptions

    func validate() throws {
        guard ["on", "off"].contains(admin) else { throw ValidationError("--admin must be on or off") }
        guard scrapeMs >= 0, scrapeMs == 0 || admin == "on" else { throw ValidationError("--scrape-ms needs --admin on") }
        guard ["none", "devices", "device"].contains(console) else { throw ValidationError("--console must be none, devices or device") }
        guard console == "none" || admin == "on" else { throw ValidationError("--console needs --admin on") }
        guard (0...8).contains(eventReaders), eventReaders == 0 || admin == "on" else {
            throw ValidationError("--event-readers must be 0…8, and needs --admin on")
        }
        guard consoleReloads >= 0 else { throw ValidationError("--console-reloads must be positive") }
        guard (1...200).contains(devices) else { throw ValidationError("--devices must be 1…200") }
        guard (1...10_000).contains(registers) else { throw ValidationError("--registers must be 1…10000") }
        guard derivedExpressions >= 0, derivedWindows >= 0, registers >= 2 || derivedExpressions + derivedWindows == 0 else {
            throw ValidationError("--derived-expressions and --derived-windows must be positive, and need --registers 2 or more")
        }
        guard pollMs >= 10 else { throw ValidationError("--poll-ms must be at least 10") }
        guard warmup >= 0, duration > 0, commandTimeout > 0, commands >= 0, outage >= 0 else {
            throw ValidationError("--warmup, --duration, --command-timeout, --commands and --outage must be positive")
        }
        guard ["file", "memory"].contains(outbox) else { throw ValidationError("--outbox must be file or memory") }
        guard ["full", "normal"].contains(sync) else { throw ValidationError("--sync must be full or normal") }
        guard ["mqtt", "sparkplug-b"].contains(profile) else { throw ValidationError("--profile must be mqtt or sparkplug-b") }
        guard profile == "mqtt" || commands == 0 && outage == 0 else {
            throw ValidationError("--profile sparkplug-b measures telemetry only: add --commands 0, and no --outage")
        }
    }

    func run() async throws {
        let session = try daemonOptions.start()
        defer { session.finish() }
        let (logger, daemon, work) = (session.logger, session.daemon, session.work)
        let loadBefore = Machine.loadAverage
        let cleanup = Cleanup.shared
        let step = benchStep

        let outboxPath = outbox == "memory" ? ":memory:" : "\(work)/var/outbox.sqlite"
        let adminPort = admin == "on" ? try freeLoopbackPort() : nil
        let plant = try await BenchPlant.start(
            devices: devices, registers: registers, poll: .milliseconds(pollMs), work: work, logger: logger,
            outbox: outboxPath, sync: sync,
            // Across an outage the hub keeps the operator's session, as a production broker does.
            persistentHub: outage > 0, adminPort: adminPort,
            derivedExpressions: derivedExpressions, derivedWindows: derivedWindows, profile: profile, step: step)
        var hub = plant.hub
        let (scenario, topics) = (plant.scenario, plant.topics)
        let operatorOptions = { (suffix: String) in plant.operatorOptions(suffix, cleanSession: outage == 0) }

        // The operator: one connection for telemetry, one for commands and their responses.
        let telemetryConnection = try await MQTTConnection.connect(operatorOptions("telemetry"), logger: logger)
        let sparkplug = profile == "sparkplug-b"
        // With sparkplug-b the operator is a Sparkplug host of the group: births and data.
        let telemetryTopic = sparkplug ? "spBv1.0/\(Scenario.sparkplugGroup)/#" : topics.telemetry
        try await telemetryConnection.subscribe(telemetryTopic, qos: 1)
        let commandConnection = try await MQTTConnection.connect(operatorOptions("commands"), logger: logger)
        try await commandConnection.subscribe(topics.responses, qos: 1)
        let counter = TelemetryCounter()
        let mailbox = ResponseMailbox()
        var consumers = [
            Task {
                if sparkplug {
                    await counter.consumeSparkplug(telemetryConnection)
                } else {
                    await counter.consume(telemetryConnection, topic: topics.telemetry, status: topics.status)
                }
            },
            Task { await mailbox.consume(commandConnection, topic: topics.responses) },
        ]

        // The daemon, as its own process.
        let gatewayLog = plant.gatewayLog
        let gateway = try plant.spawnGateway(daemon, logLevel: daemonOptions.gatewayLogLevel)
        let started = ContinuousClock.now
        step("gateway \(daemon) pid \(gateway.pid)")

        guard await counter.waitForFirstMessage(timeout: .seconds(30)), gateway.isRunning else {
            let tail = Self.tail(of: gatewayLog)
            _ = await gateway.stop()
            await plant.stop(connections: [telemetryConnection, commandConnection], consumers: consumers, hub: hub)
            throw BenchError(
                "no telemetry within 30 s of starting the gateway (exit status \(gateway.exitStatus.map(String.init) ?? "running")); its log ends:\n\(tail)")
        }
        let firstTelemetry = (ContinuousClock.now - started).seconds
        step(String(format: "first telemetry %.2f s after spawn; warm-up %.0f s, window %.0f s", firstTelemetry, warmup, duration))

        // The console in a browser, and independent readers of its event stream.
        var browser: ConsoleBrowser?
        var loads: ConsoleBrowser.Ready?
        if let adminPort, console != "none" {
            let device = consoleDevice ?? scenario.deviceID(0)
            let opened = try ConsoleBrowser(
                url: "http://127.0.0.1:\(adminPort)", page: console, device: console == "device" ? device : nil,
                reloads: consoleReloads, work: work)
            browser = opened
            do {
                loads = try await opened.ready(timeout: .seconds(120))
            } catch {
                await opened.stop()
                throw error
            }
            step("console open on \(console == "device" ? "#/devices/\(device)" : "#/devices") in headless chromium")
        }
        let readers = try adminPort.map { port in try (0..<eventReaders).map { _ in try EventStreamReader(port: port) } } ?? []

        // Throughput, CPU, memory.
        try await Task.sleep(for: .milliseconds(Int(warmup * 1000)))
        let ids = (gateway: gateway.pid, hub: hub.process.pid, bench: getpid())
        guard let g0 = ProcessSample.read(pid: ids.gateway), let h0 = ProcessSample.read(pid: ids.hub),
            let b0 = ProcessSample.read(pid: ids.bench)
        else {
            throw BenchError("the gateway or the hub is gone (gateway exit status \(gateway.exitStatus.map(String.init) ?? "?"))")
        }
        let t0 = counter.snapshot
        let e0 = readers.map(\.snapshot)
        browser?.windowStarts()
        counter.recordAges(true)
        // Prometheus's part: a scrape every `scrapeMs` through the window, from another thread.
        let scraper = try adminPort.flatMap { port in scrapeMs > 0 ? try MetricsScraper(port: port, period: .milliseconds(scrapeMs)) : nil }
        try await Task.sleep(for: .milliseconds(Int(duration * 1000)))
        let t1 = counter.snapshot
        let e1 = readers.map(\.snapshot)
        counter.recordAges(false)
        guard let g1 = ProcessSample.read(pid: ids.gateway), let h1 = ProcessSample.read(pid: ids.hub),
            let b1 = ProcessSample.read(pid: ids.bench)
        else {
            throw BenchError("the gateway or the hub exited during the window")
        }
        // After the window's samples: stopping waits for the scraper's sleep to end.
        let scrapes = scraper?.stop()
        let window = (g1.at - g0.at).seconds
        var pageReport: ConsoleBrowser.WindowReport?
        var pageFailure: String?
        if let browser {
            do { pageReport = try await browser.windowEnds(timeout: .seconds(60)) } catch { pageFailure = "\(error)" }
            await browser.stop()
        }
        for reader in readers { _ = reader.stop() }
        step(String(format: "window done: %.0f readings/s; sending %d commands", Double(t1.readings - t0.readings) / window, commands))

        // Command round trips.
        let c0 = ProcessSample.read(pid: ids.gateway)
        let commandStart = ContinuousClock.now
        let figures = await CommandProbe.run(
            count: commands, scenario: scenario, connection: commandConnection,
            mailbox: mailbox, topics: topics, timeout: .milliseconds(Int(commandTimeout * 1000)))
        let commandWall = (ContinuousClock.now - commandStart).seconds
        let c1 = ProcessSample.read(pid: ids.gateway)
        let tc = counter.snapshot

        // Outage: the hub goes away, the backlog builds up in the outbox, the hub comes back.
        var outageFigures: OutageFigures?
        var connections = [telemetryConnection, commandConnection]
        if outage > 0 {
            step(String(format: "hub stopped for %.0f s", outage))
            let o0 = ProcessSample.read(pid: ids.gateway)
            let lastBefore = counter.snapshot.lastSeq
            await hub.stop()
            try await Task.sleep(for: .milliseconds(Int(outage * 1000)))
            let o1 = ProcessSample.read(pid: ids.gateway)
            let onDisk = ["", "-wal"].reduce(0) { total, suffix in
                total + ((try? FileManager.default.attributesOfItem(atPath: outboxPath + suffix)[.size] as? Int) ?? 0)
            }
            hub = try await LocalHub.start(hub.configuration, logger: logger)
            cleanup.add(hub.process)
            let restarted = ContinuousClock.now
            counter.startDrain(fresh: 250)
            let resumed = try await MQTTConnection.connect(operatorOptions("telemetry"), logger: logger)
            try await resumed.subscribe(topics.telemetry, qos: 1)
            try await resumed.subscribe(topics.status, qos: 1)
            connections.append(resumed)
            consumers.append(Task { await counter.consume(resumed, topic: topics.telemetry, status: topics.status) })
            step("hub restarted; waiting for the gateway and its backlog")
            _ = await counter.waitForDrain(timeout: .seconds(60)) { $0.online != nil }
            let d0 = ProcessSample.read(pid: ids.gateway)
            let caughtUp = await counter.waitForDrain(timeout: .seconds(180)) { $0.caughtUp != nil }
            let d1 = ProcessSample.read(pid: ids.gateway)
            outageFigures = OutageFigures(
                seconds: outage, before: o0, during: o1, online: d0, after: d1, restarted: restarted,
                drain: counter.snapshot.drain, caughtUp: caughtUp, lastSeqBefore: lastBefore, outboxBytes: onDisk)
        }

        // Shutdown: SIGTERM, the daemon drains and says goodbye.
        let stopStart = ContinuousClock.now
        let exitStatus = await gateway.stop(grace: .seconds(10))
        let stopSeconds = (ContinuousClock.now - stopStart).seconds
        try? await Task.sleep(for: .milliseconds(300))  // the last messages reach the counter
        let final = counter.snapshot
        await plant.stop(connections: connections, consumers: consumers, hub: hub)
        let statisticsLine = Self.lines(of: gatewayLog).last { $0.contains("uplink disconnected") }
        let warnings = Self.lines(of: gatewayLog).filter { $0.contains(" warning ") || $0.contains(" error ") || $0.contains(" critical ") }

        // Report.
        var r = Report()
        r.line("### edgegate-bench, \(ISO8601DateFormatter().string(from: Date()))")
        r.line("")
        r.line(
            "Scenario: \(devices) devices × \(registers) holding registers, poll \(pollMs) ms (one simulator port per device), "
                + "warm-up \(Report.f(warmup, 0)) s, window \(Report.f(window, 1)) s, \(commands) commands; "
                + "outbox \(outbox == "memory" ? "in memory (`:memory:`)" : "file, sync \(sync)")"
                + (outage > 0 ? ", then a \(Report.f(outage, 0)) s hub outage" : "")
                + "; uplink profile `\(profile)`; admin endpoint \(admin)" + (scrapeMs > 0 ? ", GET /metrics every \(scrapeMs) ms in the window" : "")
                + (console != "none"
                    ? ", the console open on the \(console == "device" ? "page of \(consoleDevice ?? scenario.deviceID(0))" : "devices page")" : "")
                + (derivedExpressions + derivedWindows > 0
                    ? ", derived devices with \(derivedExpressions) expressions and \(derivedWindows) windows" : "")
                + (eventReaders > 0 ? ", \(eventReaders) independent reader\(eventReaders > 1 ? "s" : "") of the event stream" : "") + ".")
        r.line("")
        r.line("| figure | value |")
        r.line("|---|---|")
        let delivered = Double(t1.readings - t0.readings) / window
        let messages = t1.messages - t0.messages
        let derivedDelivered = Double(t1.derivedReadings - t0.derivedReadings) / window
        let read = delivered - derivedDelivered
        r.row(
            "readings/s delivered to the operator" + (derivedExpressions + derivedWindows > 0 ? ", read (polled)" : ""),
            "\(Report.f(read, 0)) (expected \(Report.f(scenario.expectedReadingsPerSecond, 0)); "
                + "\(Report.f(read / scenario.expectedReadingsPerSecond * 100, 1)) %)")
        if derivedExpressions + derivedWindows > 0 {
            // Every expression's inputs come in one poll, so it computes once a poll; every
            // window reports once a second.
            let expected = Double(derivedExpressions) * 1000 / Double(pollMs) + Double(derivedWindows)
            r.row(
                "readings/s delivered to the operator, derived",
                "\(Report.f(derivedDelivered, 0)) (expected \(Report.f(expected, 0)); \(Report.f(derivedDelivered / expected * 100, 1)) %)")
        }
        r.row(
            "readings in the window",
            "\(t1.readings - t0.readings), in \(messages) telemetry messages "
                + "(\(Report.f(Double(messages) / window, 1))/s, \(messages > 0 ? Report.f(Double(t1.readings - t0.readings) / Double(messages), 0) : "–") readings each)"
        )
        r.row(
            "bytes on the wire per reading (MQTT PUBLISH: fixed header, topic, packet id, payload; TLS aside)",
            t1.readings > t0.readings ? Report.f(Double(t1.wireBytes - t0.wireBytes) / Double(t1.readings - t0.readings), 1) : "–")
        if sparkplug {
            r.row(
                "Sparkplug births (whole run)",
                "\(final.births) messages, \(final.birthBytes) bytes on the wire; \(final.deaths) deaths; \(final.hostErrors) undecodable or unresolved")
        }
        r.row("bad-quality readings (whole run)", "\(final.badReadings)")
        let ages = t1.ages.sorted()
        r.row("age of a message's oldest reading at arrival, p50 / p99", "\(Report.ms(percentile(ages, 50))) / \(Report.ms(percentile(ages, 99)))")
        r.row(
            sparkplug ? "Sparkplug seq over the node's messages, 0…255 wrapping (whole run)" : "telemetry seq (whole run)",
            (sparkplug ? "" : "\(final.firstSeq.map(String.init) ?? "–")…\(final.lastSeq.map(String.init) ?? "–"), ")
                + "\(final.gaps) gaps (\(final.missingSeqs) seqs missing)" + (sparkplug ? "" : ", \(final.duplicates) duplicates"))
        r.row("gateway CPU in the window", "\(Report.f(ProcessSample.cpuPercent(from: g0, to: g1), 1)) % of one core")
        r.row(
            "gateway peak RSS (VmHWM)",
            "\(Report.mib(g1.peakRSSKiB)) after the window, \(Report.mib(c1?.peakRSSKiB ?? 0)) after the commands (VmRSS \(Report.mib(c1?.rssKiB ?? 0)), \(c1?.threads ?? 0) threads)"
        )
        if let scrapes {
            let took = scrapes.seconds.sorted()
            r.row(
                "GET /metrics in the window",
                "\(scrapes.scrapes) scrapes, \(scrapes.failures) failed\(scrapes.firstFailure.map { " (first: \($0))" } ?? ""); "
                    + "answer p50 / max \(Report.ms(percentile(took, 50).map { $0 * 1000 })) / \(Report.ms(took.last.map { $0 * 1000 })), "
                    + "\(scrapes.bytes) bytes")
        }
        if !readers.isEmpty {
            ConsoleFigures.readers(zip(e1, e0).map { $0 - $1 }, window: window, into: &r)
        }
        if let loads { ConsoleFigures.loads(loads, into: &r) }
        if let pageReport { ConsoleFigures.page(pageReport, into: &r) }
        if let pageFailure { r.row("the console at the end of the window", "no report: \(pageFailure)") }
        r.row("hub (mosquitto) CPU in the window", "\(Report.f(ProcessSample.cpuPercent(from: h0, to: h1), 1)) % of one core")
        r.row(
            "bench process CPU in the window (\(devices) simulators + operator\(eventReaders > 0 ? " + event readers" : ""))",
            "\(Report.f(ProcessSample.cpuPercent(from: b0, to: b1), 1)) % of one core")
        let notOK = figures.notOK.values.reduce(0, +)
        if commands > 0 {
            let trips = figures.roundTrips.sorted()
            r.row(
                "command round trip p50 / p99 / max",
                "\(Report.ms(percentile(trips, 50))) / \(Report.ms(percentile(trips, 99))) / \(Report.ms(trips.last)) "
                    + "(\(trips.count) answered of \(commands), min \(Report.ms(trips.first)))")
            let acks = figures.acknowledgements.sorted()
            r.row("of which: command publish → hub's PUBACK, p50 / p99", "\(Report.ms(percentile(acks, 50))) / \(Report.ms(percentile(acks, 99)))")
            r.row(
                "commands not ok",
                notOK == 0 ? "0" : "\(notOK): " + figures.notOK.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            r.row("read-back mismatches", "\(figures.readBackMismatches)")
            if let c0, let c1 {
                r.row(
                    "gateway CPU during the commands",
                    "\(Report.f(ProcessSample.cpuPercent(from: c0, to: c1), 1)) % of one core over \(Report.f(commandWall, 1)) s"
                )
            }
            r.row("readings/s during the commands", Report.f(Double(tc.readings - t1.readings) / commandWall, 0))
        }
        if let o = outageFigures { o.report(into: &r) }
        r.row("first telemetry after spawn", "\(Report.f(firstTelemetry, 2)) s")
        r.row("SIGTERM → exit", "\(Report.f(stopSeconds, 2)) s, exit status \(exitStatus)")
        r.line("")
        if let first = figures.firstFailure { r.line("First command problem: \(first)"); r.line("") }
        if mailbox.unmatched > 0 { r.line("Unmatched responses: \(mailbox.unmatched)"); r.line("") }
        if let statisticsLine { r.line("Daemon's last words: `\(statisticsLine)`"); r.line("") }
        if !warnings.isEmpty {
            r.line("Daemon warnings/errors: \(warnings.count); first: `\(warnings[0])`")
            r.line("")
        }
        r.line(
            "Machine: \(Machine.cores) cores (nproc), \(Machine.cpuModel), \(Machine.memoryTotal) RAM, Linux \(Machine.kernel); "
                + "load average before the run \(loadBefore), after \(Machine.loadAverage); "
                + "bench build: \(Machine.buildConfiguration); daemon: \(daemon)")
        print(r.text)
        if gateway.exitStatus != 0 || notOK > 0 || outageFigures.map({ !$0.caughtUp }) == true {
            throw ExitCode(1)
        }
    }

    static func lines(of path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    static func tail(of path: String, lines count: Int = 20) -> String {
        lines(of: path).suffix(count).joined(separator: "\n")
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The markdown the bench prints.
struct Report {
    private(set) var text = ""

    mutating func line(_ s: String) { text += s + "\n" }
    mutating func row(_ name: String, _ value: String) { line("| \(name) | \(value) |") }

    static func f(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
    static func ms(_ x: Double?) -> String { x.map { String(format: "%.2f ms", $0) } ?? "–" }
    static func mib(_ kib: Int) -> String { String(format: "%.1f MiB", Double(kib) / 1024) }
}

/// Children to stop if the bench is interrupted: they run in process groups of their own, so
/// a Ctrl-C in the terminal does not reach them.
final class Cleanup: Sendable {
    static let shared = Cleanup()
    private let children = Mutex<[ChildProcess]>([])

    func add(_ child: ChildProcess) {
        children.withLock { $0.append(child) }
    }

    /// Returns the signal sources; the caller keeps them alive for as long as it runs.
    func installSignalHandlers() -> [any DispatchSourceSignal] {
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                // Gateway first (it was added last), then the hub.
                for child in children.withLock({ $0 }).reversed() { child.signal(SIGTERM) }
                FileHandle.standardError.write(Data("bench: interrupted; stopped the gateway and the hub\n".utf8))
                exit(130)
            }
            source.resume()
            sources.append(source)
        }
        return sources
    }
}
