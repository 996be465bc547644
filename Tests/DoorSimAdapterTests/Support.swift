import DeviceMaps
import DoorSimAdapter
import Foundation
import GatewayCore
import Synchronization

/// A clock that moves only when a test advances it, so a schedule plays step by step.
final class ManualDoorClock: DoorClock {
    private struct Sleeper {
        var deadline: Duration
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Duration = .zero
        var sleepers: [Int: Sleeper] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())
    let origin = Date(timeIntervalSince1970: 1_800_000_000)

    var now: Duration { state.withLock { $0.now } }

    func sleep(until deadline: Duration) async throws {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                state.withLock { s in
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else if deadline <= s.now {
                        continuation.resume()
                    } else {
                        s.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    }
                }
            }
        } onCancel: {
            state.withLock { s in s.sleepers.removeValue(forKey: id)?.continuation.resume(throwing: CancellationError()) }
        }
    }

    /// Moves the clock to `time` (never back) and wakes every sleeper whose deadline it reached.
    func advance(to time: Duration) {
        state.withLock { s in
            s.now = max(s.now, time)
            for (id, sleeper) in s.sleepers where sleeper.deadline <= s.now {
                s.sleepers[id] = nil
                sleeper.continuation.resume()
            }
        }
    }

    /// The wall-clock time of `offset` on this clock.
    func date(_ offset: Duration) -> Date {
        let (seconds, attoseconds) = offset.components
        return origin.addingTimeInterval(TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18)
    }
}

/// Every batch an adapter emitted, in order.
final class Batches: Sendable {
    private let batches = Mutex<[[Reading]]>([])

    var sink: ReadingSink { ReadingSink { batch in self.batches.withLock { $0.append(batch) } } }

    /// The batches of `device` so far.
    func of(_ device: String) -> [[Reading]] {
        batches.withLock { $0.filter { $0.first?.device == device } }
    }

    /// Waits (generously: a loaded machine is slow) until `device` has emitted `count` batches.
    @discardableResult
    func wait(_ device: String, count: Int) async throws -> [[Reading]] {
        try await wait(device, "\(count) batches") { $0.count >= count }
    }

    /// Waits until the batches of `device` satisfy `condition`.
    @discardableResult
    func wait(_ device: String, _ what: String, until condition: ([[Reading]]) -> Bool) async throws -> [[Reading]] {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let batches = of(device)
            if condition(batches) { return batches }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw WaitError(description: "\(device) did not emit \(what) within 20 s; it emitted \(of(device).map(\.values))")
    }
}

struct WaitError: Error, CustomStringConvertible {
    var description: String
}

extension Array where Element == Reading {
    /// point → value.
    var values: [String: Value] {
        Dictionary(map { ($0.point, $0.value ?? .string("<none>")) }, uniquingKeysWith: { a, _ in a })
    }
}

/// Loads door-sim devices from YAML, failing the test with the diagnostics.
func doorDevices(_ yaml: String) throws -> [DeviceDefinition] {
    let (map, diagnostics) = DeviceMapLoader(protocols: [DoorSimSyntax.self]).parse(yaml: yaml, file: "doors.yaml")
    guard let map else { throw WaitError(description: "the map does not load: \(diagnostics)") }
    return map.devices
}
