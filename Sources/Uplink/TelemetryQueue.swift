import Foundation
package import GatewayCore
import Synchronization

/// Readings between the adapters (any thread) and the sender: readings are encoded where
/// they are delivered, grouped into telemetry messages by size and time, numbered, and
/// handed to the outbox, which keeps them in order until acknowledged (`OutboxStore`). The
/// outbox's file work runs on a serial queue of this type's own: fsyncs never block the
/// cooperative thread pool, and seals reach the outbox in the order their numbers were given.
///
/// **Bounded.** What is held in memory before the outbox (encoded, not sealed yet) and what
/// this session has sealed but the hub has not acknowledged are counted against `holdLimit`;
/// beyond it `isReady` turns false, the pollers skip their cycles, and the pipeline catches
/// up instead of growing. While no session is up, the outbox takes everything (bounded by
/// its own `max_bytes`), as store-and-forward must.
package final class TelemetryQueue: Sendable {
    private struct State {
        var pending: [EncodedReadings] = []
        /// Encoded bytes pending, commas included.
        var pendingBytes = 0
        var pendingReadings = 0
        /// When the oldest pending reading arrived: coalescing waits at most the batch interval from it.
        var pendingSince: ContinuousClock.Instant?
        var dataWaiter: CheckedContinuation<Void, Never>?
        var readingsWaiter: CheckedContinuation<Void, Never>?
        var sealWaiter: CheckedContinuation<Void, Never>?
        /// Sticky: once the uplink stops, a sender that parks later must not sleep forever.
        var interrupted = false
        /// The first seq sealed during the session that is up; nil between sessions.
        var sessionFloor: UInt64?
        /// Payload bytes sealed during this session and not acknowledged yet.
        var sessionBytes = 0
        /// True while the sender has nothing in flight and nothing to send: a seal then goes
        /// out at once instead of waiting to coalesce.
        var senderIdle = false

        var held: Int { pendingBytes + sessionBytes }
    }

    private let state = Mutex(State())
    /// `held < holdLimit`, readable without the lock (every poll asks).
    private let ready = Atomic<Bool>(true)
    /// Serializes sealing: the numbers come from the outbox (`nextSeq`), and a seal must
    /// store its messages before the next one reads it.
    private let sealing = Mutex(())
    /// The outbox.
    package let store: OutboxStore
    private let io = DispatchQueue(label: "edgegate.outbox")
    private let header: [UInt8]
    private let maxMessageBytes: Int
    /// Bytes held before the hub's acknowledgement beyond which the pollers are held back.
    let holdLimit: Int

    /// - Parameter holdLimit: at least one message; the uplink's default (8 MiB) is about a
    ///   second of telemetry at 100,000 readings/s, many batch intervals' worth at any load.
    package init(gateway: String, maxMessageBytes: Int, store: OutboxStore, holdLimit: Int = 8 << 20) {
        self.store = store
        self.header = MQTTWire.telemetryHeader(gateway: gateway)
        self.maxMessageBytes = maxMessageBytes
        self.holdLimit = max(holdLimit, maxMessageBytes)
    }

    /// False while the pipeline holds `holdLimit` bytes or more: pollers skip their cycle.
    package var isReady: Bool { ready.load(ordering: .relaxed) }

    private func updateReady(_ s: State) {
        ready.store(s.held < holdLimit, ordering: .relaxed)
    }

    /// Called from adapter threads: encodes there (so encoding runs on every core), then
    /// holds the result under the lock only to append it. Never refuses and never blocks
    /// beyond the lock: the pollers ask `isReady` before they read.
    package func append(_ readings: [Reading]) {
        guard !readings.isEmpty else { return }
        let encoded = EncodedReadings(readings)
        let bytes = encoded.bytes.count + encoded.count
        let now = ContinuousClock.now
        let (readingsWaiter, sealWaiter) = state.withLock { s in
            s.pending.append(encoded)
            s.pendingBytes += bytes
            s.pendingReadings += encoded.count
            if s.pendingSince == nil { s.pendingSince = now }
            updateReady(s)
            let r = s.readingsWaiter
            s.readingsWaiter = nil
            var w: CheckedContinuation<Void, Never>?
            if s.pendingBytes >= maxMessageBytes {
                w = s.sealWaiter
                s.sealWaiter = nil
            }
            return (r, w)
        }
        readingsWaiter?.resume()
        sealWaiter?.resume()
    }

    /// Waits until readings are pending (returns at once if some are, or on cancellation).
    func waitForReadings() async {
        await park(\.readingsWaiter) { $0.pendingReadings > 0 }
    }

    /// Waits until pending readings should be sealed: at once while the sender is idle
    /// (nothing in flight, nothing unsent), or when a full message is pending, or `interval`
    /// after the oldest pending reading arrived — Nagle's rule for telemetry: a lone reading
    /// goes out at once, and readings coalesce into big messages only while the link is busy.
    func waitUntilSealIsDue(interval: Duration) async {
        let since = state.withLock { $0.pendingSince } ?? .now
        let deadline = since + interval
        let due: @Sendable (State) -> Bool = { [maxMessageBytes] s in
            s.senderIdle || s.pendingBytes >= maxMessageBytes || s.interrupted || s.pendingReadings == 0
        }
        if state.withLock({ due($0) }) || ContinuousClock.now >= deadline { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            group.addTask { await self.park(\.sealWaiter, until: due) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Turns pending readings into numbered messages no larger than the message bound and
    /// stores them in the outbox.
    @discardableResult
    func seal() async -> Int {
        await onIO { self.sealNow() }
    }

    /// `seal()`, on the caller's thread (blocking on the outbox's file).
    @discardableResult
    package func sealNow() -> Int {
        let count = sealing.withLock { _ -> Int in
            let (parts, bytes) = state.withLock { s -> ([EncodedReadings], Int) in
                let taken = (s.pending, s.pendingBytes)
                s.pending = []
                s.pendingReadings = 0
                s.pendingSince = nil
                // The bytes stay counted as held until they are in the outbox.
                return taken
            }
            guard !parts.isEmpty else { return 0 }
            // Messages are cut by the encoded sizes: 64 bytes for the envelope, each reading
            // and its comma, and at least one reading per message.
            var messages: [[EncodedReadings.Slice]] = []
            var current: [EncodedReadings.Slice] = []
            var chunkBytes = 64
            var readingsInCurrent = 0
            for part in parts {
                var start = 0
                for i in 0..<part.count {
                    let size = part.size(of: i) + 1
                    if readingsInCurrent > 0, chunkBytes + size > maxMessageBytes {
                        if i > start { current.append(part[start..<i]) }
                        messages.append(current)
                        current = []
                        readingsInCurrent = 0
                        chunkBytes = 64
                        start = i
                    }
                    chunkBytes += size
                    readingsInCurrent += 1
                }
                if part.count > start { current.append(part[start..<part.count]) }
            }
            messages.append(current)
            let first = store.nextSeq
            let created = store.configuration.clock()
            let batches = messages.enumerated().map { i, parts in
                let seq = first + UInt64(i)
                return TelemetryBatch(
                    seq: seq, payload: MQTTWire.telemetry(header: header, seq: seq, parts: parts),
                    readingCount: parts.reduce(0) { $0 + $1.count }, created: created)
            }
            // During a session the outbox applies no bounds: the hold limit bounds what
            // grows, and a message in flight must not be dropped and then acknowledged.
            // (Asked now, not when the readings were taken: a session that ended meanwhile
            // leaves the hub away, and the bounds apply.)
            let sessionUp = state.withLock { $0.sessionFloor != nil }
            store.append(batches, applyingBounds: !sessionUp)
            let sealed = batches.reduce(0) { $0 + $1.payload.count }
            state.withLock { s in
                s.pendingBytes -= bytes
                if let sessionFloor = s.sessionFloor, first >= sessionFloor { s.sessionBytes += sealed }
                updateReady(s)
            }
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

    /// A session with the hub began: what it seals from now on counts against the hold limit
    /// until acknowledged. The backlog from before does not: it drains first, in order.
    /// Returns the first seq of the session: messages below it were sealed before it began.
    @discardableResult
    package func sessionStarted() -> UInt64 {
        let floor = store.nextSeq
        setSession(floor: floor)
        return floor
    }

    /// The session ended: nothing is in flight, and the outbox takes everything again.
    func sessionEnded() {
        setSession(floor: nil)
    }

    private func setSession(floor: UInt64?) {
        state.withLock { s in
            s.sessionFloor = floor
            s.sessionBytes = 0
            s.senderIdle = false
            updateReady(s)
        }
    }

    /// The sender has nothing in flight and nothing to send (true), or has again (false).
    func setSenderIdle(_ idle: Bool) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.senderIdle = idle && s.sessionFloor != nil
            guard s.senderIdle else { return nil }
            let w = s.sealWaiter
            s.sealWaiter = nil
            return w
        }
        waiter?.resume()
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
        await onIO { self.acknowledgeNow(seq, bytes: bytes) }
    }

    /// `acknowledge`, on the caller's thread (blocking on the outbox's file).
    package func acknowledgeNow(_ seq: UInt64, bytes: Int) {
        store.acknowledge(seq, bytes: bytes)
        state.withLock { s in
            guard let floor = s.sessionFloor, seq >= floor else { return }
            s.sessionBytes = max(0, s.sessionBytes - bytes)
            updateReady(s)
        }
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
    private func park(
        _ slot: any WritableKeyPath<State, CheckedContinuation<Void, Never>?> & Sendable,
        until ready: @escaping @Sendable (State) -> Bool
    ) async {
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
            let d = s.dataWaiter
            s.dataWaiter = nil
            let w = s.sealWaiter
            s.sealWaiter = nil
            return [d, w]
        }.forEach { $0?.resume() }
    }

    /// Counters for logs, tests and benchmarks.
    package var statistics: UplinkStatistics {
        let pending = state.withLock { $0.pendingReadings }
        let c = store.snapshot
        return UplinkStatistics(
            queuedMessages: c.messages, queuedBytes: c.bytes, pendingReadings: pending,
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
