import Dispatch
import Foundation
import Synchronization

/// What a connection asks of the pool after one step.
enum StepOutcome {
    /// Run again at `due` (nil: only when an event arrives), or at once when `moreWork`.
    case next(due: ContinuousClock.Instant?, moreWork: Bool)
    /// The connection has stopped and freed its libmodbus context.
    case finished
}

/// A few threads that run every Modbus connection of the process in steps, instead of a
/// thread per connection.
///
/// A step of a connection (`ConnectionWorker.step`) takes the events handed to it (stop, a new
/// device set, writes) and polls at most one due device, then returns when it wants to run
/// again. The pool runs each connection on whichever thread is free when it is due or an event
/// arrives, and never on two threads at once: libmodbus contexts are not thread-safe, and the
/// pool's lock orders each hand-over of a connection from one thread to the next.
///
/// Threads are started when a connection is due and none is free, up to `limit`; idle ones
/// sleep on their own semaphore (one of them until the next connection is due), so a due
/// connection wakes one thread, not all of them.
final class PollerPool: Sendable {
    /// The pool every Modbus adapter of the process shares.
    static let shared = PollerPool(limit: defaultLimit)

    /// The threads wait on the network far more than they compute, so their number is set by
    /// how many requests may be outstanding at once, not by the cores: polls per second ×
    /// round trip (a site of 500 devices polled every second whose devices answer in 20 ms
    /// keeps 10 busy; 100 devices every 100 ms on a loaded two-core machine, where the round
    /// trip to a local simulator stretches to milliseconds, about as many), plus the
    /// connections that may sit in a response timeout at the same moment without delaying
    /// the others. 32 covers both with room to spare at a few MiB of stacks, mostly untouched;
    /// 8 per core on larger machines.
    static var defaultLimit: Int {
        max(32, 8 * ProcessInfo.processInfo.activeProcessorCount)
    }

    /// The most threads the pool starts.
    let limit: Int

    private enum Phase {
        /// In `ready`, waiting for a thread.
        case ready
        /// Being stepped; `again` when an event arrived meanwhile.
        case running(again: Bool)
        /// Waiting until an event or, when `timed`, a due time (in `timers` under `version`).
        case waiting(version: UInt64, timed: Bool)
    }

    private struct Entry {
        var worker: ConnectionWorker
        var phase: Phase
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var ready = Ring<ConnectionWorker>()
        var timers = TimerHeap()
        /// Connections waiting for a due time (`timers` may hold stale ones besides).
        var timed = 0
        var version: UInt64 = 0
        var threads = 0
        /// Threads with nothing to do, the most recently parked last.
        var idle: [Parker] = []
        /// The idle thread sleeping until `leaderDue` (the earliest timer); the others sleep
        /// until woken.
        var leader: Parker?
        var leaderDue: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    /// The kernel's ids of the pool's threads, for tests: a thread that a pool thread starts
    /// (a concurrency or dispatch worker) inherits its name, so names alone do not tell.
    private let kernelIDs = Mutex<[Int32]>([])

    /// The kernel thread ids of the threads started so far.
    var kernelThreadIDs: [Int32] { kernelIDs.withLock { $0 } }

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Threads started so far.
    var threadCount: Int { state.withLock { $0.threads } }

    /// Runs `worker`'s first step as soon as a thread is free.
    func start(_ worker: ConnectionWorker) {
        let wake = state.withLock { s -> Wake in
            precondition(s.entries[ObjectIdentifier(worker)] == nil, "connection \(worker.endpoint) scheduled twice")
            s.entries[ObjectIdentifier(worker)] = Entry(worker: worker, phase: .ready)
            s.ready.append(worker)
            return Self.wakeForReady(&s, limit: limit)
        }
        perform(wake)
    }

    /// An event for `worker` arrived: it runs at once if it was waiting, or again right after
    /// the step in progress. Ignored for a connection that is not started.
    func wake(_ worker: ConnectionWorker) {
        let wake = state.withLock { s -> Wake in
            let id = ObjectIdentifier(worker)
            guard let phase = s.entries[id]?.phase else { return .none }
            switch phase {
            case .ready, .running(again: true):
                return .none
            case .running(again: false):
                s.entries[id]?.phase = .running(again: true)
                return .none
            case .waiting(_, let timed):
                if timed { s.timed -= 1 }
                s.entries[id]?.phase = .ready
                s.ready.append(worker)
                return Self.wakeForReady(&s, limit: limit)
            }
        }
        perform(wake)
    }

    // MARK: Threads

    /// Whom to wake after leaving the lock.
    private enum Wake {
        case none
        case parker(Parker)
        case newThread(number: Int)
    }

    /// An idle thread to wake, taken off the idle list: a follower rather than the leader,
    /// which goes on watching the timers while the follower runs a step.
    private static func takeIdle(_ s: inout State) -> Parker? {
        if let index = s.idle.lastIndex(where: { $0 !== s.leader }) { return s.idle.remove(at: index) }
        guard let leader = s.leader else { return nil }
        s.idle.removeAll { $0 === leader }
        s.leader = nil
        s.leaderDue = nil
        return leader
    }

    /// A connection became ready: an idle thread takes it, or a new one if none is idle.
    private static func wakeForReady(_ s: inout State, limit: Int) -> Wake {
        if let parker = takeIdle(&s) { return .parker(parker) }
        if s.threads < limit {
            s.threads += 1
            return .newThread(number: s.threads)
        }
        // Every thread is busy: the first to finish its step takes it.
        return .none
    }

    /// A connection now waits until `due`: if no idle thread sleeps until then or earlier,
    /// one is woken to do so.
    private static func wakeForTimer(_ s: inout State, due: ContinuousClock.Instant) -> Wake {
        if let leaderDue = s.leaderDue, leaderDue <= due { return .none }
        // The leader wakes and sleeps again until the earlier time; without a leader, a
        // sleeping thread becomes one; without idle threads, the busy ones look at the timers
        // when their step ends.
        if let leader = s.leader { return .parker(leader) }
        return takeIdle(&s).map(Wake.parker) ?? .none
    }

    private func perform(_ wake: Wake) {
        switch wake {
        case .none: break
        case .parker(let parker): parker.signal()
        case .newThread(let number):
            // Named from inside, where Linux takes it (ps, top -H, gdb and /proc show it), and
            // within the 15 characters it keeps: "modbus-poll-12".
            let name = "modbus-poll-\(number)"
            let thread = Thread { [self] in
                // Straight to the kernel (Glibc's pthread_setname_np is not imported, and
                // Foundation's name does not always reach Linux): until then a new thread bears
                // the name of the thread that started it.
                try? name.write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
                Thread.current.name = name
                // `/proc/thread-self` links to `PID/task/TID` (Glibc's gettid is not imported).
                if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self"),
                    let id = link.split(separator: "/").last.flatMap({ Int32($0) })
                {
                    kernelIDs.withLock { $0.append(id) }
                }
                work()
            }
            thread.start()
        }
    }

    private enum Next {
        case run(ConnectionWorker, also: Wake)
        case park(until: ContinuousClock.Instant?)
    }

    /// The body of a pool thread: step whatever is ready, otherwise sleep.
    private func work() {
        let parker = Parker()
        while true {
            let next = state.withLock { s -> Next in
                // Awake, so no longer idle (when a waker did not already take it off the list).
                if let index = s.idle.lastIndex(where: { $0 === parker }) { s.idle.remove(at: index) }
                if s.leader === parker {
                    s.leader = nil
                    s.leaderDue = nil
                }
                Self.promoteDue(&s, now: .now)
                if let worker = s.ready.popFirst() {
                    s.entries[ObjectIdentifier(worker)]?.phase = .running(again: false)
                    var also = Wake.none
                    if !s.ready.isEmpty {
                        // More ready than this thread takes: another one helps.
                        also = Self.wakeForReady(&s, limit: limit)
                    } else if s.leader == nil, s.timed > 0 {
                        // Nobody watches the due times while this thread runs a step (which may
                        // last a response timeout): an idle thread does, or a new one.
                        if let parker = Self.takeIdle(&s) {
                            also = .parker(parker)
                        } else if s.threads < limit {
                            s.threads += 1
                            also = .newThread(number: s.threads)
                        }
                    }
                    return .run(worker, also: also)
                }
                s.idle.append(parker)
                if s.leader == nil, let due = s.timers.earliest {
                    s.leader = parker
                    s.leaderDue = due
                    return .park(until: due)
                }
                return .park(until: nil)
            }
            switch next {
            case .run(let worker, let also):
                perform(also)
                finish(worker, worker.step())
            case .park(let until):
                parker.wait(until: until)
            }
        }
    }

    /// Moves the connections due by `now` to `ready`.
    private static func promoteDue(_ s: inout State, now: ContinuousClock.Instant) {
        while let timer = s.timers.earliestTimer, timer.due <= now {
            s.timers.removeEarliest()
            guard let entry = s.entries[timer.id], case .waiting(let version, _) = entry.phase, version == timer.version else {
                continue  // stale: the connection ran since, or stopped
            }
            s.timed -= 1
            s.entries[timer.id]?.phase = .ready
            s.ready.append(entry.worker)
        }
    }

    /// Records what a step asked for.
    private func finish(_ worker: ConnectionWorker, _ outcome: StepOutcome) {
        let id = ObjectIdentifier(worker)
        let wake = state.withLock { s -> Wake in
            guard case .running(let again) = s.entries[id]?.phase else {
                preconditionFailure("connection \(worker.endpoint) finished a step it was not running")
            }
            switch outcome {
            case .finished:
                s.entries[id] = nil
                return .none
            case .next(let due, let moreWork):
                if again || moreWork || due.map({ $0 <= .now }) == true {
                    // This thread looks at `ready` next; nobody else needs waking.
                    s.entries[id]?.phase = .ready
                    s.ready.append(worker)
                    return .none
                }
                s.version &+= 1
                s.entries[id]?.phase = .waiting(version: s.version, timed: due != nil)
                guard let due else { return .none }
                s.timed += 1
                s.timers.insert(DueTime(due: due, version: s.version, id: id))
                if s.timers.count > 2 * s.timed + 64 {
                    // Events woke many waiting connections before their due times (writes to
                    // a write-only device, due in a year): drop the stale timers.
                    let entries = s.entries
                    s.timers.keep(where: { timer in
                        guard case .waiting(let version, _) = entries[timer.id]?.phase else { return false }
                        return version == timer.version
                    })
                }
                return Self.wakeForTimer(&s, due: due)
            }
        }
        perform(wake)
        if case .finished = outcome { worker.didExit() }
    }
}

/// A connection's due time, valid while its entry is still waiting under `version`.
private struct DueTime {
    var due: ContinuousClock.Instant
    var version: UInt64
    var id: ObjectIdentifier
}

/// A binary min-heap of timers by due time.
private struct TimerHeap {
    private var items: [DueTime] = []

    var count: Int { items.count }
    var earliestTimer: DueTime? { items.first }
    var earliest: ContinuousClock.Instant? { items.first?.due }

    mutating func insert(_ timer: DueTime) {
        items.append(timer)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].due < items[parent].due else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    /// Keeps only the timers `valid` accepts.
    mutating func keep(where valid: (DueTime) -> Bool) {
        let kept = items.filter(valid)
        items.removeAll(keepingCapacity: true)
        for timer in kept { insert(timer) }
    }

    mutating func removeEarliest() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count, items[left].due < items[smallest].due { smallest = left }
            if right < items.count, items[right].due < items[smallest].due { smallest = right }
            if smallest == parent { return }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

/// A first-in first-out queue that reuses its storage.
private struct Ring<Element> {
    private var items: [Element?] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }

    mutating func append(_ element: Element) {
        items.append(element)
    }

    mutating func popFirst() -> Element? {
        guard head < items.count else { return nil }
        let first = items[head]
        items[head] = nil
        head += 1
        if head == items.count {
            // Drained: start over at the front.
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64, head * 2 >= items.count {
            // Never drained (always something ready): drop the consumed front now and then.
            items.removeFirst(head)
            head = 0
        }
        return first
    }
}

/// Where one pool thread sleeps: woken by name, so a due connection wakes one thread.
private final class Parker: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)

    func signal() {
        semaphore.signal()
    }

    /// Sleeps until signalled or `deadline` passes. A signal that comes after a timeout is
    /// kept and ends the next wait at once, which then finds nothing changed and sleeps again.
    func wait(until deadline: ContinuousClock.Instant?) {
        guard let deadline else {
            semaphore.wait()
            return
        }
        let remaining = ContinuousClock.now.duration(to: deadline)
        guard remaining > .zero else { return }
        let (seconds, attoseconds) = remaining.components
        _ = semaphore.wait(timeout: .now() + .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)))
    }
}
