public import DeviceMaps
public import GatewayCore
public import Logging
import Synchronization

/// Why the Modbus scanner refused to start.
public enum ModbusAdapterError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Scan options that cannot work (`ModbusScanOptions`); the text says which and why.
    case invalidScan(String)

    /// A sentence for the operator.
    public var description: String {
        switch self {
        case .invalidScan(let why): return why
        }
    }
}

/// Modbus TCP and Modbus RTU devices through libmodbus.
///
/// Devices sharing a `host:port` share one TCP connection, devices on one serial device share
/// one RTU bus (one open port). Every libmodbus call blocks, so connections never run on the
/// Swift cooperative pool but on a small pool of threads of their own shared by the whole
/// process (`pollThreadLimit`, whatever the number of connections), which runs each
/// connection one device poll at a time when it is due: a slow or unreachable device holds
/// up one thread for one response timeout, and the other connections go on on the others.
/// Each device is polled at its own period (points
/// merged into as few requests as `ReadPlan` allows) and produces one batch of readings per
/// poll; a failed poll produces `bad` readings with the reason. A TCP connection is dropped
/// after a timeout (the stream's state is unknown) and retried with exponential backoff; a
/// silent unit on a bus costs one response timeout per poll and leaves the port open for the
/// other units. Writes are queued to the connection and run between device polls.
/// `update(devices:)` replaces the device set while running, restarting only what changed.
///
/// Devices on one bus share its line settings; the loader rejects a map whose devices
/// disagree (`ModbusSyntax.check(devices:reporter:)`), and for hand-built definitions the
/// first device's settings open the port.
public final class ModbusAdapter: MapAdapter {

    private struct State {
        /// The devices in map order.
        var devices: [DeviceDefinition] = []
        var definitions: [String: DeviceDefinition] = [:]
        /// One worker per `host:port` or serial device.
        var workers: [String: ConnectionWorker] = [:]
        /// Workers an update closed that may still be finishing a request.
        var retiring: [ObjectIdentifier: ConnectionWorker] = [:]
        /// Held while `run` is active, with the sink readings go to.
        var run = RunClaim(adapter: "Modbus")
    }

    private let state = Mutex(State())
    private let logger: Logger
    private let reconnect: ReconnectPolicy
    private let counters: PollCounters

    /// Creates an adapter for Modbus TCP and RTU devices; nothing connects until `run`.
    /// - Parameters:
    ///   - devices: the devices, with their profiles expanded.
    ///   - reconnect: how quickly a lost connection is retried.
    public init(devices: [DeviceDefinition], logger: Logger, reconnect: ReconnectPolicy) {
        self.logger = logger
        self.reconnect = reconnect
        self.counters = PollCounters(logger: logger)
        state.withLock { s in
            for (key, members) in Self.connections(of: devices) {
                s.workers[key] = makeWorker(members)
            }
            s.devices = devices
            s.definitions = Self.byID(devices)
        }
    }

    /// Creates an adapter that retries lost connections with the standard policy.
    public convenience init(devices: [DeviceDefinition], logger: Logger) {
        self.init(devices: devices, logger: logger, reconnect: .standard)
    }

    /// The most threads that poll Modbus devices in this process, for all adapters and
    /// connections together: 32, or 8 per processor core on larger machines. Fewer are started
    /// while fewer connections are due at once.
    public static var pollThreadLimit: Int { PollerPool.shared.limit }

    /// How a device's polling has gone (polls, overruns, skipped cycles, cycles skipped while
    /// the telemetry pipeline was busy); nil before its first poll or skipped cycle.
    public func statistics(device: String) -> PollStatistics? {
        counters.statistics(device)
    }

    /// The devices this adapter serves, in map order.
    public var devices: [DeviceDescriptor] {
        state.withLock { $0.devices.map(\.descriptor) }
    }

    /// Starts every connection on the poller threads and polls until the task is cancelled;
    /// then stops the connections (each finishes its device poll in flight), fails queued
    /// writes with "gateway shutting down" and returns once every connection has stopped and
    /// freed its libmodbus context.
    /// - Throws: `AdapterRunError.alreadyRunning` if this adapter is already running.
    public func run(sink: ReadingSink) async throws {
        try state.withLock { s throws(AdapterRunError) in
            try s.run.claim(sink)
            // Started under the lock, so that an update cannot retire a worker in between.
            for worker in s.workers.values { worker.start(sink: sink) }
        }
        await waitUntilCancelled()
        let workers = state.withLock { s in
            s.run.release()
            return Array(s.workers.values) + Array(s.retiring.values)
        }
        // Stop them together: each may be inside a request bounded by its response timeout.
        await withTaskGroup(of: Void.self) { group in
            for worker in workers {
                group.addTask { await worker.stop() }
            }
        }
    }

    /// Switches to a new set of devices while running, without a gap for the others.
    ///
    /// Matched by id: a device whose definition is the same (source locations aside) keeps
    /// polling on its schedule; a changed device starts over with its new definition and
    /// polls at once; a removed device stops; an added device starts. A connection
    /// (`host:port` or serial device) that keeps devices stays open and keeps
    /// running, even when some of its devices changed; a connection left without devices
    /// closes, a new one opens, and a bus whose line settings changed (baud, parity, ...)
    /// closes and opens again with the new ones.
    ///
    /// Returns once every connection polls with its new devices and every closed connection's
    /// connection has stopped (a request in flight finishes first, bounded by its response
    /// timeout), so no removed device is polled afterwards. When the adapter is not running,
    /// the devices are simply replaced for the next `run`.
    public func update(devices: [DeviceDefinition]) async {
        // Decided and handed over under the lock, so overlapping updates apply in call order.
        let (applying, closing) = state.withLock { s -> ([(ConnectionWorker, Int)], [ConnectionWorker]) in
            var workers: [String: ConnectionWorker] = [:]
            var applying: [(ConnectionWorker, Int)] = []
            var starting: [(worker: ConnectionWorker, predecessor: ConnectionWorker?)] = []
            for (key, members) in Self.connections(of: devices) {
                if let worker = s.workers[key], worker.transport == members[0].modbusConnection.transport {
                    applying.append((worker, worker.setDevices(members)))
                    workers[key] = worker
                } else {
                    // A bus reopened with new settings: the old connection holds the port until it stops.
                    let worker = makeWorker(members)
                    starting.append((worker, s.workers[key]))
                    workers[key] = worker
                }
            }
            let closing = s.workers.filter { workers[$0.key] !== $0.value }.map(\.value)
            for worker in closing {
                worker.requestStop()
                s.retiring[ObjectIdentifier(worker)] = worker
            }
            if let sink = s.run.sink {
                for (worker, predecessor) in starting { worker.start(sink: sink, after: predecessor) }
            }
            s.workers = workers
            s.devices = devices
            s.definitions = Self.byID(devices)
            return (applying, closing)
        }
        await withTaskGroup(of: Void.self) { group in
            for (worker, number) in applying {
                group.addTask { await worker.waitUntilApplied(number) }
            }
            for worker in closing {
                group.addTask { await worker.waitForExit() }
            }
        }
        state.withLock { s in
            for worker in closing { s.retiring[ObjectIdentifier(worker)] = nil }
        }
    }

    private func makeWorker(_ members: [DeviceDefinition]) -> ConnectionWorker {
        ConnectionWorker(
            transport: members[0].modbusConnection.transport, devices: members, policy: reconnect,
            counters: counters, logger: logger)
    }

    /// The devices grouped by endpoint (`host:port` or serial device), in order of first appearance.
    private static func connections(of devices: [DeviceDefinition]) -> [(key: String, members: [DeviceDefinition])] {
        var groups: [String: [DeviceDefinition]] = [:]
        var order: [String] = []
        for device in devices {
            let key = endpoint(of: device)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(device)
        }
        return order.map { ($0, groups[$0]!) }
    }

    private static func endpoint(of device: DeviceDefinition) -> String {
        device.modbusConnection.endpoint
    }

    private static func byID(_ devices: [DeviceDefinition]) -> [String: DeviceDefinition] {
        Dictionary(devices.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Encodes the values (nothing is sent unless all of them fit their registers), queues the
    /// write to the device's connection, which sends it between device polls (FC 5 for a coil,
    /// FC 6 for a one-register value, FC 16 for a multi-register value, FC 15/16 for adjacent
    /// points, FC 22 for a register bit; FC 5/6 only with `write_multiple: false`: see
    /// `WritePlan`) and reads the points back.
    ///
    /// - Returns: the engineering values read back (write-only points are not read back).
    /// - Throws: `.rejected` for a value that cannot be represented or a read-only table;
    ///   `.failed` when the device refuses, cannot be reached (one immediate connection
    ///   attempt is made), or the adapter is not running or shutting down.
    public func write(device: String, values: [String: Value]) async throws(WriteError) -> [String: Value] {
        let target = state.withLock { s -> (DeviceDefinition, ConnectionWorker)? in
            guard let definition = s.definitions[device], let worker = s.workers[Self.endpoint(of: definition)] else { return nil }
            return (definition, worker)
        }
        guard let (definition, worker) = target else {
            throw .rejected("no Modbus device '\(device)'")
        }
        var items: [WriteItem] = []
        for point in definition.points {
            guard let value = values[point.name] else { continue }
            // The router checks access first; this keeps the adapter safe on its own.
            guard point.access.isWritable else {
                throw .rejected("\(device).\(point.name) is read-only")
            }
            guard point.modbus.table.isWritable else {
                throw .rejected("\(device).\(point.name) is in the \(point.modbus.table.rawValue) table, which Modbus cannot write")
            }
            items.append(WriteItem(point: point, payload: try RegisterCodec.encode(value, for: point, device: device)))
        }
        if let unknown = values.keys.sorted().first(where: { name in !definition.points.contains { $0.name == name } }) {
            throw .rejected("\(device) has no point '\(unknown)'")
        }
        guard !items.isEmpty else {
            throw .rejected("command for \(device) writes no point")
        }
        let job = WriteJob(device: definition, items: items)
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                job.attach(continuation)
                if !worker.submit(job) {
                    job.complete(.failure(.failed("\(job.pointNames): write failed: the Modbus connection to \(worker.endpoint) is not running")))
                }
            }
        } onCancel: {
            worker.cancel(job)
        }
        return try result.get()
    }
}
