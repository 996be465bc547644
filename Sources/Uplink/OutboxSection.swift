package import ConfigSyntax
import Storage

extension OutboxConfiguration {
    /// The keys of `outbox:`.
    package static let keys = ["path", "max_bytes", "max_age", "sync"]
    /// The shortest `max_age` accepted: shorter would drop telemetry before a reconnect could send it.
    package static let minimumMaxAge = Duration.seconds(1)

    /// When a stored message is safe (`sync`), as the configuration words it.
    enum Sync: String, CaseIterable {
        /// Every commit reaches the disk (fsync) before the message is sent: it survives a power
        /// loss. One fsync per sealed message batch (every 50 ms under load).
        case full
        /// Commits survive a crash of the process but not necessarily a power loss, which may roll
        /// back the last second or so of telemetry (the file stays consistent). Fewer fsyncs:
        /// for flash media that wear, or disks too slow for one fsync per batch.
        case normal

        var synchronous: SQLiteSynchronous { self == .full ? .full : .normal }
    }

    /// The `outbox` mapping (nil: the section is absent), paths resolved against the folder of
    /// `file`; the defaults where a key is absent or wrong (wrong is a diagnostic).
    package static func parse(_ o: YAMLMapping?, file: String) -> OutboxConfiguration {
        var outbox = OutboxConfiguration(path: resolve("var/outbox.sqlite", relativeToFolderOf: file))
        guard let o else { return outbox }
        o.checkKeys(keys)
        // `:memory:` is SQLite's name for no file at all, not a path to resolve.
        if let p = o.name("path") { outbox.path = p == SQLiteDatabase.inMemory ? p : resolve(p, relativeToFolderOf: file) }
        if let n = o.byteSize("max_bytes") { outbox.maxBytes = n }
        if let age = o.duration("max_age"), let node = o.value("max_age") {
            if age < minimumMaxAge {
                o.error(
                    "max_age must be at least 1s", at: node,
                    hint: "it drops telemetry older than this; e.g. max_age: 72h")
            } else {
                outbox.maxAge = age
            }
        }
        if let sync = o.choice("sync", Sync.self) { outbox.synchronous = sync.synchronous }
        return outbox
    }
}
