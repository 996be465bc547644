import DeviceMaps
import DevTools
import Foundation
import GatewayCore
import Logging
import ModbusAdapter
import Synchronization
import Testing
import TestSupport
import Uplink

/// The package root, for the peers' scripts and the test venv that `scripts/test` installs.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The Python of `.venv-tests` (pymodbus, paho-mqtt). Missing means the README's test command
/// was not used: fail with the way out rather than skip.
func peerPython() throws -> String {
    let python = packageRoot.appendingPathComponent(".venv-tests/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: python) else {
        throw ProbeError("\(python) is missing: run scripts/test (or scripts/install-deps --test-peers) to install the test peers")
    }
    return python
}

func peerScript(_ name: String) -> String {
    packageRoot.appendingPathComponent("Tests/IntegrationTests/Peers/\(name)").path
}

/// Peers/pymodbus_server.py on a free loopback port, answering once `start` returns.
struct PymodbusPeer {
    let port: Int
    private let process: ChildProcess
    private let directory: TemporaryDirectory

    private var requestLog: String { directory.file("requests.log") }

    /// Starts the server with the script's `options` (e.g. `--no-mask-write`, `--holes 104,110`).
    static func start(_ options: [String] = []) async throws -> PymodbusPeer {
        let port = try freeLoopbackPort()
        let directory = try TemporaryDirectory()
        let peer = PymodbusPeer(
            port: port,
            process: try ChildProcess.spawn(try peerPython(), [peerScript("pymodbus_server.py"), "\(port)"] + options,
                                            stdout: .file(directory.file("requests.log")),
                                            stderr: .file(directory.file("pymodbus.log"))),
            directory: directory)
        do {
            _ = try await waitFor("pymodbus listening on \(port)", timeout: .seconds(20)) { () -> ProbeClient? in
                guard peer.process.isRunning else { throw ProbeError("pymodbus_server.py exited") }
                return try? ProbeClient(port: port)
            }
        } catch {
            // Its log says why, for example "Address already in use".
            let log = (try? String(contentsOfFile: directory.file("pymodbus.log"), encoding: .utf8)) ?? ""
            peer.stop()
            throw ProbeError("\(error): \(log)")
        }
        return peer
    }

    /// The write requests the server received, in order, as the script logs them
    /// (`fc 22 address 90`).
    func writeRequests() -> [(code: Int, address: Int)] {
        let log = (try? String(contentsOfFile: requestLog, encoding: .utf8)) ?? ""
        return log.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ")
            guard words.count == 4, words[0] == "fc", words[2] == "address",
                  let code = Int(words[1]), let address = Int(words[3]) else { return nil }
            return (code, address)
        }
    }

    /// The read requests the server received, in order (`read fc 3 address 100 count 13`).
    func readRequests() -> [(code: Int, address: Int, count: Int)] {
        let log = (try? String(contentsOfFile: requestLog, encoding: .utf8)) ?? ""
        return log.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ")
            guard words.count == 7, words[0] == "read", words[1] == "fc", words[3] == "address", words[5] == "count",
                  let code = Int(words[2]), let address = Int(words[4]), let count = Int(words[6]) else { return nil }
            return (code, address, count)
        }
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

        let yaml = """
            devices:
              - id: peer-1
                protocol: modbus
                connection: { host: 127.0.0.1, port: \(port), unit_id: 1 }
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
        let (parsed, diagnostics) = DeviceMapLoader.standard.parse(yaml: yaml, file: "peer.yaml")
        let map = try #require(parsed, "\(diagnostics)")
        let adapter = ModbusAdapter(devices: map.devices, logger: Logger(label: "peer"))
        let latest = LatestReadings()
        let running = Task { try await adapter.run(sink: latest.sink) }
        defer { running.cancel() }
        let readings = try await latest.wait(for: "readings from pymodbus") { $0.count == 9 }
        // Values as pymodbus's BinaryPayloadBuilder encoded them (Peers/pymodbus_server.py).
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
        #expect(readings.values.allSatisfy { $0.quality == .good })

        let written = try await adapter.write(device: "peer-1", values: ["setpoint": .double(30.5), "trim": .double(1.25), "pump": .bool(false)])
        #expect(written["setpoint"] == .double(30.5))
        #expect(written["trim"] == .double(1.25))
        #expect(written["pump"] == .bool(false))
        let probe = try ProbeClient(port: port)
        #expect(try probe.holding(1) == [305])
        // 1.25 = 0x3FA00000, little word order: [0x0000, 0x3FA0].
        #expect(try probe.holding(40, count: 2) == [0x0000, 0x3FA0])
        #expect(try probe.coil(0) == false)
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
                let operatorProcess = try ChildProcess.spawn(try peerPython(), [
                    peerScript("paho_operator.py"), "127.0.0.1", "\(plant.hub.port)", plant.hub.pki.directory,
                    TestHub.gatewayID, command,
                ], stdout: .file(out, append: false), stderr: .file(dir.file("paho.err"), append: false))
                let status = try await withTimeout(.seconds(40), "paho operator") { await operatorProcess.wait() }
                let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
                #expect(status == 0, "\(text) \((try? String(contentsOfFile: dir.file("paho.err"), encoding: .utf8)) ?? "")")
                guard case .object(let result)? = try? JSONDecoder().decode(JSONNode.self, from: Data(text.utf8)),
                      case .object(let telemetry)? = result["telemetry"], case .object(let response)? = result["response"] else {
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
