import ArgumentParser
import CommandSupport
import Foundation
import GatewayCore
import MapReports

/// Output format of `modbus scan`.
enum ScanFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, map
}

/// `edgegate modbus scan`: the readable address ranges of a device, or a draft device map.
struct ModbusScanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Find the readable address ranges of a Modbus device; print them or a draft device map.",
        discussion: """
            Reads each table in requests of 125 registers (2000 bits). When the device answers \
            "illegal data address", a binary search finds the readable part of the request and \
            the first refused address; refused addresses are then read one at a time until one \
            answers. A run of readable addresses costs one request per 125, a refused address \
            one request: scan the range you need. Timeouts and other exceptions are reported as \
            such, never as refused addresses; "illegal function" means the device has no such table.

            --format text lists readable, refused and failed ranges per table (values of short \
            ranges too); json gives the same with every value; map prints a draft device map, \
            one read-only point per readable register (uint16) or bit (bool), that validates as \
            printed: a draft to edit (names, types that span registers, scale, units, access).

            Exit codes: 0 something readable was found; 1 the device could not be reached or \
            nothing was readable (the message says which); 2 usage error (a range such as 10-5, \
            an unknown table).
            """)

    @Option(help: "Modbus TCP: the device's (or gateway's) address or host name.")
    var host: String?

    @Option(help: "Modbus TCP port.")
    var port: Int = 502

    @Option(help: "Modbus RTU instead of TCP: the serial device, e.g. /dev/ttyUSB0.")
    var serial: String?

    @Option(help: "RTU: bits per second (default 19200).")
    var baud: Int?

    @Option(help: "RTU: parity N, E or O (default E).")
    var parity: String?

    @Option(help: "RTU: data bits (default 8).")
    var dataBits: Int?

    @Option(help: "RTU: stop bits, 1 or 2 (default 1).")
    var stopBits: Int?

    @Option(help: "Unit id (slave id).")
    var unit: Int = 1

    @Option(
        parsing: .upToNextOption,
        help: "Tables to scan: coil, discrete, input, holding or all; several allowed (default: all).")
    var table: [String] = []

    @Option(help: "Addresses to scan in each table, 0-based and inclusive: FIRST-LAST or one address.")
    var range: String = "0-9999"

    @Option(help: "How long to wait for each response: 500ms, 2s.")
    var timeout: DurationArgument = DurationArgument(.milliseconds(500))

    @Option(help: "Registers per read request, for devices that refuse 125 (1-125).")
    var maxRegistersPerRequest: Int = 125

    @Option(help: "Output: text, json, or map (a draft device map).")
    var format: ScanFormat = .text

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        _ = try scanOptions()
    }

    /// The options of the scan, checked; every problem is a usage error (exit 2).
    func scanOptions() throws -> ModbusScanOptions {
        let transport: ModbusTransport
        switch (host, serial) {
        case (nil, nil):
            throw ValidationError("give --host for Modbus TCP or --serial for Modbus RTU")
        case (_?, _?):
            throw ValidationError("give --host (Modbus TCP) or --serial (Modbus RTU), not both")
        case (let host?, nil):
            if let rtu = [
                ("--baud", baud != nil), ("--parity", parity != nil), ("--data-bits", dataBits != nil),
                ("--stop-bits", stopBits != nil),
            ].first(where: \.1) {
                throw ValidationError("\(rtu.0) is a Modbus RTU setting: give --serial instead of --host")
            }
            guard (1...65535).contains(port) else { throw ValidationError("--port \(port) is not a TCP port (1-65535)") }
            transport = .tcp(host: host, port: port)
        case (nil, let device?):
            let parityValue =
                try parity.map { text -> ModbusSerialPort.Parity in
                    guard let p = ModbusSerialPort.Parity(rawValue: text.uppercased()) else {
                        throw ValidationError("--parity '\(text)': give N, E or O")
                    }
                    return p
                } ?? .even
            let line = ModbusSerialPort(
                device: device, baud: baud ?? 19200, parity: parityValue,
                dataBits: dataBits ?? 8, stopBits: stopBits ?? 1)
            guard (50...4_000_000).contains(line.baud) else { throw ValidationError("--baud \(line.baud) is not a serial speed (50-4000000)") }
            guard (5...8).contains(line.dataBits) else { throw ValidationError("--data-bits \(line.dataBits): give 5 to 8") }
            guard (1...2).contains(line.stopBits) else { throw ValidationError("--stop-bits \(line.stopBits): give 1 or 2") }
            transport = .rtu(line)
        }
        do {
            return try ModbusScanOptions(
                transport: transport, unitID: unit, tables: try tables(),
                range: try ModbusScanOptions.parseRange(range),
                responseTimeout: timeout.duration, maxRegistersPerRequest: maxRegistersPerRequest)
        } catch let error as ModbusAdapterError {
            throw ValidationError(error.description)
        }
    }

    /// `--table` values, each possibly a comma-separated list; none means all four.
    private func tables() throws -> [ModbusTable] {
        let names = table.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() } }
        if names.isEmpty || names.contains("all") { return ModbusTable.allCases }
        return try names.map { name in
            guard let table = ModbusTable(rawValue: name) else {
                throw ValidationError("unknown table '\(name)': give coil, discrete, input, holding or all")
            }
            return table
        }
    }

    func run() async throws {
        let options = try scanOptions()
        let logger = logging.makeLogger("edgegate.modbus")
        let report = await ModbusScanner(options: options, logger: logger).scan()
        let target = "\(options.transport.endpoint) unit \(options.unitID)"

        switch format {
        case .text where report.unreachable == nil:
            print(ScanText.render(report), terminator: "")
        case .json:
            try printJSON(ScanRecord(report))
        case .map where report.readableCount > 0:
            print(ScanDraftMap.render(report), terminator: "")
        case .text, .map:
            break
        }
        if let unreachable = report.unreachable {
            throw failOperation("error: \(target) could not be reached: \(unreachable)")
        }
        if let stopped = report.stopped {
            FileHandle.standardError.write(Data("warning: the scan stopped early: \(stopped)\n".utf8))
        }
        if report.readableCount == 0 {
            let why = report.tables.map(ScanText.whyNothing).joined(separator: "; ")
            throw failOperation("error: nothing readable at \(target) in addresses \(ScanText.span(options.range)): \(why)")
        }
    }
}

/// The text form of a scan report.
enum ScanText {
    /// `17`, `50–52`.
    static func span(_ r: ClosedRange<Int>) -> String {
        r.count == 1 ? "\(r.lowerBound)" : "\(r.lowerBound)–\(r.upperBound)"
    }

    /// Ranges of at most this many addresses show their values in the text form.
    static let valuesShownUpTo = 8

    /// `956 readable in 4 ranges, 44 refused, 125 failed`, or `nothing readable, 10000 refused`.
    static func outcome(_ t: ModbusScanReport.TableResult) -> String {
        var parts = [
            t.readable.isEmpty
                ? "nothing readable"
                : "\(t.readableCount) readable in \(t.readable.count) range\(t.readable.count == 1 ? "" : "s")"
        ]
        if t.refusedCount > 0 { parts.append("\(t.refusedCount) refused") }
        if t.failedCount > 0 { parts.append("\(t.failedCount) failed") }
        return parts.joined(separator: ", ")
    }

    /// Why a table gave nothing: `holding: 100 refused (illegal data address)`,
    /// `coil: illegal function (Modbus exception 1): ... has no coil table`.
    static func whyNothing(_ t: ModbusScanReport.TableResult) -> String {
        var parts: [String] = []
        if t.refusedCount > 0 { parts.append("\(t.refusedCount) refused (illegal data address)") }
        var reasons: [String] = []
        for f in t.failed where !reasons.contains(f.reason) { reasons.append(f.reason) }
        parts += reasons
        return "\(t.table.rawValue): " + parts.joined(separator: ", ")
    }

    static func render(_ report: ModbusScanReport) -> String {
        let o = report.options
        let seconds = report.duration.seconds
        var text =
            "\(o.transport.endpoint) unit \(o.unitID), addresses \(span(o.range)): \(report.readableCount) readable, "
            + "\(report.requests) requests in \(String(format: "%.2f", seconds)) s\n"
        for t in report.tables {
            text += "\n\(t.table.rawValue): \(outcome(t))\n"
            if !t.readable.isEmpty {
                let rows = t.readable.map { r -> [String] in
                    let values = r.count <= valuesShownUpTo ? r.values.map(String.init).joined(separator: " ") : ""
                    return [String(r.start), String(r.addresses.upperBound), String(r.count), values]
                }
                for line in columns(["first", "last", "count", "values"], rows) { text += "  " + line + "\n" }
            }
            if !t.refused.isEmpty {
                text += "  refused: " + t.refused.map(span).joined(separator: ", ") + "\n"
            }
            for f in t.failed {
                text += "  failed \(span(f.addresses)): \(f.reason)\n"
            }
        }
        return text
    }
}

/// The JSON form of a scan report: addresses as `first`/`last`/`count`, values as numbers
/// (registers) or booleans (bits).
struct ScanRecord: Encodable {
    let endpoint: String
    let unitID: Int
    let first, last: Int
    let requests: Int
    let durationMilliseconds: Int64
    let readable: Int
    let unreachable: String?
    let stopped: String?
    let tables: [TableRecord]

    init(_ report: ModbusScanReport) {
        endpoint = report.options.transport.endpoint
        unitID = report.options.unitID
        first = report.options.range.lowerBound
        last = report.options.range.upperBound
        requests = report.requests
        durationMilliseconds = milliseconds(report.duration)
        readable = report.readableCount
        unreachable = report.unreachable
        stopped = report.stopped
        tables = report.tables.map(TableRecord.init)
    }

    enum CodingKeys: String, CodingKey {
        case endpoint, first, last, requests, readable, unreachable, stopped, tables
        case unitID = "unit_id", durationMilliseconds = "duration_ms"
    }

    struct TableRecord: Encodable {
        let table: String
        let readable: [RangeRecord]
        let refused: [RangeRecord]
        let failed: [RangeRecord]

        init(_ t: ModbusScanReport.TableResult) {
            table = t.table.rawValue
            readable = t.readable.map { RangeRecord($0.addresses, values: t.table.isBitTable ? .bits($0.values.map { $0 != 0 }) : .registers($0.values)) }
            refused = t.refused.map { RangeRecord($0) }
            failed = t.failed.map { RangeRecord($0.addresses, reason: $0.reason) }
        }
    }

    struct RangeRecord: Encodable {
        let first, last, count: Int
        let values: Values?
        let reason: String?

        init(_ r: ClosedRange<Int>, values: Values? = nil, reason: String? = nil) {
            first = r.lowerBound
            last = r.upperBound
            count = r.count
            self.values = values
            self.reason = reason
        }
    }

    enum Values: Encodable {
        case registers([UInt16])
        case bits([Bool])

        func encode(to encoder: any Encoder) throws {
            switch self {
            case .registers(let r): try r.encode(to: encoder)
            case .bits(let b): try b.encode(to: encoder)
            }
        }
    }
}

/// A draft device map of what a scan found, that validates as printed.
enum ScanDraftMap {
    static func render(_ report: ModbusScanReport) -> String {
        let o = report.options
        let tables = report.tables.map { "\($0.table.rawValue)" }.joined(separator: ", ")
        var lines = [
            "# DRAFT device map written by `edgegate modbus scan` for \(o.transport.endpoint) unit \(o.unitID)",
            "# (\(tables), addresses \(ScanText.span(o.range))). Edit before use: every readable register is",
            "# a uint16 point and every readable bit a bool point, read-only, named after its table and",
            "# address, with the value read during the scan. Name the points; join registers that hold",
            "# one value (int32, float32, string, ...) into one point with its type and word order; add",
            "# scale, unit and access: readwrite where writes are wanted; delete the rest.",
            "# Check it with: edgegate map validate FILE",
            "devices:",
            "  - id: \(deviceID(o))",
            "    protocol: modbus",
            "    connection: \(connection(o))",
            "    poll: 1s",
            "    points:",
        ]
        let width = report.tables.flatMap { t in t.readable.map { "\(t.table.rawValue)_\($0.addresses.upperBound):".count } }.max() ?? 0
        for t in report.tables {
            let unit = t.table.isBitTable ? "bit" : "register"
            for r in t.readable {
                lines.append("      # \(t.table.rawValue) \(ScanText.span(r.addresses)): \(r.count) \(unit)\(r.count == 1 ? "" : "s")")
                for (i, value) in r.values.enumerated() {
                    let address = r.start + i
                    let name = "\(t.table.rawValue)_\(address):".padding(toLength: width, withPad: " ", startingAt: 0)
                    let type = t.table.isBitTable ? "bool" : "uint16"
                    let read = t.table.isBitTable ? (value != 0 ? "true" : "false") : "\(value)"
                    lines.append("      \(name) { table: \(t.table.rawValue), address: \(address), type: \(type) }   # read \(read)")
                }
            }
            for f in t.failed {
                lines.append("      # \(t.table.rawValue) \(ScanText.span(f.addresses)) not in this draft: \(f.reason)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `scanned-192-168-10-21-502-unit-3`: unique per device, and obviously a placeholder.
    static func deviceID(_ o: ModbusScanOptions) -> String {
        let words = o.transport.endpoint.lowercased().split { !($0.isLetter || $0.isNumber) }
        return (["scanned"] + words + ["unit", "\(o.unitID)"]).joined(separator: "-")
    }

    /// The scan's own connection, in device-map form.
    static func connection(_ o: ModbusScanOptions) -> String {
        var keys: [String] = []
        switch o.transport {
        case .tcp(let host, let port):
            keys += ["host: \(scalar(host))", "port: \(port)"]
        case .rtu(let line):
            keys += ["serial: \(scalar(line.device))", "baud: \(line.baud)", "parity: \(line.parity.rawValue)"]
            if line.dataBits != 8 { keys.append("data_bits: \(line.dataBits)") }
            if line.stopBits != 1 { keys.append("stop_bits: \(line.stopBits)") }
        }
        keys += ["unit_id: \(o.unitID)", "timeout: \(o.responseTimeout.mapText)"]
        if o.maxRegistersPerRequest != 125 { keys.append("max_registers_per_request: \(o.maxRegistersPerRequest)") }
        return "{ " + keys.joined(separator: ", ") + " }"
    }

    /// A plain YAML scalar where that is safe, else a double-quoted one (JSON's escapes are
    /// YAML's too).
    static func scalar(_ text: String) -> String {
        if !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._/-".contains($0)) }),
            text.first != "-"
        {
            return text
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let data = (try? encoder.encode(text)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
