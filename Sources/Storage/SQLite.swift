import CSQLite
import Foundation

/// Why a database operation failed: the file, what was being done, and SQLite's own words.
public struct StorageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The database file (`:memory:` for an in-memory database).
    public var file: String
    /// What was being done: `open`, `quick_check`, or the SQL statement.
    public var operation: String
    /// SQLite's extended result code (`SQLITE_FULL`, `SQLITE_IOERR_FSYNC`, ...).
    public var code: Int32
    /// SQLite's message (`database or disk is full`, `file is not a database`, ...).
    public var message: String

    /// Creates an error.
    public init(file: String, operation: String, code: Int32, message: String) {
        self.file = file
        self.operation = operation
        self.code = code
        self.message = message
    }

    /// The primary result code (the low byte of the extended one).
    public var primaryCode: Int32 { code & 0xFF }

    /// True when the file is damaged or not a database at all: no retry will help, only
    /// moving the file aside.
    public var isDamage: Bool { primaryCode == SQLITE_CORRUPT || primaryCode == SQLITE_NOTADB }

    /// A sentence for the operator.
    public var description: String {
        "\(file): \(operation): \(message) (SQLite error \(code))"
    }
}

/// How SQLite makes a commit durable (`PRAGMA synchronous`).
public enum SQLiteSynchronous: String, Sendable, Hashable, CaseIterable {
    /// With write-ahead logging: every commit is fsynced, so it survives a power loss.
    case full = "FULL"
    /// With write-ahead logging: commits survive a crash of the process, not necessarily a
    /// power loss (the last ones may be rolled back; the file stays consistent).
    case normal = "NORMAL"
}

/// How to open a database.
public struct SQLiteOptions: Sendable, Hashable {
    /// Write-ahead logging (readers do not block the writer; one fsync per commit).
    public var writeAheadLog: Bool
    /// Durability of a commit.
    public var synchronous: SQLiteSynchronous
    /// How long a statement waits for a lock held by another connection before failing.
    public var busyTimeout: Duration

    /// Creates options; the defaults suit a store that must survive power loss.
    public init(writeAheadLog: Bool = true, synchronous: SQLiteSynchronous = .full, busyTimeout: Duration = .seconds(5)) {
        self.writeAheadLog = writeAheadLog
        self.synchronous = synchronous
        self.busyTimeout = busyTimeout
    }
}

/// A value bound to a statement parameter.
public enum SQLiteValue: Sendable, Hashable {
    /// An integer.
    case integer(Int64)
    /// A floating-point number.
    case real(Double)
    /// UTF-8 text.
    case text(String)
    /// Bytes.
    case blob([UInt8])
    /// SQL NULL.
    case null
}

/// One connection to an SQLite database file: statements, transactions, checks.
///
/// Not `Sendable`: a connection is used by one thread at a time (it is opened in SQLite's
/// multi-thread mode, without its internal mutex), so an owner shared between threads keeps
/// it behind a lock.
public final class SQLiteDatabase {
    /// The file, as given to `open`.
    public let path: String
    /// The connection; closed in `deinit` only (also when `open` fails half-way), so that it
    /// is closed exactly once.
    fileprivate let handle: OpaquePointer
    /// The journal mode in force after `open`: `wal`, or `memory` for an in-memory database.
    public private(set) var journalMode = ""

    private init(handle: OpaquePointer, path: String) {
        self.handle = handle
        self.path = path
    }

    deinit {
        // _v2: if a statement is still alive somewhere, SQLite closes once it is finalized.
        sqlite3_close_v2(handle)
    }

    /// The path SQLite understands as a private in-memory database.
    public static let inMemory = ":memory:"

    /// Opens (creating if needed) the database at `path` and applies `options`. The parent
    /// folder is created when missing.
    /// - Throws: `StorageError` naming the file and SQLite's message; `isDamage` tells a
    ///   damaged file (or one that is not a database) from other failures.
    public static func open(_ path: String, options: SQLiteOptions = SQLiteOptions()) throws(StorageError) -> SQLiteDatabase {
        if path != inMemory {
            let folder = (path as NSString).deletingLastPathComponent
            var isFolder: ObjCBool = false
            if !folder.isEmpty && FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) && !isFolder.boolValue {
                throw StorageError(
                    file: path, operation: "open", code: SQLITE_CANTOPEN,
                    message: "cannot create the folder \(folder): a file of that name is in the way")
            }
            if !folder.isEmpty && !FileManager.default.fileExists(atPath: folder) {
                do {
                    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                } catch {
                    throw StorageError(
                        file: path, operation: "open", code: SQLITE_CANTOPEN,
                        message: "cannot create the folder \(folder): \((error as NSError).localizedDescription)")
                }
            }
        }
        var pointer: OpaquePointer?
        let rc = sqlite3_open_v2(path, &pointer, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard let pointer else {
            throw StorageError(file: path, operation: "open", code: rc, message: String(cString: sqlite3_errstr(rc)))
        }
        // From here on the object owns the handle and its deinit closes it, whatever happens.
        let database = SQLiteDatabase(handle: pointer, path: path)
        guard rc == SQLITE_OK else {
            var error = database.error(rc, "open")
            if error.primaryCode == SQLITE_CANTOPEN {
                // SQLite's own words ("unable to open database file") do not say why.
                error.message += ": \(String(cString: strerror(errno))) (the folder must exist and be writable)"
            }
            throw error
        }
        sqlite3_extended_result_codes(pointer, 1)
        let milliseconds = options.busyTimeout.components.seconds * 1000 + options.busyTimeout.components.attoseconds / 1_000_000_000_000_000
        sqlite3_busy_timeout(pointer, Int32(clamping: milliseconds))
        // The first statements read the file's header: a file that is not a database fails here.
        if options.writeAheadLog {
            database.journalMode = try database.singleText("PRAGMA journal_mode=WAL") ?? ""
        } else {
            database.journalMode = try database.singleText("PRAGMA journal_mode") ?? ""
        }
        try database.execute("PRAGMA synchronous=\(options.synchronous.rawValue)")
        return database
    }

    /// Runs SQL that returns no rows (several statements separated by `;` are allowed).
    public func execute(_ sql: String) throws(StorageError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        defer { sqlite3_free(message) }
        guard rc == SQLITE_OK else {
            throw StorageError(
                file: path, operation: sql, code: sqlite3_extended_errcode(handle),
                message: message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle)))
        }
    }

    /// Compiles one statement, to run it as often as needed.
    public func prepare(_ sql: String) throws(StorageError) -> SQLiteStatement {
        var pointer: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &pointer, nil)
        guard rc == SQLITE_OK, let pointer else { throw error(rc, sql) }
        return SQLiteStatement(database: self, handle: pointer, sql: sql)
    }

    /// Runs `body` in one transaction: committed if it returns, rolled back if it throws (or
    /// if the commit itself fails, e.g. on a full disk). `BEGIN IMMEDIATE` takes the write
    /// lock at once, so a transaction never fails half-way for want of it.
    @discardableResult
    public func transaction<T>(_ body: () throws(StorageError) -> T) throws(StorageError) -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            // A failed COMMIT may leave the transaction open; a failed statement always does.
            if sqlite3_get_autocommit(handle) == 0 { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// The first column of the first row of `sql`, as text (nil: no row, or NULL).
    public func singleText(_ sql: String) throws(StorageError) -> String? {
        let statement = try prepare(sql)
        guard try statement.step() else { return nil }
        return statement.text(0)
    }

    /// `PRAGMA quick_check`: the problems SQLite finds in the file's structure (empty when
    /// the file is sound). Reads every page, so it takes time proportional to the file's size.
    public func quickCheck() throws(StorageError) -> [String] {
        let statement = try prepare("PRAGMA quick_check")
        var problems: [String] = []
        while try statement.step() {
            let line = statement.text(0) ?? ""
            if line != "ok" { problems.append(line) }
        }
        return problems
    }

    fileprivate func error(_ rc: Int32, _ operation: String) -> StorageError {
        StorageError(
            file: path, operation: operation, code: sqlite3_extended_errcode(handle) != 0 ? sqlite3_extended_errcode(handle) : rc,
            message: String(cString: sqlite3_errmsg(handle)))
    }
}

extension SQLiteDatabase {
    /// Opens the database at `path` and checks it with `quick_check`. A damaged file (or one
    /// that is not an SQLite database) is moved aside, with its `-wal` and `-shm` files, as
    /// `NAME.damaged-YYYYMMDDTHHMMSSZ`, and a fresh database is opened in its place: a damaged
    /// file costs what it held, never the ability to start.
    /// - Returns: the database, and what was wrong with the previous file and where it went
    ///   (nil when the file was sound).
    /// - Throws: `StorageError` for failures that moving the file would not cure (a folder
    ///   that cannot be written, a lock held by another process, a full disk).
    public static func openChecked(
        _ path: String, options: SQLiteOptions = SQLiteOptions()
    )
        throws(StorageError) -> (database: SQLiteDatabase, damage: (problem: String, movedTo: String)?)
    {
        // SQLite may delete the write-ahead log of a file it cannot read when it closes it; a
        // hard link keeps its content for the file moved aside (and costs nothing otherwise).
        let walCopy = path + "-wal.checking"
        unlink(walCopy)
        let linked = path != inMemory && link(path + "-wal", walCopy) == 0
        defer { if linked { unlink(walCopy) } }
        let problem: String
        do {
            let database = try open(path, options: options)
            let problems = try database.quickCheck()
            if problems.isEmpty { return (database, nil) }
            problem = "PRAGMA quick_check: " + problems.prefix(5).joined(separator: "; ") + (problems.count > 5 ? "; …" : "")
        } catch  where error.isDamage {
            problem = "\(error.operation): \(error.message)"
        }
        guard path != inMemory else {
            throw StorageError(file: path, operation: "quick_check", code: SQLITE_CORRUPT, message: problem)
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        var target = "\(path).damaged-\(formatter.string(from: Date()))"
        var attempt = 1
        while FileManager.default.fileExists(atPath: target) {
            attempt += 1
            target = "\(path).damaged-\(formatter.string(from: Date()))-\(attempt)"
        }
        var moves = [(path, target)]
        if linked {
            moves.append((walCopy, target + "-wal"))
            unlink(path + "-wal")
        }
        unlink(path + "-shm")  // derived from the log: nothing to keep
        for (from, to) in moves {
            guard rename(from, to) == 0 else {
                throw StorageError(
                    file: path, operation: "move the damaged database aside", code: SQLITE_IOERR,
                    message: "\(problem); renaming \(from) to \(to) failed: \(String(cString: strerror(errno)))")
            }
        }
        return (try open(path, options: options), (problem, target))
    }
}

/// A compiled statement, reusable: bind, step through the rows, reset.
///
/// Not `Sendable`, like its database.
public final class SQLiteStatement {
    /// Kept alive as long as the statement (its handle is finalized before the database closes).
    private let database: SQLiteDatabase
    /// Finalized in `deinit` only.
    private let handle: OpaquePointer
    /// The SQL, for error messages.
    public let sql: String

    fileprivate init(database: SQLiteDatabase, handle: OpaquePointer, sql: String) {
        self.database = database
        self.handle = handle
        self.sql = sql
    }

    deinit {
        sqlite3_finalize(handle)
    }

    /// Resets the statement and binds `values` to its parameters `?1`, `?2`, ... in order.
    public func bind(_ values: [SQLiteValue]) throws(StorageError) {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .integer(let i): rc = sqlite3_bind_int64(handle, index, i)
            case .real(let d): rc = sqlite3_bind_double(handle, index, d)
            case .text(let s): rc = sqlite3_bind_text(handle, index, s, -1, CSQLite_transient())
            case .blob(let bytes):
                // A zero-length blob with a nil pointer would bind NULL: bind an empty blob explicitly.
                rc =
                    bytes.isEmpty
                    ? sqlite3_bind_zeroblob(handle, index, 0)
                    : bytes.withUnsafeBytes { sqlite3_bind_blob(handle, index, $0.baseAddress, Int32($0.count), CSQLite_transient()) }
            case .null: rc = sqlite3_bind_null(handle, index)
            }
            guard rc == SQLITE_OK else { throw database.error(rc, sql) }
        }
    }

    /// Advances to the next row: true when there is one, false when done.
    public func step() throws(StorageError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = database.error(rc, sql)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Binds `values`, runs the statement to its end and resets it; returns the rows changed.
    @discardableResult
    public func run(_ values: [SQLiteValue] = []) throws(StorageError) -> Int {
        try bind(values)
        defer { sqlite3_reset(handle) }
        while try step() {}
        return database.changes
    }

    /// Binds `values` and calls `row` for each result row until it returns false or the
    /// rows end; the statement is reset afterwards.
    public func forEachRow(_ values: [SQLiteValue] = [], _ row: (SQLiteStatement) throws(StorageError) -> Bool) throws(StorageError) {
        try bind(values)
        defer { sqlite3_reset(handle) }
        while try step() {
            guard try row(self) else { return }
        }
    }

    /// Column `index` of the current row as an integer (0 for NULL).
    public func int64(_ index: Int32) -> Int64 { sqlite3_column_int64(handle, index) }

    /// Column `index` of the current row as a floating-point number (0 for NULL).
    public func double(_ index: Int32) -> Double { sqlite3_column_double(handle, index) }

    /// Column `index` of the current row as text (nil for NULL).
    public func text(_ index: Int32) -> String? {
        guard let pointer = sqlite3_column_text(handle, index) else { return nil }
        return String(cString: pointer)
    }

    /// Column `index` of the current row as bytes (empty for NULL).
    public func bytes(_ index: Int32) -> [UInt8] {
        // In this order, as SQLite asks: the size is only valid after the pointer is fetched.
        let pointer = sqlite3_column_blob(handle, index)
        let count = Int(sqlite3_column_bytes(handle, index))
        guard count > 0, let pointer else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }
}
