import ArgumentParser
import Foundation
import GatewayCore
import Logging
import MetricsExposition
import Storage
import Synchronization
import Uplink

#if canImport(Glibc)
import Glibc
#endif

/// `edgegate-bench pipeline`: the CPU each reading costs between an adapter and the outbox,
/// in the bench's own process, without network or devices: building the readings of a poll
/// (as the Modbus loop does), the report filter, encoding (on the delivering threads),
/// sealing into messages, the outbox (memory or file), and the acknowledgement.
struct PipelineBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "CPU per reading from poll to outbox (filter, encoding, sealing, outbox, acknowledgement), in-process.")

    @Option(help: "Readings per poll (points per device).")
    var points = 100

    @Option(help: "Devices (each poll is one device's).")
    var devices = 100

    @Option(help: "Polls delivered in total (after 10% of warm-up).")
    var polls = 50_000

    @Option(help: "Threads delivering polls at once (the Modbus pollers).")
    var threads = 2

    @Option(help: "The outbox: memory, or file with sync full or normal.")
    var outbox = "file"

    @Option(help: "With --outbox file: full or normal.")
    var sync = "full"

    @Flag(help: "Count readings and polls into per-device metrics on a Prometheus registry, as the daemon does.")
    var metrics = false

    func validate() throws {
        guard points >= 1, devices >= 1, polls >= 10, threads >= 1 else { throw ValidationError("positive numbers, please") }
        guard ["memory", "file"].contains(outbox), ["full", "normal"].contains(sync) else {
            throw ValidationError("--outbox memory|file, --sync full|normal")
        }
    }

    func run() throws {
        let logger = bootstrapBenchLogging()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("edgegate-pipeline-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = outbox == "memory" ? SQLiteDatabase.inMemory : directory + "/outbox.sqlite"
        let store = try OutboxStore.open(OutboxConfiguration(path: path, synchronous: sync == "full" ? .full : .normal), logger: logger)
        let queue = TelemetryQueue(gateway: "gw-1", maxMessageBytes: 256 * 1024, store: store)
        queue.sessionStarted()
        let filter = ReportFilter(policies: [:])
        let delivery = ReadingSink { queue.append(filter.filter($0)) }

        // Names as a map gives them: one String per device and per point, shared by every reading.
        let deviceIDs = (0..<devices).map { "meter-\($0)" }
        let pointNames = (0..<points).map { "r\($0)" }
        let units: [String?] = (0..<points).map { $0 % 2 == 0 ? "°C" : nil }
        // The daemon's sink: readings counted per device and quality before the filter; each
        // device's poll metrics asked for once, as a poller does when a device joins it.
        let exposition = MetricsExposition(version: "bench")
        let sink =
            metrics
            ? delivery.counting(into: DeviceMetrics(devices: deviceIDs.map { ($0, "modbus") }, factory: exposition.factory)) : delivery
        let pollMetrics = deviceIDs.map { sink.pollMetrics(device: $0) }

        let warmup = polls / 10
        let total = polls + warmup
        let next = Atomic<Int>(0)
        let measuring = Atomic<Bool>(false)
        let delivered = Atomic<Int>(0)
        let done = Atomic<Bool>(false)

        // The sender's part: seal, read back, acknowledge — as fast as the outbox allows.
        let sender = Thread {
            var last: UInt64?
            while true {
                let finished = done.load(ordering: .acquiring)
                queue.sealNow()
                while let batch = store.batch(after: last) {
                    queue.acknowledgeNow(batch.seq, bytes: batch.payload.count)
                    if measuring.load(ordering: .relaxed) { delivered.add(batch.readingCount, ordering: .relaxed) }
                    last = batch.seq
                }
                if finished { break }
                usleep(2_000)
            }
        }
        var start = (wall: ContinuousClock.now, cpu: Self.processCPU())
        let startLock = Mutex<(wall: ContinuousClock.Instant, cpu: Double)?>(nil)
        // Foundation threads have no join: each producer counts itself out.
        let finishedThreads = Atomic<Int>(0)
        let producers = (0..<threads).map { _ in
            Thread {
                var raw = 0
                while true {
                    let n = next.add(1, ordering: .relaxed).newValue
                    if n > total { break }
                    if n == warmup + 1 {
                        startLock.withLock { $0 = (ContinuousClock.now, Self.processCPU()) }
                        measuring.store(true, ordering: .relaxed)
                    }
                    // A poller skips its cycle here; the bench waits, so that every reading counts.
                    while !queue.isReady { usleep(100) }
                    let device = deviceIDs[n % deviceIDs.count]
                    let polled = ContinuousClock.now
                    let time = Date()
                    var readings: [Reading] = []
                    readings.reserveCapacity(points)
                    for i in 0..<points {
                        raw &+= 7
                        readings.append(
                            Reading(
                                device: device, point: pointNames[i], value: .double(Double(Int16(truncatingIfNeeded: raw)) * 0.1),
                                unit: units[i], quality: .good, timestamp: time))
                    }
                    pollMetrics[n % deviceIDs.count].polled(ok: true, duration: .now - polled)
                    sink.emit(readings)
                }
                finishedThreads.add(1, ordering: .releasing)
            }
        }
        benchStep("pipeline: \(total) polls × \(points) readings on \(threads) thread(s), outbox \(outbox)\(outbox == "file" ? " (sync \(sync))" : "")")
        sender.start()
        producers.forEach { $0.start() }
        while finishedThreads.load(ordering: .acquiring) < threads { usleep(1_000) }
        done.store(true, ordering: .releasing)
        while !sender.isFinished { usleep(1_000) }
        let end = (wall: ContinuousClock.now, cpu: Self.processCPU())
        start = startLock.withLock { $0 } ?? start
        let readings = delivered.load(ordering: .relaxed)
        let wall = (end.wall - start.wall).seconds
        let cpu = end.cpu - start.cpu
        var r = Report()
        r.line("| outbox | threads | readings | wall | readings/s | CPU | µs CPU per reading |")
        r.line("|---|---|---|---|---|---|---|")
        r.line(
            "| \(outbox)\(outbox == "file" ? ", sync \(sync)" : "") | \(threads) | \(readings) | \(Report.f(wall, 2)) s | "
                + "\(Report.f(Double(readings) / wall, 0)) | \(Report.f(cpu, 2)) s | \(Report.f(cpu / Double(readings) * 1e6, 3)) |")
        r.line("")
        r.line("Machine: \(Machine.cores) cores (nproc), \(Machine.cpuModel); load average after \(Machine.loadAverage); build: \(Machine.buildConfiguration)")
        print(r.text)
    }

    /// User + system CPU seconds of this process so far.
    static func processCPU() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }
}
