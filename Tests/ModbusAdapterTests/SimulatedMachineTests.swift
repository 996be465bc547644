import DevTools
import DeviceMaps
import Foundation
import GatewayCore
import ModbusAdapter
import TestSupport
import Testing

/// The simulator's machine, read over Modbus TCP by an independent libmodbus client. The
/// expectations are the documented cycle, written out here rather than taken from the
/// simulator: running 50 s, `fault` 10 s, running 50 s, `changeover` 15 s; a part every 2.5 s
/// of run time (so exactly 20 per running phase), every 25th a reject; uint16 counters that
/// start at 65490.
@Suite("ModbusSimulator's machine", .timeLimit(.minutes(2)))
struct SimulatedMachineTests {
    static let options: [EnumOption] = [
        EnumOption(label: "off", value: .int(0)), EnumOption(label: "running", value: .int(1)),
        EnumOption(label: "fault", value: .int(2)), EnumOption(label: "changeover", value: .int(3)),
        EnumOption(label: "break", value: .int(4)),
    ]

    static func press(port: Int) -> DeviceDefinition {
        func holding(_ offset: Int) -> ModbusAddress { ModbusAddress(table: .holding, offset: offset, type: .uint16) }
        return DeviceDefinition(
            id: "press-1", protocolName: "modbus",
            connection: ModbusConnection(host: "127.0.0.1", port: port, unitID: 3, responseTimeout: .milliseconds(500)),
            poll: .seconds(1),
            points: [
                PointDefinition(name: "state", address: holding(0), options: options),
                PointDefinition(name: "part_count", address: holding(1), unit: "count"),
                PointDefinition(name: "good_count", address: holding(2)),
                PointDefinition(name: "reject_count", address: holding(3)),
                // Not a counter (neither the unit nor the name says so): it keeps its sine.
                PointDefinition(name: "temperature", address: holding(4), scale: 0.1, unit: "°C"),
            ])
    }

    /// One snapshot: the four registers in one request, which the simulator answers between
    /// two animation steps, so they belong to the same instant.
    struct Sample {
        var state: UInt16
        /// Parts since the start, from each counter's 65490 (mod 2^16, as the counters wrap).
        var parts: Int
        var good: Int
        var rejects: Int
        var rawTotal: UInt16
    }

    @Test(
        "the state plays running, fault, running, changeover; the counters advance 20 parts per running phase and stand still in stops, good + rejects = total with every 25th part a reject, and wrap past 65535"
    )
    func cycle() async throws {
        let port = try freeLoopbackPort()
        // 20 simulated seconds per real second: a 125 s cycle in 6.25 s, the wrap (46th part,
        // 140 s in) after 7 s.
        let simulator = try ModbusSimulator(devices: [Self.press(port: port)], port: port, timeScale: 20, logger: testLogger)
        try simulator.start()
        defer { simulator.stop() }
        let client = try RawClient(port: port)
        func since(_ start: UInt16, _ raw: UInt16) -> Int { Int(raw &- start) }

        var samples: [Sample] = []
        var temperatures: Set<UInt16> = []
        _ = try await waitFor("a whole cycle and a counter wrap", timeout: .seconds(90)) { () -> Bool? in
            let r = try client.holding(0, count: 5)
            samples.append(
                Sample(state: r[0], parts: since(65490, r[1]), good: since(65490, r[2]), rejects: since(65490, r[3]), rawTotal: r[1]))
            temperatures.insert(r[4])
            let states = Set(samples.map(\.state))
            let wrapped = samples.contains { $0.rawTotal < 100 }
            return states.isSuperset(of: [1, 2, 3]) && wrapped ? true : nil
        }

        let first = try #require(samples.first)
        #expect(first.state == 1 && first.parts < 20, "the cycle starts running, from 65490: \(first)")
        for (previous, sample) in zip(samples, samples.dropFirst()) {
            #expect(sample.parts >= previous.parts, "the part count never falls: \(previous) then \(sample)")
        }
        for sample in samples {
            #expect([1, 2, 3].contains(sample.state), "only running, fault and changeover are played (not off or break): \(sample)")
            #expect(sample.rejects == sample.parts / 25 && sample.good == sample.parts - sample.rejects, "every 25th part a reject: \(sample)")
            if sample.state != 1 {
                // A stop holds the count its running phase ended with: a multiple of 20, odd
                // multiples (after the first running phase of a cycle) in the fault.
                #expect(sample.parts > 0 && sample.parts % 20 == 0, "the counters stand still in a stop: \(sample)")
                #expect(sample.state == (sample.parts / 20 % 2 == 1 ? 2 : 3), "fault after the first run, changeover after the second: \(sample)")
            }
        }
        // Both stops were seen, and the machine ran again after each.
        for stop: UInt16 in [2, 3] {
            let index = try #require(samples.firstIndex { $0.state == stop })
            #expect(samples[index...].contains { $0.state == 1 }, "running again after \(stop)")
        }
        #expect(samples.contains { $0.rawTotal > 65500 }, "counted up to the wrap")
        #expect(temperatures.count > 1, "the temperature still moves")
    }

    @Test("a device whose state enum has no running option is no machine: its count-unit point ramps as before")
    func noMachine() async throws {
        let port = try freeLoopbackPort()
        var device = Self.press(port: port)
        device.points[0].options = Self.options.filter { $0.label != "running" }
        let simulator = try ModbusSimulator(devices: [device], port: port, timeScale: 20, logger: testLogger)
        try simulator.start()
        defer { simulator.stop() }
        let client = try RawClient(port: port)
        let start = try client.holding(0, count: 2)
        // The ramp: 0.5 a simulated second from 1000, the state a sine within 15…25.
        _ = try await waitFor("the ramp past 1005") { try client.holding(1)[0] > 1005 ? true : nil }
        #expect(start[1] >= 1000, "\(start)")
        #expect((15...25).contains(start[0]), "\(start)")
    }
}
