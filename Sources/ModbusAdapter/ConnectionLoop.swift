import DeviceMaps
import Foundation
import GatewayCore
import Logging

/// The state of one connection, run in steps by the pool: polls its devices on schedule,
/// runs queued writes between polls, reconnects with backoff, and takes new device sets
/// without a gap.
///
/// Not `Sendable`: owned by its `ConnectionWorker` together with the libmodbus context it
/// owns, and stepped by one pool thread at a time.
final class ConnectionLoop {
    private let worker: ConnectionWorker
    private let sink: ReadingSink
    private let logger: Logger
    private let client: ModbusClient
    /// The device set the loop started with, until `run` hands it to `didApply`.
    private let startGeneration: Int
    private var devices: [DeviceDefinition]
    /// Per device: its read plan and what its "illegal data address" answers taught.
    private var reads: [DeviceReads]
    /// Per device: its poll metrics, asked for once when the device joins the loop.
    private var pollMetrics: [PollMetrics]
    private var connectTimeout: Duration

    private var nextPoll: [ContinuousClock.Instant]
    /// The last device-level problem per device (a Modbus exception), to log changes only.
    private var deviceProblems: [String?]
    private var backoff: Backoff
    private var reconnectAt = ContinuousClock.now
    /// Why the connection is down; nil while connected or before the first attempt.
    private var downReason: String?
    private var everConnected = false
    /// When each device's overrun was last logged.
    private var lastOverrunLog: [String: ContinuousClock.Instant] = [:]
    /// Devices that answered FC 22 with "illegal function" (forgotten when the connection's
    /// device set is rebuilt from scratch, which is rare and cheap to relearn).
    private var withoutMaskWrite: Set<String> = []

    init(worker: ConnectionWorker, sink: ReadingSink) {
        self.worker = worker
        self.sink = sink
        self.logger = worker.logger
        let (devices, generation) = worker.takeDevices()
        self.startGeneration = generation
        self.devices = devices
        self.reads = devices.map(DeviceReads.init(device:))
        self.pollMetrics = devices.map { sink.pollMetrics(device: $0.id) }
        self.client = ModbusClient(transport: worker.transport)
        self.connectTimeout = Self.connectTimeout(devices)
        let now = ContinuousClock.now
        self.nextPoll = reads.map { Self.firstPoll($0, now: now) }
        self.deviceProblems = Array(repeating: nil, count: devices.count)
        self.backoff = Backoff(policy: worker.policy)
    }

    /// Whether `step` has run yet.
    private var started = false

    /// One step, run by a pool thread: takes what was handed over (stop, a new device set,
    /// queued writes), then polls the device that has been due longest, if any, and says
    /// when to run again. One device poll per step: a write, a new device set or a stop waits
    /// at most one device poll, and the pool's threads take turns between connections.
    func step() -> StepOutcome {
        if !started {
            started = true
            logger.debug("connection started", metadata: ["devices": "\(devices.map(\.id).joined(separator: ","))"])
            worker.didApply(startGeneration)
        }
        switch worker.takeWork() {
        case .stop(let pending):
            fail(pending)
            client.close()
            logger.debug("connection stopped")
            return .finished
        case .reconfigure(let devices, let generation):
            reconfigure(devices)
            worker.didApply(generation)
        case .writes(let jobs):
            execute(jobs)
        case nil:
            break
        }
        if let index = longestDue() {
            // Asked before every poll: a reading never taken is not a reading lost.
            if sink.isReady {
                poll(index)
                schedule(index)
            } else {
                skipWhileBusy(index)
            }
        }
        return .next(due: nextPoll.min(), moreWork: worker.hasWork)
    }

    /// The device whose poll has been due longest (the first in map order among equals), nil
    /// when none is due.
    private func longestDue() -> Int? {
        let now = ContinuousClock.now
        var found: Int?
        for index in nextPoll.indices where nextPoll[index] <= now {
            if let best = found, nextPoll[best] <= nextPoll[index] { continue }
            found = index
        }
        return found
    }

    /// A device's first poll: at once, except that a device with nothing to poll (only
    /// write-only points) never becomes due.
    private static func firstPoll(_ reads: DeviceReads, now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        reads.hasReadablePoints ? now : now + .seconds(86_400 * 365)
    }

    private static func connectTimeout(_ devices: [DeviceDefinition]) -> Duration {
        devices.map(\.modbusConnection.responseTimeout).max() ?? .seconds(1)
    }

    /// Switches to a new device set on the open connection. A device whose definition is the
    /// same (source locations aside) keeps its poll schedule, its logged state and what its
    /// refusals taught, so it polls on without a gap; a changed or added device starts over
    /// (its plan made afresh) and polls at once.
    private func reconfigure(_ newDevices: [DeviceDefinition]) {
        var before: [String: Int] = [:]
        for (index, device) in devices.enumerated() { before[device.id] = index }
        let now = ContinuousClock.now
        var reads: [DeviceReads] = []
        var nextPoll: [ContinuousClock.Instant] = []
        var problems: [String?] = []
        var metrics: [PollMetrics] = []
        var kept: [String] = [], restarted: [String] = [], added: [String] = []
        for device in newDevices {
            if let index = before[device.id], devices[index].hasSameDefinition(as: device) {
                reads.append(self.reads[index])
                nextPoll.append(self.nextPoll[index])
                problems.append(deviceProblems[index])
                metrics.append(pollMetrics[index])
                kept.append(device.id)
            } else {
                let fresh = DeviceReads(device: device)
                reads.append(fresh)
                nextPoll.append(Self.firstPoll(fresh, now: now))
                problems.append(nil)
                metrics.append(sink.pollMetrics(device: device.id))
                if before[device.id] == nil { added.append(device.id) } else { restarted.append(device.id) }
            }
        }
        let remaining = Set(newDevices.map(\.id))
        let removed = devices.map(\.id).filter { !remaining.contains($0) }
        devices = newDevices
        self.reads = reads
        self.nextPoll = nextPoll
        deviceProblems = problems
        pollMetrics = metrics
        connectTimeout = Self.connectTimeout(newDevices)
        logger.debug(
            "connection devices updated",
            metadata: [
                "kept": "\(kept.joined(separator: ","))", "restarted": "\(restarted.joined(separator: ","))",
                "added": "\(added.joined(separator: ","))", "removed": "\(removed.joined(separator: ","))",
            ])
    }

    private func fail(_ jobs: [WriteJob]) {
        for job in jobs {
            job.complete(.failure(.failed("\(job.pointNames): write failed: gateway shutting down")))
        }
    }

    /// The next poll of a device, on its period's grid; cycles missed because a poll or a
    /// write overran are skipped rather than run back to back, and counted.
    private func schedule(_ index: Int) {
        let device = devices[index]
        let due = nextPoll[index]
        let period = max(device.poll, .milliseconds(10))
        let now = ContinuousClock.now
        nextPoll[index] = Self.nextDue(after: due, period: device.poll, now: now)
        let skipped = max(0, Int(((nextPoll[index] - due) / period).rounded()) - 1)
        let totals = worker.counters.record(device.id, skipped: skipped)
        guard skipped > 0 else { return }
        pollMetrics[index].overran()
        // The first overrun of a device says why its values come less often; after that, a
        // reminder at most once a minute.
        if lastOverrunLog[device.id].map({ now - $0 >= .seconds(60) }) ?? true {
            lastOverrunLog[device.id] = now
            logger.warning(
                "\(device.id): poll cycle overran its \(device.poll.mapText) period; missed cycles are skipped, not queued",
                metadata: [
                    "took": "\((now - due).mapText)", "skipped": "\(skipped)",
                    "overruns": "\(totals.overruns)", "skipped_total": "\(totals.skippedCycles)", "polls": "\(totals.polls)",
                ])
        }
    }

    /// A cycle not read because the pipeline behind the sink is behind: the device's next
    /// poll is its next cycle on the grid, and the skip is counted apart from overruns.
    private func skipWhileBusy(_ index: Int) {
        let device = devices[index]
        nextPoll[index] = Self.nextDue(after: nextPoll[index], period: device.poll, now: .now)
        worker.counters.recordBusySkip(device.id)
        pollMetrics[index].skippedWhileBusy()
    }

    /// The first instant on the grid `due + k × period` (k ≥ 1) that lies after `now`.
    static func nextDue(
        after due: ContinuousClock.Instant, period: Duration,
        now: ContinuousClock.Instant
    ) -> ContinuousClock.Instant {
        // A zero or negative period from a hand-built definition must not spin the connection.
        let period = max(period, .milliseconds(10))
        var next = due + period
        if next <= now {
            let missed = ((now - next) / period).rounded(.down) + 1
            next += period * missed
        }
        return next
    }

    // MARK: Connection state

    /// Connects if needed. `force` ignores the backoff (a write gets one immediate attempt).
    private func ensureConnected(force: Bool) -> Bool {
        if client.isConnected { return true }
        guard force || ContinuousClock.now >= reconnectAt else { return false }
        do {
            try client.connect(timeout: connectTimeout)
        } catch {
            markDown(ModbusText.connectionText(error, endpoint: worker.endpoint, timeout: connectTimeout))
            return false
        }
        backoff.reset()
        if everConnected, let reason = downReason {
            logger.info("reconnected to \(worker.endpoint)", metadata: ["after": "\(reason)"])
        } else {
            logger.info("connected to \(worker.endpoint)")
        }
        downReason = nil
        everConnected = true
        return true
    }

    /// Records a lost or failed connection and when to try again; logs only changes of state.
    private func markDown(_ reason: String) {
        client.close()
        let wait = backoff.next()
        reconnectAt = .now + wait
        if downReason == nil {
            logger.warning("Modbus connection down: \(reason)", metadata: ["retry_in": "\(wait.mapText)"])
        } else if downReason != reason {
            logger.debug("Modbus connection still down: \(reason)")
        }
        downReason = reason
    }

    // MARK: Polling

    private func poll(_ index: Int) {
        let device = devices[index]
        let started = ContinuousClock.now
        guard ensureConnected(force: false) else {
            // Never silence: while the connection is down every poll reports why.
            sink.emit(bad(device, reads[index].readablePoints, downReason ?? "not connected to \(worker.endpoint)"))
            pollMetrics[index].polled(ok: false, duration: .now - started)
            return
        }
        client.select(device.modbusConnection)

        let outcome = reads[index].poll(now: .now) { block throws(ModbusFailure) -> BlockData in
            block.table.isBitTable
                ? .bits(try client.readBits(block.table, start: block.start, count: block.count))
                : .registers(try client.readRegisters(block.table, start: block.start, count: block.count))
        }
        var readings: [Reading] = []
        readings.reserveCapacity(device.points.count)
        var problem: String?
        var lost: String?
        let time = Date()
        for event in outcome.events {
            switch event {
            case .read(let block, .bits(let bits)):
                for point in block.points {
                    let value = RegisterCodec.decode(bit: bits[block.slice(of: point).lowerBound], for: point)
                    readings.append(
                        Reading(
                            device: device.id, point: point.name, value: value,
                            unit: point.unit, quality: .good, timestamp: time))
                }
            case .read(let block, .registers(let registers)):
                // Each point decodes from its slice of the answer: no copy per reading.
                for point in block.points {
                    readings.append(decode(registers[block.slice(of: point)], point, device, time))
                }
            case .failed(let block, let error):
                let reason = describe(error, device, block.table, block.start, block.count)
                readings += bad(device, block.points, reason)
                if error.isDeviceException {
                    problem = problem ?? reason
                } else {
                    // The stream is unusable, or the unit on a bus is silent: the device's
                    // remaining blocks share the reason (a silent unit costs one timeout a poll).
                    lost = reason
                    // Still connected: the bus is fine and the problem is this device's.
                    if client.isConnected { problem = problem ?? reason }
                }
            case .refused(let point, let error):
                // Logged once, as a lesson, when it was learned; reported on every poll.
                let address = point.modbus
                readings += bad(device, [point], describe(error, device, address.table, address.offset, ReadPlan.width(of: point)))
            case .notRead(let points):
                // The device's remaining requests share the reason the connection was lost.
                readings += bad(device, points, lost ?? "not connected to \(worker.endpoint)")
            }
        }
        pollMetrics[index].polled(ok: problem == nil && lost == nil, duration: .now - started)
        sink.emit(readings)
        for lesson in outcome.lessons {
            logger.warning("\(device.id): \(lesson)")
        }
        if deviceProblems[index] != problem {
            if let problem {
                logger.warning("\(device.id): \(problem)")
            } else {
                logger.info("\(device.id): reads again")
            }
            deviceProblems[index] = problem
        }
    }

    private func decode(_ registers: ArraySlice<UInt16>, _ point: PointDefinition, _ device: DeviceDefinition, _ time: Date) -> Reading {
        do throws(DecodeError) {
            let value = try RegisterCodec.decode(registers, for: point)
            return Reading(device: device.id, point: point.name, value: value, unit: point.unit, quality: .good, timestamp: time)
        } catch {
            return Reading(
                device: device.id, point: point.name, value: nil, unit: point.unit,
                quality: .bad(error.description), timestamp: time)
        }
    }

    private func bad(_ device: DeviceDefinition, _ points: [PointDefinition], _ reason: String) -> [Reading] {
        let time = Date()
        return points.map {
            Reading(device: device.id, point: $0.name, value: nil, unit: $0.unit, quality: .bad(reason), timestamp: time)
        }
    }

    // MARK: Writes

    private func execute(_ jobs: [WriteJob]) {
        for job in jobs {
            if job.isCancelled {
                job.complete(.failure(.failed("\(job.pointNames): write cancelled before it was sent")))
                continue
            }
            job.complete(execute(job))
        }
    }

    private func execute(_ job: WriteJob) -> Result<[String: Value], WriteError> {
        let device = job.device
        guard ensureConnected(force: true) else {
            return .failure(.failed("\(job.pointNames): write failed: \(downReason ?? "not connected to \(worker.endpoint)")"))
        }
        client.select(device.modbusConnection)

        let steps = WritePlan.steps(
            for: job.items, writeMultiple: device.modbusConnection.writeMultiple,
            maxRegistersPerRequest: device.modbusConnection.maxRegistersPerRequest)
        var written: [String] = []
        for step in steps {
            do throws(ModbusFailure) {
                switch step.request {
                case .coil(let address, let value): try client.writeBit(address, value)
                case .coils(let address, let values): try client.writeBits(address, values)
                case .register(let address, let value): try client.writeRegister(address, value)
                case .registers(let address, let values): try client.writeRegisters(address, values)
                case .registerBit(let address, let bit, let value): try writeBit(bit, value, ofRegister: address, of: device)
                }
                if step.completesPoints { written += step.points.map(\.name) }
            } catch {
                let span = step.span
                let reason = describe(error, device, span.table, span.start, span.count)
                var message = "\(step.points.map { "\(device.id).\($0.name)" }.joined(separator: ", ")): write failed: \(reason)"
                if let part = step.part, part.index > 0 {
                    message +=
                        "; registers are written one at a time (write_multiple: false) and \(part.index) of its "
                        + "\(part.count) were written, so the device holds part of the new value"
                }
                if !written.isEmpty {
                    message += " (already written: \(written.map { "\(device.id).\($0)" }.joined(separator: ", ")))"
                }
                return .failure(.failed(message))
            }
        }

        var values: [String: Value] = [:]
        for item in job.items where item.point.access.isReadable {
            let point = item.point
            let address = point.modbus
            do throws(ModbusFailure) {
                switch item.payload {
                case .bit:
                    let bits = try client.readBits(address.table, start: address.offset, count: 1)
                    values[point.name] = RegisterCodec.decode(bit: bits[0], for: point)
                case .registers, .registerBit:
                    let registers = try client.readRegisters(address.table, start: address.offset, count: item.payload.width)
                    do throws(DecodeError) {
                        values[point.name] = try RegisterCodec.decode(registers, for: point)
                    } catch {
                        return .failure(.failed("\(device.id).\(point.name): written, but the value read back is unusable: \(error.description)"))
                    }
                }
            } catch {
                let reason = describe(error, device, address.table, address.offset, item.payload.width)
                return .failure(.failed("\(device.id).\(point.name): written, but reading it back failed: \(reason)"))
            }
        }
        return .success(values)
    }

    /// FC 22 where the device has it; a device that answers "illegal function" gets a read
    /// and an FC 6 instead (not atomic against other masters, which is why it is the fallback),
    /// and is remembered, so its next bit writes do not ask for FC 22 again.
    private func writeBit(_ bit: Int, _ value: Bool, ofRegister offset: Int, of device: DeviceDefinition) throws(ModbusFailure) {
        let mask = UInt16(1) << bit
        if !withoutMaskWrite.contains(device.id) {
            do throws(ModbusFailure) {
                try client.maskWriteRegister(offset, and: ~mask, or: value ? mask : 0)
                return
            } catch  where error.isIllegalFunction {
                withoutMaskWrite.insert(device.id)
                logger.info("\(device.id): no FC 22 (mask write); bits of its registers are written by a read and FC 6")
            }
        }
        let current = try client.readRegisters(.holding, start: offset, count: 1)[0]
        try client.writeRegister(offset, value ? current | mask : current & ~mask)
    }

    /// Describes a failed request and drops the connection unless it is still usable: the
    /// device itself answered, or (on a serial bus) only this unit is silent.
    private func describe(
        _ error: ModbusFailure, _ device: DeviceDefinition, _ table: ModbusTable,
        _ start: Int, _ count: Int
    ) -> String {
        let reason = ModbusText.describe(
            error, endpoint: worker.endpoint, device: device.id,
            unit: device.modbusConnection.unitID,
            timeout: device.modbusConnection.responseTimeout,
            table: table, start: start, count: count)
        if !client.keepsConnection(after: error) { markDown(reason) }
        return reason
    }
}

extension ModbusPayload {
    /// Registers or bits on the wire.
    var width: Int {
        switch self {
        case .bit, .registerBit: return 1
        case .registers(let words): return words.count
        }
    }
}
