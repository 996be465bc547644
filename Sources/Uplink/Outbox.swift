public import CoreMetrics
public import Foundation
import GatewayCore
public import Logging
public import Storage
import Synchronization

/// Settings of the telemetry outbox: where it lives, how durable a commit is, its bounds.
public struct OutboxConfiguration: Sendable {
    /// The SQLite file; `:memory:` keeps everything in memory (tests and benchmarks only:
    /// nothing survives a restart and `seq` starts again at 1).
    public var path: String
    /// Bound on the payload bytes held; beyond it the oldest messages are dropped and counted.
    public var maxBytes: Int
    /// Bound on the age of a message (from when it was sealed); nil: no age limit.
    public var maxAge: Duration?
    /// `.full` (default): every commit is fsynced and survives a power loss; `.normal`: a
    /// commit survives a crash of the process, but the last ones may be lost on power loss.
    public var synchronous: SQLiteSynchronous
    /// How long a write waits for a lock held by another process (someone inspecting the
    /// file with `sqlite3` and leaving a write transaction open) before the messages are kept
    /// in memory instead.
    public var busyTimeout: Duration
    /// The wall clock, for message ages (a test passes a manual one).
    public var clock: @Sendable () -> Date

    /// Creates a configuration.
    public init(
        path: String, maxBytes: Int = 256 << 20, maxAge: Duration? = nil,
        synchronous: SQLiteSynchronous = .full, busyTimeout: Duration = .seconds(2),
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.path = path
        self.maxBytes = maxBytes
        self.maxAge = maxAge
        self.synchronous = synchronous
        self.busyTimeout = busyTimeout
        self.clock = clock
    }

    /// True when nothing is written to disk.
    public var isInMemory: Bool { path == SQLiteDatabase.inMemory }
}

/// One encoded telemetry message, from sealing until the hub's PUBACK.
package struct TelemetryBatch: Sendable {
    package let seq: UInt64
    package let payload: [UInt8]
    package let readingCount: Int
    /// When it was sealed (wall clock): `max_age` counts from here.
    let created: Date
}

/// What the outbox holds and has done since it was opened.
struct OutboxCounters: Sendable, Hashable {
    /// The seq the next message gets.
    var next: UInt64 = 1
    /// The lowest seq neither acknowledged nor dropped (`next` when empty).
    var oldest: UInt64 = 1
    /// Messages held (in the file, or in memory after a failed write).
    var messages = 0
    /// Their payload bytes.
    var bytes = 0
    /// Messages the hub acknowledged.
    var acknowledged = 0
    /// Messages dropped by either bound, and their readings.
    var dropped = 0
    var droppedReadings = 0
    /// Of `dropped`, those dropped for `max_age`.
    var expired = 0
    /// Messages held in memory only, because the file refused them.
    var unsaved = 0
}

/// The durable outbox: sealed telemetry messages in an SQLite file (write-ahead log), from
/// the moment they are sealed until the hub acknowledges them.
///
/// - A message is committed, together with the next `seq`, before anything is sent: what
///   the outbox accepted survives `kill -9`, and with `synchronous: .full` a power loss.
/// - The sender reads messages one at a time in `seq` order, so a large backlog stays on
///   disk, not in memory. Acknowledged messages are deleted in batches (a crash in between
///   only causes duplicates, which the cloud drops by `seq`).
/// - Bounded by payload bytes and by age: the oldest messages beyond them are deleted,
///   counted and logged (once when dropping starts, then at most once a minute).
/// - A damaged file is moved aside at open and a fresh outbox started (`seq` continues from
///   what can be read of the old file). If the file refuses a write (a full disk), messages
///   are kept in memory, bounded the same way, and stored at the next successful write.
///
/// All methods block on file I/O; they are safe from any thread. The uplink calls them on a
/// serial queue of its own, off the cooperative thread pool.
public final class OutboxStore: Sendable {
    /// The settings it was opened with.
    public let configuration: OutboxConfiguration
    private let file: Mutex<OutboxFile>
    /// Apart from `file`, so that statistics never wait for an fsync. Lock order: `file`, then `counters`.
    private let counters: Mutex<OutboxCounters>
    private let logger: Logger
    /// `edgegate_telemetry_messages_acked_total`: messages the hub acknowledged.
    private let acknowledged: CoreMetrics.Counter
    /// `edgegate_outbox_dropped_readings_total{reason}`, per bound.
    private let droppedFull: CoreMetrics.Counter
    private let droppedExpired: CoreMetrics.Counter
    /// The oldest message held and when it was sealed, as last looked up (`oldestCreated`).
    private let oldestSeen = Mutex<(seq: UInt64, created: Date)?>(nil)

    /// Acknowledged rows are deleted once this many have gathered, or at the next write.
    static let deleteBatch: UInt64 = 64
    /// The age bound is checked at most this often.
    static let ageCheckInterval: TimeInterval = 1

    private init(
        configuration: OutboxConfiguration, file: consuming sending OutboxFile, counters: OutboxCounters, logger: Logger,
        metrics: any MetricsFactory
    ) {
        self.configuration = configuration
        self.file = Mutex(file)
        self.counters = Mutex(counters)
        self.logger = logger
        acknowledged = CoreMetrics.Counter(label: MetricNames.telemetryAcked, factory: metrics)
        let dropped = MetricNames.outboxDroppedReadings
        droppedFull = CoreMetrics.Counter(label: dropped, dimensions: [("reason", "max_bytes")], factory: metrics)
        droppedExpired = CoreMetrics.Counter(label: dropped, dimensions: [("reason", "max_age")], factory: metrics)
    }

    /// Opens (or creates) the outbox, checks the file and reads where `seq` stands. A
    /// `telemetry.seq` file beside it (from versions before the outbox) seeds `seq` once and
    /// is removed.
    /// - Throws: `StorageError` when the file cannot be opened at all (a folder that cannot
    ///   be written, a lock held by another process); a damaged file is not an error.
    /// - Parameter metrics: where the messages acknowledged and the readings dropped by the
    ///   bounds are counted.
    public static func open(
        _ configuration: OutboxConfiguration, logger: Logger, metrics: any MetricsFactory = MetricsSystem.factory
    ) throws(StorageError) -> OutboxStore {
        let path = configuration.path
        let (database, damage) = try SQLiteDatabase.openChecked(
            path,
            options: SQLiteOptions(
                synchronous: configuration.synchronous, busyTimeout: configuration.busyTimeout))
        var floor: UInt64 = 1
        if let damage {
            let salvaged = salvageNextSeq(from: damage.movedTo)
            // Unreadable: numbering resumes at the Unix time in ms, beyond any seq a gateway
            // can have used (it would have needed 1000 messages a second since 1970).
            floor = salvaged ?? UInt64(max(1, configuration.clock().timeIntervalSince1970 * 1000))
            logger.error(
                "outbox file was damaged: moved aside, starting a fresh outbox; the telemetry it held is lost",
                metadata: [
                    "file": "\(path)", "problem": "\(damage.problem)", "moved_to": "\(damage.movedTo)",
                    "next_seq": "\(floor)", "seq_from": "\(salvaged == nil ? "clock" : "damaged file")",
                ])
        }
        if !configuration.isInMemory && database.journalMode.lowercased() != "wal" {
            logger.warning(
                "outbox is not in write-ahead-log mode; writes are slower",
                metadata: [
                    "file": "\(path)", "journal_mode": "\(database.journalMode)",
                ])
        }
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS telemetry (
                seq INTEGER PRIMARY KEY,
                created_ms INTEGER NOT NULL,
                readings INTEGER NOT NULL,
                payload BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            PRAGMA journal_size_limit = 16777216;
            """)
        let file = try OutboxFile(database)
        var counters = OutboxCounters()
        let stored = try database.prepare("SELECT value FROM meta WHERE key = 'next_seq'")
        let storedNext: UInt64? = try stored.step() ? UInt64(max(1, stored.int64(0))) : nil
        var migrated: String?
        if storedNext == nil, !configuration.isInMemory {
            let legacy = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("telemetry.seq")
            if let text = try? String(contentsOfFile: legacy, encoding: .utf8),
                let value = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)), value > 0
            {
                floor = max(floor, value)
                migrated = legacy
            }
        }
        let summary = try file.summary(above: 0)
        counters.oldest = summary.oldest ?? 0
        counters.messages = summary.messages
        counters.bytes = summary.bytes
        counters.next = max(storedNext ?? 1, floor, (summary.newest ?? 0) + 1)
        if summary.oldest == nil { counters.oldest = counters.next }
        if storedNext != counters.next {
            try file.setNext.run([.integer(Int64(counters.next))])
        }
        if let migrated {
            // Committed above (autocommit) before the old file goes.
            try? FileManager.default.removeItem(atPath: migrated)
            logger.info("telemetry seq moved into the outbox", metadata: ["from": "\(migrated)", "next_seq": "\(counters.next)"])
        }
        if counters.messages > 0 {
            logger.info(
                "outbox holds telemetry from before the restart; it is sent first",
                metadata: [
                    "file": "\(path)", "messages": "\(counters.messages)", "bytes": "\(counters.bytes)",
                    "seq": "\(counters.oldest)…\(counters.next - 1)",
                ])
        }
        return OutboxStore(configuration: configuration, file: file, counters: counters, logger: logger, metrics: metrics)
    }

    /// The next `seq` from a damaged file, if its `meta` row or its newest message can still
    /// be read.
    private static func salvageNextSeq(from path: String) -> UInt64? {
        guard let database = try? SQLiteDatabase.open(path, options: SQLiteOptions(writeAheadLog: false, synchronous: .normal)) else {
            return nil
        }
        var best: UInt64?
        if let text = try? database.singleText("SELECT value FROM meta WHERE key = 'next_seq'"), let next = UInt64(text) {
            best = next
        }
        if let text = try? database.singleText("SELECT max(seq) FROM telemetry"), let newest = UInt64(text) {
            best = max(best ?? 0, newest + 1)
        }
        return best
    }

    // MARK: - Counters

    /// Where the outbox stands.
    var snapshot: OutboxCounters { counters.withLock { $0 } }

    /// The seq the next message gets.
    var nextSeq: UInt64 { counters.withLock { $0.next } }

    /// When the oldest message held was sealed; nil when none is held. Looked up in the
    /// file (one indexed row) only when the oldest message changed since the last call, so
    /// that asking once per metrics scrape costs next to nothing.
    var oldestCreated: Date? {
        let c = snapshot
        guard c.messages > 0 else { return nil }
        if let seen = oldestSeen.withLock({ $0 }), seen.seq == c.oldest { return seen.created }
        let found = file.withLock { f -> (seq: UInt64, created: Date)? in
            if let row = try? f.sealed(from: c.oldest) { return row }
            return f.unsaved.first { $0.seq >= c.oldest }.map { ($0.seq, $0.created) }
        }
        oldestSeen.withLock { $0 = found }
        return found?.created
    }

    // MARK: - Writing

    /// Stores freshly sealed messages, numbered from `nextSeq` on, in one transaction with the
    /// next seq, then applies the bounds. If the file refuses the write, they are kept in
    /// memory and stored with the next write that succeeds.
    /// - Parameter applyingBounds: false while a session with the hub is up: the bounds are
    ///   for when the hub is away; during a session the sender's hold limit bounds what
    ///   grows, and a message in flight must never be dropped and then acknowledged too.
    func append(_ batches: [TelemetryBatch], applyingBounds: Bool = true) {
        guard let first = batches.first else { return }
        let now = configuration.clock()
        file.withLock { f in
            var c = counters.withLock { $0 }
            precondition(first.seq == c.next, "outbox: message \(first.seq) sealed out of turn, expected \(c.next)")
            let newBytes = batches.reduce(0) { $0 + $1.payload.count }
            let pending = f.unsaved + batches
            var after = c
            after.next = first.seq + UInt64(batches.count)
            after.messages += batches.count
            after.bytes += newBytes
            after.unsaved = 0
            var drops = OutboxFile.Drops()
            do {
                drops = try f.transaction { f throws(StorageError) in
                    try f.deleteAcknowledged(before: c.oldest)
                    for b in pending { try f.store(b) }
                    try f.setNext.run([.integer(Int64(after.next))])
                    return applyingBounds ? try f.applyBounds(&after, configuration: configuration, now: now) : OutboxFile.Drops()
                }
            } catch {
                f.unsaved += batches
                c.next = after.next
                c.messages += batches.count
                c.bytes += newBytes
                let memoryDrops = f.boundUnsaved(&c, maxBytes: configuration.maxBytes)
                c.unsaved = f.unsaved.count
                counters.withLock { $0 = c }
                let tally = Tally(messages: batches.count, readings: batches.reduce(0) { $0 + $1.readingCount })
                switch f.writeFailures.record(tally, at: now) {
                case .start:
                    logger.error(
                        "outbox cannot store telemetry; keeping it in memory until it can",
                        metadata: [
                            "file": "\(configuration.path)", "error": "\(error)", "in_memory": "\(c.unsaved)",
                        ])
                case .again(let since):
                    logger.error(
                        "outbox still cannot store telemetry",
                        metadata: [
                            "file": "\(configuration.path)", "error": "\(error)", "messages_last_minute": "\(since.messages)",
                            "in_memory": "\(c.unsaved)",
                        ])
                case .none:
                    break
                }
                report(memoryDrops, in: &f, totals: c, now: now)
                return
            }
            if let episode = f.writeFailures.end() {
                logger.notice(
                    "outbox stores telemetry again; what was kept in memory is now in the file",
                    metadata: [
                        "file": "\(configuration.path)", "messages_moved": "\(pending.count - batches.count)",
                        "messages_during_failure": "\(episode.messages)",
                    ])
            }
            f.unsaved = []
            counters.withLock { $0 = after }
            report(drops, in: &f, totals: after, now: now)
        }
    }

    /// Logs dropped telemetry: when an episode starts, then at most once a minute.
    private func report(_ drops: OutboxFile.Drops, in f: inout OutboxFile, totals: OutboxCounters, now: Date) {
        if drops.expired.readings > 0 { droppedExpired.increment(by: drops.expired.readings) }
        if drops.full.readings > 0 { droppedFull.increment(by: drops.full.readings) }
        if drops.expired.messages > 0 {
            let decision = f.expiredLog.record(drops.expired, at: now)
            log(
                decision, "outbox dropped telemetry older than max_age", tally: drops.expired, totals: totals,
                bound: configuration.maxAge.map { "\($0)" } ?? "")
        }
        if drops.full.messages > 0 {
            let decision = f.fullLog.record(drops.full, at: now)
            log(
                decision, "outbox full: oldest telemetry dropped beyond max_bytes", tally: drops.full, totals: totals,
                bound: "\(configuration.maxBytes)")
        }
    }

    private func log(_ decision: EpisodeLog.Report, _ message: Logger.Message, tally: Tally, totals: OutboxCounters, bound: String) {
        let common: Logger.Metadata = [
            "file": "\(configuration.path)", "bound": "\(bound)", "queued_messages": "\(totals.messages)",
            "dropped_messages_total": "\(totals.dropped)", "dropped_readings_total": "\(totals.droppedReadings)",
        ]
        switch decision {
        case .none:
            return
        case .start:
            logger.warning(
                message,
                metadata: common.merging([
                    "messages": "\(tally.messages)", "readings": "\(tally.readings)",
                    "note": "logged again at most once a minute while dropping lasts",
                ]) { $1 })
        case .again(let since):
            logger.warning(
                message,
                metadata: common.merging([
                    "messages_last_minute": "\(since.messages)", "readings_last_minute": "\(since.readings)",
                ]) { $1 })
        }
    }

    // MARK: - Reading and acknowledging

    /// The oldest message held whose seq is above `seq` (nil: the oldest of all). Expired
    /// messages are dropped first, so a backlog older than `max_age` is never sent; but only
    /// while nothing is in flight (`seq` below the oldest held), so that a message is never
    /// both dropped and acknowledged.
    package func batch(after seq: UInt64?) -> TelemetryBatch? {
        let now = configuration.clock()
        return file.withLock { f in
            var c = counters.withLock { $0 }
            let inFlight = seq.map { $0 >= c.oldest } ?? false
            if !inFlight, f.ageCheckDue(configuration: configuration, now: now), c.messages > 0 {
                var after = c
                do {
                    let drops = try f.transaction { f throws(StorageError) in
                        try f.applyAge(&after, configuration: configuration, now: now)
                    }
                    counters.withLock { $0 = after }
                    c = after
                    report(drops, in: &f, totals: after, now: now)
                } catch {
                    logger.error("outbox cannot drop expired telemetry", metadata: ["file": "\(configuration.path)", "error": "\(error)"])
                }
            }
            let floor = max(seq ?? 0, c.oldest > 0 ? c.oldest - 1 : 0)
            do {
                if let found = try f.first(after: floor) {
                    _ = f.readFailures.end()
                    return found
                }
            } catch {
                // Nothing from memory either: it is newer, and telemetry goes out in order.
                if case .start = f.readFailures.record(Tally(messages: 1), at: now) {
                    logger.error("outbox cannot read telemetry; retrying", metadata: ["file": "\(configuration.path)", "error": "\(error)"])
                }
                // The sender asks again at once (telemetry is waiting): do not spin.
                Thread.sleep(forTimeInterval: 0.1)
                return nil
            }
            return f.unsaved.first { $0.seq > floor }
        }
    }

    /// Records the hub's PUBACK for `seq` (acknowledgements come in seq order). The row is
    /// deleted with the next write, or once `deleteBatch` acknowledgements have gathered.
    /// - Parameter bytes: the message's payload size (for the counters without a read).
    package func acknowledge(_ seq: UInt64, bytes: Int) {
        file.withLock { f in
            let gaps = f.gaps
            let c = counters.withLock { c -> OutboxCounters in
                guard seq >= c.oldest else { return c }  // dropped by a bound meanwhile
                if seq == c.oldest {
                    c.oldest += 1
                    c.messages -= 1
                    c.bytes -= bytes
                    c.acknowledged += 1
                    // Under the counters' lock: a scrape never sees the statistics ahead of the metric.
                    acknowledged.increment()
                    OutboxFile.skip(gaps, &c)
                }
                return c
            }
            f.forgetGaps(below: c.oldest)
            if seq > c.oldest - 1 {
                // Older messages were never acknowledged: not the order the sender keeps. Treat
                // it as cumulative (MQTT acknowledges in order) and count again from the file.
                logger.warning("outbox: acknowledgement out of order; recounting", metadata: ["seq": "\(seq)", "oldest": "\(c.oldest)"])
                recount(&f, acknowledgedThrough: seq)
                return
            }
            if !f.unsaved.isEmpty {
                f.unsaved.removeAll { $0.seq <= seq }
                counters.withLock { $0.unsaved = f.unsaved.count }
            }
            if c.oldest - 1 >= f.deletedThrough + Self.deleteBatch {
                do {
                    try f.transaction { f throws(StorageError) in try f.deleteAcknowledged(before: c.oldest) }
                } catch {
                    // Harmless: the rows stay below `oldest` and go with a later write.
                    logger.warning("outbox cannot delete acknowledged telemetry yet", metadata: ["file": "\(configuration.path)", "error": "\(error)"])
                }
            }
        }
    }

    private func recount(_ f: inout OutboxFile, acknowledgedThrough seq: UInt64) {
        f.unsaved.removeAll { $0.seq <= seq }
        f.forgetGaps(below: seq + 1)
        do {
            try f.transaction { f throws(StorageError) in try f.deleteAcknowledged(before: seq + 1) }
            let summary = try f.summary(above: seq)
            let memory = f.unsaved
            counters.withLock { c in
                c.acknowledged += 1
                c.oldest = summary.oldest ?? memory.first?.seq ?? c.next
                c.messages = summary.messages + memory.count
                c.bytes = summary.bytes + memory.reduce(0) { $0 + $1.payload.count }
                c.unsaved = memory.count
            }
        } catch {
            logger.error("outbox cannot recount", metadata: ["file": "\(configuration.path)", "error": "\(error)"])
        }
    }

    /// Deletes what was acknowledged, tries once more to store what is in memory, and folds
    /// the write-ahead log into the file: a clean stop leaves one tidy file.
    func close() {
        file.withLock { f in
            let c = counters.withLock { $0 }
            do {
                try f.transaction { f throws(StorageError) in
                    try f.deleteAcknowledged(before: c.oldest)
                    for b in f.unsaved { try f.store(b) }
                    try f.setNext.run([.integer(Int64(c.next))])
                }
                f.unsaved = []
                counters.withLock { $0.unsaved = 0 }
                if !configuration.isInMemory { try f.database.execute("PRAGMA wal_checkpoint(TRUNCATE)") }
            } catch {
                logger.error(
                    "outbox not closed cleanly; it is checked at the next start",
                    metadata: [
                        "file": "\(configuration.path)", "error": "\(error)", "in_memory_lost": "\(f.unsaved.count)",
                    ])
            }
        }
    }
}

/// A count of messages and the readings in them.
struct Tally: Sendable, Hashable {
    var messages = 0
    var readings = 0

    static func += (a: inout Tally, b: Tally) {
        a.messages += b.messages
        a.readings += b.readings
    }
}

/// Decides when a recurring condition (dropping telemetry, failing writes) is logged: once
/// when it starts, then at most once per `interval` while it lasts, with what happened
/// since the last line. It is over after `interval` without an event, or when `end()` says so.
struct EpisodeLog {
    enum Report: Equatable {
        /// Nothing to log.
        case none
        /// The condition starts: log it.
        case start
        /// It continues: log what happened since the last line.
        case again(since: Tally)
    }

    var interval: TimeInterval = 60
    private var lastEvent: Date?
    private var lastLine: Date?
    private var sinceLine = Tally()
    private var episode = Tally()
    /// The decision of the last `record`.
    private(set) var lastReport = Report.none

    /// Records an event at `now` and says whether to log.
    mutating func record(_ tally: Tally, at now: Date) -> Report {
        defer { lastEvent = now }
        if let lastEvent, now.timeIntervalSince(lastEvent) < interval, let line = lastLine {
            sinceLine += tally
            episode += tally
            if now.timeIntervalSince(line) >= interval {
                lastLine = now
                lastReport = .again(since: sinceLine)
                sinceLine = Tally()
            } else {
                lastReport = .none
            }
            return lastReport
        }
        lastLine = now
        sinceLine = Tally()
        episode = tally
        lastReport = .start
        return .start
    }

    /// Ends the episode; returns its totals if one was going on.
    mutating func end() -> Tally? {
        guard lastEvent != nil else { return nil }
        lastEvent = nil
        lastLine = nil
        return episode
    }
}

/// The outbox's SQLite connection and prepared statements, and what lives beside them.
/// Used only under the store's lock.
private struct OutboxFile {
    let database: SQLiteDatabase
    let insert: SQLiteStatement
    let setNext: SQLiteStatement
    let selectAfter: SQLiteStatement
    let oldestRows: SQLiteStatement
    let delete: SQLiteStatement
    /// Messages the file refused (a full disk), oldest first; all newer than the file's.
    var unsaved: [TelemetryBatch] = []
    /// Every row with a seq up to this one has been deleted.
    var deletedThrough: UInt64 = 0
    /// Seqs dropped from memory while the file still held older messages (only while the
    /// file refuses writes): `oldest` jumps over them, as no acknowledgement will come.
    var gaps: [ClosedRange<UInt64>] = []
    var ageCheckedAt: Date?
    var fullLog = EpisodeLog()
    var expiredLog = EpisodeLog()
    var writeFailures = EpisodeLog()
    var readFailures = EpisodeLog()

    init(_ database: SQLiteDatabase) throws(StorageError) {
        self.database = database
        insert = try database.prepare("INSERT INTO telemetry (seq, created_ms, readings, payload) VALUES (?1, ?2, ?3, ?4)")
        setNext = try database.prepare("INSERT INTO meta (key, value) VALUES ('next_seq', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        selectAfter = try database.prepare("SELECT seq, created_ms, readings, payload FROM telemetry WHERE seq > ?1 ORDER BY seq LIMIT 1")
        oldestRows = try database.prepare("SELECT seq, created_ms, readings, length(payload) FROM telemetry WHERE seq >= ?1 ORDER BY seq LIMIT 256")
        delete = try database.prepare("DELETE FROM telemetry WHERE seq <= ?1")
    }

    /// Runs `body` in one transaction; if it fails, the bookkeeping beside the database is
    /// put back as it was, like the database itself.
    mutating func transaction<T>(_ body: (inout OutboxFile) throws(StorageError) -> T) throws(StorageError) -> T {
        let saved = (deletedThrough, ageCheckedAt, unsaved, gaps)
        let database = self.database
        do {
            return try database.transaction { () throws(StorageError) -> T in try body(&self) }
        } catch {
            (deletedThrough, ageCheckedAt, unsaved, gaps) = saved
            throw error
        }
    }

    /// Inserts one message.
    func store(_ b: TelemetryBatch) throws(StorageError) {
        try insert.run([
            .integer(Int64(b.seq)), .integer(Int64((b.created.timeIntervalSince1970 * 1000).rounded())),
            .integer(Int64(b.readingCount)), .blob(b.payload),
        ])
    }

    /// Moves `c.oldest` past the gaps it has reached.
    static func skip(_ gaps: [ClosedRange<UInt64>], _ c: inout OutboxCounters) {
        for gap in gaps where gap.lowerBound <= c.oldest && gap.upperBound >= c.oldest {
            c.oldest = gap.upperBound + 1
        }
    }

    mutating func forgetGaps(below oldest: UInt64) {
        gaps.removeAll { $0.upperBound < oldest }
    }

    /// Messages dropped by one call, per bound.
    struct Drops {
        var full = Tally()
        var expired = Tally()
    }

    /// What the file holds above `seq`.
    func summary(above seq: UInt64) throws(StorageError) -> (oldest: UInt64?, newest: UInt64?, messages: Int, bytes: Int) {
        let statement = try database.prepare("SELECT min(seq), max(seq), count(*), total(length(payload)) FROM telemetry WHERE seq > ?1")
        var result: (UInt64?, UInt64?, Int, Int) = (nil, nil, 0, 0)
        try statement.forEachRow([.integer(Int64(seq))]) { row in
            let count = Int(row.int64(2))
            if count > 0 { result = (UInt64(row.int64(0)), UInt64(row.int64(1)), count, Int(row.double(3))) }
            return false
        }
        return result
    }

    /// The first message from `seq` on in the file, and when it was sealed (no payload read).
    func sealed(from seq: UInt64) throws(StorageError) -> (seq: UInt64, created: Date)? {
        var found: (UInt64, Date)?
        try oldestRows.forEachRow([.integer(Int64(seq))]) { row in
            found = (UInt64(row.int64(0)), Date(timeIntervalSince1970: Double(row.int64(1)) / 1000))
            return false
        }
        return found
    }

    /// The first message above `seq` in the file.
    func first(after seq: UInt64) throws(StorageError) -> TelemetryBatch? {
        var found: TelemetryBatch?
        try selectAfter.forEachRow([.integer(Int64(seq))]) { row in
            found = TelemetryBatch(
                seq: UInt64(row.int64(0)), payload: row.bytes(3), readingCount: Int(row.int64(2)),
                created: Date(timeIntervalSince1970: Double(row.int64(1)) / 1000))
            return false
        }
        return found
    }

    /// Deletes the rows below `oldest` (acknowledged, or dropped) not deleted yet.
    mutating func deleteAcknowledged(before oldest: UInt64) throws(StorageError) {
        guard oldest > 0, oldest - 1 > deletedThrough else { return }
        try delete.run([.integer(Int64(oldest - 1))])
        deletedThrough = oldest - 1
    }

    func ageCheckDue(configuration: OutboxConfiguration, now: Date) -> Bool {
        guard configuration.maxAge != nil else { return false }
        guard let last = ageCheckedAt else { return true }
        return now.timeIntervalSince(last) >= OutboxStore.ageCheckInterval || now < last
    }

    /// Drops (inside the caller's transaction) what is beyond `max_age`, then what is beyond
    /// `max_bytes`, oldest first, and updates `c` to match.
    mutating func applyBounds(_ c: inout OutboxCounters, configuration: OutboxConfiguration, now: Date) throws(StorageError) -> Drops {
        var drops = Drops()
        if ageCheckDue(configuration: configuration, now: now) {
            drops = try applyAge(&c, configuration: configuration, now: now)
        }
        guard c.bytes > configuration.maxBytes, c.messages > 1 else { return drops }
        // The newest message always stays, even alone beyond the bound.
        var through: UInt64?
        var tally = Tally()
        var bytes = 0
        var from = c.oldest
        scan: while true {
            var rows = 0
            try oldestRows.forEachRow([.integer(Int64(from))]) { row in
                rows += 1
                guard c.bytes - bytes > configuration.maxBytes, c.messages - tally.messages > 1 else { return false }
                through = UInt64(row.int64(0))
                tally.messages += 1
                tally.readings += Int(row.int64(2))
                bytes += Int(row.int64(3))
                return true
            }
            guard rows == 256, c.bytes - bytes > configuration.maxBytes, c.messages - tally.messages > 1, let last = through else { break scan }
            from = last + 1
        }
        if let through {
            try delete.run([.integer(Int64(through))])
            deletedThrough = max(deletedThrough, through)
            c.oldest = through + 1
            c.messages -= tally.messages
            c.bytes -= bytes
            c.dropped += tally.messages
            c.droppedReadings += tally.readings
            Self.skip(gaps, &c)
            forgetGaps(below: c.oldest)
            drops.full = tally
        }
        return drops
    }

    /// Drops the messages sealed more than `max_age` ago, oldest first, stopping at the first
    /// younger one (seq order is sealing order, so only a clock step can leave an expired
    /// message behind a younger one, until it becomes the oldest).
    mutating func applyAge(_ c: inout OutboxCounters, configuration: OutboxConfiguration, now: Date) throws(StorageError) -> Drops {
        ageCheckedAt = now
        guard let maxAge = configuration.maxAge else { return Drops() }
        let cutoff = Int64(((now.timeIntervalSince1970 - maxAge / .seconds(1)) * 1000).rounded())
        var through: UInt64?
        var tally = Tally()
        var bytes = 0
        var from = c.oldest
        while true {
            var rows = 0
            var young = false
            try oldestRows.forEachRow([.integer(Int64(from))]) { row in
                rows += 1
                guard row.int64(1) < cutoff else { young = true; return false }
                through = UInt64(row.int64(0))
                tally.messages += 1
                tally.readings += Int(row.int64(2))
                bytes += Int(row.int64(3))
                return true
            }
            guard !young, rows == 256, let last = through else { break }
            from = last + 1
        }
        var drops = Drops()
        if let through {
            try delete.run([.integer(Int64(through))])
            deletedThrough = max(deletedThrough, through)
            c.oldest = through + 1
        }
        // Messages held in memory (newer than the file's) expire the same way.
        let cutoffDate = Date(timeIntervalSince1970: Double(cutoff) / 1000)
        Self.skip(gaps, &c)
        while let first = unsaved.first, first.created < cutoffDate, first.seq == c.oldest {
            unsaved.removeFirst()
            tally.messages += 1
            tally.readings += first.readingCount
            bytes += first.payload.count
            c.oldest = first.seq + 1
            Self.skip(gaps, &c)
        }
        forgetGaps(below: c.oldest)
        if tally.messages > 0 {
            c.messages -= tally.messages
            c.bytes -= bytes
            c.dropped += tally.messages
            c.droppedReadings += tally.readings
            c.expired += tally.messages
            c.unsaved = unsaved.count
            drops.expired = tally
        }
        return drops
    }

    /// While the file refuses writes, bounds what is held in memory by `maxBytes`, oldest
    /// first (the newest stays).
    mutating func boundUnsaved(_ c: inout OutboxCounters, maxBytes: Int) -> Drops {
        var memory = unsaved.reduce(0) { $0 + $1.payload.count }
        var tally = Tally()
        while memory > maxBytes, unsaved.count > 1 {
            let oldest = unsaved.removeFirst()
            memory -= oldest.payload.count
            tally.messages += 1
            tally.readings += oldest.readingCount
            c.messages -= 1
            c.bytes -= oldest.payload.count
            c.dropped += 1
            c.droppedReadings += oldest.readingCount
            if oldest.seq == c.oldest {
                c.oldest += 1
            } else if let last = gaps.last, last.upperBound + 1 == oldest.seq {
                gaps[gaps.count - 1] = last.lowerBound...oldest.seq
            } else {
                gaps.append(oldest.seq...oldest.seq)
            }
            Self.skip(gaps, &c)
        }
        forgetGaps(below: c.oldest)
        return Drops(full: tally)
    }
}
