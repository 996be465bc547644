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

/// A write waiting for its connection. Its continuation is resumed exactly once, by
/// whichever comes first: the connection finishing it, a cancellation before it was sent, or
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

    /// Marks the job as no longer wanted, so a connection that has not started it skips it.
    func markCancelled() {
        state.withLock { $0.cancelled = true }
    }

    var isCancelled: Bool {
        state.withLock { $0.cancelled }
    }
}

/// What the connection should do next.
enum WorkerEvent {
    case stop(pending: [WriteJob])
    /// A new device set for this connection, numbered for `ConnectionWorker.didApply`.
    case reconfigure([DeviceDefinition], generation: Int)
    case writes([WriteJob])
}

/// One connection (`host:port` or serial device): the state shared between the pool thread
/// that steps it and the tasks that start, stop and write to it, and the connection's own
/// loop state (`ConnectionLoop`: libmodbus context, schedule, backoff, devices).
///
/// `@unchecked Sendable`: every mutable property but `loop` is read and written only while
/// holding `lock`; the immutable ones are Sendable values. `loop` is touched only inside
/// `step`, which `PollerPool` never runs on two threads at once, and whose hand-over from one
/// pool thread to the next goes through the pool's lock.
final class ConnectionWorker: @unchecked Sendable {
    let transport: ModbusTransport
    let policy: ReconnectPolicy
    let counters: PollCounters
    let logger: Logger
    private let pool: PollerPool

    /// `host:port` or the serial device, for messages.
    var endpoint: String { transport.endpoint }

    private let lock = NSLock()
    // Guarded by `lock`.
    /// From `start` until the connection has stopped and freed its libmodbus context.
    private var running = false
    private var stopping = false
    private var sink: ReadingSink?
    private var queue: [WriteJob] = []
    private var exitWaiters: [CheckedContinuation<Void, Never>] = []
    /// What to do once stopped: start a successor that needs this one's serial port.
    private var exitActions: [@Sendable () -> Void] = []
    /// The devices of this connection; replaced by `setDevices` while it runs.
    private var deviceSet: [DeviceDefinition]
    /// Numbers the device sets: the latest given, the latest the connection has taken, and
    /// the latest it polls with.
    private var generation = 0
    private var takenGeneration = 0
    private var appliedGeneration = 0
    /// Callers of `waitUntilApplied`, resumed once the connection polls with their device set.
    private var applyWaiters: [(generation: Int, continuation: CheckedContinuation<Void, Never>)] = []

    /// Made by the first step, dropped (closing the connection) by the last.
    private var loop: ConnectionLoop?
    /// Set while a thread is inside `step`: a second one there at the same time would share
    /// the libmodbus context, so it stops the process instead (one atomic exchange a step).
    private let stepping = Atomic<Bool>(false)

    init(
        transport: ModbusTransport, devices: [DeviceDefinition], policy: ReconnectPolicy, counters: PollCounters,
        logger: Logger, pool: PollerPool = .shared
    ) {
        self.transport = transport
        self.counters = counters
        self.deviceSet = devices
        self.policy = policy
        self.pool = pool
        var logger = logger
        logger[metadataKey: "modbus"] = "\(transport.endpoint)"
        self.logger = logger
    }

    // MARK: Called by tasks

    /// Starts the connection on the pool.
    /// - Parameter predecessor: a stopping worker of the same serial device, which holds the
    ///   port until it has stopped: this one is not stepped before that (a second open of a
    ///   port that is open fails), and no pool thread waits for it meanwhile.
    func start(sink: ReadingSink, after predecessor: ConnectionWorker? = nil) {
        lock.lock()
        precondition(!running, "connection \(endpoint) started twice")
        running = true
        stopping = false
        self.sink = sink
        lock.unlock()
        guard let predecessor else {
            pool.start(self)
            return
        }
        predecessor.afterExit { [self] in pool.start(self) }
    }

    /// Asks the connection to stop (it finishes the device poll in flight, bounded by the
    /// response timeout) and waits, without blocking a cooperative thread, until it has stopped.
    func stop() async {
        requestStop()
        await waitForExit()
    }

    /// Asks the connection to stop without waiting: for callers that decide under their own lock.
    func requestStop() {
        lock.lock()
        stopping = true
        lock.unlock()
        pool.wake(self)
    }

    /// Waits until the connection has stopped (at once when it is not running).
    func waitForExit() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if running {
                exitWaiters.append(continuation)
                lock.unlock()
            } else {
                lock.unlock()
                continuation.resume()
            }
        }
    }

    /// Gives the connection a new device set without stopping it or closing its socket: it
    /// takes the set at its next step (after the device poll in flight). Returns the set's
    /// number for `waitUntilApplied`. Synchronous, so that a caller holding its own lock hands
    /// sets over in the order it decided them.
    func setDevices(_ devices: [DeviceDefinition]) -> Int {
        lock.lock()
        deviceSet = devices
        generation += 1
        let number = generation
        lock.unlock()
        pool.wake(self)
        return number
    }

    /// Waits until the connection polls with device set `number` or a later one, or has
    /// stopped (at once when it is not running: it starts with the latest set).
    func waitUntilApplied(_ number: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if running && !stopping && appliedGeneration < number {
                applyWaiters.append((number, continuation))
                lock.unlock()
            } else {
                lock.unlock()
                continuation.resume()
            }
        }
    }

    /// Queues a write; false when the connection is not running (nothing queued).
    func submit(_ job: WriteJob) -> Bool {
        lock.lock()
        guard running, !stopping else {
            lock.unlock()
            return false
        }
        queue.append(job)
        lock.unlock()
        pool.wake(self)
        return true
    }

    /// Withdraws a write that has not been handed to the connection yet.
    func cancel(_ job: WriteJob) {
        job.markCancelled()
        lock.lock()
        let index = queue.firstIndex { $0 === job }
        if let index { queue.remove(at: index) }
        lock.unlock()
        if index != nil {
            job.complete(.failure(.failed("\(job.pointNames): write cancelled before it was sent")))
        }
    }

    /// Runs `action` once this connection has stopped (at once when it is not running).
    private func afterExit(_ action: @escaping @Sendable () -> Void) {
        lock.lock()
        if running {
            exitActions.append(action)
            lock.unlock()
        } else {
            lock.unlock()
            action()
        }
    }

    // MARK: Called by the pool thread stepping the connection

    /// One step of the connection: see `ConnectionLoop.step`. The loop state is made at the
    /// first step, on a pool thread, and freed with its libmodbus context at the last.
    func step() -> StepOutcome {
        guard stepping.exchange(true, ordering: .acquiring) == false else {
            preconditionFailure("connection \(endpoint) stepped by two threads at once")
        }
        defer { stepping.store(false, ordering: .releasing) }
        let loop: ConnectionLoop
        if let existing = self.loop {
            loop = existing
        } else {
            lock.lock()
            let sink = self.sink
            lock.unlock()
            guard let sink else { preconditionFailure("connection \(endpoint) stepped before it was started") }
            loop = ConnectionLoop(worker: self, sink: sink)
            self.loop = loop
        }
        let outcome = loop.step()
        if case .finished = outcome { self.loop = nil }
        return outcome
    }

    /// The device set the connection starts with, and its number for `didApply`.
    func takeDevices() -> (devices: [DeviceDefinition], generation: Int) {
        lock.lock()
        defer { lock.unlock() }
        takenGeneration = generation
        return (deviceSet, generation)
    }

    /// The connection now polls with device set `number`: wakes those waiting for it.
    func didApply(_ number: Int) {
        lock.lock()
        appliedGeneration = max(appliedGeneration, number)
        let ready = applyWaiters.filter { $0.generation <= number }.map(\.continuation)
        applyWaiters.removeAll { $0.generation <= number }
        lock.unlock()
        for waiter in ready { waiter.resume() }
    }

    /// What was handed over since the last step, most urgent first; nil when nothing was.
    func takeWork() -> WorkerEvent? {
        lock.lock()
        defer { lock.unlock() }
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
        return nil
    }

    /// True when something waits for `takeWork`.
    var hasWork: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping || generation > takenGeneration || !queue.isEmpty
    }

    /// Called by the pool after the last step: wakes those waiting for the stop, and starts
    /// a successor waiting for the port.
    func didExit() {
        lock.lock()
        running = false
        sink = nil
        let waiters = exitWaiters + applyWaiters.map(\.continuation)
        let actions = exitActions
        exitWaiters.removeAll()
        applyWaiters.removeAll()
        exitActions.removeAll()
        lock.unlock()
        for waiter in waiters { waiter.resume() }
        for action in actions { action() }
    }
}
