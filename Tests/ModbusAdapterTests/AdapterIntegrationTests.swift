import DevTools
import DeviceMaps
import Foundation
import GatewayCore
import Logging
import ModbusAdapter
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Retries quickly so that reconnection tests take fractions of a second.
let fastReconnect = ReconnectPolicy(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(200), jitter: 0.1)

/// Runs `adapter` while `body` runs, then cancels it and waits for `run` to return (which
/// also proves that shutdown completes: the suite's time limit catches a hang).
func whileRunning<T>(
    _ adapter: ModbusAdapter, into collector: ReadingCollector,
    _ body: () async throws -> T
) async throws -> T {
    let task = Task { try await adapter.run(sink: collector.sink) }
    do {
        let result = try await body()
        task.cancel()
        try await task.value
        return result
    } catch {
        task.cancel()
        _ = try? await task.value
        throw error
    }
}

func byPoint(_ batch: [Reading]) -> [String: Reading] {
    Dictionary(batch.map { ($0.point, $0) }, uniquingKeysWith: { a, _ in a })
}

func allGood(_ device: String) -> ([Reading]) -> Bool {
    { batch in !batch.isEmpty && batch.allSatisfy { $0.device == device && $0.quality == .good } }
}

func writeError(_ operation: () async throws(WriteError) -> [String: Value]) async -> WriteError? {
    do {
        _ = try await operation()
        return nil
    } catch {
        return error
    }
}

@Suite("ModbusAdapter against the libmodbus simulator", .serialized, .timeLimit(.minutes(1)))
struct AdapterIntegrationTests {
    @Test("polls every readable point and agrees with an independent libmodbus client")
    func goodReadings() async throws {
        let port = try freeLoopbackPort()
        let device = boiler(port: port)
        let simulator = try ModbusSimulator(devices: [device], port: port, animated: false, logger: testLogger)
        try simulator.start()
        defer { simulator.stop() }
        let adapter = ModbusAdapter(devices: [device], logger: testLogger, reconnect: fastReconnect)
        let collector = ReadingCollector()

        let started = Date()
        let batch = try await whileRunning(adapter, into: collector) {
            try #require(await collector.waitForBatch(allGood("boiler-1")))
        }
        let readings = byPoint(batch)
        // One batch per device poll, holding every readable point once; write-only `reset` is not polled.
        #expect(batch.count == readings.count)
        #expect(Set(readings.keys) == ["temperature", "setpoint", "mode", "flow", "pump", "alarm", "gain", "preset", "energy"])
        for reading in batch {
            #expect(reading.timestamp >= started.addingTimeInterval(-0.01) && reading.timestamp <= Date())
        }
        #expect(readings["temperature"]?.unit == "°C")
        #expect(readings["flow"]?.unit == "l/min")
        #expect(readings["energy"]?.unit == "kWh")
        #expect(readings["mode"]?.unit == nil)

        // Decode by hand what a second client reads: the simulator is frozen, so both must agree.
        let client = try RawClient(port: port)
        let temperature = Double(Int16(bitPattern: try client.holding(0)[0])) / 10
        #expect(readings["temperature"]?.value == .double(temperature))
        #expect((15...25).contains(temperature))
        #expect(try client.holding(1) == [475])  // midpoint of 5…90 = 47.5 → raw 475
        #expect(readings["setpoint"]?.value == .double(47.5))
        #expect(try client.holding(2) == [2])  // midpoint 1.5 of 0…3, rounded
        #expect(readings["mode"]?.value == .int(2))  // unscaled integer → .int
        let flowWords = try client.input(10, count: 2)  // little word order: [low, high]
        let flow = Float(bitPattern: UInt32(flowWords[1]) << 16 | UInt32(flowWords[0]))
        let flowValue = try #require(readings["flow"]?.value?.numeric)
        #expect(Float(flowValue) == flow)
        #expect(readings["pump"]?.value == .bool(try client.coil(0)))
        #expect(readings["alarm"]?.value == .bool(try client.discrete(3)))
        #expect(readings["gain"]?.value == .double(0))
        #expect(readings["preset"]?.value == .int(0))
        let energyWords = try client.holding(100, count: 2)
        let energy = Double(UInt32(energyWords[0]) << 16 | UInt32(energyWords[1])) / 100
        #expect(readings["energy"]?.value == .double(energy))
        // Polls use reads only.
        #expect(simulator.requestCounts[3, default: 0] > 0)
        #expect(simulator.requestCounts.keys.allSatisfy { [1, 2, 3, 4].contains($0) })
    }

    @Test("the simulator animates read-only points within their range")
    func animation() async throws {
        let port = try freeLoopbackPort()
        let device = boiler(port: port)
        let simulator = try ModbusSimulator(devices: [device], port: port, logger: testLogger)
        try simulator.start()
        defer { simulator.stop() }
        let adapter = ModbusAdapter(devices: [device], logger: testLogger, reconnect: fastReconnect)
        let collector = ReadingCollector()
        let (first, later) = try await whileRunning(adapter, into: collector) {
            let first = try #require(await collector.waitForBatch(allGood("boiler-1")))
            try await Task.sleep(for: .milliseconds(600))
            collector.reset()
            let later = try #require(await collector.waitForBatch(allGood("boiler-1")))
            return (byPoint(first), byPoint(later))
        }
        for name in ["temperature", "flow"] {
            let value = try #require(later[name]?.value?.numeric)
            #expect((15...25).contains(value), "\(name) = \(value)")
        }
        #expect(first["flow"]?.value != later["flow"]?.value)
        // Energy is a counter (kWh): it only grows.
        let e0 = try #require(first["energy"]?.value?.numeric), e1 = try #require(later["energy"]?.value?.numeric)
        #expect(e1 > e0)
        // Writable points hold still.
        #expect(first["setpoint"]?.value == later["setpoint"]?.value)
    }

    @Test("writes use FC 6, FC 16 and FC 5, change the device and return read-back values")
    func writes() async throws {
        let port = try freeLoopbackPort()
        let device = boiler(port: port)
        let simulator = try ModbusSimulator(devices: [device], port: port, animated: false, logger: testLogger)
        try simulator.start()
        defer { simulator.stop() }
        let adapter = ModbusAdapter(devices: [device], logger: testLogger, reconnect: fastReconnect)
        let collector = ReadingCollector()
        let client = try RawClient(port: port)

        try await whileRunning(adapter, into: collector) {
            _ = try #require(await collector.waitForBatch(allGood("boiler-1")))

            // int16 with scale 0.1: one register, FC 6. 55.5 → raw 555.
            #expect(try await adapter.write(device: "boiler-1", values: ["setpoint": .double(55.5)]) == ["setpoint": .double(55.5)])
            #expect(try client.holding(1) == [555])
            #expect(simulator.requestCounts[6] == 1)

            // float32, little word order: FC 16. 3.25 = 0x40500000 → [0x0000, 0x4050].
            #expect(try await adapter.write(device: "boiler-1", values: ["gain": .double(3.25)]) == ["gain": .double(3.25)])
            #expect(try client.holding(20, count: 2) == [0x0000, 0x4050])
            #expect(simulator.requestCounts[16] == 1)

            // int32: FC 16. −100000 = 0xFFFE7960.
            #expect(try await adapter.write(device: "boiler-1", values: ["preset": .int(-100_000)]) == ["preset": .int(-100_000)])
            #expect(try client.holding(22, count: 2) == [0xFFFE, 0x7960])
            #expect(simulator.requestCounts[16] == 2)

            // Coil: FC 5.
            #expect(try await adapter.write(device: "boiler-1", values: ["pump": .bool(true)]) == ["pump": .bool(true)])
            #expect(try client.coil(0) == true)
            #expect(simulator.requestCounts[5] == 1)

            // Write-only coil: written, not read back.
            #expect(try await adapter.write(device: "boiler-1", values: ["reset": .bool(true)]) == [:])
            #expect(try client.coil(5) == true)
            #expect(simulator.requestCounts[5] == 2)

            // Several points in one command.
            let both = try await adapter.write(device: "boiler-1", values: ["setpoint": .int(60), "mode": .int(3)])
            #expect(both == ["setpoint": .double(60), "mode": .int(3)])
            #expect(try client.holding(1, count: 2) == [600, 3])

            // The read-back reports what the device holds, not what was asked: a value the
            // device changed behind our back shows up in the next poll.
            try client.writeHolding(2, 1)
            collector.reset()
            let polled = try #require(await collector.waitForBatch { byPoint($0)["mode"]?.value == .int(1) })
            #expect(byPoint(polled)["setpoint"]?.value == .double(60))
            #expect(byPoint(polled)["pump"]?.value == .bool(true))
        }
    }

    @Test("writes that cannot be represented or target read-only tables are rejected; nothing is sent")
    func rejectedWrites() async throws {
        let port = try freeLoopbackPort()
        // `trim` claims to be writable in a read-only table: the map validator should refuse
        // such a map, and the adapter must refuse it on its own as well.
        let trim = PointDefinition(name: "trim", address: ModbusAddress(table: .input, offset: 30, type: .int16), access: .readwrite)
        let device = boiler(port: port, extra: [trim])
        let simulator = try ModbusSimulator(devices: [device], port: port, animated: false, logger: testLogger)
        try simulator.start()
        defer { simulator.stop() }
        let adapter = ModbusAdapter(devices: [device], logger: testLogger, reconnect: fastReconnect)
        let collector = ReadingCollector()
        let client = try RawClient(port: port)

        try await whileRunning(adapter, into: collector) {
            _ = try #require(await collector.waitForBatch(allGood("boiler-1")))
            let notMultiple = await writeError { () async throws(WriteError) in
                try await adapter.write(device: "boiler-1", values: ["setpoint": .double(21.55)])
            }
            #expect(notMultiple == .rejected("boiler-1.setpoint: 21.55 °C is not a multiple of the scale 0.1"))
            // One bad value spoils the whole command: `mode` must not be written either.
            let mixed = await writeError { () async throws(WriteError) in
                try await adapter.write(device: "boiler-1", values: ["mode": .int(3), "preset": .int(3_000_000_000)])
            }
            guard case .rejected(let why)? = mixed else {
                Issue.record("expected a rejection, got \(String(describing: mixed))")
                return
            }
            #expect(why.contains("boiler-1.preset: 3000000000 is out of range"))
            let inputTable = await writeError { () async throws(WriteError) in
                try await adapter.write(device: "boiler-1", values: ["trim": .int(1)])
            }
            #expect(inputTable == .rejected("boiler-1.trim is in the input table, which Modbus cannot write"))
            let readOnly = await writeError { () async throws(WriteError) in
                try await adapter.write(device: "boiler-1", values: ["temperature": .double(20)])
            }
            #expect(readOnly == .rejected("boiler-1.temperature is read-only"))
            let unknown = await writeError { () async throws(WriteError) in
                try await adapter.write(device: "nobody", values: ["x": .int(1)])
            }
            #expect(unknown == .rejected("no Modbus device 'nobody'"))
            #expect(simulator.requestCounts[6] == nil && simulator.requestCounts[16] == nil)
            #expect(try client.holding(1, count: 2) == [475, 2])
        }
    }

    @Test("a Modbus exception marks only the affected points bad and fails writes with its name")
    func deviceException() async throws {
        let port = try freeLoopbackPort()
        // The simulator knows the boiler; the gateway's map also has `ghost`, beyond the
        // simulator's registers, so the device answers "illegal data address".
        let served = boiler(port: port)
        let ghost = PointDefinition(name: "ghost", address: ModbusAddress(table: .holding, offset: 500, type: .uint16), access: .readwrite)
        let mapped = boiler(port: port, extra: [ghost])
        let simulator = try ModbusSimulator(devices: [served], port: port, animated: false, logger: testLogger)
        try simulator.start()
        defer { simulator.stop() }
        let adapter = ModbusAdapter(devices: [mapped], logger: testLogger, reconnect: fastReconnect)
        let collector = ReadingCollector()

        try await whileRunning(adapter, into: collector) {
            let batch = try #require(await collector.waitForBatch { byPoint($0)["ghost"] != nil })
            let readings = byPoint(batch)
            let bad = try #require(readings["ghost"])
            #expect(bad.value == nil)
            #expect(bad.quality == .bad("illegal data address 40501 (holding register 500) on boiler-1 (Modbus exception 2)"))
            // The device answered, so the connection stays up and the other points are good.
            #expect(batch.filter { $0.point != "ghost" }.allSatisfy { $0.quality == .good && $0.value != nil })
            #expect(batch.count == 10)

            let failure = await writeError { () async throws(WriteError) in
                try await adapter.write(device: "boiler-1", values: ["ghost": .int(1)])
            }
            #expect(failure == .failed("boiler-1.ghost: write failed: illegal data address 40501 (holding register 500) on boiler-1 (Modbus exception 2)"))
            // Still connected: the next poll is good apart from the ghost.
            collector.reset()
            let next = try #require(await collector.waitForBatch { _ in true })
            #expect(next.filter { $0.quality == .good }.count == 9)
        }
    }

    @Test("losing the server yields bad readings with a reason; a new server on the same port restores them")
    func outageAndRecovery() async throws {
        let port = try freeLoopbackPort()
        let device = boiler(port: port)
        let adapter = ModbusAdapter(devices: [device], logger: testLogger, reconnect: fastReconnect)
        let collector = ReadingCollector()
        let first = try ModbusSimulator(devices: [device], port: port, animated: false, logger: testLogger)
        try first.start()

        try await whileRunning(adapter, into: collector) {
            _ = try #require(await collector.waitForBatch(allGood("boiler-1")))
            first.stop()

            let down = try #require(
                await collector.waitForBatch { batch in
                    batch.allSatisfy { $0.quality.name == "bad" }
                        && batch.first?.quality.reason == "connection refused by 127.0.0.1:\(port)"
                })
            #expect(down.count == 9)
            #expect(down.allSatisfy { $0.value == nil && $0.device == "boiler-1" })
            #expect(collector.all.flatMap { $0 }.filter { $0.quality != .good }.allSatisfy { $0.value == nil })

            // A write while the device is unreachable tries once and fails with the reason.
            let failure = await writeError { () async throws(WriteError) in
                try await adapter.write(device: "boiler-1", values: ["setpoint": .int(50)])
            }
            #expect(failure == .failed("boiler-1.setpoint: write failed: connection refused by 127.0.0.1:\(port)"))

            let second = try ModbusSimulator(devices: [device], port: port, animated: false, logger: testLogger)
            try second.start()
            defer { second.stop() }
            collector.reset()
            let back = try #require(await collector.waitForBatch(allGood("boiler-1")))
            #expect(byPoint(back)["setpoint"]?.value == .double(47.5))
            #expect(try await adapter.write(device: "boiler-1", values: ["setpoint": .int(50)]) == ["setpoint": .double(50)])
        }
    }

    @Test("a connection that keeps failing is logged once, keeps emitting bad readings, and its recovery once")
    func logOncePerStateChange() async throws {
        // Bound and never listening until the simulator takes over: refused for certain, and
        // no other test can start a server there meanwhile.
        let refusing = try HeldPort()
        let port = refusing.port
        var refusingOpen = true
        defer { if refusingOpen { refusing.close() } }
        let device = boiler(port: port, poll: .milliseconds(50))
        let logs = LogCapture()
        let adapter = ModbusAdapter(devices: [device], logger: logs.logger, reconnect: fastReconnect)
        let collector = ReadingCollector()

        try await whileRunning(adapter, into: collector) {
            // Nothing listens: with 50 ms polls and retries every 50–200 ms, a second brings
            // many polls and several connection attempts.
            try await Task.sleep(for: .seconds(1))
            let batches = collector.all
            #expect(batches.count >= 5, "bad batches: \(batches.count)")
            #expect(
                batches.allSatisfy { batch in
                    batch.count == 9 && batch.allSatisfy { $0.value == nil && $0.quality == .bad("connection refused by 127.0.0.1:\(port)") }
                })
            #expect(logs.warningsBesidesOverruns == ["Modbus connection down: connection refused by 127.0.0.1:\(port)"])

            refusing.close()
            refusingOpen = false
            let simulator = try ModbusSimulator(devices: [device], port: port, animated: false, logger: testLogger)
            try simulator.start()
            defer { simulator.stop() }
            _ = try #require(await collector.waitForBatch(allGood("boiler-1")))
            // Several more good polls, each of which would log again if recovery were logged
            // per poll rather than once.
            let recovered = collector.all.count
            _ = try #require(await collector.waitForBatch(from: recovered + 3, allGood("boiler-1")))
            #expect(logs.messages(at: .info) == ["connected to 127.0.0.1:\(port)"])
            #expect(logs.warningsBesidesOverruns.count == 1)
        }
    }

    @Test("devices sharing a connection are polled on their own periods with their own unit ids")
    func sharedConnection() async throws {
        let port = try freeLoopbackPort()
        let fast = boiler(port: port, poll: .milliseconds(50))
        let meter = DeviceDefinition(
            id: "meter-7", protocolName: "modbus", connection: ModbusConnection(host: "127.0.0.1", port: port, unitID: 7, responseTimeout: .milliseconds(300)),
            poll: .milliseconds(400),
            points: [PointDefinition(name: "energy", address: ModbusAddress(table: .holding, offset: 200, type: .uint32), scale: 0.01, unit: "kWh")])
        let simulator = try ModbusSimulator(devices: [fast, meter], port: port, animated: false, logger: testLogger)
        try simulator.start()
        defer { simulator.stop() }
        let adapter = ModbusAdapter(devices: [fast, meter], logger: testLogger, reconnect: fastReconnect)
        #expect(adapter.devices.map(\.id) == ["boiler-1", "meter-7"])
        let collector = ReadingCollector()

        try await whileRunning(adapter, into: collector) {
            _ = try #require(await collector.waitForBatch(allGood("meter-7")))
            collector.reset()
            try await Task.sleep(for: .milliseconds(1000))
            let batches = collector.all
            let boilerPolls = batches.filter { $0.first?.device == "boiler-1" }.count
            let meterPolls = batches.filter { $0.first?.device == "meter-7" }.count
            // 50 ms vs 400 ms over one second: roughly 20 and 2–3; bounds leave room for a slow machine.
            #expect(boilerPolls >= 6, "boiler polls: \(boilerPolls)")
            #expect((1...4).contains(meterPolls), "meter polls: \(meterPolls)")
            #expect(boilerPolls > 2 * meterPolls)
            // A batch never mixes devices.
            #expect(batches.allSatisfy { batch in batch.allSatisfy { $0.device == batch[0].device } })
            #expect(batches.flatMap { $0 }.allSatisfy { $0.quality == .good })
        }
    }

    @Test("shutdown fails queued writes, and run can only run once at a time")
    func shutdown() async throws {
        // A server that accepts connections (the kernel does, through the backlog) but never
        // answers: the connection sits in a read until its response timeout.
        let silent = try HeldPort(listening: true)
        defer { silent.close() }
        let port = silent.port
        var device = boiler(port: port)
        // The first poll sits in its read this long: the window in which the write below must
        // be queued behind it and the adapter stopped (long, so that a loaded machine fits).
        device.modbusConnection.responseTimeout = .seconds(5)
        let logs = LogCapture()
        let adapter = ModbusAdapter(devices: [device], logger: logs.logger, reconnect: fastReconnect)
        let collector = ReadingCollector()

        let run = Task { try await adapter.run(sink: collector.sink) }
        // Connected (through the backlog): run is running and its thread is in the first poll.
        #expect(await eventually(timeout: .seconds(20)) { logs.contains("connected to 127.0.0.1:\(port)") })
        await #expect(throws: AdapterRunError.alreadyRunning(adapter: "Modbus")) {
            try await adapter.run(sink: collector.sink)
        }
        let write = Task { () -> WriteError? in
            await writeError { () async throws(WriteError) in
                try await adapter.write(device: "boiler-1", values: ["setpoint": .int(50)])
            }
        }
        // Time for the write's task to queue it (nothing shows that it has; a write not yet
        // queued would fail differently, "not running", and the test with it).
        try await Task.sleep(for: .seconds(1))
        run.cancel()
        try await run.value
        #expect(await write.value == .failed("boiler-1.setpoint: write failed: gateway shutting down"))

        // Once stopped, writes fail at once instead of waiting for a thread that is gone.
        let late = await writeError { () async throws(WriteError) in
            try await adapter.write(device: "boiler-1", values: ["setpoint": .int(50)])
        }
        #expect(late == .failed("boiler-1.setpoint: write failed: the Modbus connection to 127.0.0.1:\(port) is not running"))
    }

    @Test("the simulator refuses port 0 and a port in use, and frees its port on stop")
    func simulatorLifecycle() throws {
        #expect(throws: SimulatorError.invalidPort(0)) {
            _ = try ModbusSimulator(devices: [], port: 0, logger: testLogger)
        }
        let port = try freeLoopbackPort()
        let device = boiler(port: port)
        let a = try ModbusSimulator(devices: [device], port: port, logger: testLogger)
        try a.start()
        let b = try ModbusSimulator(devices: [device], port: port, logger: testLogger)
        #expect(throws: SimulatorError.self) { try b.start() }
        a.stop()
        try b.start()
        #expect(try RawClient(port: port).holding(1) == [475])
        b.stop()
        #expect(throws: TestFailure.self) { _ = try RawClient(port: port) }
    }
}
