import DeviceMaps
import Foundation
import GatewayCore
import Logging
import Synchronization

/// One point of a queued write, already encoded.
struct WriteItem: Sendable {
    var point: PointDefinition
    var payload: ModbusPayload
}

/// A write waiting for its connection thread. Its continuation is resumed exactly once,
/// by whichever comes first: the thread finishing it, a cancellation before it was sent, or
/// shutdown.
final class WriteJob: Sendable {
    let device: DeviceDefinition
    let items: [WriteItem]

    private struct State {
        var continuation: CheckedContinuation<Result<[String: Value], WriteError>, Never>?
        var result: Result<[String: Value], WriteError>?
        var cancelled = false
    }
    private let state = Mutex(State())

    init(device: DeviceDefinition, items: [WriteItem]) {
        self.device = device
        self.items = items
    }

    /// Points named the way messages name them: `boiler-1.setpoint, boiler-1.pump`.
    var pointNames: String {
        items.map { "\(device.id).\($0.point.name)" }.joined(separator: ", ")
    }

    /// Attaches the waiting task; resumes it at once if the job already finished.
    func attach(_ continuation: CheckedContinuation<Result<[String: Value], WriteError>, Never>) {
        let finished: Result<[String: Value], WriteError>? = state.withLock { s in
            if let result = s.result { return result }
            s.continuation = continuation
            return nil
        }
        if let finished { continuation.resume(returning: finished) }
    }

    /// Finishes the job; later calls are ignored.
    func complete(_ result: Result<[String: Value], WriteError>) {
        let continuation: CheckedContinuation<Result<[String: Value], WriteError>, Never>? = state.withLock { s in
            guard s.result == nil else { return nil }
            s.result = result
            defer { s.continuation = nil }
            return s.continuation
        }
        continuation?.resume(returning: result)
    }

    /// Marks the job as no longer wanted, so a thread that has not started it skips it.
    func markCancelled() {
        state.withLock { $0.cancelled = true }
    }

    var isCancelled: Bool {
        state.withLock { $0.cancelled }
    }
}

/// What the connection thread should do next.
enum WorkerEvent {
    case stop(pending: [WriteJob])
    /// A new device set for this connection, numbered for `ConnectionWorker.didApply`.
    case reconfigure([DeviceDefinition], generation: Int)
    case writes([WriteJob])
    case timeout
}

/// The state shared between one connection's thread and the tasks that start, stop and
/// write to it.
///
/// `@unchecked Sendable`: every mutable property is read and written only while holding
/// `condition`'s lock; the immutable ones are Sendable values.
final class ConnectionWorker: @unchecked Sendable {
    let transport: ModbusTransport
    let policy: ReconnectPolicy
    let counters: PollCounters
    let logger: Logger

    /// `host:port` or the serial device, for messages.
    var endpoint: String { transport.endpoint }

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var threadAlive = false
    private var stopping = false
    private var queue: [WriteJob] = []
    private var exitWaiters: [CheckedContinuation<Void, Never>] = []
    /// The devices of this connection; replaced by `setDevices` while the thread runs.
    private var deviceSet: [DeviceDefinition]
    /// Numbers the device sets: the latest given, the latest the thread has taken, and the
    /// latest it polls with.
    private var generation = 0
    private var takenGeneration = 0
    private var appliedGeneration = 0
    /// Callers of `waitUntilApplied`, resumed once the thread polls with their device set.
    private var applyWaiters: [(generation: Int, continuation: CheckedContinuation<Void, Never>)] = []

    init(transport: ModbusTransport, devices: [DeviceDefinition], policy: ReconnectPolicy, counters: PollCounters,
         logger: Logger) {
        self.transport = transport
        self.counters = counters
        self.deviceSet = devices
        self.policy = policy
        var logger = logger
        logger[metadataKey: "modbus"] = "\(transport.endpoint)"
        self.logger = logger
    }

    // MARK: Called by tasks

    /// Starts the connection thread.
    /// - Parameter predecessor: a stopping worker of the same serial device, which holds the
    ///   port until its thread exits: the new thread waits for that before it opens the port
    ///   (a second open of a port that is open fails).
    func start(sink: ReadingSink, after predecessor: ConnectionWorker? = nil) {
        condition.lock()
        defer { condition.unlock() }
        precondition(!threadAlive, "connection thread for \(endpoint) started twice")
        threadAlive = true
        stopping = false
        let thread = Thread { [self] in
            predecessor?.blockUntilExited()
            // Everything libmodbus lives inside this call and is freed before it returns.
            ConnectionLoop(worker: self, sink: sink).run()
            threadDidExit()
        }
        thread.name = "modbus \(endpoint)"
        thread.start()
    }

    /// Asks the thread to stop (it finishes the request in flight, bounded by the response
    /// timeout) and waits, without blocking a cooperative thread, until it has exited.
    func stop() async {
        requestStop()
        await waitForExit()
    }

    /// Asks the thread to stop without waiting: for callers that decide under their own lock.
    func requestStop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until the thread has exited (at once when it is not running).
    func waitForExit() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            if threadAlive {
                exitWaiters.append(continuation)
                condition.unlock()
            } else {
                condition.unlock()
                continuation.resume()
            }
        }
    }

    /// Gives the connection a new device set without stopping its thread or closing its
    /// socket: the thread takes it before its next poll (after the request in flight).
    /// Returns the set's number for `waitUntilApplied`. Synchronous, so that a caller holding
    /// its own lock hands sets over in the order it decided them.
    func setDevices(_ devices: [DeviceDefinition]) -> Int {
        condition.lock()
        defer { condition.unlock() }
        deviceSet = devices
        generation += 1
        condition.broadcast()
        return generation
    }

    /// Waits until the thread polls with device set `number` or a later one, or has exited
    /// (at once when it is not running: it starts with the latest set).
    func waitUntilApplied(_ number: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            if threadAlive && !stopping && appliedGeneration < number {
                applyWaiters.append((number, continuation))
                condition.unlock()
            } else {
                condition.unlock()
                continuation.resume()
            }
        }
    }

    /// Queues a write; false when the thread is not running (nothing queued).
    func submit(_ job: WriteJob) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard threadAlive, !stopping else { return false }
        queue.append(job)
        condition.signal()
        return true
    }

    /// Withdraws a write that has not been handed to the thread yet.
    func cancel(_ job: WriteJob) {
        job.markCancelled()
        condition.lock()
        let index = queue.firstIndex { $0 === job }
        if let index { queue.remove(at: index) }
        condition.unlock()
        if index != nil {
            job.complete(.failure(.failed("\(job.pointNames): write cancelled before it was sent")))
        }
    }

    // MARK: Called by the connection thread

    /// Blocks the calling thread (another connection's, never a task) until this thread has exited.
    func blockUntilExited() {
        condition.lock()
        while threadAlive { condition.wait() }
        condition.unlock()
    }

    /// The device set the thread starts with, and its number for `didApply`.
    func takeDevices() -> (devices: [DeviceDefinition], generation: Int) {
        condition.lock()
        defer { condition.unlock() }
        takenGeneration = generation
        return (deviceSet, generation)
    }

    /// The thread now polls with device set `number`: wakes those waiting for it.
    func didApply(_ number: Int) {
        condition.lock()
        appliedGeneration = max(appliedGeneration, number)
        let ready = applyWaiters.filter { $0.generation <= number }.map(\.continuation)
        applyWaiters.removeAll { $0.generation <= number }
        condition.unlock()
        for waiter in ready { waiter.resume() }
    }

    /// Sleeps until a write or a new device set arrives, stop is requested or `deadline` passes.
    func waitForWork(until deadline: ContinuousClock.Instant?) -> WorkerEvent {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if stopping {
                let pending = queue
                queue.removeAll()
                return .stop(pending: pending)
            }
            if generation > takenGeneration {
                takenGeneration = generation
                return .reconfigure(deviceSet, generation: generation)
            }
            if !queue.isEmpty {
                let jobs = queue
                queue.removeAll()
                return .writes(jobs)
            }
            guard let deadline else {
                condition.wait()
                continue
            }
            let remaining = ContinuousClock.now.duration(to: deadline)
            if remaining <= .zero { return .timeout }
            _ = condition.wait(until: Date(timeIntervalSinceNow: remaining.seconds))
        }
    }

    /// Non-blocking check between device polls.
    func pollForWork() -> WorkerEvent {
        waitForWork(until: .now - .seconds(1))
    }

    private func threadDidExit() {
        condition.lock()
        threadAlive = false
        // Wakes a successor's thread in `blockUntilExited`.
        condition.broadcast()
        let waiters = exitWaiters + applyWaiters.map(\.continuation)
        exitWaiters.removeAll()
        applyWaiters.removeAll()
        condition.unlock()
        for waiter in waiters { waiter.resume() }
    }
}
