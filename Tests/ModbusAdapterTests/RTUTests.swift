import DevTools
import DeviceMaps
import Foundation
import GatewayCore
import Logging
import TestSupport
import Testing

@testable import ModbusAdapter

/// A second kind of device for the bus: its `setpoint` sits at the boiler's address with
/// another range, so each unit's register space shows in the values.
func meter(id: String = "meter-2", unit: Int = 2, poll: Duration = .milliseconds(100)) -> DeviceDefinition {
    DeviceDefinition(
        id: id, protocolName: "modbus",
        connection: ModbusConnection(host: "127.0.0.1", unitID: unit, responseTimeout: .milliseconds(300)),
        poll: poll,
        points: [
            PointDefinition(
                name: "setpoint", address: ModbusAddress(table: .holding, offset: 1, type: .int16),
                access: .readwrite, min: 100, max: 200),
            PointDefinition(name: "energy", address: ModbusAddress(table: .holding, offset: 100, type: .uint32), scale: 0.01, unit: "kWh"),
            PointDefinition(name: "relay", address: ModbusAddress(table: .coil, offset: 0, type: .bool), access: .readwrite),
        ])
}

/// The batches of one device.
func batches(of device: String, in collector: ReadingCollector) -> [[Reading]] {
    collector.all.filter { $0.first?.device == device }
}

@Suite("ModbusAdapter on a Modbus RTU bus (socat pseudo-terminals)", .serialized, .timeLimit(.minutes(1)))
struct RTUTests {
    @Test("two unit ids on one bus: polled and written through one port, each in its own register space")
    func twoUnitsOnOneBus() async throws {
        try await SerialPair.run { pair in
            let units = [onBus(boiler(port: 0, unit: 1), pair.gatewayEnd), onBus(meter(unit: 2), pair.gatewayEnd)]
            let simulator = ModbusSimulator(
                devices: units, serial: ModbusSerialPort(device: pair.deviceEnd),
                animated: false, logger: testLogger)
            try simulator.start()
            defer { simulator.stop() }
            let logs = LogCapture()
            let adapter = ModbusAdapter(devices: units, logger: logs.logger, reconnect: fastReconnect)
            let collector = ReadingCollector()

            try await whileRunning(adapter, into: collector) {
                let boilerBatch = byPoint(try #require(await collector.waitForBatch(allGood("boiler-1"))))
                let meterBatch = byPoint(try #require(await collector.waitForBatch(allGood("meter-2"))))
                #expect(boilerBatch.count == 9)
                #expect(Set(meterBatch.keys) == ["setpoint", "energy", "relay"])
                // Holding register 1 of unit 1 starts at the middle of 5…90 (scale 0.1), that of
                // unit 2 at the middle of 100…200: two register spaces.
                #expect(boilerBatch["setpoint"]?.value == .double(47.5))
                #expect(meterBatch["setpoint"]?.value == .int(150))

                // FC 6, FC 16 (a 32-bit value in one request) and FC 5, to each unit.
                let boilerWritten = try await adapter.write(device: "boiler-1", values: ["setpoint": .double(30.5), "preset": .int(-100_000)])
                #expect(boilerWritten == ["setpoint": .double(30.5), "preset": .int(-100_000)])
                let meterWritten = try await adapter.write(device: "meter-2", values: ["setpoint": .int(120), "relay": .bool(true)])
                #expect(meterWritten == ["setpoint": .int(120), "relay": .bool(true)])
                collector.reset()
                let boilerAfter = byPoint(try #require(await collector.waitForBatch(allGood("boiler-1"))))
                let meterAfter = byPoint(try #require(await collector.waitForBatch(allGood("meter-2"))))
                #expect(boilerAfter["setpoint"]?.value == .double(30.5))
                #expect(boilerAfter["preset"]?.value == .int(-100_000))
                #expect(boilerAfter["pump"]?.value == .bool(false), "unit 2's coil write must not reach unit 1")
                #expect(meterAfter["setpoint"]?.value == .int(120))
                #expect(meterAfter["relay"]?.value == .bool(true))
            }
            #expect(simulator.requestCounts[6, default: 0] == 2)
            #expect(simulator.requestCounts[16, default: 0] == 1)
            #expect(simulator.requestCounts[5, default: 0] == 1)
            // Both units share one open port: one connection, never dropped.
            #expect(logs.messages(at: .info).filter { $0.contains("connected to") } == ["connected to \(pair.gatewayEnd)"])
            // (A loaded machine may make a poll overrun its period: that warning is about time,
            // not about the bus.)
            #expect(logs.warningsBesidesOverruns.isEmpty)
        }
    }

    @Test("a silent unit costs one response timeout per poll: its neighbour keeps its period and the port stays open")
    func silentUnit() async throws {
        try await SerialPair.run { pair in
            let healthy = boiler(port: 0, unit: 1, poll: .milliseconds(200))
            // Unit 9 answers nothing (the simulator does not serve it); its four tables would
            // cost four timeouts a poll if each request waited for its own.
            let silent = DeviceDefinition(
                id: "silent-9", protocolName: "modbus", connection: ModbusConnection(host: "127.0.0.1", unitID: 9),
                poll: .milliseconds(200),
                points: [
                    PointDefinition(name: "a", address: ModbusAddress(table: .holding, offset: 0, type: .int16)),
                    PointDefinition(name: "b", address: ModbusAddress(table: .input, offset: 0, type: .int16)),
                    PointDefinition(name: "c", address: ModbusAddress(table: .coil, offset: 0, type: .bool)),
                    PointDefinition(name: "d", address: ModbusAddress(table: .discrete, offset: 0, type: .bool)),
                ])
            let simulator = ModbusSimulator(
                devices: [healthy], serial: ModbusSerialPort(device: pair.deviceEnd),
                animated: false, logger: testLogger)
            try simulator.start()
            defer { simulator.stop() }
            let logs = LogCapture()
            let timeout = Duration.milliseconds(300)
            let adapter = ModbusAdapter(
                devices: [onBus(healthy, pair.gatewayEnd), onBus(silent, pair.gatewayEnd, timeout: timeout)],
                logger: logs.logger, reconnect: fastReconnect)
            let collector = ReadingCollector()

            try await whileRunning(adapter, into: collector) {
                _ = try #require(await collector.waitForBatch(allGood("boiler-1")))
                collector.reset()
                try await Task.sleep(for: .seconds(3))
            }
            let healthyPolls = batches(of: "boiler-1", in: collector)
            let silentPolls = batches(of: "silent-9", in: collector)
            #expect(healthyPolls.flatMap { $0 }.allSatisfy { $0.quality == .good })
            // Between two polls of the neighbour the bus is busy with one poll of the silent
            // unit: one timeout (300 ms), or four in a row (1.2 s) if each request waited for
            // its own. So at one timeout most gaps stay well under 1.2 s, while at four every
            // gap is longer: the median tells them apart, and a loaded machine that stretches a
            // few gaps does not move it. (The period itself is measured by the benchmarks.)
            let times = healthyPolls.compactMap { $0.first?.timestamp }
            let gaps = zip(times.dropFirst(), times).map { $0.timeIntervalSince($1) }.sorted()
            #expect(healthyPolls.count >= 4, "polls of the healthy unit in 3 s: \(healthyPolls.count)")
            #expect(gaps.isEmpty || gaps[gaps.count / 2] < 0.9, "gaps: \(gaps)")
            let reason = "no response from \(pair.gatewayEnd) (unit 9) within 300ms"
            #expect(!silentPolls.isEmpty)
            #expect(silentPolls.allSatisfy { batch in batch.count == 4 && batch.allSatisfy { $0.value == nil && $0.quality == .bad(reason) } })
            // Nothing is wrong with the port: opened once, never dropped; the unit's silence is
            // logged once, as the device's problem.
            #expect(logs.messages(at: .info).filter { $0.contains("connected to") } == ["connected to \(pair.gatewayEnd)"])
            // (Its polls outlast its period too, which is logged as an overrun.)
            #expect(logs.warningsBesidesOverruns == ["silent-9: \(reason)"])
        }
    }

    @Test("an update that changes a bus's line settings reopens its port with them; other changes keep it open")
    func busSettingsChange() async throws {
        try await SerialPair.run { pair in
            let device = onBus(boiler(port: 0), pair.gatewayEnd)
            let simulator = ModbusSimulator(
                devices: [device], serial: ModbusSerialPort(device: pair.deviceEnd),
                animated: false, logger: testLogger)
            try simulator.start()
            defer { simulator.stop() }
            let logs = LogCapture()
            let adapter = ModbusAdapter(devices: [device], logger: logs.logger, reconnect: fastReconnect)
            let collector = ReadingCollector()
            let connects = { logs.messages(at: .info).filter { $0.contains("connected to") } }
            try await whileRunning(adapter, into: collector) {
                _ = try #require(await collector.waitForBatch(allGood("boiler-1")))
                var slower = device
                slower.poll = .milliseconds(150)
                await adapter.update(devices: [slower])
                collector.reset()
                _ = try #require(await collector.waitForBatch(allGood("boiler-1")))
                #expect(connects() == ["connected to \(pair.gatewayEnd)"])

                var rebauded = slower
                rebauded.modbusConnection.transport = .rtu(ModbusSerialPort(device: pair.gatewayEnd, baud: 9600, parity: .none))
                await adapter.update(devices: [rebauded])
                collector.reset()
                _ = try #require(await collector.waitForBatch(allGood("boiler-1")))
                #expect(connects() == ["connected to \(pair.gatewayEnd)", "connected to \(pair.gatewayEnd)"])
            }
            #expect(logs.warningsBesidesOverruns.isEmpty)
        }
    }

    @Test("a unit that answers after its timeout: the late answer is dropped, never taken for the next request's")
    func lateAnswer() async throws {
        try await SerialPair.run { pair in
            // Unit 3 answers 800 ms after each request, 600 ms after the adapter gave up; its
            // next poll comes 700 ms after that late answer. Taken for the next request's
            // answer (same unit, same function, same length) it would read as good. The wide
            // margins keep the order of request, timeout, late answer and next request even
            // when a loaded machine delays one of them.
            let slow = DeviceDefinition(
                id: "slow-3", protocolName: "modbus", connection: ModbusConnection(host: "127.0.0.1", unitID: 3),
                poll: .milliseconds(1500),
                points: [PointDefinition(name: "level", address: ModbusAddress(table: .holding, offset: 0, type: .int16))])
            let simulator = ModbusSimulator(
                devices: [slow], serial: ModbusSerialPort(device: pair.deviceEnd), animated: false,
                answerDelays: [3: .milliseconds(800)], logger: testLogger)
            try simulator.start()
            defer { simulator.stop() }
            let adapter = ModbusAdapter(
                devices: [onBus(slow, pair.gatewayEnd, timeout: .milliseconds(200))],
                logger: testLogger, reconnect: fastReconnect)
            let collector = ReadingCollector()
            try await whileRunning(adapter, into: collector) {
                try await Task.sleep(for: .seconds(4))
            }
            let polls = collector.all.flatMap { $0 }
            #expect(polls.count >= 2, "polls in 4 s: \(polls.count)")
            let reason = "no response from \(pair.gatewayEnd) (unit 3) within 200ms"
            #expect(polls.allSatisfy { $0.value == nil && $0.quality == .bad(reason) }, "\(polls.map(\.quality))")
            #expect(simulator.requestCounts[3, default: 0] == polls.count)
        }
    }

    @Test("a serial device that does not exist gives bad readings that name the path and the reason")
    func missingDevice() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("ttyUSB9")
        let logs = LogCapture()
        let adapter = ModbusAdapter(devices: [onBus(boiler(port: 0, poll: .milliseconds(50)), path)], logger: logs.logger, reconnect: fastReconnect)
        let collector = ReadingCollector()
        let reason = "cannot open \(path): No such file or directory"
        try await whileRunning(adapter, into: collector) {
            let batch = try #require(await collector.waitForBatch { !$0.isEmpty })
            #expect(batch.count == 9)
            #expect(batch.allSatisfy { $0.value == nil && $0.quality == .bad(reason) })
            let failure = await writeError { () async throws(WriteError) in
                try await adapter.write(device: "boiler-1", values: ["setpoint": .double(20)])
            }
            #expect(failure == .failed("boiler-1.setpoint: write failed: \(reason)"))
        }
        #expect(logs.warningsBesidesOverruns == ["Modbus connection down: \(reason)"])
    }

    @Test("rs485 on a port without RS-485 mode is a connection problem that names the device and why")
    func rs485Refused() async throws {
        try await SerialPair.run { pair in
            let adapter = ModbusAdapter(
                devices: [onBus(boiler(port: 0, poll: .milliseconds(50)), pair.gatewayEnd, rs485: true)],
                logger: testLogger, reconnect: fastReconnect)
            let collector = ReadingCollector()
            try await whileRunning(adapter, into: collector) {
                let batch = try #require(await collector.waitForBatch { !$0.isEmpty })
                let reason =
                    "cannot switch \(pair.gatewayEnd) to RS-485 mode: Inappropriate ioctl for device "
                    + "(set rs485: false for an adapter that drives the line itself)"
                #expect(batch.allSatisfy { $0.value == nil && $0.quality == .bad(reason) })
            }
        }
    }

    @Test("the RTU simulator cuts frames by function code and checks their CRC")
    func simulatorFraming() async throws {
        // 01 03 0000 000A: read 10 holding registers of unit 1; CRC-16/MODBUS C5 CD on the wire.
        let read: [UInt8] = [0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD]
        #expect(RTUFrames.crc(read.dropLast(2)) == 0xCDC5)
        var frames = RTUFrames()
        // Noise, a whole frame, then the first half of the same frame again.
        frames.append([0xFF, 0x00] + read + read.prefix(5))
        #expect(frames.next() == read)
        #expect(frames.next() == nil)
        frames.append(read.suffix(3))
        #expect(frames.next() == read)
        // FC 16 carries its own byte count: 2 registers, 4 bytes, 13 in all.
        var write: [UInt8] = [0x07, 0x10, 0x00, 0x16, 0x00, 0x02, 0x04, 0xFF, 0xFE, 0x79, 0x60]
        let crc = RTUFrames.crc(write)
        write += [UInt8(crc & 0xFF), UInt8(crc >> 8)]
        frames.append(write.prefix(8))
        #expect(frames.next() == nil)
        frames.append(write.dropFirst(8))
        #expect(frames.next() == write)
        // A damaged frame is not answered.
        var damaged = read
        damaged[3] ^= 0x01
        frames.append(damaged)
        #expect(frames.next() == nil)
    }
}
