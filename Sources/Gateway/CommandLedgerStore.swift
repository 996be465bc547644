import ConfigSyntax
import Foundation
public import GatewayCore
public import Logging
public import Storage
import Synchronization

/// The command ledger in SQLite (`commands.sqlite` next to the outbox): every command that ran
/// is recorded with its result before it is answered, and a repeated id is answered from
/// here — also after a restart. Bounded by age (`window`) and by count (`capacity`): the
/// oldest records go first. A failure to read or write the file is logged, never turned into
/// a failed command; the router's in-memory window still catches quick repeats then.
public final class SQLiteCommandLedger: CommandLedger {
    private let database: Mutex<SQLiteDatabase>
    private let window: Duration
    private let capacity: Int
    private let logger: Logger
    private let recorded = Atomic<Int>(0)

    /// Opens (creating if needed) the ledger at `path`.
    /// - Parameters:
    ///   - window: how long a command id is remembered.
    ///   - capacity: how many ids are remembered at most.
    /// - Throws: `StorageError` naming the file when it cannot be opened.
    public init(
        path: String, window: Duration = .seconds(86_400), capacity: Int = 100_000,
        logger: Logger
    ) throws(StorageError) {
        let database = try SQLiteDatabase.open(path, options: SQLiteOptions(synchronous: .full))
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS commands (
                id TEXT PRIMARY KEY, status TEXT NOT NULL, message TEXT NOT NULL,
                result_values TEXT NOT NULL, ts REAL NOT NULL, recorded REAL NOT NULL);
            CREATE INDEX IF NOT EXISTS commands_recorded ON commands(recorded);
            """)
        self.database = Mutex(database)
        self.window = window
        self.capacity = max(1, capacity)
        self.logger = logger
        prune()
    }

    /// The first result recorded for `id` within the window.
    public func result(for id: String) -> CommandResult? {
        let oldest = Date().timeIntervalSince1970 - window / .seconds(1)
        do throws(StorageError) {
            return try database.withLock { db throws(StorageError) -> CommandResult? in
                let statement = try db.prepare("SELECT status, message, result_values, ts FROM commands WHERE id = ? AND recorded >= ?")
                var found: CommandResult?
                try statement.forEachRow([.text(id), .real(oldest)]) { row in
                    let values = (try? JSONDecoder().decode([String: Value].self, from: Data((row.text(2) ?? "{}").utf8))) ?? [:]
                    found = CommandResult(
                        id: id, status: CommandStatus(rawValue: row.text(0) ?? "") ?? .failed,
                        message: row.text(1) ?? "", values: values,
                        timestamp: Date(timeIntervalSince1970: row.double(3)))
                    return false
                }
                return found
            }
        } catch {
            logger.error("command ledger unreadable: repeats of older commands may run again", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Records a result; the first one of an id stays.
    public func record(_ result: CommandResult) {
        let values = (try? JSONEncoder().encode(result.values)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        do throws(StorageError) {
            try database.withLock { db throws(StorageError) in
                _ = try db.prepare("INSERT OR IGNORE INTO commands (id, status, message, result_values, ts, recorded) VALUES (?, ?, ?, ?, ?, ?)")
                    .run([
                        .text(result.id), .text(result.status.rawValue), .text(result.message), .text(values),
                        .real(result.timestamp.timeIntervalSince1970), .real(Date().timeIntervalSince1970),
                    ])
            }
        } catch {
            logger.error(
                "command not recorded in the ledger: a repeat after a restart may run again",
                metadata: ["id": "\(LogText.clean(result.id))", "error": "\(error)"])
        }
        // Pruning now and then keeps the cost of a record constant.
        if recorded.wrappingAdd(1, ordering: .relaxed).newValue % 500 == 0 { prune() }
    }

    /// Forgets what is older than the window, then the oldest beyond the capacity.
    private func prune() {
        let oldest = Date().timeIntervalSince1970 - window / .seconds(1)
        do throws(StorageError) {
            try database.withLock { db throws(StorageError) in
                _ = try db.prepare("DELETE FROM commands WHERE recorded < ?").run([.real(oldest)])
                _ = try db.prepare("DELETE FROM commands WHERE id IN (SELECT id FROM commands ORDER BY recorded DESC LIMIT -1 OFFSET ?)")
                    .run([.integer(Int64(capacity))])
            }
        } catch {
            logger.warning("command ledger not pruned", metadata: ["error": "\(error)"])
        }
    }
}

/// The command ledger's window (`commands:`): a repeated id within it is answered `duplicate`.
public struct CommandSettings: Sendable, Hashable {
    /// How long an answered command id is remembered (`remember`, default 24h).
    public var remember: Duration
    /// How many ids are remembered at most (`max_ids`, default 100,000).
    public var maxIDs: Int

    /// Creates settings.
    public init(remember: Duration = .seconds(86_400), maxIDs: Int = 100_000) {
        self.remember = remember
        self.maxIDs = maxIDs
    }

    static let keys = ["remember", "max_ids"]

    /// The `commands` mapping (nil: the section is absent); the defaults where a key is absent
    /// or wrong (wrong is a diagnostic).
    static func parse(_ c: YAMLMapping?) -> CommandSettings {
        var commands = CommandSettings()
        guard let c else { return commands }
        c.checkKeys(keys)
        if let remember = c.duration("remember") { commands.remember = remember }
        if let n = c.integer("max_ids", in: 1...10_000_000) { commands.maxIDs = n }
        return commands
    }
}
