import DevTools
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Logging
import ModbusAdapter
import TestSupport
import Testing

/// 64-bit numbers, strings in both byte orders and bits of a status register, at the
/// addresses where Peers/pymodbus_server.py holds them.
private func wideMap(port: Int) throws -> DeviceMap {
    let yaml = """
        devices:
          - id: meter-9
            protocol: modbus
            connection: { host: 127.0.0.1, port: \(port), unit_id: 1, timeout: 500ms }
            poll: 100ms
            points:
              energy:  { table: holding, address: 64, type: float64, access: readwrite }
              balance: { table: holding, address: 68, type: int64, access: readwrite }
              total:   { table: holding, address: 72, type: uint64, word_order: little, access: readwrite }
              serial:  { table: holding, address: 76, type: string, length: 4, access: readwrite }
              tag:     { table: holding, address: 80, type: string, length: 3, byte_order: little, access: readwrite }
              status:  { table: holding, address: 90, type: uint16 }
              running: { table: holding, address: 90, bit: 0 }
              remote:  { table: holding, address: 90, bit: 3, access: readwrite }
              fault:   { table: holding, address: 90, bit: 15, access: readwrite }
              swapped: { table: holding, address: 90, bit: 2, byte_order: little, access: readwrite }
        """
    let (map, diagnostics) = DeviceMapLoader.standard.parse(yaml: yaml, file: "wide.yaml")
    guard let map else { throw ProbeError("wide.yaml does not validate: \(diagnostics)") }
    return map
}

/// The registers both servers start with: pymodbus_server.py encodes them with pymodbus, the
/// simulator test writes these.
private let seed: [(address: Int, registers: [UInt16])] = [
    (64, [0x40C8, 0x1CD6, 0xC8B4, 0x3958]),  // 12345.678 = 0x40C81CD6C8B43958 (struct.pack('>d'))
    (68, [0xFFDF, 0xFFFF, 0xFFFF, 0xFFFF]),  // −(2^53 + 1): 2^53 + 1 = 0x0020000000000001, negated
    (72, [0x0708, 0x0506, 0x0304, 0x0102]),  // 0x0102030405060708, little word order
    (76, [0x534E, 0x2D34, 0x3200, 0x0000]),  // "SN-42", NUL padded
    (80, [0xC368, 0x6CA9, 0x6F6C]),  // "héllo" = 68 C3 A9 6C 6C 6F, byte pairs swapped
    (90, [0x2A51]),  // bits 0, 4, 6, 9, 11, 13
]

/// What the points read from `seed`.
private let seeded: [String: Value] = [
    "energy": .double(12345.678),
    "balance": .int(-9_007_199_254_740_993),
    "total": .int(0x0102_0304_0506_0708),
    "serial": .string("SN-42"),
    "tag": .string("h\u{e9}llo"),
    "status": .int(0x2A51),
    "running": .bool(true),
    "remote": .bool(false),
    "fault": .bool(false),
    // Bit 2 of the swapped register 0x512A is 0 (it is the wire's bit 10).
    "swapped": .bool(false),
]

/// One write and what it must leave in the server's registers.
private struct WideWrite {
    var values: [String: Value]
    var address: Int
    var registers: [UInt16]
}

private let writes: [WideWrite] = [
    // −1.5e300 = 0xFE41EB2D66005835
    WideWrite(values: ["energy": .double(-1.5e300)], address: 64, registers: [0xFE41, 0xEB2D, 0x6600, 0x5835]),
    // 2^62 + 1 and 2^53 + 1 have no Double: a write through one would change the low bits.
    WideWrite(values: ["balance": .int(4_611_686_018_427_387_905)], address: 68, registers: [0x4000, 0x0000, 0x0000, 0x0001]),
    WideWrite(values: ["total": .int(9_007_199_254_740_993)], address: 72, registers: [0x0001, 0x0000, 0x0000, 0x0020]),
    WideWrite(values: ["serial": .string("AB-1")], address: 76, registers: [0x4142, 0x2D31, 0x0000, 0x0000]),
    // "€1" = E2 82 AC 31, byte pairs swapped.
    WideWrite(values: ["tag": .string("\u{20AC}1")], address: 80, registers: [0x82E2, 0x31AC, 0x0000]),
    // Bits: each write changes one bit of 0x2A51 and keeps the others.
    WideWrite(values: ["remote": .bool(true)], address: 90, registers: [0x2A59]),
    WideWrite(values: ["fault": .bool(true)], address: 90, registers: [0xAA59]),
    WideWrite(values: ["swapped": .bool(true)], address: 90, registers: [0xAE59]),  // wire bit 10
    WideWrite(values: ["remote": .bool(false), "fault": .bool(false)], address: 90, registers: [0x2E51]),
]

/// Bits written in `writes` (status register 90): one mask write, or read + FC 6, each.
private let bitWrites = writes.filter { $0.address == 90 }.map(\.values.count).reduce(0, +)
/// Where the other writes go: one FC 16 each.
private let registerWrites = writes.filter { $0.address != 90 }.map(\.address)

/// Polls the wide points from the server on `port`, checks them against `seeded`, then makes
/// each write of `writes`, checking the value read back and, with an independent client,
/// the server's registers.
private func pollAndWrite(port: Int) async throws {
    let map = try wideMap(port: port)
    let log = LogCapture()
    let adapter = ModbusAdapter(devices: map.devices, logger: log.logger)
    let latest = LatestReadings()
    let running = Task { try await adapter.run(sink: latest.sink) }
    defer { running.cancel() }
    let probe = try ProbeClient(port: port)

    let polled = try await latest.wait(for: "a poll of every wide point") { $0.count == seeded.count }
    #expect(polled.values.allSatisfy { $0.quality == .good }, "\(polled.values.filter { $0.quality != .good })")
    for (name, value) in seeded {
        #expect(polled[name]?.value == value, "\(name)")
    }

    for write in writes {
        let back = try await adapter.write(device: "meter-9", values: write.values)
        #expect(back == write.values, "read back after \(write.values)")
        #expect(try probe.holding(write.address, count: write.registers.count) == write.registers, "registers after \(write.values)")
    }
    // The next poll sees the last state, and the read-only bit kept its value throughout.
    let after = try await latest.wait(for: "a poll after the writes") { $0["status"]?.value == .int(0x2E51) }
    #expect(after["running"]?.value == .bool(true))
    #expect(after["swapped"]?.value == .bool(true))
    #expect(after["remote"]?.value == .bool(false) && after["fault"]?.value == .bool(false))
    #expect(after["tag"]?.value == .string("\u{20AC}1"))
    #expect(log.warningsBesidesOverruns.isEmpty, "\(log.messages(at: .warning))")
}

@Suite("64-bit, string and register-bit points end to end", .timeLimit(.minutes(1)))
struct WideTypesTests {
    @Test("libmodbus simulator: polls, writes with FC 16 and FC 22, reads back")
    func simulator() async throws {
        let port = try freeLoopbackPort()
        let simulator = try ModbusSimulator(
            devices: try wideMap(port: port).devices, port: port, animated: false,
            logger: LogCapture().logger)
        try simulator.start()
        defer { simulator.stop() }
        let probe = try ProbeClient(port: port)
        for (address, registers) in seed { try probe.writeHolding(address, registers) }

        try await pollAndWrite(port: port)
        #expect(simulator.requestCounts[16] == registerWrites.count + seed.count)
        #expect(simulator.requestCounts[22] == bitWrites)
        #expect(simulator.requestCounts[6] == nil)
    }

    @Test("pymodbus server: polls what pymodbus encoded, writes with FC 16 and FC 22, reads back")
    func pymodbus() async throws {
        let server = try await PymodbusPeer.start()
        defer { server.stop() }
        let probe = try ProbeClient(port: server.port)
        for (address, registers) in seed {
            #expect(try probe.holding(address, count: registers.count) == registers, "pymodbus encoded \(address) differently")
        }

        try await pollAndWrite(port: server.port)
        let requests = server.writeRequests()
        #expect(requests.filter { $0.code == 22 }.map(\.address) == Array(repeating: 90, count: bitWrites))
        #expect(requests.filter { $0.code == 16 }.map(\.address) == registerWrites)
        #expect(!requests.contains { $0.code == 6 })
    }

    @Test("a device without FC 22 (illegal function) gets its bits written by a read and FC 6, the other bits kept")
    func maskWriteFallback() async throws {
        let server = try await PymodbusPeer.start(["--no-mask-write"])
        defer { server.stop() }

        try await pollAndWrite(port: server.port)
        // The first bit write tried FC 22, was refused, and wrote the register with FC 6; the
        // device is remembered, so the others go straight to FC 6.
        let requests = server.writeRequests().filter { $0.address == 90 }
        #expect(requests.map(\.code) == [22] + Array(repeating: 6, count: bitWrites), "\(requests)")
    }
}
