import Foundation
import GatewayCore
import Synchronization

/// One encoded telemetry message waiting for the hub's PUBACK.
struct TelemetryBatch: Sendable {
    let seq: UInt64
    let payload: [UInt8]
    let readingCount: Int
}

/// Readings between the adapters (any thread) and the sender: readings are grouped into
/// telemetry messages by size and time, numbered, and kept in order until acknowledged.
/// Bounded by bytes: beyond the bound the oldest messages are dropped and counted, so a long
/// outage costs the oldest data, never the process. (Disk store-and-forward replaces this
/// in-memory queue in the outbox issue; the interface stays.)
final class TelemetryQueue: Sendable {
    private struct State {
        var pending: [Reading] = []
        var batches: [TelemetryBatch] = []
        var head = 0
        var queuedBytes = 0
        var dropped = 0
        var droppedReadings = 0
        var acknowledged = 0
        var dataWaiter: CheckedContinuation<Void, Never>?
        var readingsWaiter: CheckedContinuation<Void, Never>?
        /// Sticky: once the uplink stops, a sender that parks later must not sleep forever.
        var interrupted = false
    }

    private let state = Mutex(State())
    /// Serializes sealing (the batcher, and the sender's final seal on shutdown) and owns
    /// the sequence numbers, so two seals never number two messages alike. Encoding runs
    /// under this lock but outside `state`, so adapters keep appending meanwhile.
    private let sealing: Mutex<SequenceStore>
    private let gateway: String
    private let maxMessageBytes: Int
    private let maxQueuedBytes: Int

    init(gateway: String, maxMessageBytes: Int, maxQueuedBytes: Int, sequence: sending SequenceStore) {
        self.sealing = Mutex(sequence)
        self.gateway = gateway
        self.maxMessageBytes = maxMessageBytes
        self.maxQueuedBytes = maxQueuedBytes
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

    /// Turns pending readings into numbered messages no larger than the message bound.
    @discardableResult
    func seal() -> Int {
        sealing.withLock { sequence in
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
            let first = sequence.take(UInt64(cuts.count))
            let batches = cuts.enumerated().map { i, range in
                let seq = first + UInt64(i)
                return TelemetryBatch(seq: seq, payload: MQTTWire.telemetry(gateway: gateway, seq: seq, fragments: fragments[range]),
                                      readingCount: range.count)
            }
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                for b in batches {
                    s.batches.append(b)
                    s.queuedBytes += b.payload.count
                }
                while s.queuedBytes > maxQueuedBytes, s.batches.count - s.head > 1 {
                    let oldest = s.batches[s.head]
                    s.head += 1
                    s.queuedBytes -= oldest.payload.count
                    s.dropped += 1
                    s.droppedReadings += oldest.readingCount
                }
                compact(&s)
                let w = s.dataWaiter
                s.dataWaiter = nil
                return w
            }
            waiter?.resume()
            return batches.count
        }
    }

    /// Records the next sequence number for a clean restart; called once, when the uplink stops.
    func closeSequence() {
        sealing.withLock { $0.recordNext() }
    }

    /// The oldest queued message whose seq is above `seq` (nil: the oldest of all).
    func batch(after seq: UInt64?) -> TelemetryBatch? {
        state.withLock { s in
            for i in s.head..<s.batches.count where seq == nil || s.batches[i].seq > seq! {
                return s.batches[i]
            }
            return nil
        }
    }

    /// Forgets a message the hub acknowledged (it may already have been dropped by the bound).
    func acknowledge(_ seq: UInt64) {
        state.withLock { s in
            guard s.head < s.batches.count, s.batches[s.head].seq == seq else { return }
            s.queuedBytes -= s.batches[s.head].payload.count
            s.head += 1
            s.acknowledged += 1
            compact(&s)
        }
    }

    /// Waits until a message with seq above `seq` is queued, or the task is cancelled.
    func waitForBatch(after seq: UInt64?) async {
        await park(\.dataWaiter) { s in
            s.interrupted || s.head < s.batches.count && (seq == nil || s.batches[s.batches.count - 1].seq > seq!)
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
        state.withLock { s in
            UplinkStatistics(queuedMessages: s.batches.count - s.head, queuedBytes: s.queuedBytes,
                             pendingReadings: s.pending.count, acknowledgedMessages: s.acknowledged,
                             droppedMessages: s.dropped, droppedReadings: s.droppedReadings, malformedCommands: 0)
        }
    }

    /// Frees acknowledged and dropped messages. Removing them once they are at least half of
    /// the array keeps the cost amortized O(1) per message and the memory close to what is
    /// really queued (a high threshold here once kept ~100 s of delivered telemetry alive).
    private func compact(_ s: inout State) {
        if s.head > 16, s.head * 2 > s.batches.count {
            s.batches.removeFirst(s.head)
            s.head = 0
        }
    }
}

/// What the uplink has done so far.
public struct UplinkStatistics: Sendable, Hashable {
    /// Messages waiting for the hub.
    public var queuedMessages: Int
    /// Their size in bytes.
    public var queuedBytes: Int
    /// Readings not yet grouped into a message.
    public var pendingReadings: Int
    /// Messages the hub acknowledged.
    public var acknowledgedMessages: Int
    /// Messages dropped because the queue was full.
    public var droppedMessages: Int
    /// Readings in the dropped messages.
    public var droppedReadings: Int
    /// Command messages that could not be answered because no id could be read.
    public var malformedCommands: Int
}
