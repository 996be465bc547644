import ArgumentParser
import DevTools
import Foundation
import GatewayCore
import Logging
import MQTTClient
import Uplink

#if canImport(Glibc)
import Glibc
#endif

/// `edgegate-bench commands`: command round trips through the real daemon, one at a time and
/// with many in flight across the devices.
struct CommandsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commands",
        abstract: "Measure command round trips (operator publish → Modbus write and read-back → response) and commands/s across devices.",
        discussion: """
            The daemon (`edgegate run`) runs as its own process against one simulator per device and a \
            local mutual-TLS hub, as in the end-to-end scenario. First --commands write commands one after \
            another (latency: p50/p95/p99), then --commands again for each --per-device level with that \
            many senders per device at once, each waiting for its answer before the next \
            (throughput: commands/s, and latency under load).
            """)

    @Option(help: "Simulated devices, each on its own Modbus TCP port.")
    var devices = 10

    @Option(help: "Holding registers (= points) per device, polled in the background.")
    var registers = 10

    @Option(help: "Poll period of every device, in milliseconds.")
    var pollMs = 1000

    @Option(help: "Write commands per phase.")
    var commands = 1000

    @Option(parsing: .upToNextOption, help: "Senders per device in the throughput phases (one phase per value).")
    var perDevice: [Int] = [1, 4]

    @Option(help: "Seconds to wait for each command's response.")
    var commandTimeout = 5.0

    @OptionGroup var daemonOptions: DaemonOptions

    func validate() throws {
        guard (1...200).contains(devices) else { throw ValidationError("--devices must be 1…200") }
        guard (1...10_000).contains(registers) else { throw ValidationError("--registers must be 1…10000") }
        guard pollMs >= 10 else { throw ValidationError("--poll-ms must be at least 10") }
        guard commands > 0, commandTimeout > 0, perDevice.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--commands, --command-timeout and --per-device must be positive")
        }
    }

    func run() async throws {
        let session = try daemonOptions.start()
        defer { session.finish() }
        let (logger, daemon, work) = (session.logger, session.daemon, session.work)
        let loadBefore = Machine.loadAverage
        let step = benchStep

        let plant = try await BenchPlant.start(
            devices: devices, registers: registers, poll: .milliseconds(pollMs),
            work: work, logger: logger, step: step)
        let connection = try await MQTTConnection.connect(plant.operatorOptions("commands"), logger: logger)
        try await connection.subscribe(plant.topics.responses, qos: 1)
        let mailbox = ResponseMailbox()
        let consumers = [Task { await mailbox.consume(connection, topic: plant.topics.responses) }]
        let gateway = try plant.spawnGateway(daemon, logLevel: daemonOptions.gatewayLogLevel)
        step("gateway \(daemon) pid \(gateway.pid)")
        let timeout = Duration.milliseconds(Int(commandTimeout * 1000))
        let scenario = plant.scenario
        var next = 0
        func take(_ n: Int) -> Range<Int> {
            defer { next += n }
            return next..<(next + n)
        }

        // Warm-up: each device answers once (the daemon connects to the hub and to every
        // simulator first; a command sent before it subscribed would be lost, so retry).
        let warmStart = ContinuousClock.now
        for d in 0..<devices {
            while true {
                var figures = CommandFigures()
                await CommandProbe.sendOne(
                    take(1).lowerBound, to: scenario.deviceID(d), connection: connection, mailbox: mailbox,
                    topics: plant.topics, timeout: .seconds(1), into: &figures)
                if figures.problems == 0 { break }
                guard ContinuousClock.now - warmStart < .seconds(30), gateway.isRunning else {
                    let tail = EndToEndBench.tail(of: plant.gatewayLog)
                    _ = await gateway.stop()
                    await plant.stop(connections: [connection], consumers: consumers)
                    throw BenchError("\(scenario.deviceID(d)) did not answer within 30 s (\(figures.firstFailure ?? "")); the daemon's log ends:\n\(tail)")
                }
            }
        }
        step(String(format: "every device answered after %.2f s; %d commands one at a time", (ContinuousClock.now - warmStart).seconds, commands))

        // Latency: one command at a time.
        let g0 = ProcessSample.read(pid: gateway.pid)
        let sequentialStart = ContinuousClock.now
        var sequential = CommandFigures()
        for i in take(commands) {
            await CommandProbe.sendOne(
                i, to: scenario.deviceID(i % devices), connection: connection, mailbox: mailbox,
                topics: plant.topics, timeout: timeout, into: &sequential)
        }
        let sequentialWall = (ContinuousClock.now - sequentialStart).seconds
        let g1 = ProcessSample.read(pid: gateway.pid)

        // Throughput: senders per device at once, each waiting for its answer before the next.
        struct Phase {
            var perDevice: Int
            var figures: CommandFigures
            var wall: Double
            var cpu: Double?
        }
        var phases: [Phase] = []
        for k in perDevice {
            let senders = devices * k
            step("\(commands) commands, \(senders) senders at once (\(k) per device)")
            let ids = Array(take(commands))
            let p0 = ProcessSample.read(pid: gateway.pid)
            let start = ContinuousClock.now
            let figures = await withTaskGroup(of: CommandFigures.self) { group in
                for s in 0..<senders {
                    let mine = stride(from: s, to: ids.count, by: senders).map { ids[$0] }
                    let device = scenario.deviceID(s % devices)
                    group.addTask {
                        var figures = CommandFigures()
                        for i in mine {
                            await CommandProbe.sendOne(
                                i, to: device, connection: connection, mailbox: mailbox,
                                topics: plant.topics, timeout: timeout, into: &figures)
                        }
                        return figures
                    }
                }
                var all = CommandFigures()
                for await figures in group { all.merge(figures) }
                return all
            }
            let wall = (ContinuousClock.now - start).seconds
            let p1 = ProcessSample.read(pid: gateway.pid)
            phases.append(
                Phase(
                    perDevice: k, figures: figures, wall: wall,
                    cpu: p0.flatMap { a in p1.map { ProcessSample.cpuPercent(from: a, to: $0) } }))
        }

        let exitStatus = await gateway.stop(grace: .seconds(10))
        await plant.stop(connections: [connection], consumers: consumers)
        let warnings = EndToEndBench.lines(of: plant.gatewayLog).filter { $0.contains(" warning ") || $0.contains(" error ") }
        let auditLines = EndToEndBench.lines(of: plant.gatewayLog).filter { $0.hasSuffix("[GatewayCore] command") }.count

        var r = Report()
        r.line("### edgegate-bench commands, \(ISO8601DateFormatter().string(from: Date()))")
        r.line("")
        r.line(
            "Scenario: \(devices) devices (one simulator port each) × \(registers) holding registers polled every \(pollMs) ms; "
                + "write commands of `setpoint` (int16, scale 0.1) with read-back; daemon log level \(daemonOptions.gatewayLogLevel).")
        r.line("")
        r.line("| figure | value |")
        r.line("|---|---|")
        let trips = sequential.roundTrips.sorted()
        r.row(
            "one at a time: round trip p50 / p95 / p99 / max",
            "\(Report.ms(percentile(trips, 50))) / \(Report.ms(percentile(trips, 95))) / "
                + "\(Report.ms(percentile(trips, 99))) / \(Report.ms(trips.last)) (\(trips.count) answered of \(commands), min \(Report.ms(trips.first)))")
        let acks = sequential.acknowledgements.sorted()
        r.row("of which: publish → hub's PUBACK, p50 / p99", "\(Report.ms(percentile(acks, 50))) / \(Report.ms(percentile(acks, 99)))")
        r.row("one at a time: commands/s", Report.f(Double(trips.count) / sequentialWall, 0))
        if let g0, let g1 {
            r.row(
                "gateway CPU, one at a time", "\(Report.f(ProcessSample.cpuPercent(from: g0, to: g1), 1)) % of one core over \(Report.f(sequentialWall, 1)) s")
        }
        for phase in phases {
            let sorted = phase.figures.roundTrips.sorted()
            let senders = phase.perDevice * devices
            r.row(
                "\(senders) at once (\(phase.perDevice) per device): commands/s",
                "\(Report.f(Double(sorted.count) / phase.wall, 0)) (\(sorted.count) answered in \(Report.f(phase.wall, 2)) s)")
            r.row(
                "\(senders) at once: round trip p50 / p95 / p99 / max",
                "\(Report.ms(percentile(sorted, 50))) / \(Report.ms(percentile(sorted, 95))) / \(Report.ms(percentile(sorted, 99))) / \(Report.ms(sorted.last))"
            )
            if let cpu = phase.cpu { r.row("gateway CPU, \(senders) at once", "\(Report.f(cpu, 1)) % of one core") }
        }
        let problems = ([sequential] + phases.map(\.figures)).map(\.problems).reduce(0, +)
        let notOK = ([sequential] + phases.map(\.figures)).reduce(into: [String: Int]()) { $0.merge($1.notOK, uniquingKeysWith: +) }
        r.row("commands not ok", notOK.isEmpty ? "0" : notOK.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        r.row("read-back mismatches", "\(([sequential] + phases.map(\.figures)).map(\.readBackMismatches).reduce(0, +))")
        r.row("audit lines in the daemon's log", "\(auditLines)")
        r.row("SIGTERM → exit status", "\(exitStatus)")
        r.line("")
        if let first = ([sequential] + phases.map(\.figures)).compactMap(\.firstFailure).first { r.line("First command problem: \(first)"); r.line("") }
        if mailbox.unmatched > 0 { r.line("Unmatched responses: \(mailbox.unmatched)"); r.line("") }
        if !warnings.isEmpty { r.line("Daemon warnings/errors: \(warnings.count); first: `\(warnings[0])`"); r.line("") }
        r.line(
            "Machine: \(Machine.cores) cores (nproc), \(Machine.cpuModel), \(Machine.memoryTotal) RAM, Linux \(Machine.kernel); "
                + "load average before the run \(loadBefore), after \(Machine.loadAverage); "
                + "bench build: \(Machine.buildConfiguration); daemon: \(daemon)")
        print(r.text)
        if exitStatus != 0 || problems > 0 {
            throw ExitCode(1)
        }
    }
}
