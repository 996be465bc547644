import DevTools
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Logging
import ModbusAdapter
import Synchronization
import TestSupport
import Testing
import Uplink

/// The package root, for the example device maps and saved cases.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Peers/pymodbus_server.py: a Modbus TCP server on a free loopback port, or a Modbus RTU bus
/// on a serial device.
struct PymodbusPeer {
    /// The TCP port; 0 for a serial bus.
    let port: Int
    private let process: ChildProcess
    private let directory: TemporaryDirectory

    private var requestLog: String { directory.file("requests.log") }

    /// What pymodbus logged (why it failed, for example "Address already in use").
    var log: String {
        (try? String(contentsOfFile: directory.file("pymodbus.log"), encoding: .utf8)) ?? ""
    }

    private static func spawn(_ arguments: [String], port: Int) throws -> PymodbusPeer {
        let directory = try TemporaryDirectory()
        return PymodbusPeer(
            port: port,
            process: try TestProcess.spawn(
                try peerPython(), [peerScript("pymodbus_server.py")] + arguments,
                stdout: .file(directory.file("requests.log")),
                stderr: .file(directory.file("pymodbus.log"))),
            directory: directory)
    }

    /// Starts the TCP server with the script's `options` (e.g. `--no-mask-write`,
    /// `--holes 104,110`); returns once it answers.
    static func start(_ options: [String] = []) async throws -> PymodbusPeer {
        let port = try freeLoopbackPort()
        let peer = try spawn(["\(port)"] + options, port: port)
        do {
            _ = try await waitFor("pymodbus listening on \(port)", timeout: .seconds(20)) { () -> ProbeClient? in
                guard peer.process.isRunning else { throw ProbeError("pymodbus_server.py exited") }
                return try? ProbeClient(port: port)
            }
        } catch {
            peer.stop()
            throw ProbeError("\(error): \(peer.log)")
        }
        return peer
    }

    /// Starts the RTU bus on `device` (units 1 and 2, see the script). Python opens the device
    /// a moment later: requests before that time out, which on a bus only costs those polls.
    static func start(serial device: String, _ options: [String] = []) throws -> PymodbusPeer {
        try spawn(["--serial", device] + options, port: 0)
    }

    /// True while the script runs.
    var isRunning: Bool { process.isRunning }

    /// The write requests the server received, in order, as the script logs them
    /// (`fc 22 address 90`).
    func writeRequests() -> [(code: Int, address: Int)] {
        let log = (try? String(contentsOfFile: requestLog, encoding: .utf8)) ?? ""
        return log.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ")
            guard words.count == 4, words[0] == "fc", words[2] == "address",
                let code = Int(words[1]), let address = Int(words[3])
            else { return nil }
            return (code, address)
        }
    }

    /// The read requests the server received, in order (`read fc 3 address 100 count 13`).
    func readRequests() -> [(code: Int, address: Int, count: Int)] {
        let log = (try? String(contentsOfFile: requestLog, encoding: .utf8)) ?? ""
        return log.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ")
            guard words.count == 7, words[0] == "read", words[1] == "fc", words[3] == "address", words[5] == "count",
                let code = Int(words[2]), let address = Int(words[4]), let count = Int(words[6])
            else { return nil }
            return (code, address, count)
        }
    }

    /// How many read requests the server received.
    func readRequestCount() -> Int {
        readRequests().count
    }

    func stop() {
        process.signal(SIGKILL)
        directory.remove()
    }
}

/// The latest reading of each point an adapter reports.
final class LatestReadings: Sendable {
    private let readings = Mutex<[String: Reading]>([:])

    var sink: ReadingSink {
        ReadingSink { [self] batch in readings.withLock { for r in batch { $0[r.point] = r } } }
    }

    var current: [String: Reading] { readings.withLock { $0 } }

    /// Waits (bounded) until the latest readings satisfy `condition`, and returns them.
    func wait(for what: String, _ condition: ([String: Reading]) -> Bool) async throws -> [String: Reading] {
        try await waitFor(what) { () -> [String: Reading]? in
            let now = current
            return condition(now) ? now : nil
        }
    }
}

/// Device `peer-1`, an entry of a device map's `devices:` list, with the points
/// Peers/pymodbus_server.py serves (as unit 1 on its RTU bus).
func peerDevice(connection: String) -> String {
    """
      - id: peer-1
        protocol: modbus
        connection: \(connection)
        poll: 100ms
        points:
          temperature: { table: holding, address: 0, type: int16, scale: 0.1, unit: "°C" }
          setpoint:    { table: holding, address: 1, type: int16, scale: 0.1, access: readwrite, min: 5, max: 90 }
          counter:     { table: holding, address: 20, type: uint32 }
          balance:     { table: holding, address: 30, type: int32 }
          trim:        { table: holding, address: 40, type: float32, word_order: little, access: readwrite }
          flow:        { table: input, address: 10, type: float32, word_order: little, unit: "l/min" }
          speed:       { table: input, address: 12, type: uint16 }
          pump:        { table: coil, address: 0, access: readwrite }
          alarm:       { table: discrete, address: 3 }

    """
}

/// Checks peer-1's readings against the values pymodbus's BinaryPayloadBuilder encoded
/// (Peers/pymodbus_server.py).
func expectPeerValues(_ readings: [String: Reading]) {
    #expect(readings["temperature"]?.value == .double(-12.5))
    #expect(readings["temperature"]?.unit == "°C")
    #expect(readings["setpoint"]?.value == .double(40))
    #expect(readings["counter"]?.value == .int(70_000))
    #expect(readings["balance"]?.value == .int(-100_000))
    #expect(readings["trim"]?.value == .double(-3.75))
    #expect(readings["flow"]?.value == .double(12.5))
    #expect(readings["speed"]?.value == .int(65_000))
    #expect(readings["pump"]?.value == .bool(true))
    #expect(readings["alarm"]?.value == .bool(true))
}

/// Writes peer-1's setpoint (FC 6), trim (FC 16) and pump (FC 5), and checks what it reads back.
func writePeer(_ adapter: ModbusAdapter) async throws {
    let written = try await adapter.write(device: "peer-1", values: ["setpoint": .double(30.5), "trim": .double(1.25), "pump": .bool(false)])
    #expect(written["setpoint"] == .double(30.5))
    #expect(written["trim"] == .double(1.25))
    #expect(written["pump"] == .bool(false))
}

/// Independent implementations on the other end: what our adapter and simulator share (the
/// register codec) and what our client and uplink share (the MQTT wrapper, the JSON writer)
/// cannot cancel out against a peer written by someone else.
@Suite("Independent peers", .serialized, .timeLimit(.minutes(2)))
struct PeerTests {
    @Test("the adapter decodes what pymodbus encoded, and writes what pymodbus serves back")
    func pymodbus() async throws {
        let server = try await PymodbusPeer.start()
        defer { server.stop() }
        let port = server.port

        let yaml = "devices:\n" + peerDevice(connection: "{ host: 127.0.0.1, port: \(port), unit_id: 1 }")
        let (parsed, diagnostics) = DeviceMapLoader.standard.parse(yaml: yaml, file: "peer.yaml")
        let map = try #require(parsed, "\(diagnostics)")
        let adapter = ModbusAdapter(devices: map.devices, logger: Logger(label: "peer"))
        let latest = LatestReadings()
        let running = Task { try await adapter.run(sink: latest.sink) }
        defer { running.cancel() }
        let readings = try await latest.wait(for: "readings from pymodbus") { $0.count == 9 }
        expectPeerValues(readings)
        #expect(readings.values.allSatisfy { $0.quality == .good })

        try await writePeer(adapter)
        let probe = try ProbeClient(port: port)
        #expect(try probe.holding(1) == [305])
        // 1.25 = 0x3FA00000, little word order: [0x0000, 0x3FA0].
        #expect(try probe.holding(40, count: 2) == [0x0000, 0x3FA0])
        #expect(try probe.coil(0) == false)
    }

    @Test("the adapter reads and writes two units of pymodbus's RTU server on one bus; a unit pymodbus lacks stays silent")
    func pymodbusRTU() async throws {
        try await SerialPair.run { pair in
            let server = try PymodbusPeer.start(serial: pair.deviceEnd)
            defer { server.stop() }
            let bus = "serial: \(pair.gatewayEnd), baud: 19200, parity: E"
            let yaml =
                "devices:\n" + peerDevice(connection: "{ \(bus), unit_id: 1, timeout: 300ms }") + """
                      - id: peer-2
                        protocol: modbus
                        connection: { \(bus), unit_id: 2, timeout: 300ms }
                        poll: 100ms
                        points:
                          level: { table: holding, address: 0, type: int16 }
                          mode:  { table: holding, address: 1, type: uint16, access: readwrite }
                      - id: absent-5
                        protocol: modbus
                        connection: { \(bus), unit_id: 5, timeout: 200ms }
                        poll: 100ms
                        points:
                          level: { table: holding, address: 0, type: int16 }
                    """
            let (parsed, diagnostics) = DeviceMapLoader.standard.parse(yaml: yaml, file: "peer-rtu.yaml")
            let map = try #require(parsed, "\(diagnostics)")
            let adapter = ModbusAdapter(devices: map.devices, logger: Logger(label: "peer-rtu"))
            let good = LatestReadings(), absent = LatestReadings()
            let sink = ReadingSink { batch in
                (batch.first?.device == "absent-5" ? absent : good).sink.emit(batch)
            }
            let running = Task { try await adapter.run(sink: sink) }
            defer { running.cancel() }
            // pymodbus opens the bus a second or two after it starts.
            let readings: [String: Reading]
            do {
                readings = try await good.wait(for: "good readings from pymodbus's RTU units") { now in
                    now.count == 11 && now.values.allSatisfy { $0.quality == .good }
                }
            } catch {
                throw ProbeError("\(error); pymodbus running: \(server.isRunning), its log: \(server.log)")
            }
            expectPeerValues(readings)
            #expect(readings["level"]?.value == .int(-421))
            #expect(readings["mode"]?.value == .int(9))
            let silent = try await absent.wait(for: "a reading of unit 5") { !$0.isEmpty }
            #expect(silent["level"]?.quality == .bad("no response from \(pair.gatewayEnd) (unit 5) within 200ms"))

            try await writePeer(adapter)
            #expect(try await adapter.write(device: "peer-2", values: ["mode": .int(3)]) == ["mode": .int(3)])
            // What pymodbus received, in order: FC 6, 16 and 5 to unit 1, then FC 6 to unit 2.
            #expect(server.writeRequests().map { "\($0.code)@\($0.address)" } == ["6@1", "16@40", "5@0", "6@1"])
            let after = try await good.wait(for: "the written values polled back") { now in
                now["setpoint"]?.value == .double(30.5) && now["mode"]?.value == .int(3)
            }
            #expect(after["trim"]?.value == .double(1.25))
            #expect(after["pump"]?.value == .bool(false))
            #expect(after["level"]?.value == .int(-421), "unit 1's writes must not reach unit 2")
        }
    }

    @Test("a paho-mqtt operator reads our telemetry and gets its command executed over mutual TLS")
    func paho() async throws {
        try await Plant.run { plant in
            try await plant.withGateway { gateway in
                _ = try await waitFor("uplink connected") { gateway.uplink.isConnected ? true : nil }
                let dir = try TemporaryDirectory()
                defer { dir.remove() }
                let out = dir.file("paho.json")
                let command = #"{"id":"paho-1","device":"boiler-1","write":{"setpoint":61.5}}"#
                let operatorProcess = try TestProcess.spawn(
                    try peerPython(),
                    [
                        peerScript("paho_operator.py"), "127.0.0.1", "\(plant.hub.port)", plant.hub.pki.directory,
                        TestHub.gatewayID, command,
                    ], stdout: .file(out, append: false), stderr: .file(dir.file("paho.err"), append: false))
                let status = try await withTimeout(.seconds(40), "paho operator") { await operatorProcess.wait() }
                let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
                #expect(status == 0, "\(text) \((try? String(contentsOfFile: dir.file("paho.err"), encoding: .utf8)) ?? "")")
                guard case .object(let result)? = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)),
                    case .object(let telemetry)? = result["telemetry"], case .object(let response)? = result["response"]
                else {
                    Issue.record("paho printed no result: \(text)")
                    return
                }
                #expect(telemetry["gateway"] == .string(TestHub.gatewayID))
                if case .array(let readings)? = telemetry["readings"], case .object(let first)? = readings.first {
                    #expect(first["device"] == .string("boiler-1"))
                    #expect(first["quality"] == .string("good"))
                } else {
                    Issue.record("telemetry without readings: \(telemetry)")
                }
                #expect(response["status"] == .string("ok"), "\(response)")
                #expect(try ProbeClient(port: plant.modbusPort).holding(1) == [615])
            }
        }
    }
}
