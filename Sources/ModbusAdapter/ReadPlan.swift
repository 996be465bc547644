public import DeviceMaps
import GatewayCore

/// One read request: a contiguous run of registers or bits of one table and the points in it.
public struct ReadBlock: Sendable, Hashable {
    /// The table read (FC 1, 2, 4 or 3).
    public var table: ModbusTable
    /// The first register or bit read.
    public var start: Int
    /// How many registers or bits are read.
    public var count: Int
    /// The points decoded from the response, sorted by address.
    public var points: [PointDefinition]

    /// One past the last register or bit read.
    public var end: Int { start + count }

    /// Registers (or bits) in the request that none of its points names: read only so that
    /// two runs of points share a request (`max_gap`).
    public var gap: Int {
        var covered = 0
        var reach = start
        for point in points {
            let first = Swift.max(point.modbus.offset, reach)
            let last = point.modbus.offset + ReadPlan.width(of: point)
            if last > first { covered += last - first }
            reach = Swift.max(reach, last)
        }
        return count - covered
    }

    /// Where a point's registers (or its bit) sit inside the block's response.
    func slice(of point: PointDefinition) -> Range<Int> {
        let first = point.modbus.offset - start
        return first..<first + ReadPlan.width(of: point)
    }

    /// A request for `count` registers or bits from `start`, decoded into `points`.
    public init(table: ModbusTable, start: Int, count: Int, points: [PointDefinition]) {
        self.table = table
        self.start = start
        self.count = count
        self.points = points
    }

    /// The block that reads exactly `points` (sorted, non-empty, all of `table`).
    init(table: ModbusTable, points: [PointDefinition]) {
        self.table = table
        self.start = points.map(\.modbus.offset).min() ?? 0
        self.count = (points.map { $0.modbus.offset + ReadPlan.width(of: $0) }.max() ?? start) - start
        self.points = points
    }

    /// Table, start and count: what goes on the wire.
    var span: Span { Span(table: table, start: start, count: count) }
}

/// The registers or bits of one request, on the wire: what a `ReadBlock` got back.
enum BlockData: Sendable, Hashable {
    case registers([UInt16])
    case bits([Bool])
}

/// A request as the device sees it, without the points.
struct Span: Sendable, Hashable {
    var table: ModbusTable
    var start: Int
    var count: Int
}

/// The limits one device's read requests keep: from its `connection:` (`max_gap`,
/// `max_registers_per_request`) and the protocol.
public struct ReadRules: Sendable, Hashable {
    /// Unnamed registers (or bits) a request may include to merge two runs of points.
    public var maxGap: Int
    /// Registers per request, at most 125 (FC 3/4).
    public var maxRegisters: Int

    /// Rules with the given gap and register cap (the cap is clamped to 1…125).
    public init(maxGap: Int, maxRegistersPerRequest: Int = 125) {
        self.maxGap = Swift.max(0, maxGap)
        self.maxRegisters = Swift.min(125, Swift.max(1, maxRegistersPerRequest))
    }

    /// The rules of a device's connection.
    public init(_ connection: ModbusConnection) {
        self.init(maxGap: connection.maxGap, maxRegistersPerRequest: connection.maxRegistersPerRequest)
    }

    /// The longest request for a table. Registers: `max_registers_per_request` (125 at most,
    /// FC 3/4). Bits: 16 bits per allowed register, 2000 at most (FC 1/2). The protocol's own
    /// limits are the same 250 data bytes either way (125 × 16 = 2000), and a device that
    /// takes fewer registers per request is almost always short of buffer, which bits fill
    /// at the same rate; so the cap scales instead of being ignored for bits.
    public func limit(for table: ModbusTable) -> Int {
        table.isBitTable ? Swift.min(2000, 16 * maxRegisters) : maxRegisters
    }
}

/// What a device's "illegal data address" answers taught about its register space, so that
/// the next polls send only requests it accepts.
struct LearnedLimits: Sendable, Hashable {
    /// Points the device refuses even on their own, with its answer.
    var refused: [String: ModbusFailure] = [:]
    /// Addresses no request may include: registers (or bits) that no readable point names and
    /// that made a request fail while the parts on either side read fine.
    var barriers: [ModbusTable: Set<Int>] = [:]
    /// A shorter request limit, where two parts read fine but not together, without a gap
    /// between them (devices that answer exception 2 for requests longer than they take).
    var limits: [ModbusTable: Int] = [:]

    var isEmpty: Bool { refused.isEmpty && barriers.isEmpty && limits.isEmpty }
}

/// Groups the readable points of a device into as few requests as its rules allow.
///
/// Per table, points sorted by address are swept left to right: a point joins the open
/// request when the unnamed registers between the request's end and the point (its gap) are
/// at most `max_gap` and none of them is a learned barrier, and the request stays within the
/// table's limit; otherwise it starts the next request.
///
/// Why this is optimal (fewest requests): whether one request may hold a set of points
/// depends only on the span it reads: the span's length and the unnamed runs inside it.
/// A span inside a valid span is valid. (1) Some optimal plan gives each request a run of
/// points that are consecutive in address order: if points i < j < k sit in request A (i, k)
/// and B (j), then either j ends inside A's span and can move into A, or it ends beyond A,
/// in which case k lies inside j and can move into B; neither move makes a span larger.
/// (2) For consecutive runs with this "a part of a valid run is valid" property, taking each
/// run as long as possible is optimal: after its k-th request the sweep has covered at least
/// as many points as any plan's first k requests (if a plan's (k+1)-th run reaches further,
/// its tail beyond the sweep's k-th run is valid too, so the sweep's (k+1)-th run reaches at
/// least as far). (3) The sweep's incremental test is the span test: the registers between
/// the open request and the next point are named by no earlier point, since every earlier
/// request ends before the open one does.
public enum ReadPlan {
    /// How many registers (or bits) a point occupies in its table.
    static func width(of point: PointDefinition) -> Int {
        point.modbus.registerCount
    }

    /// The requests one poll of a device sends, per its connection's `max_gap` and
    /// `max_registers_per_request`: coils, discrete inputs, input registers, then holding
    /// registers, each by address. Write-only points are not polled.
    public static func blocks(for device: DeviceDefinition) -> [ReadBlock] {
        blocks(for: device.points, rules: ReadRules(device.modbusConnection))
    }

    /// The requests for `points` under `rules`; see the type's documentation.
    ///
    /// A point wider than the limit (which the loader refuses: `max_registers_per_request`
    /// below a point's width) still gets a request of its own, as wide as the point.
    public static func blocks(for points: [PointDefinition], rules: ReadRules) -> [ReadBlock] {
        blocks(for: points, rules: rules, learned: LearnedLimits())
    }

    static func blocks(for points: [PointDefinition], rules: ReadRules, learned: LearnedLimits) -> [ReadBlock] {
        var blocks: [ReadBlock] = []
        for table in ModbusTable.allCases {
            let members = sorted(
                points.filter {
                    $0.modbus.table == table && $0.access.isReadable && learned.refused[$0.name] == nil
                })
            let limit = Swift.min(rules.limit(for: table), learned.limits[table] ?? .max)
            let barriers = learned.barriers[table] ?? []
            var current: ReadBlock?
            for point in members {
                let start = point.modbus.offset
                let end = start + width(of: point)
                if var block = current {
                    let blockEnd = block.end
                    let mergedEnd = Swift.max(blockEnd, end)
                    if start - blockEnd <= rules.maxGap, mergedEnd - block.start <= limit,
                        !(blockEnd..<Swift.max(blockEnd, start)).contains(where: barriers.contains)
                    {
                        block.count = mergedEnd - block.start
                        block.points.append(point)
                        current = block
                        continue
                    }
                    blocks.append(block)
                }
                current = ReadBlock(table: table, start: start, count: end - start, points: [point])
            }
            if let block = current { blocks.append(block) }
        }
        return blocks
    }

    /// Points by address, then width, then name: the order requests hold them in.
    static func sorted(_ points: [PointDefinition]) -> [PointDefinition] {
        // Keys first: `modbus` is a cast from the point's protocol-free address.
        points.map { (key: ($0.modbus.offset, width(of: $0)), point: $0) }
            .sorted { ($0.key.0, $0.key.1, $0.point.name) < ($1.key.0, $1.key.1, $1.point.name) }
            .map(\.point)
    }

    /// Where to cut a refused request in two, as the index of the first point of the second
    /// part: at the unnamed registers nearest its middle (they are the likeliest culprits:
    /// nobody said they exist), otherwise between the points nearest its middle.
    static func cut(_ block: ReadBlock) -> Int {
        precondition(block.points.count > 1, "a request of one point cannot be cut")
        let middle = 2 * block.start + block.count  // twice the middle address: stays an integer
        var best: (index: Int, isGap: Bool, distance: Int)?
        var reach = Int.min
        for (index, point) in block.points.enumerated() {
            defer { reach = Swift.max(reach, point.modbus.offset + width(of: point)) }
            guard index > 0 else { continue }
            let isGap = point.modbus.offset > reach
            let position = isGap ? reach + point.modbus.offset : 2 * point.modbus.offset
            let distance = abs(position - middle)
            // A gap beats a boundary between points; then the nearer to the middle wins.
            if let b = best, b.isGap && !isGap || b.isGap == isGap && b.distance <= distance { continue }
            best = (index, isGap, distance)
        }
        return best!.index
    }
}

/// One device's polls: its plan, what its refusals taught, and the reads of one poll.
///
/// When a request answers "illegal data address" (exception 2), it is cut in two and the
/// parts are read, recursively, until the cause is found: a point the device refuses on its
/// own (it alone gets `bad`), unnamed registers that the parts on either side read without
/// (no request bridges them again), or a length the device refuses (requests get shorter).
/// The plan is made again with that knowledge and read in the same poll, until every request
/// is answered, so every readable point has a reading and the next polls send only the
/// requests that work. Each answer adds knowledge (a point refused, a barrier, a shorter
/// limit) that rules out the request that failed, so this ends.
///
/// The knowledge is kept while the device's definition stays the same, and set aside every
/// `relearnInterval` to try the full plan again: a module that answers late after power-up,
/// or new firmware, may make refused registers readable.
struct DeviceReads {
    /// How long the knowledge is trusted before the full plan is tried again.
    static let relearnInterval = Duration.seconds(600)

    let points: [PointDefinition]
    let rules: ReadRules
    private(set) var learned = LearnedLimits()
    private(set) var plan: [ReadBlock]
    /// When the full plan is tried again; nil while nothing is learned.
    private(set) var relearnAt: ContinuousClock.Instant?

    init(points: [PointDefinition], rules: ReadRules) {
        self.points = points
        self.rules = rules
        self.plan = ReadPlan.blocks(for: points, rules: rules)
    }

    init(device: DeviceDefinition) {
        self.init(points: device.points, rules: ReadRules(device.modbusConnection))
    }

    /// True when a poll reads something (a device of write-only points never polls).
    var hasReadablePoints: Bool { points.contains { $0.access.isReadable } }

    /// The readable points, in map order.
    var readablePoints: [PointDefinition] { points.filter(\.access.isReadable) }

    /// What happened to the points of one poll, in the order to report them.
    enum Event: Sendable, Hashable {
        /// The block's points decode from the data (registers or bits from `block.start`).
        case read(ReadBlock, BlockData)
        /// The request failed; its points share the failure.
        case failed(ReadBlock, ModbusFailure)
        /// The device refuses this point on its own (learned earlier or in this poll).
        case refused(PointDefinition, ModbusFailure)
        /// Not read because the connection was lost earlier in this poll.
        case notRead([PointDefinition])
    }

    /// One poll's events and what it taught.
    struct Outcome: Sendable, Hashable {
        var events: [Event] = []
        /// The failure that lost the connection, after which nothing more was read.
        var lost: ModbusFailure?
        /// Sentences for the log, one per request that taught something in this poll (or on
        /// relearning, when the device now answers what it refused).
        var lessons: [String] = []
    }

    /// Reads every point once through `read` (one request per call), learning from
    /// "illegal data address" answers as the type's documentation says.
    mutating func poll(now: ContinuousClock.Instant, read: (ReadBlock) throws(ModbusFailure) -> BlockData) -> Outcome {
        var relearning: LearnedLimits?
        if let due = relearnAt, now >= due {
            relearning = learned
            learned = LearnedLimits()
            plan = ReadPlan.blocks(for: points, rules: rules)
            relearnAt = nil
        }
        let before = learned
        var outcome = Outcome()
        var done = Set<String>()
        // Answers of this poll, so that a request planned again after learning is not re-sent.
        var answered: [Span: BlockData] = [:]
        var triggers: [ReadBlock] = []

        sweep: while true {
            for block in plan {
                let pending = block.points.filter { !done.contains($0.name) }
                guard !pending.isEmpty else { continue }
                var part = block
                part.points = pending
                do throws(ModbusFailure) {
                    if let known = answered[block.span] {
                        outcome.events.append(.read(part, known))
                    } else {
                        let data = try read(block)
                        answered[block.span] = data
                        outcome.events.append(.read(part, data))
                    }
                    for point in pending { done.insert(point.name) }
                } catch  where error.exceptionCode == Self.illegalDataAddress {
                    // A request planned again after a lesson belongs to that lesson.
                    if !triggers.contains(where: { $0.table == block.table && !Set($0.points.map(\.name)).isDisjoint(with: block.points.map(\.name)) }) {
                        triggers.append(block)
                    }
                    do throws(ModbusFailure) {
                        try isolate(block, error, read: read, answered: &answered)
                        // Plan again with what was learned, and read what is still unread.
                        plan = ReadPlan.blocks(for: points, rules: rules, learned: learned)
                        continue sweep
                    } catch {
                        if fail(part, error, &outcome, &done) { break sweep }
                    }
                } catch {
                    if fail(part, error, &outcome, &done) { break sweep }
                }
            }
            break
        }
        for point in learned.refused.isEmpty ? [] : readablePoints {
            if let failure = learned.refused[point.name], !done.contains(point.name) {
                outcome.events.append(.refused(point, failure))
            }
        }
        // Knowledge gained before another failure ended a search counts from the next poll.
        if learned != before { plan = ReadPlan.blocks(for: points, rules: rules, learned: learned) }

        if learned.isEmpty {
            relearnAt = nil
        } else if relearnAt == nil || learned != before {
            relearnAt = now + Self.relearnInterval
        }
        if let previous = relearning, previous != learned {
            if learned.isEmpty {
                outcome.lessons.append("reads as planned again (\(plan.count) request\(plan.count == 1 ? "" : "s")): what it refused before now answers")
            } else {
                outcome.lessons += triggers.map(lesson)
            }
        } else if relearning == nil, learned != before {
            outcome.lessons += triggers.map(lesson)
        }
        return outcome
    }

    /// Records a failed request; true when the connection is lost, and with it the rest of
    /// the poll (the remaining points are reported as not read).
    private func fail(_ part: ReadBlock, _ error: ModbusFailure, _ outcome: inout Outcome, _ done: inout Set<String>) -> Bool {
        outcome.events.append(.failed(part, error))
        for point in part.points { done.insert(point.name) }
        guard !error.isDeviceException else { return false }
        outcome.lost = error
        let rest = readablePoints.filter { !done.contains($0.name) && learned.refused[$0.name] == nil }
        if !rest.isEmpty { outcome.events.append(.notRead(rest)) }
        return true
    }

    /// Modbus exception 2.
    static let illegalDataAddress: Int32 = 2

    /// `block` answered "illegal data address" (`failure`): reads its two parts (each cut
    /// further if it is refused too) to learn why. Exceptions other than 2, and connection
    /// failures, end the search and are thrown; what was learned until then stays.
    private mutating func isolate(
        _ block: ReadBlock, _ failure: ModbusFailure, read: (ReadBlock) throws(ModbusFailure) -> BlockData,
        answered: inout [Span: BlockData]
    ) throws(ModbusFailure) {
        guard block.points.count > 1 else {
            refuse(block.points[0], failure)
            return
        }
        let index = ReadPlan.cut(block)
        let left = ReadBlock(table: block.table, points: Array(block.points[..<index]))
        let right = ReadBlock(table: block.table, points: Array(block.points[index...]))
        let leftAnswered = try probe(left, read: read, answered: &answered)
        let rightAnswered = try probe(right, read: read, answered: &answered)
        guard leftAnswered, rightAnswered else { return }
        // Both parts answer, together they do not.
        if right.start > left.end {
            learned.barriers[block.table, default: []].formUnion(left.end..<right.start)
        } else {
            learned.limits[block.table] = Swift.min(learned.limits[block.table] ?? .max, block.count - 1)
        }
    }

    /// Reads a part; true when it answered, false when it was refused (and searched).
    private mutating func probe(
        _ block: ReadBlock, read: (ReadBlock) throws(ModbusFailure) -> BlockData,
        answered: inout [Span: BlockData]
    ) throws(ModbusFailure) -> Bool {
        do throws(ModbusFailure) {
            answered[block.span] = try read(block)
            return true
        } catch  where error.exceptionCode == Self.illegalDataAddress {
            try isolate(block, error, read: read, answered: &answered)
            return false
        }
    }

    /// Marks a point refused; its registers that no other readable point names become
    /// barriers, so that no request bridges them as a gap.
    private mutating func refuse(_ point: PointDefinition, _ failure: ModbusFailure) {
        learned.refused[point.name] = failure
        let table = point.modbus.table
        let others = points.filter {
            $0.modbus.table == table && $0.access.isReadable && learned.refused[$0.name] == nil
        }
        let own = point.modbus.offset..<point.modbus.offset + ReadPlan.width(of: point)
        let free = own.filter { address in
            !others.contains { ($0.modbus.offset..<$0.modbus.offset + ReadPlan.width(of: $0)).contains(address) }
        }
        if !free.isEmpty { learned.barriers[table, default: []].formUnion(free) }
    }

    /// `40101–40113 (holding registers 100–112) answered illegal data address; reading them as
    /// 4 requests; refused: hole at 40105 (holding register 104)`.
    private func lesson(_ trigger: ReadBlock) -> String {
        let names = Set(trigger.points.map(\.name))
        let now = plan.filter { $0.points.contains { names.contains($0.name) } }
        var text =
            "\(ModbusText.reference(trigger.table, start: trigger.start, count: trigger.count)) answered illegal data address; "
            + "reading them as \(now.count) request\(now.count == 1 ? "" : "s")"
        let refused = trigger.points.filter { learned.refused[$0.name] != nil }
        if !refused.isEmpty {
            text +=
                "; refused: "
                + refused.map {
                    "\($0.name) at \(ModbusText.reference($0.modbus.table, start: $0.modbus.offset, count: ReadPlan.width(of: $0)))"
                }.joined(separator: ", ")
        }
        let inside = (learned.barriers[trigger.table] ?? []).filter { (trigger.start..<trigger.end).contains($0) }
        let gaps = Self.runs(inside.subtracting(refused.flatMap { $0.modbus.offset..<$0.modbus.offset + ReadPlan.width(of: $0) }))
        if !gaps.isEmpty {
            text +=
                "; not bridged: "
                + gaps.map { ModbusText.reference(trigger.table, start: $0.lowerBound, count: $0.count) }
                .joined(separator: ", ")
        }
        if let limit = learned.limits[trigger.table], limit < trigger.count {
            text += "; at most \(limit) \(trigger.table.isBitTable ? "bits" : "registers") per request"
        }
        return text
    }

    /// Consecutive runs of a set of addresses, in order.
    private static func runs(_ addresses: Set<Int>) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        for address in addresses.sorted() {
            if let last = runs.last, last.upperBound == address {
                runs[runs.count - 1] = last.lowerBound..<address + 1
            } else {
                runs.append(address..<address + 1)
            }
        }
        return runs
    }
}
