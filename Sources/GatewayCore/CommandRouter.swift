public import CoreMetrics
public import Foundation
public import Logging
import Synchronization

/// The one place where commands meet devices, whatever their adapter: it keeps one ordered
/// queue per device (different devices run concurrently), answers repeated ids `duplicate`,
/// validates a command against the device map, refuses what has expired, bounds each
/// execution by the device's timeout, turns every outcome into a `CommandResult` and logs one
/// audit line per command. The device set can be replaced while commands run
/// (`update(adapters:)`).
public final class CommandRouter: Sendable {
    private let targets: Mutex<[String: Target]>
    private let executionTimeout: Duration
    private let logger: Logger
    private let now: @Sendable () -> Date
    /// `edgegate_commands_total{status}`, one counter per status, made up front.
    private let answered: [CommandStatus: Counter]
    /// `edgegate_command_duration_seconds`: arrival to answer, whatever the status.
    private let durations: CoreMetrics.Timer
    private let observer: (@Sendable (Command, CommandResult, Duration) -> Void)?

    private struct Target: Sendable {
        let descriptor: DeviceDescriptor
        let adapter: any DeviceAdapter
        let lane: SerialLane
    }

    private let recent: RecentCommands

    /// Creates a router over the devices of these adapters.
    /// - Parameters:
    ///   - executionTimeout: how long one command may take at a device before `timeout`, for
    ///     devices whose descriptor sets no `commandTimeout` of its own.
    ///   - now: the clock used for `expires_at` (injectable for tests).
    ///   - rememberedCommands: how many recent command ids are kept in memory to answer
    ///     repeats `duplicate` instead of executing them again (QoS 1 redelivery, operator retries).
    ///   - ledger: where answered commands are remembered durably, so that repeats are
    ///     recognized across restarts too; nil: in memory only.
    ///   - metrics: where the commands answered and their durations are counted.
    ///   - observer: told every command, its result and how long it took from arrival to
    ///     answer, after the audit line (the admin endpoint's history, event stream and
    ///     counts); called on the command's task, keep it short.
    public init(
        adapters: [any DeviceAdapter], executionTimeout: Duration = .seconds(10),
        rememberedCommands: Int = 10_000, ledger: (any CommandLedger)? = nil,
        logger: Logger, now: @escaping @Sendable () -> Date = Date.init,
        metrics: any MetricsFactory = MetricsSystem.factory,
        observer: (@Sendable (Command, CommandResult, Duration) -> Void)? = nil
    ) {
        self.answered = Dictionary(
            uniqueKeysWithValues: CommandStatus.allCases.map {
                ($0, Counter(label: MetricNames.commands, dimensions: [("status", $0.rawValue)], factory: metrics))
            })
        self.durations = CoreMetrics.Timer(label: MetricNames.commandDuration, factory: metrics)
        self.observer = observer
        self.targets = Mutex(Self.targets(of: adapters, lanes: [:]))
        self.recent = RecentCommands(capacity: rememberedCommands, ledger: ledger)
        self.executionTimeout = executionTimeout
        self.logger = logger
        self.now = now
    }

    /// The devices the router can reach, sorted by id.
    public var devices: [DeviceDescriptor] {
        targets.withLock { $0.values.map(\.descriptor).sorted { $0.id < $1.id } }
    }

    /// Replaces the device set with the devices these adapters serve now (after a reload of
    /// the device maps). A command that arrives afterwards is validated against the new
    /// descriptors; one to a device that is gone answers `unknown_device`.
    ///
    /// A device that stays keeps its lane, whether its definition changed or not: its
    /// commands keep running one at a time in arrival order across the update. A command
    /// already waiting in a lane is checked again against the device's descriptor when its
    /// turn comes.
    public func update(adapters: [any DeviceAdapter]) {
        targets.withLock { targets in
            targets = Self.targets(of: adapters, lanes: targets.mapValues(\.lane))
        }
    }

    private static func targets(of adapters: [any DeviceAdapter], lanes: [String: SerialLane]) -> [String: Target] {
        var targets: [String: Target] = [:]
        for adapter in adapters {
            for device in adapter.devices {
                targets[device.id] = Target(descriptor: device, adapter: adapter, lane: lanes[device.id] ?? SerialLane())
            }
        }
        return targets
    }

    private func currentTarget(_ device: String) -> Target? {
        targets.withLock { $0[device] }
    }

    /// Admits a command and returns the task that answers it; never fails: every failure is
    /// a status.
    ///
    /// The command's place in its device's queue is taken before this returns, so commands
    /// submitted one after another run in that order, whatever the tasks awaiting their
    /// results do. (An `async` entry point could not promise this: two callers racing to
    /// their first suspension may arrive in either order.) Everything the router decides for
    /// a device — repeat, validation, expiry, execution — happens at the command's turn, so
    /// a device's answers come in arrival order too.
    public func submit(_ command: Command) -> Task<CommandResult, Never> {
        let started = ContinuousClock.now
        let running: Task<CommandResult, Never>
        if let lane = targets.withLock({ $0[command.device]?.lane }) {
            running = lane.enqueue { [self] in await claim(command, inLane: true) }
        } else {
            running = Task { [self] in await claim(command, inLane: false).0 }
        }
        return Task { [self] in
            let result = await running.value
            let duration = ContinuousClock.now - started
            audit(command, result, duration: duration)
            answered[result.status]?.increment()
            durations.recordNanoseconds(duration.nanoseconds)
            observer?(command, result, duration)
            return result
        }
    }

    /// Validates and executes a command and waits for its result (`submit`, awaited).
    public func execute(_ command: Command) async -> CommandResult {
        await submit(command).value
    }

    /// The structured audit line: who (as the command says), what, to which device, the
    /// outcome and how long it took from arrival to answer. Text that came from the sender
    /// is escaped and shortened, so a command cannot forge or flood log lines.
    private func audit(_ command: Command, _ result: CommandResult, duration: Duration) {
        logger.info(
            "command",
            metadata: [
                "id": "\(LogText.clean(command.id))", "device": "\(LogText.clean(command.device))",
                "by": "\(command.by.map { LogText.clean($0) } ?? "-")",
                "what": "\(LogText.clean(command.action.description))",
                "status": "\(result.status.rawValue)", "message": "\(LogText.clean(result.message))",
                "duration_ms": "\(String(format: "%.2f", duration / .milliseconds(1)))",
            ])
    }

    /// Answers a repeated id with the first result; runs the command otherwise. Returns the
    /// write still running at the device after a timeout, for the lane to wait on.
    private func claim(_ command: Command, inLane: Bool) async -> (CommandResult, Task<Void, Never>?) {
        let leftover = LeftoverWrite()
        let (first, isRepeat) = await recent.claim(command.id) { [self] in
            // Without a lane the device was unknown on arrival: it must not run outside a
            // lane even if a reload has added it since.
            guard inLane else { return unknownDevice(command) }
            let (result, stillRunning) = await firstRun(command)
            leftover.set(stillRunning)
            return result
        }
        guard isRepeat else { return (first, leftover.take()) }
        return (
            CommandResult(
                id: command.id, status: .duplicate,
                message: "command \(command.id) was already received (\(first.status.rawValue): \(first.message)); not executed again",
                values: first.values, timestamp: now()), nil
        )
    }

    /// Runs at the command's turn in its device's lane, against the device as it is now (the
    /// device maps may have been reloaded while the command waited).
    private func firstRun(_ command: Command) async -> (CommandResult, Task<Void, Never>?) {
        guard let target = currentTarget(command.device) else {
            return (unknownDevice(command), nil)
        }
        let writes: [String: Value]
        switch Self.writes(for: command.action, on: target.descriptor) {
        case .success(let w): writes = w
        case .failure(let refusal): return (result(command, .rejected, refusal.message), nil)
        }
        // Checked when the command's turn comes: one that waited past its expiry behind
        // others must still not run late.
        if let expiry = command.expiresAt, now() > expiry {
            return (result(command, .expired, "command \(command.id) expired at \(Timestamp.rfc3339(expiry)) before it could run"), nil)
        }
        return await execute(writes, command: command, on: target)
    }

    /// The checked point writes of a command: its own, or those a named command expands to.
    private static func writes(for action: CommandAction, on device: DeviceDescriptor) -> Result<[String: Value], CommandValidation.Refusal> {
        switch action {
        case .write(let w):
            return CommandValidation.normalize(w, for: device)
        case .named(let name, let args):
            guard let named = device.command(named: name) else {
                let known = device.commands.map(\.name)
                let hint = known.isEmpty ? "it has no named commands" : "commands: " + known.joined(separator: ", ")
                return .failure(.init("\(device.id) has no command '\(name)' (\(hint))"))
            }
            return named.expand(args, device: device.id).flatMap { CommandValidation.normalize($0, for: device) }
        }
    }

    private func unknownDevice(_ command: Command) -> CommandResult {
        let known = targets.withLock { $0.keys.sorted() }.joined(separator: ", ")
        return result(command, .unknownDevice, "no device '\(command.device)' in the device maps (known: \(known))")
    }

    /// Runs the write with a deadline. The answer comes at the deadline even when the device
    /// is still busy (a blocking library cannot be interrupted mid-request); the returned
    /// task ends with the write, and the device's lane waits for it before the next command.
    private func execute(
        _ writes: [String: Value], command: Command,
        on target: Target
    ) async -> (CommandResult, Task<Void, Never>?) {
        let work = Task { () -> Result<[String: Value], WriteError> in
            do throws(WriteError) {
                return .success(try await target.adapter.write(device: target.descriptor.id, values: writes))
            } catch {
                return .failure(error)
            }
        }
        let timeout = target.descriptor.commandTimeout ?? executionTimeout
        let outcome = await Self.first(of: work, within: timeout)
        let points = writes.keys.sorted().map { "\(command.device).\($0)=\(writes[$0]!)" }.joined(separator: ", ")
        let settled = Task { _ = await work.value }
        switch outcome {
        case .none:
            return (result(command, .timeout, "\(command.device) did not complete the write of \(points) within \(timeout.mapText)"), settled)
        case .success(let values)?:
            return (result(command, .ok, "wrote \(points)", values: values), nil)
        case .failure(.rejected(let why))?:
            return (result(command, .rejected, why), nil)
        case .failure(.failed(let why))?:
            return (result(command, .failed, why), nil)
        }
    }

    /// The task's value, or nil when `timeout` passes first.
    private static func first<T: Sendable>(of work: Task<T, Never>, within timeout: Duration) async -> T? {
        let claimed = Mutex(false)
        let claim: @Sendable () -> Bool = {
            claimed.withLock { taken in
                defer { taken = true }
                return !taken
            }
        }
        return await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            let timer = Task {
                // Cancelled means the work finished first: a cancelled sleep returns at once,
                // and claiming then would answer `timeout` to a write that succeeded.
                do { try await Task.sleep(for: timeout) } catch { return }
                if claim() { continuation.resume(returning: nil) }
            }
            Task {
                let value = await work.value
                if claim() {
                    timer.cancel()
                    continuation.resume(returning: value)
                }
            }
        }
    }

    private func result(
        _ command: Command, _ status: CommandStatus, _ message: String,
        values: [String: Value] = [:]
    ) -> CommandResult {
        CommandResult(id: command.id, status: status, message: message, values: values, timestamp: now())
    }
}

/// Runs operations one after another in the order they were queued. An operation may leave
/// work behind (a write still running after its timeout): the next one starts only when that
/// ends too.
final class SerialLane: Sendable {
    private let tail = Mutex<Task<Void, Never>?>(nil)

    /// Queues `operation` behind everything queued before and returns its task. The place in
    /// the queue is taken before this returns.
    func enqueue<T: Sendable>(_ operation: @escaping @Sendable () async -> (T, Task<Void, Never>?)) -> Task<T, Never> {
        tail.withLock { tail in
            let previous = tail
            let task = Task {
                await previous?.value
                return await operation()
            }
            tail = Task {
                let (_, leftover) = await task.value
                await leftover?.value
            }
            return Task { await task.value.0 }
        }
    }
}

/// The write a timed-out command left running, handed from the dedupe claim to the lane.
private final class LeftoverWrite: Sendable {
    private let task = Mutex<Task<Void, Never>?>(nil)

    func set(_ running: Task<Void, Never>?) { task.withLock { $0 = running } }

    func take() -> Task<Void, Never>? { task.withLock { $0 } }
}

/// Sender-supplied text made safe for one log line: control characters escaped (no forged
/// lines), at most 200 characters (no flooding).
public enum LogText {
    /// Characters kept; the rest is cut, marked with `…`.
    public static let limit = 200

    /// The text, escaped and shortened.
    public static func clean(_ text: String) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= limit {
                out += "…"
                break
            }
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                out += String(format: "\\u%04x", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}

/// The most recent command ids and their results, so that a repeated id is answered with the
/// first result instead of running again. In memory and bounded (oldest forgotten first);
/// the durable, time-bounded window is its own issue.
actor RecentCommands {
    private let capacity: Int
    private let ledger: (any CommandLedger)?
    private var results: [String: Task<CommandResult, Never>] = [:]
    private var order: [String] = []
    private var head = 0

    init(capacity: Int, ledger: (any CommandLedger)? = nil) {
        self.capacity = max(1, capacity)
        self.ledger = ledger
    }

    /// The result of the first command with this id, running `first` if there was none;
    /// `isRepeat` tells whether this call was a repeat. A repeat that arrives while the
    /// first is still running waits for its result; one whose first run is older than the
    /// memory window (or from before a restart) is found in the ledger.
    func claim(_ id: String, first: @escaping @Sendable () async -> CommandResult) async -> (CommandResult, isRepeat: Bool) {
        if let running = results[id] {
            return (await running.value, true)
        }
        if let recorded = ledger?.result(for: id) {
            return (recorded, true)
        }
        let ledger = self.ledger
        let task = Task {
            let result = await first()
            ledger?.record(result)
            return result
        }
        results[id] = task
        order.append(id)
        if order.count - head > capacity {
            results[order[head]] = nil
            head += 1
            if head > 4096 { order.removeFirst(head); head = 0 }
        }
        return (await task.value, false)
    }
}
