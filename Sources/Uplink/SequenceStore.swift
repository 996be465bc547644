import Foundation
import Logging

/// Telemetry sequence numbers that survive restarts. The cloud drops duplicates by `seq`, so
/// a gateway that restarted at 1 would have its new telemetry discarded as old.
///
/// Numbers are reserved in blocks: the file holds the first number not yet handed out by
/// any reservation, written (and fsynced) before a block is used. A clean stop writes the
/// exact next number; after a crash the count resumes at the end of the reserved block, so
/// numbers are never reused and at most one block is skipped. (The durable outbox, its own
/// issue, moves this into its SQLite file.)
final class SequenceStore {
    private let path: String?
    private let block: UInt64
    private let logger: Logger
    private(set) var next: UInt64
    private var reservedUntil: UInt64

    /// - Parameter path: the file; nil keeps numbers in memory only (they restart at 1).
    init(path: String?, block: UInt64 = 1000, logger: Logger) {
        self.path = path
        self.block = block
        self.logger = logger
        var start: UInt64 = 1
        if let path, let text = try? String(contentsOfFile: path, encoding: .utf8) {
            if let stored = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)), stored > 0 {
                start = stored
            } else {
                logger.warning("telemetry sequence file unreadable; starting at 1", metadata: ["file": "\(path)"])
            }
        }
        next = start
        reservedUntil = start
    }

    /// Hands out `count` consecutive numbers, reserving a new block on disk when needed.
    func take(_ count: UInt64) -> UInt64 {
        let first = next
        next += count
        if next > reservedUntil {
            reservedUntil = next + block
            persist(reservedUntil)
        }
        return first
    }

    /// Records the exact next number, so a clean restart continues without a jump.
    func recordNext() {
        persist(next)
        reservedUntil = next
    }

    private func persist(_ value: UInt64) {
        guard let path else { return }
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            let temporary = path + ".tmp"
            let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            let bytes = Array("\(value)\n".utf8)
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            let synced = fsync(fd)
            close(fd)
            guard written == bytes.count, synced == 0, rename(temporary, path) == 0 else {
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
        } catch {
            logger.error("cannot record the telemetry sequence number; after a restart seq may repeat",
                         metadata: ["file": "\(path)", "error": "\(error)"])
        }
    }
}
