public import GatewayCore
import Synchronization

/// Collects what an adapter emits, for assertions from the test task.
public final class ReadingCollector: Sendable {
    /// Collects nothing yet.
    public init() {}

    private let batches = Mutex<[[Reading]]>([])
    private let readiness = Atomic<Bool>(true)

    /// The sink to hand the adapter; its `isReady` is what `setReady` last said (true at first).
    public var sink: ReadingSink {
        ReadingSink(ready: { [self] in readiness.load(ordering: .sequentiallyConsistent) }) { [self] batch in
            batches.withLock { $0.append(batch) }
        }
    }

    /// Makes the sink say the pipeline behind it is ready (true) or behind (false).
    public func setReady(_ ready: Bool) {
        readiness.store(ready, ordering: .sequentiallyConsistent)
    }

    /// Every batch so far, in arrival order.
    public var all: [[Reading]] { batches.withLock { $0 } }

    /// Forgets everything collected so far, so that a wait sees only what comes next.
    public func reset() { batches.withLock { $0.removeAll() } }

    /// Waits (bounded) for a batch that satisfies `predicate`; returns it, or nil on timeout.
    /// - Parameter start: the index in `all` from which batches count (earlier ones are passed over).
    public func waitForBatch(timeout: Duration = .seconds(5), from start: Int = 0, _ predicate: ([Reading]) -> Bool) async -> [Reading]? {
        let deadline = ContinuousClock.now + timeout
        var seen = start
        while ContinuousClock.now < deadline {
            let current = all
            if let hit = current[min(seen, current.count)...].first(where: predicate) { return hit }
            seen = current.count
            try? await Task.sleep(for: .milliseconds(20))
        }
        let current = all
        return current[min(seen, current.count)...].first(where: predicate)
    }
}

/// Waits (bounded) until `condition` holds.
public func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
