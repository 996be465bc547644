import Foundation
import GatewayCore
import Synchronization

/// Readings between the adapters (any thread) and the sender: readings are grouped into
/// telemetry messages by size and time, numbered, and handed to the outbox, which keeps
/// them in order until acknowledged (`OutboxStore`). The outbox's file work runs on a serial
/// queue of this type's own: fsyncs never block the cooperative thread pool, and seals
/// reach the outbox in the order their numbers were given.
final class TelemetryQueue: Sendable {
    private struct State {
        var pending: [Reading] = []
        var dataWaiter: CheckedContinuation<Void, Never>?
        var readingsWaiter: CheckedContinuation<Void, Never>?
        /// Sticky: once the uplink stops, a sender that parks later must not sleep forever.
        var interrupted = false
    }

    private let state = Mutex(State())
    /// Serializes sealing: the numbers come from the outbox (`nextSeq`), and a seal must
    /// store its messages before the next one reads it.
    private let sealing = Mutex(())
    /// The outbox.
    let store: OutboxStore
    private let io = DispatchQueue(label: "edgegate.outbox")
    private let gateway: String
    private let maxMessageBytes: Int

    init(gateway: String, maxMessageBytes: Int, store: OutboxStore) {
        self.store = store
        self.gateway = gateway
        self.maxMessageBytes = maxMessageBytes
    }

    /// Called from adapter threads: never blocks beyond the lock.
    func append(_ readings: [Reading]) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { s in
            s.pending.append(contentsOf: readings)
            let w = s.readingsWaiter
            s.readingsWaiter = nil
            return w
        }
        waiter?.resume()
    }

    /// Waits until readings are pending (returns at once if some are, or on cancellation).
    func waitForReadings() async {
        await park(\.readingsWaiter) { !$0.pending.isEmpty }
    }

    /// Turns pending readings into numbered messages no larger than the message bound and
    /// stores them in the outbox.
    @discardableResult
    func seal() async -> Int {
        await onIO { self.sealNow() }
    }

    /// `seal()`, on the caller's thread (blocking on the outbox's file).
    @discardableResult
    func sealNow() -> Int {
        let count = sealing.withLock { _ -> Int in
            let readings = state.withLock { s -> [Reading] in
                let r = s.pending
                s.pending = []
                return r
            }
            guard !readings.isEmpty else { return 0 }
            // Each reading is encoded once; messages are cut by the encoded sizes.
            var lastDate: Date?
            var lastStamp = ""
            var fragments: [String] = []
            fragments.reserveCapacity(readings.count)
            var cuts: [Range<Int>] = []
            var start = 0
            var chunkBytes = 64
            for r in readings {
                if r.timestamp != lastDate {
                    lastDate = r.timestamp
                    lastStamp = Timestamp.rfc3339(r.timestamp)
                }
                let fragment = MQTTWire.readingFragment(r, timestamp: lastStamp)
                let size = fragment.utf8.count + 1
                if fragments.count > start, chunkBytes + size > maxMessageBytes {
                    cuts.append(start..<fragments.count)
                    start = fragments.count
                    chunkBytes = 64
                }
                fragments.append(fragment)
                chunkBytes += size
            }
            cuts.append(start..<fragments.count)
            let first = store.nextSeq
            let created = store.configuration.clock()
            let batches = cuts.enumerated().map { i, range in
                let seq = first + UInt64(i)
                return TelemetryBatch(seq: seq, payload: MQTTWire.telemetry(gateway: gateway, seq: seq, fragments: fragments[range]),
                                      readingCount: range.count, created: created)
            }
            store.append(batches)
            return batches.count
        }
        if count > 0 {
            state.withLock { s in
                let w = s.dataWaiter
                s.dataWaiter = nil
                return w
            }?.resume()
        }
        return count
    }

    /// Stores what is still in memory, deletes what was acknowledged and leaves a tidy file;
    /// called once, when the uplink stops.
    func close() async {
        await onIO { self.store.close() }
    }

    /// The oldest message held whose seq is above `seq` (nil: the oldest of all).
    func batch(after seq: UInt64?) async -> TelemetryBatch? {
        await onIO { self.store.batch(after: seq) }
    }

    /// Forgets a message the hub acknowledged (it may already have been dropped by a bound).
    func acknowledge(_ seq: UInt64, bytes: Int) async {
        await onIO { self.store.acknowledge(seq, bytes: bytes) }
    }

    /// Waits until a message with seq above `seq` is held, or the task is cancelled.
    func waitForBatch(after seq: UInt64?) async {
        let store = self.store
        await park(\.dataWaiter) { s in
            if s.interrupted { return true }
            let c = store.snapshot
            return c.messages > 0 && (seq == nil || c.next - 1 > seq!)
        }
    }

    /// Runs outbox work on the serial I/O queue and waits for it.
    private func onIO<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            io.async { continuation.resume(returning: work()) }
        }
    }

    /// Parks the caller in `slot` until whoever changes the state resumes it, unless `ready`
    /// already holds; cancellation resumes it too. One waiter per slot: each slot has a
    /// single consumer (the batcher, the sender).
    private func park(_ slot: any WritableKeyPath<State, CheckedContinuation<Void, Never>?> & Sendable,
                      until ready: @escaping @Sendable (State) -> Bool) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if ready(s) || Task.isCancelled { return true }
                    s[keyPath: slot] = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            state.withLock { s in
                let w = s[keyPath: slot]
                s[keyPath: slot] = nil
                return w
            }?.resume()
        }
    }

    /// Wakes a sender waiting for data, so it notices that the uplink is stopping.
    func interrupt() {
        state.withLock { s in
            s.interrupted = true
            let w = s.dataWaiter
            s.dataWaiter = nil
            return w
        }?.resume()
    }

    /// Counters for logs, tests and benchmarks.
    var statistics: UplinkStatistics {
        let pending = state.withLock { $0.pending.count }
        let c = store.snapshot
        return UplinkStatistics(queuedMessages: c.messages, queuedBytes: c.bytes, pendingReadings: pending,
                                acknowledgedMessages: c.acknowledged, droppedMessages: c.dropped, droppedReadings: c.droppedReadings,
                                expiredMessages: c.expired, unsavedMessages: c.unsaved, nextSeq: c.next, malformedCommands: 0)
    }
}

/// What the uplink has done so far.
public struct UplinkStatistics: Sendable, Hashable {
    /// Messages in the outbox, waiting for the hub's acknowledgement.
    public var queuedMessages: Int
    /// Their payload size in bytes.
    public var queuedBytes: Int
    /// Readings not yet grouped into a message.
    public var pendingReadings: Int
    /// Messages the hub acknowledged.
    public var acknowledgedMessages: Int
    /// Messages dropped, oldest first, beyond the outbox's `max_bytes` or `max_age`.
    public var droppedMessages: Int
    /// Readings in the dropped messages.
    public var droppedReadings: Int
    /// Of the dropped messages, those dropped for being older than `max_age`.
    public var expiredMessages: Int
    /// Messages held in memory only, because the outbox's file refused them (a full disk).
    public var unsavedMessages: Int
    /// The `seq` the next telemetry message gets.
    public var nextSeq: UInt64
    /// Command messages that could not be answered because no id could be read.
    public var malformedCommands: Int
}
