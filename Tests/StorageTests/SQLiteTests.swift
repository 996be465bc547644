import Foundation
import Storage
import TestSupport
import Testing

@Suite("SQLite wrapper")
struct SQLiteTests {
    /// A database with `rows` rows of 100-byte blobs in table `t`, closed again.
    func filledDatabase(at path: String, rows: Int) throws {
        let db = try SQLiteDatabase.open(path)
        try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        let insert = try db.prepare("INSERT INTO t (id, data) VALUES (?1, ?2)")
        try db.transaction { () throws(StorageError) in
            for i in 0..<rows { try insert.run([.integer(Int64(i)), .blob(Array(repeating: UInt8(i % 256), count: 100))]) }
        }
    }

    func count(_ db: SQLiteDatabase) throws -> Int {
        Int(try db.singleText("SELECT count(*) FROM t") ?? "") ?? -1
    }

    @Test("open creates the folder and the file, in WAL mode with the requested synchronous level")
    func openWAL() throws {
        let dir = try TemporaryDirectory(prefix: "edgegate-sqlite")
        defer { dir.remove() }
        let path = dir.file("deep/er/store.sqlite")
        let full = try SQLiteDatabase.open(path)
        #expect(full.journalMode == "wal")
        #expect(try full.singleText("PRAGMA synchronous") == "2")  // FULL
        #expect(FileManager.default.fileExists(atPath: path))
        let normal = try SQLiteDatabase.open(dir.file("other.sqlite"), options: SQLiteOptions(synchronous: .normal))
        #expect(try normal.singleText("PRAGMA synchronous") == "1")  // NORMAL
        #expect(try SQLiteDatabase.open(SQLiteDatabase.inMemory).journalMode == "memory")
    }

    @Test("prepared statements bind and read back integers, reals, text, blobs (empty ones too) and NULL, reused")
    func statements() throws {
        let db = try SQLiteDatabase.open(SQLiteDatabase.inMemory)
        try db.execute("CREATE TABLE v (i INTEGER, r REAL, s TEXT, b BLOB, n BLOB)")
        let insert = try db.prepare("INSERT INTO v VALUES (?1, ?2, ?3, ?4, ?5)")
        #expect(try insert.run([.integer(Int64.max), .real(2.5), .text("grüß 🌡"), .blob([0, 1, 255]), .null]) == 1)
        #expect(try insert.run([.integer(-1), .real(0), .text(""), .blob([]), .null]) == 1)
        var rows: [(Int64, Double, String?, [UInt8], String?)] = []
        try db.prepare("SELECT i, r, s, b, typeof(b) FROM v ORDER BY rowid").forEachRow { row in
            rows.append((row.int64(0), row.double(1), row.text(2), row.bytes(3), row.text(4)))
            return true
        }
        #expect(rows.count == 2)
        #expect(rows[0].0 == Int64.max && rows[0].1 == 2.5 && rows[0].2 == "grüß 🌡" && rows[0].3 == [0, 1, 255])
        #expect(rows[1].0 == -1 && rows[1].2 == "" && rows[1].3 == [] && rows[1].4 == "blob")
        #expect(try db.singleText("SELECT count(*) FROM v WHERE n IS NULL") == "2")
    }

    @Test("a transaction commits when its body returns and rolls back everything when it throws")
    func transactions() throws {
        let dir = try TemporaryDirectory(prefix: "edgegate-sqlite")
        defer { dir.remove() }
        try filledDatabase(at: dir.file("t.sqlite"), rows: 3)
        let db = try SQLiteDatabase.open(dir.file("t.sqlite"))
        let insert = try db.prepare("INSERT INTO t (id, data) VALUES (?1, ?2)")
        #expect(throws: StorageError.self) {
            try db.transaction { () throws(StorageError) in
                try insert.run([.integer(10), .blob([1])])
                try insert.run([.integer(0), .blob([1])])  // duplicate key
            }
        }
        #expect(try count(db) == 3)
        try db.transaction { () throws(StorageError) in try insert.run([.integer(10), .blob([1])]) }
        #expect(try count(db) == 4)
        // Nothing is left open: a new transaction begins.
        try db.transaction { () throws(StorageError) in }
    }

    @Test("errors name the file, the statement and SQLite's message")
    func errors() throws {
        let dir = try TemporaryDirectory(prefix: "edgegate-sqlite")
        defer { dir.remove() }
        let path = dir.file("e.sqlite")
        let db = try SQLiteDatabase.open(path)
        let error = try #require(throws: StorageError.self) { try db.prepare("SELECT * FROM missing") }
        #expect(error.file == path)
        #expect(error.operation == "SELECT * FROM missing")
        #expect(error.message == "no such table: missing")
        #expect(error.description == "\(path): SELECT * FROM missing: no such table: missing (SQLite error 1)")
        #expect(!error.isDamage)
        // A path below a regular file: the folder cannot be created.
        try Data().write(to: URL(fileURLWithPath: dir.file("plain")))
        let folder = try #require(throws: StorageError.self) { try SQLiteDatabase.open(dir.file("plain/sub/x.sqlite")) }
        #expect(folder.operation == "open")
        #expect(folder.message.hasPrefix("cannot create the folder \(dir.file("plain/sub")): "), "\(folder.message)")
        let inTheWay = try #require(throws: StorageError.self) { try SQLiteDatabase.open(dir.file("plain/x.sqlite")) }
        #expect(inTheWay.message == "cannot create the folder \(dir.file("plain")): a file of that name is in the way")
        // A folder that is there but a path SQLite cannot open: its message, and why.
        try FileManager.default.createDirectory(atPath: dir.file("db.sqlite"), withIntermediateDirectories: true)
        let cannot = try #require(throws: StorageError.self) { try SQLiteDatabase.open(dir.file("db.sqlite")) }
        #expect(cannot.message.hasPrefix("unable to open database file: "), "\(cannot.message)")
    }

    @Test("a full database fails the write with SQLITE_FULL and keeps what was committed")
    func full() throws {
        let dir = try TemporaryDirectory(prefix: "edgegate-sqlite")
        defer { dir.remove() }
        try filledDatabase(at: dir.file("f.sqlite"), rows: 10)
        let db = try SQLiteDatabase.open(dir.file("f.sqlite"))
        let pages = Int(try db.singleText("PRAGMA page_count") ?? "") ?? 0
        try db.execute("PRAGMA max_page_count = \(pages)")
        let insert = try db.prepare("INSERT INTO t (id, data) VALUES (?1, ?2)")
        let error = try #require(throws: StorageError.self) {
            try db.transaction { () throws(StorageError) in
                for i in 100..<200 { try insert.run([.integer(Int64(i)), .blob(Array(repeating: 7, count: 1000))]) }
            }
        }
        #expect(error.primaryCode == 13)  // SQLITE_FULL
        #expect(error.message == "database or disk is full")
        #expect(try count(db) == 10)
    }

    @Test("a sound file passes quick_check and is opened as it is")
    func soundFile() throws {
        let dir = try TemporaryDirectory(prefix: "edgegate-sqlite")
        defer { dir.remove() }
        try filledDatabase(at: dir.file("s.sqlite"), rows: 200)
        let (db, damage) = try SQLiteDatabase.openChecked(dir.file("s.sqlite"))
        #expect(damage == nil)
        #expect(try count(db) == 200)
    }

    @Test("a file that is not a database is moved aside with its WAL, and a fresh database opened in its place")
    func notADatabase() throws {
        let dir = try TemporaryDirectory(prefix: "edgegate-sqlite")
        defer { dir.remove() }
        let path = dir.file("n.sqlite")
        let garbage = Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try garbage.write(to: URL(fileURLWithPath: path))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path + "-wal"))
        let (db, damage) = try SQLiteDatabase.openChecked(path)
        let moved = try #require(damage)
        #expect(moved.problem.contains("file is not a database"), "\(moved.problem)")
        #expect(moved.movedTo.hasPrefix(path + ".damaged-"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: moved.movedTo)) == garbage)
        #expect(try Data(contentsOf: URL(fileURLWithPath: moved.movedTo + "-wal")) == Data([1, 2, 3]))
        #expect(!FileManager.default.fileExists(atPath: path + "-wal.checking"))
        try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        #expect(try count(db) == 0)
    }

    @Test("a file with a damaged page fails quick_check, is moved aside, and a fresh database is opened")
    func damagedPage() throws {
        let dir = try TemporaryDirectory(prefix: "edgegate-sqlite")
        defer { dir.remove() }
        let path = dir.file("d.sqlite")
        try filledDatabase(at: path, rows: 400)
        // Overwrite the last page (a leaf of table t) with garbage; the header and schema stay.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size - 4096)
        handle.write(Data(repeating: 0xA5, count: 4096))
        try handle.close()
        let (db, damage) = try SQLiteDatabase.openChecked(path)
        let moved = try #require(damage)
        #expect(moved.problem.hasPrefix("PRAGMA quick_check: "), "\(moved.problem)")
        #expect(FileManager.default.fileExists(atPath: moved.movedTo))
        #expect(try db.singleText("SELECT count(*) FROM sqlite_schema") == "0")
    }
}
