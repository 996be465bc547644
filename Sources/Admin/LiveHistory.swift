public import Foundation
public import GatewayCore

/// A point's recent values for the console's trend line: the last value of each
/// `step`-second bucket over `count` buckets (10 minutes), kept as `Float`. A trend needs no
/// more precision (the exact value is in the point's latest reading), and 4 bytes a bucket
/// make 480 bytes a numeric point: under 5 MB for a 10,000-point site.
///
/// Buckets are numbered by the readings' own timestamps (unix seconds ÷ step), so a point's
/// trend shows when its values were measured, not when they arrived.
struct TrendRing: Sendable {
    /// Seconds per bucket.
    static let step: Int64 = 5
    /// Buckets kept.
    static let count = 120
    /// A NaN with a payload of its own marks a bucket without a reading; plain NaN marks a
    /// bucket whose last reading was bad.
    private static let emptyBits: UInt32 = 0x7fc0_0001
    private static let empty = Float(bitPattern: emptyBits)

    private var values: [Float]
    /// The number of the newest bucket written.
    private var newest: Int64

    init(bucket: Int64) {
        values = Array(repeating: Self.empty, count: Self.count)
        newest = bucket
    }

    /// The bucket of a timestamp.
    static func bucket(of date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / Double(step)).rounded(.down))
    }

    /// Records a value (nil: the point was bad) in its bucket; a value older than the ring
    /// is ignored, a newer one moves the ring on and clears the buckets it skipped.
    mutating func record(_ value: Double?, bucket: Int64) {
        if bucket > newest {
            let skipped = min(bucket - newest, Int64(Self.count))
            for k in 1...skipped { values[Self.slot(newest + k)] = Self.empty }
            newest = bucket
        } else if bucket <= newest - Int64(Self.count) {
            return
        }
        values[Self.slot(bucket)] = value.map { Float($0) } ?? .nan
    }

    /// The buckets with a reading that are within the ring's window before `now` (a bucket
    /// number), oldest first: the bucket's start in unix seconds and its value (nil: bad).
    func samples(now: Int64) -> [(seconds: Int64, value: Float?)] {
        let first = max(newest, now) - Int64(Self.count) + 1
        guard newest >= first else { return [] }
        var out: [(seconds: Int64, value: Float?)] = []
        out.reserveCapacity(Int(newest - first + 1))
        for bucket in first...newest {
            let v = values[Self.slot(bucket)]
            if v.bitPattern == Self.emptyBits { continue }
            out.append((bucket * Self.step, v.isNaN ? nil : v))
        }
        return out
    }

    private static func slot(_ bucket: Int64) -> Int {
        Int(((bucket % Int64(count)) + Int64(count)) % Int64(count))
    }
}

/// One command as the admin endpoint remembers it: what was asked, by whom, the answer and
/// how long it took from arrival to answer.
public struct CommandRecord: Sendable {
    /// The command as admitted.
    public var command: Command
    /// The router's answer.
    public var result: CommandResult
    /// From arrival to answer.
    public var duration: Duration

    /// Creates a record.
    public init(command: Command, result: CommandResult, duration: Duration) {
        self.command = command
        self.result = result
        self.duration = duration
    }
}

/// The latest `capacity` commands, newest last.
struct CommandHistory {
    let capacity: Int
    private var records: [CommandRecord] = []
    private var next = 0

    init(capacity: Int) {
        self.capacity = capacity
        records.reserveCapacity(capacity)
    }

    mutating func add(_ record: CommandRecord) {
        if records.count < capacity {
            records.append(record)
        } else {
            records[next] = record
            next = (next + 1) % capacity
        }
    }

    /// At most `limit` records, newest first.
    func latest(_ limit: Int) -> [CommandRecord] {
        let ordered = records.count < capacity ? records : Array(records[next...] + records[..<next])
        return Array(ordered.reversed().prefix(limit))
    }
}

/// Readings delivered per second, over the last `seconds` complete seconds.
struct ReadingRate {
    let seconds: Int
    private var counts: [Int]
    private var stamps: [Int64]

    init(seconds: Int = 10) {
        self.seconds = seconds
        counts = Array(repeating: 0, count: seconds + 1)
        stamps = Array(repeating: -1, count: seconds + 1)
    }

    mutating func add(_ n: Int, at second: Int64) {
        let slot = Int(second % Int64(counts.count))
        if stamps[slot] != second {
            stamps[slot] = second
            counts[slot] = 0
        }
        counts[slot] += n
    }

    /// The mean over the complete seconds before `second`, the ones since `start` only when
    /// the gateway is younger than the window.
    func perSecond(at second: Int64, start: Int64) -> Double {
        let first = max(second - Int64(seconds), start)
        guard second > first else { return 0 }
        var total = 0
        for slot in counts.indices where stamps[slot] >= first && stamps[slot] < second {
            total += counts[slot]
        }
        return Double(total) / Double(second - first)
    }
}

/// The outcome of the latest reload of the device maps, for the console's overview.
public struct ReloadRecord: Sendable, Hashable {
    /// Applied, or rejected with the running maps kept.
    public enum Outcome: String, Sendable {
        /// The new maps are in force.
        case applied
        /// The running maps stay; `diagnostics` or `message` say why.
        case rejected
    }

    /// Applied or rejected.
    public var outcome: Outcome
    /// When the reload ended.
    public var at: Date
    /// What asked for it (`SIGHUP`, `file change`).
    public var trigger: String
    /// One sentence: what changed, or why it was rejected when there are no diagnostics.
    public var message: String?
    /// The loader's diagnostics, in the compiler's form (`file:line:column: error: …`), at
    /// most `maxDiagnostics`.
    public var diagnostics: [String]

    /// Most diagnostics kept: a map broken everywhere does not fill the daemon's memory.
    public static let maxDiagnostics = 100

    /// Creates a record.
    public init(outcome: Outcome, at: Date = Date(), trigger: String, message: String? = nil, diagnostics: [String] = []) {
        self.outcome = outcome
        self.at = at
        self.trigger = trigger
        self.message = message
        self.diagnostics = Array(diagnostics.prefix(Self.maxDiagnostics))
    }
}
