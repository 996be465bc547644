import DevTools
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Logging
import ModbusAdapter
import TestSupport
import Testing

/// The most requests the scanner may spend on one table (see `ModbusScanner`): successful
/// large reads, at most ⌈readable / 125⌉ plus one per readable run; per refused run, the
/// large read that hit it, a binary search of ⌈log₂ 125⌉ = 7 reads and the single read that
/// finds the next readable address; and one read per further refused address.
func scanRequestBound(readable: Int, refusedRuns: Int, refused: Int, limit: Int = 125) -> Int {
    let search = Int(log2(Double(limit)).rounded(.up))
    return (readable + limit - 1) / limit + (refusedRuns + 1) + refusedRuns * (search + 1) + (refused - refusedRuns)
}

/// Checks that readable, refused and failed ranges cover the scanned range exactly once, in
/// order: no address is missing, none is counted twice.
func expectPartition(_ t: ModbusScanReport.TableResult, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    let all = (t.readable.map(\.addresses) + t.refused + t.failed.map(\.addresses)).sorted { $0.lowerBound < $1.lowerBound }
    var next = t.range.lowerBound
    for r in all {
        #expect(r.lowerBound == next, "\(t.table): \(r) after \(next - 1)", sourceLocation: sourceLocation)
        next = r.upperBound + 1
    }
    #expect(next == t.range.upperBound + 1, "\(t.table) ends at \(next - 1)", sourceLocation: sourceLocation)
}

/// `ModbusScanner` against real servers: pymodbus with holes in its register space (see the
/// `--sparse` layout in Peers/pymodbus_server.py) and the libmodbus simulator.
@Suite("Modbus scan", .serialized, .timeLimit(.minutes(2)))
struct ScanTests {
    static let logger = Logger(label: "edgegate.tests.scan")

    static func scan(
        port: Int, unit: Int = 1, _ tables: [ModbusTable], _ range: ClosedRange<Int>,
        timeout: Duration = .seconds(1)
    ) async throws -> ModbusScanReport {
        let options = try ModbusScanOptions(
            transport: .tcp(host: "127.0.0.1", port: port), unitID: unit, tables: tables,
            range: range, responseTimeout: timeout)
        return await ModbusScanner(options: options, logger: logger).scan()
    }

    @Test("pymodbus with holes: exactly the readable ranges and their values, the refused addresses, and requests bounded by the holes")
    func holes() async throws {
        let peer = try await PymodbusPeer.start(["--sparse"])
        defer { peer.stop() }

        let report = try await Self.scan(port: peer.port, [.holding], 0...999)
        #expect(report.unreachable == nil && report.stopped == nil)
        let holding = try #require(report.tables.first)
        expectPartition(holding)
        #expect(holding.readable.map(\.addresses) == [0...16, 18...49, 53...599, 640...999])
        #expect(holding.refused == [17...17, 50...52, 600...639])
        #expect(holding.failed.isEmpty)
        // The values as served (10000 + address), at their own addresses.
        for r in holding.readable {
            #expect(r.values == r.addresses.map { UInt16(10000 + $0) }, "values of \(r.addresses)")
        }
        // 956 readable addresses, three refused runs of 44 addresses in all: far fewer requests
        // than the 1000 addresses, and every one of them reached the server.
        let bound = scanRequestBound(readable: 956, refusedRuns: 3, refused: 44)
        #expect(report.requests <= bound, "\(report.requests) requests, bound \(bound)")
        #expect(report.requests == peer.readRequestCount())
    }

    @Test("pymodbus: a lone register among refused ones, a bit table with a hole, a table that fails with device failure")
    func loneRegisterAndOtherTables() async throws {
        let peer = try await PymodbusPeer.start(["--sparse"])
        defer { peer.stop() }

        let lone = try await Self.scan(port: peer.port, [.holding], 1490...1510)
        let holding = try #require(lone.tables.first)
        expectPartition(holding)
        #expect(holding.readable.map(\.addresses) == [1500...1500])
        #expect(holding.readable.first?.values == [11500])
        #expect(holding.refused == [1490...1499, 1501...1510])
        #expect(lone.requests <= scanRequestBound(readable: 1, refusedRuns: 2, refused: 20))

        let before = peer.readRequestCount()
        let report = try await Self.scan(port: peer.port, [.coil, .discrete, .input], 0...63)
        #expect(report.requests == peer.readRequestCount() - before)
        #expect(report.tables.map(\.table) == [.coil, .discrete, .input])
        for t in report.tables { expectPartition(t) }
        let coil = report.tables[0], discrete = report.tables[1], input = report.tables[2]

        #expect(coil.readable.map(\.addresses) == [0...7, 9...39])
        #expect(coil.readable.allSatisfy { r in r.values == r.addresses.map { $0 % 3 == 0 ? 1 : 0 } })
        #expect(coil.refused == [8...8, 40...63])

        // Exception 4 is reported as what it is, not taken for refused addresses.
        #expect(discrete.readable.isEmpty)
        #expect(discrete.failed.map(\.addresses) == [0...15])
        #expect(discrete.failed.first?.reason == "device failure (Modbus exception 4)")
        #expect(discrete.refused == [16...63])

        #expect(input.readable.map(\.addresses) == [0...19])
        #expect(input.readable.first?.values == (0...19).map { UInt16(20000 + $0) })
        #expect(input.refused == [20...63])
    }

    @Test("the libmodbus simulator: registers up to the last point read, the rest of the range refused, every request counted")
    func simulator() async throws {
        let port = try freeLoopbackPort()
        let yaml = """
            devices:
              - id: scan-target
                protocol: modbus
                connection: { host: 127.0.0.1, port: \(port) }
                points:
                  level: { table: holding, address: 0, type: int16, access: readwrite, min: 10, max: 30 }
                  total: { table: holding, address: 998, type: uint32, access: readwrite, min: 0, max: 200000 }
                  valve: { table: coil, address: 1999, access: readwrite }
            """
        let (parsed, diagnostics) = DeviceMapLoader.standard.parse(yaml: yaml, file: "scan-target.yaml")
        let map = try #require(parsed, "\(diagnostics)")
        let simulator = try ModbusSimulator(devices: map.devices, port: port, animated: false, logger: Self.logger)
        try simulator.start()
        defer { simulator.stop() }

        let report = try await Self.scan(port: port, [.holding, .coil], 0...1049)
        #expect(report.unreachable == nil && report.stopped == nil)
        let holding = report.tables[0], coil = report.tables[1]
        expectPartition(holding)
        expectPartition(coil)
        // The simulator's holding space ends after `total` (998–999).
        #expect(holding.readable.map(\.addresses) == [0...999])
        #expect(holding.refused == [1000...1049])
        // Writable points start in the middle of min…max: level 20, total 100000 = 0x0001_86A0.
        let values = try #require(holding.readable.first?.values)
        #expect(values[0] == 20)
        #expect(Array(values[998...999]) == [0x0001, 0x86A0])
        // Coils exist up to `valve` at 1999: the whole range reads in one request.
        #expect(coil.readable.map(\.addresses) == [0...1049])

        let bound = scanRequestBound(readable: 1000, refusedRuns: 1, refused: 50) + scanRequestBound(readable: 1050, refusedRuns: 0, refused: 0, limit: 2000)
        #expect(report.requests <= bound, "\(report.requests) requests, bound \(bound)")
        let counts = simulator.requestCounts
        #expect(report.requests == (counts[3] ?? 0) + (counts[1] ?? 0), "\(counts)")
    }

    @Test("a unit the gateway does not have is unreachable, with the gateway's exception as the reason")
    func missingUnit() async throws {
        let peer = try await PymodbusPeer.start(["--sparse"])
        defer { peer.stop() }
        let report = try await Self.scan(port: peer.port, unit: 2, [.holding, .coil], 0...999)
        #expect(report.unreachable == "gateway target device failed to respond for unit 2 (Modbus exception 11, from 127.0.0.1:\(peer.port))")
        #expect(report.requests == 1)
        #expect(report.readableCount == 0)
        for t in report.tables {
            expectPartition(t)
            #expect(t.refused.isEmpty)
        }
    }

    @Test("a unit that never answers is unreachable after one response timeout, not a range of refused addresses")
    func silentUnit() async throws {
        let peer = try await PymodbusPeer.start(["--sparse", "--ignore-missing-units"])
        defer { peer.stop() }
        let report = try await Self.scan(port: peer.port, unit: 2, [.holding], 0...999, timeout: .milliseconds(200))
        #expect(report.unreachable == "no response from 127.0.0.1:\(peer.port) (unit 2) within 200ms")
        #expect(report.requests == 1)
        let holding = try #require(report.tables.first)
        expectPartition(holding)
        #expect(holding.refused.isEmpty && holding.readable.isEmpty)
        #expect(holding.failed.last?.reason.hasPrefix("not scanned: no response from") == true)
    }

    @Test("a refused connection: unreachable, naming host and port, without a single request")
    func refusedConnection() async throws {
        let port = try freeLoopbackPort()
        let report = try await Self.scan(port: port, [.holding], 0...99)
        #expect(report.unreachable == "connection refused by 127.0.0.1:\(port)")
        #expect(report.requests == 0)
    }

    @Test("cancelling the task stops the scan after the request in flight; the rest is reported as not scanned")
    func cancel() async throws {
        let port = try freeLoopbackPort()
        let yaml = """
            devices:
              - id: scan-target
                protocol: modbus
                connection: { host: 127.0.0.1, port: \(port) }
                points: { level: { table: holding, address: 0, type: uint16 } }
            """
        let (parsed, diagnostics) = DeviceMapLoader.standard.parse(yaml: yaml, file: "cancel.yaml")
        let map = try #require(parsed, "\(diagnostics)")
        let simulator = try ModbusSimulator(devices: map.devices, port: port, animated: false, logger: Self.logger)
        try simulator.start()
        defer { simulator.stop() }
        // The simulator has no discrete inputs: all 65536 addresses are refused, one request
        // each, so the scan is far from done when it is cancelled.
        let scanning = Task { try await Self.scan(port: port, [.discrete], 0...65535) }
        try await Task.sleep(for: .milliseconds(100))
        scanning.cancel()
        let report = try await withTimeout(.seconds(20), "cancelled scan") { try await scanning.value }
        #expect(report.stopped == "not scanned: scan cancelled")
        let discrete = try #require(report.tables.first)
        expectPartition(discrete)
        #expect(discrete.failed.last?.addresses.upperBound == 65535)
        #expect(discrete.failed.last?.reason == "not scanned: scan cancelled")
        #expect(report.requests < 65536)
    }

    @Test("bad scan options are refused with a reason")
    func options() throws {
        #expect(
            throws: ModbusAdapterError.invalidScan(
                "range '10-5' runs backwards (10 is after 5): give FIRST-LAST (0-based, inclusive), e.g. 0-9999, or one address")
        ) {
            try ModbusScanOptions.parseRange("10-5")
        }
        #expect(try ModbusScanOptions.parseRange("100") == 100...100)
        #expect(try ModbusScanOptions.parseRange(" 0 - 9999 ") == 0...9999)
        #expect(throws: ModbusAdapterError.self) { try ModbusScanOptions.parseRange("0-70000") }
        #expect(throws: ModbusAdapterError.self) { try ModbusScanOptions.parseRange("a-b") }
        #expect(throws: ModbusAdapterError.self) {
            try ModbusScanOptions(transport: .rtu(ModbusSerialPort(device: "/dev/ttyUSB0")), unitID: 0)
        }
        #expect(throws: ModbusAdapterError.self) {
            try ModbusScanOptions(transport: .tcp(host: "127.0.0.1", port: 502), maxRegistersPerRequest: 126)
        }
        #expect(throws: ModbusAdapterError.self) { try ModbusScanOptions(transport: .tcp(host: "127.0.0.1", port: 502), tables: []) }
    }
}

/// `edgegate modbus scan` as a user runs it.
@Suite("edgegate modbus scan", .serialized, .timeLimit(.minutes(2)))
struct ScanCommandTests {
    struct Record: Decodable {
        struct Table: Decodable {
            struct Span: Decodable {
                let first, last: Int
                let reason: String?
            }
            let table: String
            let readable, refused, failed: [Span]
        }
        let requests: Int
        let readable: Int
        let tables: [Table]
    }

    @Test("text, json and a draft map of the same device; the draft validates as printed and has one point per readable address")
    func formats() async throws {
        let peer = try await PymodbusPeer.start(["--sparse"])
        defer { peer.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let args = ["modbus", "scan", "--host", "127.0.0.1", "--port", "\(peer.port)", "--range", "0-63", "--table", "coil,input", "discrete"]

        let text = try await runEdgegate(args, in: dir)
        #expect(text.status == 0, "\(text.output)")
        for line in [
            "coil: 39 readable in 2 ranges, 25 refused", "  0      7     8      1 0 0 1 0 0 1 0", "  refused: 8, 40–63",
            "discrete: nothing readable, 48 refused, 16 failed", "  failed 0–15: device failure (Modbus exception 4)",
            "input: 20 readable in 1 range, 44 refused",
        ] {
            #expect(text.output.contains(line + "\n"), "\(line) in:\n\(text.output)")
        }

        let jsonFile = dir.file("scan.json")
        #expect(try await runEdgegate(args + ["--format", "json"], writingStdoutTo: jsonFile) == 0)
        let record = try JSONDecoder().decode(Record.self, from: Data(contentsOf: URL(fileURLWithPath: jsonFile)))
        #expect(record.readable == 59)
        #expect(record.tables.map(\.table) == ["coil", "input", "discrete"])
        #expect(record.tables[0].readable.map { [$0.first, $0.last] } == [[0, 7], [9, 39]])
        #expect(record.tables[2].failed.first?.reason == "device failure (Modbus exception 4)")

        let mapFile = dir.file("draft.yaml")
        #expect(try await runEdgegate(args + ["--format", "map"], writingStdoutTo: mapFile) == 0)
        let draft = try String(contentsOfFile: mapFile, encoding: .utf8)
        #expect(draft.hasPrefix("# DRAFT device map"))
        let (map, diagnostics) = DeviceMapLoader.standard.validate(paths: [mapFile])
        #expect(diagnostics.isEmpty, "\(diagnostics.map(\.description))\n\(draft)")
        let device = try #require(map?.devices.first)
        let expected = ((0...7).map { "coil_\($0)" } + (9...39).map { "coil_\($0)" } + (0...19).map { "input_\($0)" })
        #expect(device.points.map(\.name) == expected)
        #expect(device.points.allSatisfy { $0.access == .read })
        #expect(device.modbusConnection.port == peer.port)
        #expect(draft.contains("      # discrete 0–15 not in this draft: device failure (Modbus exception 4)\n"))
        let validated = try await runEdgegate(["map", "validate", mapFile], in: dir)
        #expect(validated.status == 0, "\(validated.output)")
    }

    @Test("exit 1 naming host:port when nothing listens, and when the device refuses every address")
    func nothingFound() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let port = try freeLoopbackPort()
        let closed = try await runEdgegate(["modbus", "scan", "--host", "127.0.0.1", "--port", "\(port)"], in: dir)
        #expect(closed.status == 1)
        #expect(
            closed.output.contains("error: 127.0.0.1:\(port) unit 1 could not be reached: connection refused by 127.0.0.1:\(port)"),
            "\(closed.output)")

        let peer = try await PymodbusPeer.start(["--sparse"])
        defer { peer.stop() }
        let refused = try await runEdgegate(
            [
                "modbus", "scan", "--host", "127.0.0.1", "--port", "\(peer.port)", "--table", "holding",
                "--range", "2000-2099", "--format", "map",
            ], in: dir)
        #expect(refused.status == 1)
        #expect(
            refused.output == "error: nothing readable at 127.0.0.1:\(peer.port) unit 1 in addresses 2000–2099: holding: 100 refused (illegal data address)\n")
    }

    @Test("usage errors exit 2 with the reason: a range that runs backwards, an unknown table, no device, TCP and RTU mixed")
    func usage() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cases: [([String], String)] = [
            (["--host", "127.0.0.1", "--range", "10-5"], "range '10-5' runs backwards"),
            (["--host", "127.0.0.1", "--table", "holdings"], "unknown table 'holdings'"),
            ([], "give --host for Modbus TCP or --serial for Modbus RTU"),
            (["--host", "127.0.0.1", "--baud", "9600"], "--baud is a Modbus RTU setting"),
            (["--serial", "/dev/null", "--unit", "0"], "unit id 0 is the broadcast address"),
            (["--host", "127.0.0.1", "--timeout", "0ms"], "timeout must be longer than zero"),
        ]
        for (arguments, message) in cases {
            let result = try await runEdgegate(["modbus", "scan"] + arguments, in: dir)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.output.contains(message), "\(arguments): \(result.output)")
        }
    }

    @Test("help says how the scan works, what each format prints and what the exit codes mean")
    func help() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let result = try await runEdgegate(["modbus", "scan", "--help"], in: dir)
        #expect(result.status == 0)
        // Help is wrapped to the terminal's width: compare with the line breaks taken out.
        let help = result.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for part in [
            "\"illegal data address\", a binary search", "a refused address one request",
            "never as refused addresses", "map prints a draft device map", "validates as printed",
            "0 something readable was found", "1 the device could not be reached or nothing was readable",
            "2 usage error", "--serial", "--table", "--range", "--format",
        ] {
            #expect(help.contains(part), "\(part) in: \(help)")
        }
        let modbus = try await runEdgegate(["modbus", "--help"], in: dir)
        #expect(
            modbus.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
                .contains("scan Find the readable address ranges of a Modbus device"))
    }

    @Test("RTU: a serial line where no unit answers exits 1 after one response timeout, naming the line")
    func silentSerialLine() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // A pseudo-terminal pair: the scanner talks on one end, nobody listens on the other.
        let socat = try TestProcess.spawn(
            "socat",
            [
                "-d", "-d", "pty,raw,echo=0,link=\(dir.file("bus"))",
                "pty,raw,echo=0,link=\(dir.file("far-end"))",
            ],
            stdout: .discard, stderr: .file(dir.file("socat.log")))
        defer { socat.signal(SIGTERM) }
        _ = try await waitFor("socat pty pair") {
            FileManager.default.fileExists(atPath: dir.file("bus")) && FileManager.default.fileExists(atPath: dir.file("far-end")) ? true : nil
        }
        let result = try await runEdgegate(
            [
                "modbus", "scan", "--serial", dir.file("bus"), "--baud", "9600", "--parity", "N",
                "--unit", "7", "--timeout", "100ms",
            ], in: dir)
        #expect(result.status == 1)
        #expect(
            result.output.contains("error: \(dir.file("bus")) unit 7 could not be reached: no response from \(dir.file("bus")) (unit 7) within 100ms"),
            "\(result.output)")
    }
}
