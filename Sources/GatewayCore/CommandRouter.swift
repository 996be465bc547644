import Foundation
import Logging

/// The one place where commands meet devices: it validates a command against the device
/// map, refuses what has expired, runs commands to one device in arrival order (different
/// devices concurrently), bounds each execution by a timeout and turns every outcome into a
/// `CommandResult`.
public final class CommandRouter: Sendable {
    private let targets: [String: Target]
    private let executionTimeout: Duration
    private let logger: Logger
    private let now: @Sendable () -> Date

    private struct Target: Sendable {
        let descriptor: DeviceDescriptor
        let adapter: any DeviceAdapter
        let lane: SerialLane
    }

    /// Creates a router over the devices of these adapters.
    /// - Parameters:
    ///   - executionTimeout: how long one command may take at the device before `timeout`.
    ///   - now: the clock used for `expires_at` (injectable for tests).
    public init(adapters: [any DeviceAdapter], executionTimeout: Duration = .seconds(10),
                logger: Logger, now: @escaping @Sendable () -> Date = Date.init) {
        var targets: [String: Target] = [:]
        for adapter in adapters {
            for device in adapter.devices {
                targets[device.id] = Target(descriptor: device, adapter: adapter, lane: SerialLane())
            }
        }
        self.targets = targets
        self.executionTimeout = executionTimeout
        self.logger = logger
        self.now = now
    }

    /// The devices the router can reach, sorted by id.
    public var devices: [DeviceDescriptor] {
        targets.values.map(\.descriptor).sorted { $0.id < $1.id }
    }

    /// Validates and executes a command; never throws: every failure is a status.
    public func execute(_ command: Command) async -> CommandResult {
        let started = ContinuousClock.now
        let result = await route(command)
        let elapsed = ContinuousClock.now - started
        logger.info("command", metadata: [
            "id": "\(command.id)", "device": "\(command.device)",
            "status": "\(result.status.rawValue)", "message": "\(result.message)",
            "duration_ms": "\(String(format: "%.2f", Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15))",
        ])
        return result
    }

    private func route(_ command: Command) async -> CommandResult {
        guard let target = targets[command.device] else {
            let known = targets.keys.sorted().joined(separator: ", ")
            return result(command, .unknownDevice, "no device '\(command.device)' in the device maps (known: \(known))")
        }
        let writes: [String: Value]
        switch command.action {
        case .write(let w):
            writes = w
        case .named(let name, _):
            return result(command, .rejected, "\(command.device) has no command '\(name)'")
        }
        if let problem = CommandValidation.problem(in: writes, for: target.descriptor) {
            return result(command, .rejected, problem)
        }
        return await target.lane.run { [self] in
            // Checked again once the command's turn comes: a command that waited past its
            // expiry behind others must still not run late.
            if let expiry = command.expiresAt, now() > expiry {
                return result(command, .expired, "command \(command.id) expired at \(Timestamp.rfc3339(expiry)) before it could run")
            }
            return await execute(writes, command: command, on: target)
        }
    }

    private func execute(_ writes: [String: Value], command: Command, on target: Target) async -> CommandResult {
        let timeout = executionTimeout
        let outcome: Result<[String: Value], WriteError>? = await withTaskGroup(of: Result<[String: Value], WriteError>?.self) { group in
            group.addTask {
                do throws(WriteError) {
                    return .success(try await target.adapter.write(device: target.descriptor.id, values: writes))
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        let points = writes.keys.sorted().map { "\(command.device).\($0)=\(writes[$0]!)" }.joined(separator: ", ")
        switch outcome {
        case .none:
            return result(command, .timeout, "\(command.device) did not complete the write of \(points) within \(timeout)")
        case .success(let values)?:
            return result(command, .ok, "wrote \(points)", values: values)
        case .failure(.rejected(let why))?:
            return result(command, .rejected, why)
        case .failure(.failed(let why))?:
            return result(command, .failed, why)
        }
    }

    private func result(_ command: Command, _ status: CommandStatus, _ message: String,
                        values: [String: Value] = [:]) -> CommandResult {
        CommandResult(id: command.id, status: status, message: message, values: values, timestamp: now())
    }
}

/// Runs operations one after another in arrival order.
actor SerialLane {
    private var tail: Task<Void, Never>?

    func run<T: Sendable>(_ operation: @escaping @Sendable () async -> T) async -> T {
        let previous = tail
        let task = Task {
            await previous?.value
            return await operation()
        }
        tail = Task { _ = await task.value }
        return await task.value
    }
}
