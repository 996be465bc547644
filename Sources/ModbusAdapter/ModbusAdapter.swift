import DeviceMaps
import GatewayCore
import Logging
import Synchronization

/// Why `ModbusAdapter.run` refused to start.
public enum ModbusAdapterError: Error, Sendable, Hashable {
    /// `run` was called while another `run` of the same adapter was active.
    case alreadyRunning
}

/// Modbus TCP devices through libmodbus.
///
/// Devices sharing a `host:port` share one TCP connection, and each connection runs on its
/// own dedicated thread, because every libmodbus call blocks: a slow or unreachable device
/// stalls only its own connection and never the Swift cooperative pool. Each device is
/// polled at its own period (contiguous points merged into as few requests as possible) and
/// produces one batch of readings per poll; a failed poll produces `bad` readings with the
/// reason, and the connection is retried with exponential backoff. Writes are queued to the
/// connection's thread and run between polls.
public final class ModbusAdapter: DeviceAdapter {
    /// The devices this adapter serves.
    public let devices: [DeviceDescriptor]

    private let definitions: [String: DeviceDefinition]
    private let workerByDevice: [String: ConnectionWorker]
    private let workers: [ConnectionWorker]
    private let running = Mutex(false)

    /// Creates an adapter for Modbus TCP devices; nothing connects until `run`.
    /// - Parameters:
    ///   - devices: the devices, with their profiles expanded.
    ///   - reconnect: how quickly a lost connection is retried.
    public init(devices: [DeviceDefinition], logger: Logger, reconnect: ReconnectPolicy = .standard) {
        self.devices = devices.map(\.descriptor)
        var definitions: [String: DeviceDefinition] = [:]
        var groups: [String: [DeviceDefinition]] = [:]
        var order: [String] = []
        for device in devices {
            definitions[device.id] = device
            let key = "\(device.modbusConnection.host):\(device.modbusConnection.port)"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(device)
        }
        var workerByDevice: [String: ConnectionWorker] = [:]
        var workers: [ConnectionWorker] = []
        for key in order {
            let members = groups[key]!
            let worker = ConnectionWorker(host: members[0].modbusConnection.host, port: members[0].modbusConnection.port,
                                          devices: members, policy: reconnect, logger: logger)
            workers.append(worker)
            for device in members { workerByDevice[device.id] = worker }
        }
        self.definitions = definitions
        self.workerByDevice = workerByDevice
        self.workers = workers
    }

    /// Starts one thread per connection and polls until the task is cancelled; then stops
    /// the threads (each finishes its request in flight), fails queued writes with
    /// "gateway shutting down" and returns once every thread has exited and freed its
    /// libmodbus context.
    /// - Throws: `ModbusAdapterError.alreadyRunning` if this adapter is already running.
    public func run(sink: ReadingSink) async throws {
        let claimed = running.withLock { busy in
            if busy { return false }
            busy = true
            return true
        }
        guard claimed else { throw ModbusAdapterError.alreadyRunning }
        for worker in workers { worker.start(sink: sink) }
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3600))
        }
        // Stop them together: each may be inside a request bounded by its response timeout.
        await withTaskGroup(of: Void.self) { group in
            for worker in workers {
                group.addTask { await worker.stop() }
            }
        }
        running.withLock { $0 = false }
    }

    /// Encodes the values (nothing is sent unless all of them fit their registers), queues the
    /// write to the device's connection thread, which sends it between polls (FC 5 for a coil,
    /// FC 6 for a one-register value, FC 16 for two-register values) and reads the points back.
    ///
    /// - Returns: the engineering values read back (write-only points are not read back).
    /// - Throws: `.rejected` for a value that cannot be represented or a read-only table;
    ///   `.failed` when the device refuses, cannot be reached (one immediate connection
    ///   attempt is made), or the adapter is not running or shutting down.
    public func write(device: String, values: [String: Value]) async throws(WriteError) -> [String: Value] {
        guard let definition = definitions[device], let worker = workerByDevice[device] else {
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
