import Foundation
import GatewayCore
import Logging
import Storage
import Synchronization
import TestSupport
import Testing

@testable import Uplink

/// A wall clock that moves only when told.
final class ManualWallClock: Sendable {
    private let now = Mutex(Date(timeIntervalSince1970: 1_800_000_000))

    var date: Date { now.withLock { $0 } }

    func advance(_ seconds: TimeInterval) {
        now.withLock { $0 += seconds }
    }
}

@Suite("Outbox store", .timeLimit(.minutes(1)))
struct OutboxTests {
    let dir: TemporaryDirectory
    let clock = ManualWallClock()

    init() throws {
        dir = try TemporaryDirectory(prefix: "edgegate-outbox")
    }

    var path: String { dir.file("var/outbox.sqlite") }

    func configuration(maxBytes: Int = 1 << 20, maxAge: Duration? = nil, busyTimeout: Duration = .seconds(2)) -> OutboxConfiguration {
        let clock = self.clock
        // `normal`: durability across power loss cannot be tested here, and an fsync per seal
        // would only load the disk other tests share.
        return OutboxConfiguration(
            path: path, maxBytes: maxBytes, maxAge: maxAge, synchronous: .normal,
            busyTimeout: busyTimeout, clock: { clock.date })
    }

    func open(_ configuration: OutboxConfiguration? = nil, log: LogCapture? = nil) throws -> TelemetryQueue {
        let store = try OutboxStore.open(configuration ?? self.configuration(), logger: log?.logger ?? Logger(label: "t"))
        return TelemetryQueue(gateway: "gw", maxMessageBytes: 256 * 1024, store: store)
    }

    /// Seals one message of `count` readings, on the queue's I/O thread as the uplink does (file
    /// work never blocks the cooperative pool that every other test shares).
    func seal(_ queue: TelemetryQueue, readings count: Int = 2) async {
        queue.append(
            (0..<count).map {
                Reading(device: "d", point: "p\($0)", value: .int(Int64($0)), unit: nil, quality: .good, timestamp: clock.date)
            })
        #expect(await queue.seal() == 1)
    }

    /// The payload size of message `seq` of `readings` readings, sealed at the clock's time
    /// (in an outbox of its own, in memory).
    func messageSize(seq: UInt64, readings: Int) async throws -> Int {
        let clock = self.clock
        let store = try OutboxStore.open(OutboxConfiguration(path: SQLiteDatabase.inMemory, clock: { clock.date }), logger: Logger(label: "t"))
        let probe = TelemetryQueue(gateway: "gw", maxMessageBytes: 256 * 1024, store: store)
        for _ in 1...seq { await seal(probe, readings: readings) }
        return try #require(await probe.batch(after: seq - 1)).payload.count
    }

    /// The seqs held, in the order the sender gets them.
    func seqs(_ queue: TelemetryQueue) async -> [UInt64] {
        var all: [UInt64] = []
        var last: UInt64?
        while let b = await queue.batch(after: last) {
            all.append(b.seq)
            last = b.seq
        }
        return all
    }

    /// Acknowledges every message held, in order, as the sender does.
    func acknowledgeAll(_ queue: TelemetryQueue) async {
        var last: UInt64?
        while let b = await queue.batch(after: last) {
            await queue.acknowledge(b.seq, bytes: b.payload.count)
            last = b.seq
        }
    }

    @Test("messages come back in seq order, from the file, and leave only when acknowledged; a reopened outbox holds the rest")
    func orderAndReopen() async throws {
        defer { dir.remove() }
        var queue: TelemetryQueue? = try open()
        for _ in 0..<5 { await seal(queue!) }
        #expect(await seqs(queue!) == [1, 2, 3, 4, 5])
        let first = try #require(await queue!.batch(after: nil))
        await queue!.acknowledge(first.seq, bytes: first.payload.count)
        let second = try #require(await queue!.batch(after: first.seq))
        await queue!.acknowledge(second.seq, bytes: second.payload.count)
        #expect(await seqs(queue!) == [3, 4, 5])
        #expect(queue!.statistics.queuedMessages == 3)
        #expect(queue!.statistics.acknowledgedMessages == 2)
        // A clean stop deletes the acknowledged rows; the others are there after a reopen.
        await queue!.close()
        queue = nil
        let reopened = try open()
        #expect(await seqs(reopened) == [3, 4, 5])
        #expect(reopened.statistics.queuedMessages == 3)
        #expect(reopened.statistics.queuedBytes == first.payload.count * 3)
        await seal(reopened)
        #expect(await seqs(reopened) == [3, 4, 5, 6])
    }

    @Test("seq continues exactly across a reopen, also when the outbox is empty and without a clean stop")
    func seqContinuity() async throws {
        defer { dir.remove() }
        var queue: TelemetryQueue? = try open()
        for _ in 0..<3 { await seal(queue!) }
        await acknowledgeAll(queue!)
        #expect(queue!.statistics.queuedMessages == 0)
        // No close(): the next seq was committed with the messages.
        queue = nil
        queue = try open()
        #expect(queue!.statistics.nextSeq == 4)
        await seal(queue!)
        await acknowledgeAll(queue!)
        await queue!.close()
        queue = nil
        let again = try open()
        #expect(again.statistics.queuedMessages == 0)
        #expect(again.statistics.nextSeq == 5)
    }

    @Test("acknowledged messages are deleted in batches: without a clean stop at most a batch comes back (as duplicates)")
    func batchedDeletes() async throws {
        defer { dir.remove() }
        var queue: TelemetryQueue? = try open()
        for _ in 0..<100 { await seal(queue!) }
        await acknowledgeAll(queue!)
        queue = nil
        let reopened = try open()
        let back = await seqs(reopened)
        #expect(back.count < Int(OutboxStore.deleteBatch))
        #expect(back == Array((101 - UInt64(back.count))...100))
        #expect(reopened.statistics.nextSeq == 101)
    }

    @Test("a telemetry.seq file from before the outbox seeds seq once and is removed")
    func migrateSequenceFile() async throws {
        defer { dir.remove() }
        let legacy = dir.file("var/telemetry.seq")
        try FileManager.default.createDirectory(atPath: dir.file("var"), withIntermediateDirectories: true)
        try "4711\n".write(toFile: legacy, atomically: true, encoding: .utf8)
        let log = LogCapture()
        var queue: TelemetryQueue? = try open(log: log)
        #expect(queue!.statistics.nextSeq == 4711)
        #expect(!FileManager.default.fileExists(atPath: legacy))
        #expect(log.contains("telemetry seq moved into the outbox"))
        await seal(queue!)
        #expect(await seqs(queue!) == [4711])
        queue = nil
        #expect(try open().statistics.nextSeq == 4712)
    }

    @Test("beyond max_bytes the oldest messages are dropped and counted, the newest stay, and it is logged once per episode")
    func byteBound() async throws {
        defer { dir.remove() }
        let log = LogCapture()
        // Allow five messages of a two-digit seq (the ones that stay).
        let size = try await messageSize(seq: 10, readings: 3)
        let queue = try open(configuration(maxBytes: size * 5), log: log)
        for _ in 0..<40 {
            await seal(queue, readings: 3)
            clock.advance(0.05)
        }
        var stats = queue.statistics
        #expect(stats.queuedMessages == 5)
        #expect(stats.queuedBytes == size * 5)
        #expect(stats.droppedMessages == 35)
        #expect(stats.droppedReadings == 35 * 3)
        #expect(stats.expiredMessages == 0)
        #expect(await seqs(queue) == [36, 37, 38, 39, 40])
        // One warning for the whole burst, not one per message.
        #expect(log.messages(at: .warning) == ["outbox full: oldest telemetry dropped beyond max_bytes"])
        // Dropping goes on: one more line a minute after the first, with what happened since
        // (the first line came with the first drop, at the 6th message).
        clock.advance(59)
        await seal(queue, readings: 3)
        #expect(log.messages(at: .warning).count == 2)
        #expect(log.contains("messages_last_minute=35"))
        stats = queue.statistics
        #expect(stats.droppedMessages == 36)
        // The bound holds in the file too: a reopened outbox holds the same five.
        let reopened = try open(configuration(maxBytes: size * 5))
        #expect(await seqs(reopened) == [37, 38, 39, 40, 41])
    }

    @Test("messages sealed more than max_age ago are dropped and counted before they are sent; younger ones stay")
    func ageBound() async throws {
        defer { dir.remove() }
        let log = LogCapture()
        let queue = try open(configuration(maxAge: .seconds(60)), log: log)
        for _ in 0..<3 { await seal(queue, readings: 4) }
        clock.advance(30)
        for _ in 0..<2 { await seal(queue, readings: 4) }
        clock.advance(35)
        // The hub is back after 65 s: the first three are too old to send.
        let first = try #require(await queue.batch(after: nil))
        #expect(first.seq == 4)
        let stats = queue.statistics
        #expect(stats.droppedMessages == 3)
        #expect(stats.expiredMessages == 3)
        #expect(stats.droppedReadings == 12)
        #expect(stats.queuedMessages == 2)
        #expect(log.messages(at: .warning) == ["outbox dropped telemetry older than max_age"])
        // Sealing checks the age too (at most once a second).
        clock.advance(30)
        await seal(queue, readings: 4)
        #expect(await seqs(queue) == [6])
        #expect(queue.statistics.expiredMessages == 5)
    }

    @Test("a damaged outbox file is moved aside and logged; a fresh outbox starts and seq continues")
    func damagedFile() async throws {
        defer { dir.remove() }
        var queue: TelemetryQueue? = try open()
        // Enough messages for the table to span many pages.
        for _ in 0..<60 { await seal(queue!, readings: 40) }
        await queue!.close()
        queue = nil
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size - 4096)
        handle.write(Data(repeating: 0x5A, count: 4096))
        try handle.close()

        let log = LogCapture()
        let fresh = try open(log: log)
        #expect(fresh.statistics.queuedMessages == 0)
        // The next seq was still readable in the damaged file.
        #expect(fresh.statistics.nextSeq == 61)
        #expect(log.messages(at: .error) == ["outbox file was damaged: moved aside, starting a fresh outbox; the telemetry it held is lost"])
        #expect(log.contains("problem=PRAGMA quick_check"))
        #expect(log.contains("seq_from=damaged file"))
        let moved = try FileManager.default.contentsOfDirectory(atPath: dir.file("var")).filter { $0.hasPrefix("outbox.sqlite.damaged-") }
        #expect(!moved.isEmpty)
        await seal(fresh)
        #expect(await seqs(fresh) == [61])
    }

    @Test("a file that is not a database is moved aside; seq resumes beyond any number used, from the clock")
    func notADatabase() async throws {
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("var"), withIntermediateDirectories: true)
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: path))
        let log = LogCapture()
        let queue = try open(log: log)
        #expect(log.contains("file is not a database"))
        #expect(log.contains("seq_from=clock"))
        #expect(queue.statistics.nextSeq == UInt64(clock.date.timeIntervalSince1970 * 1000))
        await seal(queue)
        #expect(await seqs(queue).count == 1)
    }

    @Test("while the file refuses writes (locked by another process) messages wait in memory, in order, and are stored once it accepts")
    func refusedWrites() async throws {
        defer { dir.remove() }
        let log = LogCapture()
        let queue = try open(configuration(busyTimeout: .milliseconds(50)), log: log)
        await seal(queue)
        await seal(queue)
        // Someone opens the file with sqlite3 and leaves a write transaction open.
        let other = try SQLiteDatabase.open(path)
        try other.execute("BEGIN IMMEDIATE")
        for _ in 0..<3 { await seal(queue) }
        #expect(queue.statistics.unsavedMessages == 3)
        #expect(queue.statistics.queuedMessages == 5)
        #expect(log.messages(at: .error) == ["outbox cannot store telemetry; keeping it in memory until it can"])
        // The sender sees all of them, in order: the file's first, then memory's.
        #expect(await seqs(queue) == [1, 2, 3, 4, 5])
        let head = try #require(await queue.batch(after: nil))
        await queue.acknowledge(head.seq, bytes: head.payload.count)
        try other.execute("COMMIT")
        await seal(queue)
        #expect(queue.statistics.unsavedMessages == 0)
        #expect(log.contains("outbox stores telemetry again"))
        #expect(await seqs(queue) == [2, 3, 4, 5, 6])
        // In the file: a fresh outbox on the same file has them all.
        await queue.close()
        #expect(await seqs(try open()) == [2, 3, 4, 5, 6])
    }

    @Test("while the file refuses writes, memory is bounded by max_bytes too, and acknowledgements skip what was dropped")
    func refusedWritesBounded() async throws {
        defer { dir.remove() }
        let size = try await messageSize(seq: 1, readings: 2)
        let log = LogCapture()
        let queue = try open(configuration(maxBytes: size * 2, busyTimeout: .milliseconds(20)), log: log)
        await seal(queue)  // 1, in the file
        let other = try SQLiteDatabase.open(path)
        try other.execute("BEGIN IMMEDIATE")
        for _ in 0..<4 { await seal(queue) }  // 2...5 in memory; beyond two messages the oldest go
        #expect(queue.statistics.unsavedMessages == 2)
        #expect(queue.statistics.droppedMessages == 2)
        #expect(await seqs(queue) == [1, 4, 5])
        await acknowledgeAll(queue)
        #expect(queue.statistics.queuedMessages == 0)
        #expect(queue.statistics.acknowledgedMessages == 3)
        #expect(!log.contains("out of order"))
        try other.execute("COMMIT")
        await seal(queue)
        #expect(await seqs(queue) == [6])
    }

    @Test("episodes: logged when dropping starts, then at most once per interval with what happened since; a quiet interval ends it")
    func episodeLog() {
        var log = EpisodeLog()
        let t0 = Date(timeIntervalSince1970: 0)
        let one = Tally(messages: 1, readings: 10)
        #expect(log.record(one, at: t0) == .start)
        #expect(log.record(one, at: t0 + 1) == .none)
        #expect(log.record(one, at: t0 + 59) == .none)
        #expect(log.record(one, at: t0 + 61) == .again(since: Tally(messages: 3, readings: 30)))
        #expect(log.record(one, at: t0 + 62) == .none)
        // Quiet for more than the interval: the next drop is a new episode.
        #expect(log.record(one, at: t0 + 200) == .start)
        #expect(log.end() == one)
        #expect(log.end() == nil)
    }
}
