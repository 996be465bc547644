import DeviceMaps
import Foundation
import GatewayCore
import HueAdapter
import Logging
import Synchronization
import Testing

/// The username the test bridges whitelist.
let testUser = "edgegate-test-user"

/// A logger that stays quiet unless a test is being debugged.
let quietLogger: Logger = {
    var logger = Logger(label: "edgegate.tests.hue") { _ in SwiftLogNoOpLogHandler() }
    logger.logLevel = .critical
    return logger
}()

/// Runs `body` with a simulated bridge on a free loopback port (frozen sensors, `testUser`
/// whitelisted), and stops it afterwards.
func withBridge<T>(
    lights: [HueSimLight] = HueBridgeSimulator.defaultLights,
    sensors: [HueSimSensor] = HueBridgeSimulator.defaultSensors,
    _ body: (HueBridgeSimulator) async throws -> T
) async throws -> T {
    let simulator = HueBridgeSimulator(
        port: 0, lights: lights, sensors: sensors, usernames: [testUser], animated: false,
        logger: quietLogger)
    try await simulator.start()
    do {
        let result = try await body(simulator)
        await simulator.stop()
        return result
    } catch {
        await simulator.stop()
        throw error
    }
}

/// A Hue device on the simulator's port.
func hueDevice(
    _ id: String, port: Int, user: String = testUser, poll: Duration = .milliseconds(100),
    points: [PointDefinition], commands: [NamedCommand] = []
) -> DeviceDefinition {
    DeviceDefinition(
        id: id, protocolName: HueSyntax.name,
        connection: HueConnection(
            bridge: HueBridge(host: "127.0.0.1", port: port), username: .literal(user),
            timeout: .seconds(5)),
        poll: poll, points: points, commands: commands)
}

/// A point with the bridge's limits as the loader would fill them in.
func huePoint(
    _ name: String, _ resource: HueResource, _ id: String, _ field: HueField, access: Access = .read,
    scale: Double = 1, unit: String? = nil
) -> PointDefinition {
    let limits = access.isWritable ? field.limits : nil
    return PointDefinition(
        name: name, address: HuePointAddress(resource: resource, id: id, field: field), scale: scale,
        unit: unit, access: access, min: limits?.lowerBound, max: limits?.upperBound)
}

/// Keeps the newest reading of every point and counts batches per device.
final class ReadingBoard: Sendable {
    private let state = Mutex<(latest: [String: Reading], batches: [String: Int])>(([:], [:]))
    private let readiness = Atomic<Bool>(true)

    /// The sink; its `isReady` is what `setReady` last said (true at first).
    var sink: ReadingSink {
        ReadingSink(ready: { [self] in readiness.load(ordering: .sequentiallyConsistent) }) { [self] batch in
            state.withLock { s in
                for reading in batch { s.latest["\(reading.device).\(reading.point)"] = reading }
                if let device = batch.first?.device { s.batches[device, default: 0] += 1 }
            }
        }
    }

    /// Makes the sink say the pipeline behind it is ready (true) or behind (false).
    func setReady(_ ready: Bool) { readiness.store(ready, ordering: .sequentiallyConsistent) }

    /// The newest reading of `device.point`.
    func latest(_ key: String) -> Reading? { state.withLock { $0.latest[key] } }

    /// Batches emitted for `device` so far.
    func batches(_ device: String) -> Int { state.withLock { $0.batches[device] ?? 0 } }

    /// Forgets everything, so that a wait sees only what comes next.
    func clear() { state.withLock { $0 = ([:], [:]) } }

    /// Waits (bounded) until the newest reading of `key` satisfies `predicate`; returns it.
    func wait(for key: String, timeout: Duration = .seconds(10), _ predicate: (Reading) -> Bool = { _ in true }) async throws -> Reading {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let reading = latest(key), predicate(reading) { return reading }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HueTestFailure("no matching reading of \(key) within \(timeout); newest: \(latest(key).map { "\($0)" } ?? "none")")
    }
}

struct HueTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs the adapter while `body` runs, then cancels it and waits for it to stop.
func running<T>(_ adapter: HueAdapter, into board: ReadingBoard, _ body: () async throws -> T) async throws -> T {
    let task = Task { try await adapter.run(sink: board.sink) }
    defer { task.cancel() }
    let result = try await body()
    task.cancel()
    try await task.value
    return result
}

/// The adapter's write as a status and message (or the values), for compact expectations.
func attempt(_ adapter: HueAdapter, _ device: String, _ values: [String: Value]) async -> Result<[String: Value], WriteError> {
    do {
        return .success(try await adapter.write(device: device, values: values))
    } catch {
        return .failure(error)
    }
}

extension Result where Failure == WriteError {
    /// The message of a rejection, nil otherwise.
    var rejection: String? {
        if case .failure(.rejected(let why)) = self { return why }
        return nil
    }

    /// The message of a failure, nil otherwise.
    var failure: String? {
        if case .failure(.failed(let why)) = self { return why }
        return nil
    }
}
