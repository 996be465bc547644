import Foundation
import Logging
import Synchronization

/// The one place where commands meet devices: it validates a command against the device
/// map, refuses what has expired, runs commands to one device in arrival order (different
/// devices concurrently), bounds each execution by a timeout and turns every outcome into a
/// `CommandResult`. The device set can be replaced while commands run (`update(adapters:)`).
public final class CommandRouter: Sendable {
    private let targets: Mutex<[String: Target]>
    private let executionTimeout: Duration
    private let logger: Logger
    private let now: @Sendable () -> Date

    private struct Target: Sendable {
        let descriptor: DeviceDescriptor
        let adapter: any DeviceAdapter
        let lane: SerialLane
    }

    private let recent: RecentCommands

    /// Creates a router over the devices of these adapters.
    /// - Parameters:
    ///   - executionTimeout: how long one command may take at the device before `timeout`.
    ///   - now: the clock used for `expires_at` (injectable for tests).
    ///   - rememberedCommands: how many recent command ids are kept to answer repeats
    ///     `duplicate` instead of executing them again (QoS 1 redelivery, operator retries).
    public init(adapters: [any DeviceAdapter], executionTimeout: Duration = .seconds(10),
                rememberedCommands: Int = 10_000,
                logger: Logger, now: @escaping @Sendable () -> Date = Date.init) {
        self.targets = Mutex(Self.targets(of: adapters, lanes: [:]))
        self.recent = RecentCommands(capacity: rememberedCommands)
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

    /// Validates and executes a command; never throws: every failure is a status.
    public func execute(_ command: Command) async -> CommandResult {
        let started = ContinuousClock.now
        let result = await route(command)
        let elapsed = ContinuousClock.now - started
        logger.info("command", metadata: [
            "id": "\(command.id)", "device": "\(command.device)",
            "status": "\(result.status.rawValue)", "message": "\(result.message)",
            "duration_ms": "\(String(format: "%.2f", elapsed / .milliseconds(1)))",
        ])
        return result
    }

    private func route(_ command: Command) async -> CommandResult {
        let (first, isRepeat) = await recent.claim(command.id) { await self.firstRun(command) }
        guard isRepeat else { return first }
        return CommandResult(id: command.id, status: .duplicate,
                             message: "command \(command.id) was already received (\(first.status.rawValue): \(first.message)); not executed again",
                             values: first.values, timestamp: now())
    }

    private func firstRun(_ command: Command) async -> CommandResult {
        guard let target = currentTarget(command.device) else {
            return unknownDevice(command)
        }
        let writes: [String: Value]
        switch Self.writes(for: command.action, on: target.descriptor) {
        case .success(let w): writes = w
        case .failure(let refusal): return result(command, .rejected, refusal.message)
        }
        return await target.lane.run { [self] in
            // Checked again once the command's turn comes: a command that waited past its
            // expiry behind others must still not run late.
            if let expiry = command.expiresAt, now() > expiry {
                return (result(command, .expired, "command \(command.id) expired at \(Timestamp.rfc3339(expiry)) before it could run"), nil)
            }
            // The device maps may have been reloaded while the command waited: it runs only
            // against the device as it is now.
            guard let current = currentTarget(command.device) else {
                return (unknownDevice(command), nil)
            }
            var writes = writes
            if current.descriptor != target.descriptor {
                switch Self.writes(for: command.action, on: current.descriptor) {
                case .success(let w): writes = w
                case .failure(let refusal): return (result(command, .rejected, refusal.message), nil)
                }
            }
            return await execute(writes, command: command, on: current)
        }
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
    private func execute(_ writes: [String: Value], command: Command,
                         on target: Target) async -> (CommandResult, Task<Void, Never>?) {
        let work = Task { () -> Result<[String: Value], WriteError> in
            do throws(WriteError) {
                return .success(try await target.adapter.write(device: target.descriptor.id, values: writes))
            } catch {
                return .failure(error)
            }
        }
        let outcome = await Self.first(of: work, within: executionTimeout)
        let points = writes.keys.sorted().map { "\(command.device).\($0)=\(writes[$0]!)" }.joined(separator: ", ")
        let settled = Task { _ = await work.value }
        switch outcome {
        case .none:
            return (result(command, .timeout, "\(command.device) did not complete the write of \(points) within \(executionTimeout)"), settled)
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

    private func result(_ command: Command, _ status: CommandStatus, _ message: String,
                        values: [String: Value] = [:]) -> CommandResult {
        CommandResult(id: command.id, status: status, message: message, values: values, timestamp: now())
    }
}

/// Runs operations one after another in arrival order. An operation may leave work behind
/// (a write still running after its timeout): the next one starts only when that ends too.
actor SerialLane {
    private var tail: Task<Void, Never>?

    func run<T: Sendable>(_ operation: @escaping @Sendable () async -> (T, Task<Void, Never>?)) async -> T {
        let previous = tail
        let task = Task {
            await previous?.value
            return await operation()
        }
        tail = Task {
            let (_, leftover) = await task.value
            await leftover?.value
        }
        return await task.value.0
    }
}

/// The most recent command ids and their results, so that a repeated id is answered with the
/// first result instead of running again. In memory and bounded (oldest forgotten first);
/// the durable, time-bounded window is its own issue.
actor RecentCommands {
    private let capacity: Int
    private var results: [String: Task<CommandResult, Never>] = [:]
    private var order: [String] = []
    private var head = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// The result of the first command with this id, running `first` if there was none;
    /// `isRepeat` tells whether this call was a repeat. A repeat that arrives while the
    /// first is still running waits for its result.
    func claim(_ id: String, first: @escaping @Sendable () async -> CommandResult) async -> (CommandResult, isRepeat: Bool) {
        if let running = results[id] {
            return (await running.value, true)
        }
        let task = Task { await first() }
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
