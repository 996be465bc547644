public import ArgumentParser
public import Foundation
import GatewayCore
public import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How log lines are written to standard error (`--log-format`).
public enum LogFormat: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// swift-log's own lines: `2026-12-07T12:00:00+0000 info edgegate: key=value [Module] message`.
    case text
    /// One JSON object per line (docs/operations.md, "Log format"), for journald, Loki and jq.
    case json
}

/// Writes each event as one line of JSON:
/// `{"ts":"…","level":"info","label":"edgegate","source":"Uplink","message":"…","metadata":{…}}`.
///
/// The metadata is an object of its own rather than top-level fields: the gateway's metadata
/// has keys such as `message` (a command's answer) that would collide with the fixed fields.
/// Values are JSON strings; nested metadata (`.dictionary`, `.array`) stays JSON objects and arrays.
public struct JSONLogHandler: LogHandler {
    /// Where a finished line (newline included) goes.
    public typealias Sink = @Sendable ([UInt8]) -> Void

    /// The logger's label.
    public let label: String
    private let sink: Sink
    /// The handler's own metadata (`logger[metadataKey:]`).
    public var metadata: Logger.Metadata = [:]
    /// Merged into every event's metadata, as for swift-log's own handlers.
    public var metadataProvider: Logger.MetadataProvider?
    /// The least severe level written.
    public var logLevel: Logger.Level = .info

    /// A handler writing to `sink` (standard error by default).
    public init(label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider, sink: @escaping Sink = StandardError.write) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.sink = sink
    }

    /// One metadata value of the handler.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes the event as one line.
    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        // As StreamLogHandler does for an error passed to the logger.
        if let error = event.error {
            all["error.message"] = "\(error)"
            all["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        sink(Self.line(date: Date(), level: event.level, label: label, source: event.source, message: "\(event.message)", metadata: all))
    }

    /// The line for one event, newline included.
    public static func line(date: Date, level: Logger.Level, label: String, source: String, message: String, metadata: Logger.Metadata) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(160)
        bytes.append(contentsOf: #"{"ts":""#.utf8)
        Timestamp.appendRFC3339(date, to: &bytes)
        bytes.append(contentsOf: #"","level":"#.utf8)
        JSONText.appendQuoted(level.rawValue, to: &bytes)
        bytes.append(contentsOf: #","label":"#.utf8)
        JSONText.appendQuoted(label, to: &bytes)
        bytes.append(contentsOf: #","source":"#.utf8)
        JSONText.appendQuoted(source, to: &bytes)
        bytes.append(contentsOf: #","message":"#.utf8)
        JSONText.appendQuoted(message, to: &bytes)
        if !metadata.isEmpty {
            bytes.append(contentsOf: #","metadata":"#.utf8)
            bytes.append(contentsOf: JSONValue.object(json(metadata)).compactText.utf8)
        }
        bytes.append(contentsOf: "}\n".utf8)
        return bytes
    }

    /// Metadata as a JSON object, keys sorted (as the text format sorts them).
    static func json(_ metadata: Logger.Metadata) -> JSONObject {
        var object = JSONObject()
        for key in metadata.keys.sorted() { object.append(key, json(metadata[key]!)) }
        return object
    }

    private static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let s): return .string(s)
        case .stringConvertible(let c): return .string(c.description)
        case .dictionary(let d): return .object(json(d))
        case .array(let a): return .array(a.map(json))
        }
    }
}

/// Standard error as a sink for whole lines.
public enum StandardError {
    /// Serializes lines from every thread, so that none interleave.
    private static let lock = Mutex(())

    /// Writes `bytes` whole (retrying short writes and interruptions); gives up quietly when
    /// standard error is gone, as logging must not stop the process.
    @Sendable public static func write(_ bytes: [UInt8]) {
        lock.withLock { _ in
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Glibc.write(2, raw.baseAddress! + offset, raw.count - offset)
                    if n > 0 {
                        offset += n
                    } else if n < 0, errno == EINTR {
                        continue
                    } else {
                        return
                    }
                }
            }
        }
    }
}
