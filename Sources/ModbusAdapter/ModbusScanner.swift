import CModbus
import Foundation
public import Logging
import Synchronization

/// What to scan: where the device is, which tables and which addresses.
public struct ModbusScanOptions: Sendable, Hashable {
    /// TCP or RTU.
    public var transport: ModbusTransport
    /// The unit id (slave id) to ask.
    public var unitID: Int
    /// The tables to scan, in this order.
    public var tables: [ModbusTable]
    /// The 0-based addresses to scan, in every table.
    public var range: ClosedRange<Int>
    /// How long to wait for each response.
    public var responseTimeout: Duration
    /// The most registers one read asks for: 125 by the protocol, fewer for devices that
    /// refuse long requests. Bit tables always use the protocol's 2000.
    public var maxRegistersPerRequest: Int

    /// The addresses a Modbus table can have.
    public static let addressSpace = 0...65535

    /// Checks and creates scan options.
    /// - Throws: `ModbusAdapterError.invalidScan` naming what is wrong: no table, an address
    ///   outside 0…65535, a unit id outside 0…255 (or 0, the broadcast address, on a serial
    ///   bus), a request size outside 1…125, or a timeout that is not positive.
    public init(
        transport: ModbusTransport, unitID: Int = 1, tables: [ModbusTable] = ModbusTable.allCases,
        range: ClosedRange<Int> = 0...9999, responseTimeout: Duration = .milliseconds(500),
        maxRegistersPerRequest: Int = 125
    ) throws(ModbusAdapterError) {
        guard !tables.isEmpty else { throw .invalidScan("give at least one table to scan: coil, discrete, input or holding") }
        guard Self.addressSpace.contains(range.lowerBound), Self.addressSpace.contains(range.upperBound) else {
            throw .invalidScan("addresses \(range.lowerBound)–\(range.upperBound) leave the Modbus address space 0–65535")
        }
        guard (0...255).contains(unitID) else { throw .invalidScan("unit id \(unitID) is not between 0 and 255") }
        if case .rtu = transport, unitID == 0 {
            throw .invalidScan("unit id 0 is the broadcast address of a serial bus and no device answers a read to it: give 1 to 247")
        }
        guard (1...125).contains(maxRegistersPerRequest) else {
            throw .invalidScan("\(maxRegistersPerRequest) registers per request: the protocol allows 1 to 125")
        }
        guard responseTimeout > .zero else { throw .invalidScan("the response timeout must be longer than zero") }
        self.transport = transport
        self.unitID = unitID
        // A table named twice is scanned once.
        var seen = Set<ModbusTable>()
        self.tables = tables.filter { seen.insert($0).inserted }
        self.range = range
        self.responseTimeout = responseTimeout
        self.maxRegistersPerRequest = maxRegistersPerRequest
    }

    /// Reads an address range as people type it: `0-9999`, or `100` for one address.
    /// - Throws: `ModbusAdapterError.invalidScan` for anything else, a range that runs
    ///   backwards or one outside 0…65535.
    public static func parseRange(_ text: String) throws(ModbusAdapterError) -> ClosedRange<Int> {
        let example = "give FIRST-LAST (0-based, inclusive), e.g. 0-9999, or one address"
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard (1...2).contains(parts.count), let first = Int(parts[0]), let last = Int(parts[parts.count - 1]) else {
            throw .invalidScan("'\(text)' is not an address range: \(example)")
        }
        guard first <= last else {
            throw .invalidScan("range '\(text)' runs backwards (\(first) is after \(last)): \(example)")
        }
        guard addressSpace.contains(first), addressSpace.contains(last) else {
            throw .invalidScan("range '\(text)' leaves the Modbus address space 0-65535")
        }
        return first...last
    }

    /// Addresses one request reads at most in `table`.
    func limit(for table: ModbusTable) -> Int {
        table.isBitTable ? 2000 : maxRegistersPerRequest
    }
}

/// What a scan found: per table, which addresses answered with data, which the device
/// refused ("illegal data address"), and which could not be told apart because something
/// else went wrong. Every scanned address is in exactly one of the three.
public struct ModbusScanReport: Sendable, Hashable {
    /// Consecutive addresses that read fine, with the values read.
    public struct ReadableRange: Sendable, Hashable {
        /// The first address.
        public var start: Int
        /// One value per address: the register, or 0/1 for a bit.
        public var values: [UInt16]

        /// Addresses in the range.
        public var count: Int { values.count }
        /// The addresses.
        public var addresses: ClosedRange<Int> { start...(start + values.count - 1) }
    }

    /// Consecutive addresses whose requests failed for one reason other than "illegal data
    /// address" (a timeout, another exception): neither readable nor refused as far as the
    /// scan can tell.
    public struct FailedRange: Sendable, Hashable {
        /// The addresses.
        public var addresses: ClosedRange<Int>
        /// Why, e.g. `device failure (Modbus exception 4)`.
        public var reason: String
    }

    /// The outcome for one table.
    public struct TableResult: Sendable, Hashable {
        /// The table.
        public var table: ModbusTable
        /// The addresses scanned.
        public var range: ClosedRange<Int>
        /// Readable runs, in address order.
        public var readable: [ReadableRange] = []
        /// Refused runs (every address proven refused by a request of its own or inferred
        /// from a refused request whose other addresses read fine), in address order.
        public var refused: [ClosedRange<Int>] = []
        /// Failed runs, in address order.
        public var failed: [FailedRange] = []

        /// How many addresses read fine.
        public var readableCount: Int { readable.reduce(0) { $0 + $1.count } }
        /// How many addresses were refused.
        public var refusedCount: Int { refused.reduce(0) { $0 + $1.count } }
        /// How many addresses failed otherwise.
        public var failedCount: Int { failed.reduce(0) { $0 + $1.addresses.count } }
    }

    /// What was scanned.
    public var options: ModbusScanOptions
    /// One result per scanned table, in the order of `options.tables`.
    public var tables: [ModbusScanReport.TableResult]
    /// Read requests sent, including refused and unanswered ones.
    public var requests: Int
    /// How long the scan took.
    public var duration: Duration
    /// Why the device could not be reached at all (connection failed, or it never answered);
    /// nil when it answered at least once.
    public var unreachable: String?
    /// Why the scan stopped before the end (the device stopped answering, or the scan was
    /// cancelled); the addresses not scanned are `failed` with this reason.
    public var stopped: String?

    /// Readable addresses over all tables.
    public var readableCount: Int { tables.reduce(0) { $0 + $1.readableCount } }
}

/// Finds the readable address ranges of a Modbus device.
///
/// Per table, from the first address: read the largest request the protocol allows (125
/// registers, 2000 bits). When the device refuses it with "illegal data address", a binary
/// search on the request's length finds the longest readable prefix in about log₂(125) ≈ 7
/// requests, which also proves the next address refused. After a refused address, single
/// addresses are read until one answers, then large requests again: telling a refused
/// address from a lone readable one takes a request of its own, so a refused run costs
/// one request per address, and a run of readable ones one request per 125. Timeouts and
/// other exceptions are reported as such, never taken for refused addresses; a device that
/// never answers makes the report `unreachable`, one that stops answering (three requests
/// in a row) ends the scan.
///
/// libmodbus blocks, so the scan runs on a thread of its own, which creates, uses and frees
/// the libmodbus context; the cooperative pool only waits for the result.
public final class ModbusScanner: Sendable {
    /// What to scan.
    public let options: ModbusScanOptions
    private let logger: Logger

    /// Requests without an answer in a row after which the scan gives up.
    static let silenceLimit = 3

    /// Creates a scanner; nothing is sent until `scan()`.
    public init(options: ModbusScanOptions, logger: Logger) {
        self.options = options
        var logger = logger
        logger[metadataKey: "modbus-scan"] = "\(options.transport.endpoint) unit \(options.unitID)"
        self.logger = logger
    }

    /// Scans and returns what it found. Cancelling the task stops the scan after the request
    /// in flight (bounded by the response timeout); the report then says so.
    public func scan() async -> ModbusScanReport {
        let cancelled = CancelFlag()
        let options = self.options
        let logger = self.logger
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ModbusScanReport, Never>) in
                let thread = Thread {
                    // The session and its libmodbus context live and die on this thread.
                    continuation.resume(returning: ScanSession(options: options, logger: logger, cancelled: cancelled).run())
                }
                thread.name = "modbus scan \(options.transport.endpoint)"
                thread.start()
            }
        } onCancel: {
            cancelled.set()
        }
    }
}

/// Set when the scanning task is cancelled; read by the scan thread between requests.
final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}

/// One scan, on its own thread.
///
/// Not `Sendable`: created, used and released on the scan thread, with the libmodbus
/// context it owns.
final class ScanSession {
    private let options: ModbusScanOptions
    private let logger: Logger
    private let cancelled: CancelFlag
    private let client: ModbusClient
    private var requests = 0
    /// True once the device has answered anything, data or exception.
    private var answered = false
    private var silentInARow = 0
    /// Why scanning ends early; set once.
    private var halt: String?
    private var unreachable: String?
    private var lastProgress = ContinuousClock.now

    init(options: ModbusScanOptions, logger: Logger, cancelled: CancelFlag) {
        self.options = options
        self.logger = logger
        self.cancelled = cancelled
        self.client = ModbusClient(transport: options.transport)
    }

    private var endpoint: String { options.transport.endpoint }

    func run() -> ModbusScanReport {
        let started = ContinuousClock.now
        logger.debug(
            "scan started",
            metadata: [
                "tables": "\(options.tables.map(\.rawValue).joined(separator: ","))",
                "range": "\(options.range.lowerBound)-\(options.range.upperBound)",
            ])
        do {
            try client.connect(timeout: options.responseTimeout)
            client.setUnit(options.unitID)
        } catch {
            let reason = ModbusText.connectionText(error, endpoint: endpoint, timeout: options.responseTimeout)
            unreachable = reason
            halt = "not scanned: \(reason)"
        }
        let tables = options.tables.map(scan)
        client.close()
        let report = ModbusScanReport(
            options: options, tables: tables, requests: requests,
            duration: ContinuousClock.now - started, unreachable: unreachable,
            stopped: unreachable == nil ? halt : nil)
        logger.debug("scan finished", metadata: ["requests": "\(requests)", "readable": "\(report.readableCount)"])
        return report
    }

    // MARK: One table

    /// Walks the table's range from its first address; every address ends up readable,
    /// refused or failed exactly once, in address order.
    private func scan(_ table: ModbusTable) -> ModbusScanReport.TableResult {
        var result = TableBuilder(table: table, range: options.range)
        let last = options.range.upperBound
        let limit = options.limit(for: table)
        var next = options.range.lowerBound
        // After a refused address, read one address at a time until one answers.
        var single = false
        while next <= last {
            if cancelled.isSet, halt == nil { halt = "not scanned: scan cancelled" }
            if let halt {
                result.fail(next...last, halt)
                break
            }
            reportProgress(table, next)
            let count = single ? 1 : min(limit, last - next + 1)
            switch read(table, next, count) {
            case .values(let values):
                result.readable(next, values)
                next += count
                single = false
            case .refused where count == 1:
                result.refuse(next)
                next += 1
                single = true
            case .refused:
                // Binary search on the length: `good` registers from `next` read fine (0
                // trivially), `bad` were refused. When they meet, address next + good is the
                // first refused one.
                var good = 0, bad = count
                var prefix: [UInt16] = []
                var stoppedBy: (count: Int, outcome: Outcome)?
                while bad - good > 1, stoppedBy == nil {
                    let middle = (good + bad) / 2
                    switch read(table, next, middle) {
                    case .values(let values): good = middle; prefix = values
                    case .refused: bad = middle
                    case let other: stoppedBy = (middle, other)
                    }
                }
                result.readable(next, prefix)
                if let (probed, outcome) = stoppedBy {
                    // Something other than a refusal: what the probe covered beyond the
                    // readable prefix stays unknown; go on after it.
                    if handleFailure(outcome, &result, (next + good)...(next + probed - 1)) { return result.table }
                    next += probed
                    single = false
                } else {
                    result.refuse(next + good)
                    next += good + 1
                    single = true
                }
            case let other:
                if handleFailure(other, &result, next...(next + count - 1)) { return result.table }
                next += count
                single = false
            }
        }
        return result.table
    }

    /// Records a failed request; true when the rest of the table cannot be scanned (the
    /// device has no such table), which has then been recorded too.
    private func handleFailure(_ outcome: Outcome, _ result: inout TableBuilder, _ addresses: ClosedRange<Int>) -> Bool {
        switch outcome {
        case .values, .refused:
            preconditionFailure("not a failure: \(outcome)")
        case .failed(let reason):
            result.fail(addresses, reason)
            return false
        case .unsupported(let reason):
            result.fail(addresses.lowerBound...options.range.upperBound, reason)
            return true
        }
    }

    /// An info line every few seconds, so that a slow scan (a serial line, a long range of
    /// refused addresses) shows that it moves.
    private func reportProgress(_ table: ModbusTable, _ address: Int) {
        guard ContinuousClock.now - lastProgress >= .seconds(5) else { return }
        lastProgress = .now
        logger.info(
            "scanning \(table.rawValue) at address \(address) of \(options.range.lowerBound)-\(options.range.upperBound)",
            metadata: ["requests": "\(requests)"])
    }

    // MARK: One request

    enum Outcome {
        /// The values, one per address.
        case values([UInt16])
        /// "Illegal data address": at least one address of the request is refused.
        case refused
        /// Anything else; the reason says what.
        case failed(String)
        /// "Illegal function": the device has no such table.
        case unsupported(String)
    }

    private func read(_ table: ModbusTable, _ start: Int, _ count: Int) -> Outcome {
        requests += 1
        do throws(ModbusFailure) {
            let values =
                table.isBitTable
                ? try client.readBits(table, start: start, count: count).map { $0 ? UInt16(1) : 0 }
                : try client.readRegisters(table, start: start, count: count)
            heard()
            logger.trace("read", metadata: ["table": "\(table.rawValue)", "start": "\(start)", "count": "\(count)"])
            return .values(values)
        } catch {
            logger.trace(
                "read failed",
                metadata: [
                    "table": "\(table.rawValue)", "start": "\(start)", "count": "\(count)",
                    "errno": "\(error.code)",
                ])
            return classify(error, table)
        }
    }

    private func classify(_ error: ModbusFailure, _ table: ModbusTable) -> Outcome {
        let unit = "\(endpoint) unit \(options.unitID)"
        if let name = ModbusText.exceptionName(error.code), let number = error.exceptionCode {
            let reason = "\(name) (Modbus exception \(number))"
            switch error.code {
            case CModbus_EMBXILADD:
                heard()
                return .refused
            case CModbus_EMBXILFUN:
                heard()
                return .unsupported("\(reason): \(unit) has no \(table.rawValue) table")
            case CModbus_EMBXGPATH, CModbus_EMBXGTAR:
                // A gateway answered for a unit behind it that did not: the unit is silent.
                return silence("\(name) for unit \(options.unitID) (Modbus exception \(number), from \(endpoint))", reconnect: false)
            default:
                heard()
                return .failed(reason)
            }
        }
        let reason = ModbusText.describe(
            error, endpoint: endpoint, device: unit, unit: options.unitID,
            timeout: options.responseTimeout)
        // No answer, or one that makes no sense: the stream is in an unknown state.
        return silence(reason, reconnect: true)
    }

    private func heard() {
        answered = true
        silentInARow = 0
    }

    /// A request without an answer from the unit: before any answer the device counts as
    /// unreachable; after `silenceLimit` in a row the scan stops.
    private func silence(_ reason: String, reconnect: Bool) -> Outcome {
        silentInARow += 1
        if !answered {
            unreachable = reason
            halt = "not scanned: \(reason)"
        } else if silentInARow >= ModbusScanner.silenceLimit {
            halt = "not scanned: the device stopped answering (\(silentInARow) requests in a row): \(reason)"
        }
        if reconnect {
            client.close()
            if halt == nil {
                do {
                    try client.connect(timeout: options.responseTimeout)
                    client.setUnit(options.unitID)
                } catch {
                    halt =
                        "not scanned: reconnecting failed: "
                        + ModbusText.connectionText(error, endpoint: endpoint, timeout: options.responseTimeout)
                }
            }
        }
        return .failed(reason)
    }
}

/// Collects one table's outcome in address order, merging neighbours.
private struct TableBuilder {
    var table: ModbusScanReport.TableResult

    init(table: ModbusTable, range: ClosedRange<Int>) {
        self.table = ModbusScanReport.TableResult(table: table, range: range)
    }

    mutating func readable(_ start: Int, _ values: [UInt16]) {
        guard !values.isEmpty else { return }
        if let last = table.readable.last, last.addresses.upperBound + 1 == start {
            table.readable[table.readable.count - 1].values += values
        } else {
            table.readable.append(.init(start: start, values: values))
        }
    }

    mutating func refuse(_ address: Int) {
        if let last = table.refused.last, last.upperBound + 1 == address {
            table.refused[table.refused.count - 1] = last.lowerBound...address
        } else {
            table.refused.append(address...address)
        }
    }

    mutating func fail(_ addresses: ClosedRange<Int>, _ reason: String) {
        if let last = table.failed.last, last.addresses.upperBound + 1 == addresses.lowerBound, last.reason == reason {
            table.failed[table.failed.count - 1].addresses = last.addresses.lowerBound...addresses.upperBound
        } else {
            table.failed.append(.init(addresses: addresses, reason: reason))
        }
    }
}
