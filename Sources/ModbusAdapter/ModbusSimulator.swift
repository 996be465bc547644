import CModbus
public import DeviceMaps
import Foundation
import GatewayCore
public import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A Modbus TCP server, or a Modbus RTU bus of units on a serial device (libmodbus), whose
/// registers follow the points of a device map: for demos, discovery and integration tests.
///
/// - Read-only points move: numeric ones follow a slow sine within `min`…`max` (when the map
///   gives no range: 390…410 for V, 10…20 for A, 4…8 for kW, 15…25 for others), counters (energy, volume units) ramp up, bits toggle every few
///   seconds. Values are encoded with `RegisterCodec`, so scale, offset, byte and word order
///   are those of the map.
/// - A device whose read-only integer point has an `enum` with an option `running` is a
///   machine: that point plays a fixed cycle of running and stops, and the device's part
///   counters advance while it runs (see `SimulatedMachine`).
/// - Writable points start at the middle of `min`…`max` (or 0, or false) and keep whatever a
///   client writes.
/// - Over TCP one register space serves every unit id: Modbus TCP servers (and libmodbus in
///   TCP mode) answer any unit id, so several devices on one port must not overlap in their
///   addresses.
/// - On a serial line each unit id is a unit of its own, with the register space of the
///   devices of that unit id; a request for a unit id no device has stays unanswered, as on a
///   real bus, and a broadcast (unit 0) reaches every unit and is answered by none.
/// - Addresses no point covers beyond the highest point of a table answer "illegal data
///   address", like a real device.
///
/// The server thread owns the libmodbus context and register mapping, and animates the
/// registers itself between requests (about 10 times a second), so the mapping needs no lock.
public final class ModbusSimulator: Sendable {
    /// Where it serves: TCP `host:port`, or a serial line.
    public let transport: ModbusTransport

    private let devices: [DeviceDefinition]
    private let animated: Bool
    private let answerDelays: [Int: Duration]
    private let timeScale: Double
    private let logger: Logger
    private let control: ServerControl

    /// Creates a simulator; nothing listens until `start()`.
    /// - Parameters:
    ///   - host: an IPv4 address (`0.0.0.0` for every interface); libmodbus does not resolve names.
    ///   - port: 1…65535; 0 is refused because libmodbus cannot report an ephemeral port.
    ///   - animated: false freezes read-only points at their starting values, for tests that
    ///     compare readings taken at different instants.
    /// - Throws: `SimulatorError.invalidPort`.
    ///   - answerDelays: unit ids whose requests are answered only after this long, as a slow
    ///     device does. The server thread waits meanwhile, so every client of this port waits,
    ///     as behind one slow gateway device on a shared line.
    ///   - timeScale: simulated seconds per real second for the animation (10 plays a machine's
    ///     125 s cycle in 12.5 s), so that tests can watch whole cycles.
    public convenience init(
        devices: [DeviceDefinition], host: String = "127.0.0.1", port: Int,
        animated: Bool = true, answerDelays: [Int: Duration] = [:], timeScale: Double = 1, logger: Logger
    ) throws {
        guard (1...65535).contains(port) else { throw SimulatorError.invalidPort(port) }
        self.init(
            devices: devices, transport: .tcp(host: host, port: port), animated: animated,
            answerDelays: answerDelays, timeScale: timeScale, logger: logger)
    }

    /// Creates a Modbus RTU simulator on a serial device (one end of a pseudo-terminal pair
    /// made with `socat`, or a real port); nothing is opened until `start()`.
    /// - Parameters:
    ///   - serial: the device and its line settings (a pseudo-terminal ignores the baud rate).
    ///   - animated: as for TCP.
    ///   - answerDelays: units that answer only after this long, as a slow device does (the
    ///     other units keep answering at once meanwhile).
    ///   - timeScale: as for TCP.
    public convenience init(
        devices: [DeviceDefinition], serial: ModbusSerialPort, animated: Bool = true,
        answerDelays: [Int: Duration] = [:], timeScale: Double = 1, logger: Logger
    ) {
        self.init(
            devices: devices, transport: .rtu(serial), animated: animated, answerDelays: answerDelays, timeScale: timeScale,
            logger: logger)
    }

    private init(
        devices: [DeviceDefinition], transport: ModbusTransport, animated: Bool,
        answerDelays: [Int: Duration] = [:], timeScale: Double, logger: Logger
    ) {
        self.devices = devices
        self.transport = transport
        self.animated = animated
        self.answerDelays = answerDelays
        self.timeScale = timeScale
        var logger = logger
        logger[metadataKey: "simulator"] = "modbus \(transport.endpoint)"
        self.logger = logger
        self.control = ServerControl()
    }

    /// Listens (or opens the serial device) and starts serving on a dedicated thread; returns
    /// once the port is bound or the device open. Starting a running simulator does nothing.
    /// - Throws: `SimulatorError.listenFailed` (for example when the port is in use) or
    ///   `.openFailed` (no such serial device).
    public func start() throws {
        guard control.beginStart() else { return }
        let setup = SimulatorSetup(
            devices: devices, transport: transport, animated: animated, answerDelays: answerDelays, timeScale: timeScale)
        let control = self.control
        let logger = self.logger
        let thread = Thread {
            SimulatorServer.serve(setup, control: control, logger: logger)
            control.didExit()
        }
        thread.name = "modbus-sim \(transport.endpoint)"
        thread.start()
        if let failure = control.waitUntilListening() {
            throw failure
        }
        logger.info(
            "Modbus simulator serving on \(transport.endpoint)",
            metadata: [
                "devices": "\(devices.map(\.id).joined(separator: ","))"
            ])
    }

    /// Stops serving, closes the listening and client sockets (the port can be bound again at
    /// once) or the serial device, and returns when the server thread has exited, within
    /// about 0.1 s.
    /// Stopping a stopped simulator does nothing.
    public func stop() {
        if control.stopAndWait() {
            logger.info("Modbus simulator stopped")
        }
    }

    /// Serves until the task is cancelled, then stops.
    public func run() async throws {
        try start()
        await waitUntilCancelled()
        stop()
    }

    /// How many requests the simulator has answered per Modbus function code, for tests and
    /// diagnostics (for example to check that a 32-bit write used FC 16).
    public var requestCounts: [UInt8: Int] {
        control.counts.withLock { $0 }
    }

    /// The write requests received (FC 5, 6, 15, 16, 22), oldest first, at most the latest
    /// `ServerControl.writeLogLimit`: what a client wrote and in which order, for tests.
    public var writeLog: [ModbusWrite] {
        control.writes.withLock { $0 }
    }

    deinit {
        stop()
    }
}

/// One write request as the simulator received it.
public struct ModbusWrite: Sendable, Hashable {
    /// The function code: 5 or 15 (coils), 6 or 16 (registers), 22 (mask write).
    public var function: UInt8
    /// The 0-based start address.
    public var address: Int
    /// Register values; 0 or 1 per coil; the AND and OR masks of FC 22.
    public var values: [UInt16]

    /// Creates a record.
    public init(function: UInt8, address: Int, values: [UInt16]) {
        self.function = function
        self.address = address
        self.values = values
    }

    /// Reads a request PDU (function code first); nil for other functions or a short PDU.
    init?(pdu: ArraySlice<UInt8>) {
        let b = Array(pdu)
        guard b.count >= 5 else { return nil }
        func word(_ i: Int) -> UInt16 { UInt16(b[i]) << 8 | UInt16(b[i + 1]) }
        function = b[0]
        address = Int(word(1))
        switch function {
        case 5: values = [word(3) == 0xFF00 ? 1 : 0]
        case 6: values = [word(3)]
        case 15:
            let count = Int(word(3))
            guard b.count >= 6 + (count + 7) / 8 else { return nil }
            values = (0..<count).map { UInt16(b[6 + $0 / 8] >> UInt8($0 % 8) & 1) }
        case 16:
            let count = Int(word(3))
            guard b.count >= 6 + 2 * count else { return nil }
            values = (0..<count).map { word(6 + 2 * $0) }
        case 22:
            guard b.count >= 7 else { return nil }
            values = [word(3), word(5)]
        default:
            return nil
        }
    }
}

/// What the server thread needs, as Sendable values.
struct SimulatorSetup: Sendable {
    var devices: [DeviceDefinition]
    var transport: ModbusTransport
    var animated: Bool
    var answerDelays: [Int: Duration]
    var timeScale: Double
}

/// Start/stop handshake between the simulator object and its server thread.
///
/// `@unchecked Sendable`: `phase` and `listenFailure` are only touched while holding
/// `condition`'s lock; `counts` is a Mutex.
final class ServerControl: @unchecked Sendable {
    enum Phase { case idle, starting, failed, listening, stopping }

    private let condition = NSCondition()
    private var phase = Phase.idle
    private var listenFailure: SimulatorError?
    let counts = Mutex<[UInt8: Int]>([:])
    let writes = Mutex<[ModbusWrite]>([])
    static let writeLogLimit = 10_000

    /// False when already started.
    func beginStart() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard phase == .idle else { return false }
        phase = .starting
        listenFailure = nil
        return true
    }

    /// Blocks until the server thread reports; returns its failure, if any.
    func waitUntilListening() -> SimulatorError? {
        condition.lock()
        defer { condition.unlock() }
        // After a failure, wait for the thread to exit too, so a retry starts from a clean slate.
        while phase == .starting || phase == .failed { condition.wait() }
        return listenFailure
    }

    /// Called by the server thread once listening (failure nil) or not.
    func reportListening(failure: SimulatorError?) {
        condition.lock()
        if let failure {
            listenFailure = failure
            phase = .failed
        } else if phase == .starting {
            phase = .listening
        }
        condition.broadcast()
        condition.unlock()
    }

    /// Checked by the server thread on every loop.
    var shouldStop: Bool {
        condition.lock()
        defer { condition.unlock() }
        return phase == .stopping
    }

    /// Asks the thread to stop and waits until it has exited; false if it was not running.
    func stopAndWait() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard phase == .listening || phase == .stopping else { return false }
        phase = .stopping
        while phase == .stopping { condition.wait() }
        return true
    }

    /// Called by the server thread as its very last action, after its sockets are closed.
    func didExit() {
        condition.lock()
        phase = .idle
        condition.broadcast()
        condition.unlock()
    }

    func count(_ function: UInt8) {
        counts.withLock { $0[function, default: 0] += 1 }
    }

    /// Keeps a write request (PDU: function code first) in the write log.
    func record(pdu: ArraySlice<UInt8>) {
        guard let write = ModbusWrite(pdu: pdu) else { return }
        writes.withLock { log in
            log.append(write)
            if log.count > Self.writeLogLimit { log.removeFirst(log.count - Self.writeLogLimit) }
        }
    }
}

/// One animated register or bit.
struct AnimatedPoint {
    enum Motion {
        case sine(low: Double, high: Double, period: Double, phase: Double)
        case ramp(start: Double, perSecond: Double)
        case toggle(period: Double, phase: Int)
        /// A machine's state, or a part counter counting up from `start` (raw) and wrapping
        /// within `wrap` (raw) when given.
        case machine(SimulatedMachine, SimulatedMachine.Role, start: Double, wrap: ClosedRange<Double>?)
    }

    var point: PointDefinition
    /// The register space it lives in (see `SimulatorServer.space(of:)`).
    var space: Int
    var motion: Motion

    func value(at t: Double) -> Double {
        switch motion {
        case .sine(let low, let high, let period, let phase):
            let mid = (low + high) / 2, amplitude = (high - low) / 2
            return mid + amplitude * sin(2 * Double.pi * t / period + phase)
        case .ramp(let start, let perSecond):
            return start + perSecond * t
        case .toggle(let period, let phase):
            return (Int(t / period) + phase) % 2 == 0 ? 0 : 1
        case .machine(let machine, .state, _, _):
            return machine.state(at: t)
        case .machine(let machine, let role, let start, let wrap):
            var raw = start + machine.value(of: role, at: t)
            if let wrap {
                let span = wrap.upperBound - wrap.lowerBound + 1
                raw = wrap.lowerBound + (raw - wrap.lowerBound).truncatingRemainder(dividingBy: span)
            }
            return raw * point.scale + point.offset
        }
    }
}

/// The server proper: libmodbus context, register mappings, and sockets or the serial device.
///
/// Not `Sendable`: created, used and freed on the server thread only. The C resources are
/// freed in `deinit` and nowhere else (a throwing init still runs it).
final class SimulatorServer {
    private let context: OpaquePointer?
    /// One register mapping per register space: the only space 0 over TCP, one per unit id on
    /// a serial line.
    private let mappings: [Int: UnsafeMutablePointer<modbus_mapping_t>?]
    private let setup: SimulatorSetup
    private let logger: Logger
    private var listener: Int32 = -1
    private var clients: [Int32] = []
    private var serialOpen = false
    private var frames = RTUFrames()
    /// When the last byte arrived on the serial line, to drop a partial frame after silence.
    private var lastByte = ContinuousClock.now
    /// Requests of slow units, answered when their time comes.
    private var delayed: [(due: ContinuousClock.Instant, frame: [UInt8])] = []
    private var points: [AnimatedPoint] = []
    private let started = ContinuousClock.now
    private var lastAnimation: ContinuousClock.Instant?

    private static let maxClients = 8
    private static let tick = Duration.milliseconds(100)

    /// Runs a server until `control` says stop; reports the listen outcome through `control`.
    static func serve(_ setup: SimulatorSetup, control: ServerControl, logger: Logger) {
        let server: SimulatorServer
        do {
            server = try SimulatorServer(setup: setup, logger: logger)
        } catch {
            control.reportListening(failure: error)
            return
        }
        control.reportListening(failure: nil)
        while !control.shouldStop {
            server.step(control: control)
        }
        // `server` is released on return, closing its sockets before `didExit` is reported.
    }

    /// The register space a device's points live in: over TCP one for all, since a Modbus
    /// TCP server answers any unit id; on a bus the device's unit.
    private static func space(of device: DeviceDefinition, _ transport: ModbusTransport) -> Int {
        if case .rtu = transport { return device.modbusConnection.unitID }
        return 0
    }

    private init(setup: SimulatorSetup, logger: Logger) throws(SimulatorError) {
        self.setup = setup
        self.logger = logger
        switch setup.transport {
        case .tcp(let host, let port):
            context = modbus_new_tcp(host, Int32(port))
        case .rtu(let serial):
            context = modbus_new_rtu(
                serial.device, Int32(serial.baud), CChar(serial.parity.rawValue.utf8.first!),
                Int32(serial.dataBits), Int32(serial.stopBits))
        }
        var sizes: [Int: [ModbusTable: Int]] = [:]
        for device in setup.devices {
            let space = Self.space(of: device, setup.transport)
            for point in device.points {
                let width = point.modbus.registerCount
                sizes[space, default: [:]][point.modbus.table] = max(sizes[space]?[point.modbus.table] ?? 0, point.modbus.offset + width)
            }
        }
        if case .tcp = setup.transport, sizes.isEmpty { sizes[0] = [:] }
        mappings = sizes.mapValues { size in
            modbus_mapping_new(
                Int32(size[.coil] ?? 0), Int32(size[.discrete] ?? 0),
                Int32(size[.holding] ?? 0), Int32(size[.input] ?? 0))
        }
        guard let context, mappings.values.allSatisfy({ $0 != nil }) else {
            throw .listenFailed("cannot create the Modbus server for \(setup.transport.endpoint): \(ModbusServerText.errno())")
        }
        switch setup.transport {
        case .tcp(let host, let port):
            // A client that sends half a request must not stall every other client.
            modbus_set_indication_timeout(context, 0, 500_000)
            listener = modbus_tcp_listen(context, Int32(Self.maxClients))
            guard listener >= 0 else {
                throw .listenFailed("cannot listen on \(host):\(port): \(ModbusServerText.errno())")
            }
        case .rtu(let serial):
            guard modbus_connect(context) == 0 else {
                throw .openFailed("cannot open \(serial.device): \(ModbusServerText.errno())")
            }
            serialOpen = true
        }
        preparePoints()
    }

    deinit {
        for client in clients { Glibc.close(client) }
        if listener >= 0 { Glibc.close(listener) }
        if let context {
            if serialOpen {
                modbus_close(context)
            } else {
                // The sockets are closed above; keep libmodbus from closing one a second time.
                modbus_set_socket(context, -1)
            }
            modbus_free(context)
        }
        for case let mapping? in mappings.values { modbus_mapping_free(mapping) }
    }

    private func preparePoints() {
        var index = 0
        for device in setup.devices {
            let space = Self.space(of: device, setup.transport)
            let machine = SimulatedMachine.of(device)
            for point in device.points {
                index += 1
                if point.access.isWritable {
                    let start: Double
                    switch (point.min, point.max) {
                    case let (lo?, hi?): start = (lo + hi) / 2
                    case let (lo?, nil): start = max(lo, 0)
                    case let (nil, hi?): start = min(hi, 0)
                    case (nil, nil): start = 0
                    }
                    store(RegisterCodec.nearestPayload(for: start, point: point), at: point.modbus, in: space)
                    continue
                }
                if point.modbus.type == .string {
                    // Text on a device is a name or a serial number: it does not move.
                    store(
                        .registers(
                            RegisterCodec.stringRegisters(
                                "\(device.id) \(point.name)", count: point.modbus.registerCount,
                                byteOrder: point.modbus.byteOrder)), at: point.modbus, in: space)
                    continue
                }
                let motion: AnimatedPoint.Motion
                if let machine, let role = machine.roles[point.name] {
                    let (start, wrap) = role == .state ? (0, nil) : SimulatedMachine.counterStart(point)
                    motion = .machine(machine.machine, role, start: start, wrap: wrap)
                } else if point.modbus.type == .bool {
                    motion = .toggle(period: 3, phase: index % 2)
                } else if Self.isCounter(point) {
                    motion = .ramp(start: point.min ?? 1000, perSecond: 0.5)
                } else {
                    let typical = Self.typicalRange(point)
                    let low = point.min ?? typical.lowerBound
                    let high = point.max ?? (point.min.map { $0 + typical.upperBound - typical.lowerBound } ?? typical.upperBound)
                    motion = .sine(low: low, high: high, period: 20, phase: Double(index))
                }
                points.append(AnimatedPoint(point: point, space: space, motion: motion))
            }
        }
        animate(force: true)
    }

    /// Where a read-only point without `min`/`max` (which only limit writes) moves: a plausible
    /// range for an electrical unit (a 400 V machine drawing 10–20 A), else 15…25 (a room
    /// temperature, a level).
    private static func typicalRange(_ point: PointDefinition) -> ClosedRange<Double> {
        switch point.unit {
        case "V": 390...410
        case "A": 10...20
        case "kW": 4...8
        case "W": 4000...8000
        case "Hz": 49.9...50.1
        default: 15...25
        }
    }

    /// Totalizers only ever grow; a sine would look like a broken meter.
    private static func isCounter(_ point: PointDefinition) -> Bool {
        guard let unit = point.unit?.lowercased() else { return false }
        return ["kwh", "wh", "mwh", "m3", "m³", "l", "h", "count"].contains(unit)
    }

    private func animate(force: Bool = false) {
        let now = ContinuousClock.now
        if !force {
            guard setup.animated else { return }
            if let last = lastAnimation, now - last < Self.tick { return }
        }
        lastAnimation = now
        let t = setup.animated ? (now - started).seconds * setup.timeScale : 0
        for animated in points {
            store(
                RegisterCodec.nearestPayload(for: animated.value(at: t), point: animated.point),
                at: animated.point.modbus, in: animated.space)
        }
    }

    private func store(_ payload: ModbusPayload, at address: ModbusAddress, in space: Int) {
        guard let m = mappings[space]??.pointee else { return }
        switch (payload, address.table) {
        case (.bit(let b), .coil):
            if address.offset < m.nb_bits { m.tab_bits[address.offset] = b ? 1 : 0 }
        case (.bit(let b), .discrete):
            if address.offset < m.nb_input_bits { m.tab_input_bits[address.offset] = b ? 1 : 0 }
        case (.registers(let words), .holding):
            for (i, w) in words.enumerated() where address.offset + i < m.nb_registers {
                m.tab_registers[address.offset + i] = w
            }
        case (.registers(let words), .input):
            for (i, w) in words.enumerated() where address.offset + i < m.nb_input_registers {
                m.tab_input_registers[address.offset + i] = w
            }
        case (.registerBit(let bit, let b), .holding) where address.offset < m.nb_registers:
            let mask = UInt16(1) << bit
            m.tab_registers[address.offset] = b ? m.tab_registers[address.offset] | mask : m.tab_registers[address.offset] & ~mask
        case (.registerBit(let bit, let b), .input) where address.offset < m.nb_input_registers:
            let mask = UInt16(1) << bit
            m.tab_input_registers[address.offset] = b ? m.tab_input_registers[address.offset] | mask : m.tab_input_registers[address.offset] & ~mask
        default:
            break
        }
    }

    /// One round: wait up to one animation tick for a connection or request, serve it.
    private func step(control: ServerControl) {
        if serialOpen {
            stepSerial(control: control)
        } else {
            stepTCP(control: control)
        }
    }

    private func stepTCP(control: ServerControl) {
        guard let context, let mapping = mappings[0] ?? nil else { return }
        var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        fds += clients.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let ready = poll(&fds, nfds_t(fds.count), Int32(Self.tick.seconds * 1000))
        animate()
        guard ready > 0 else { return }

        if fds[0].revents & Int16(POLLIN) != 0 {
            var listening = listener
            let client = modbus_tcp_accept(context, &listening)
            if client >= 0 {
                if clients.count >= Self.maxClients {
                    logger.warning("refusing a client: already serving \(Self.maxClients)")
                    Glibc.close(client)
                } else {
                    clients.append(client)
                }
            }
        }
        var query = [UInt8](repeating: 0, count: Int(MODBUS_TCP_MAX_ADU_LENGTH))
        var closed: [Int32] = []
        for entry in fds.dropFirst() where entry.revents != 0 {
            modbus_set_socket(context, entry.fd)
            let length = modbus_receive(context, &query)
            if length > 0 {
                // The function code follows the 7-byte MBAP header, whose last byte is the unit id.
                let header = Int(modbus_get_header_length(context))
                control.count(query[header])
                control.record(pdu: query[header..<Int(length)])
                if let delay = setup.answerDelays[Int(query[header - 1])] {
                    usleep(UInt32(delay.seconds * 1_000_000))
                }
                modbus_reply(context, query, length, mapping)
            } else if length < 0 {
                closed.append(entry.fd)
            }
        }
        for fd in closed {
            Glibc.close(fd)
            clients.removeAll { $0 == fd }
        }
        modbus_set_socket(context, -1)
    }

    /// Reads the bus itself rather than through `modbus_receive`: libmodbus's RTU receive
    /// answers one unit id per context and, after a request for another unit, swallows the
    /// next frame as that unit's answer. Here every frame is cut and checked by `RTUFrames`,
    /// and `modbus_reply` builds the answer from the addressed unit's registers.
    private func stepSerial(control: ServerControl) {
        guard let context else { return }
        var wait = Self.tick
        if let due = delayed.map(\.due).min() { wait = max(.zero, min(wait, due - .now)) }
        var entry = pollfd(fd: modbus_get_socket(context), events: Int16(POLLIN), revents: 0)
        let ready = poll(&entry, 1, Int32((wait.seconds * 1000).rounded(.up)))
        animate()
        let now = ContinuousClock.now
        for request in delayed where request.due <= now { answer(request.frame, context) }
        delayed.removeAll { $0.due <= now }
        guard ready > 0 else {
            // A frame's bytes arrive together: after a tick of silence, a partial one is noise.
            if now - lastByte >= Self.tick { frames.clear() }
            return
        }
        var chunk = [UInt8](repeating: 0, count: Int(MODBUS_RTU_MAX_ADU_LENGTH))
        let count = read(entry.fd, &chunk, chunk.count)
        guard count > 0 else {
            // Nobody holds the other end (EIO, hang-up): wait for one instead of spinning.
            if count == 0 || (errno != EAGAIN && errno != EINTR) { usleep(UInt32(Self.tick.seconds * 1_000_000)) }
            return
        }
        lastByte = now
        frames.append(chunk[0..<count])
        while let frame = frames.next() {
            let unit = Int(frame[0])
            // A unit nobody has stays silent, like a real bus.
            guard unit == 0 || mappings[unit] != nil else { continue }
            control.count(frame[1])
            control.record(pdu: frame.dropFirst().dropLast(2))
            if let delay = setup.answerDelays[unit] {
                delayed.append((now + delay, frame))
            } else {
                answer(frame, context)
            }
        }
    }

    /// Carries out a request and answers it from the addressed unit's registers. Unit 0 is a
    /// broadcast: every unit carries it out, none answers (libmodbus sends no reply to unit 0
    /// on RTU).
    private func answer(_ frame: [UInt8], _ context: OpaquePointer) {
        let unit = Int(frame[0])
        let targets = unit == 0 ? Array(mappings.values) : [mappings[unit] ?? nil]
        modbus_set_slave(context, Int32(unit))
        for case let mapping? in targets {
            modbus_reply(context, frame, Int32(frame.count), mapping)
        }
    }
}

/// Cuts the bytes a Modbus RTU server reads into request frames.
///
/// RTU frames are delimited by silence, which a reader behind a pseudo-terminal or a USB
/// adapter cannot time reliably; the length follows from the function code instead (as
/// libmodbus does), and the CRC confirms the cut. Bytes that cannot start a frame (noise, a
/// frame with a bad CRC) are dropped one at a time until a frame starts.
struct RTUFrames {
    private(set) var buffer: [UInt8] = []

    /// Adds bytes read from the line.
    mutating func append(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// Forgets a partial frame.
    mutating func clear() {
        buffer.removeAll()
    }

    /// The next complete frame with a good CRC, unit id first and CRC last; nil until one is
    /// complete.
    mutating func next() -> [UInt8]? {
        while buffer.count >= 4 {
            guard let length = Self.requestLength(buffer) else { return nil }
            guard length <= Int(MODBUS_RTU_MAX_ADU_LENGTH) else {
                buffer.removeFirst()
                continue
            }
            guard buffer.count >= length else { return nil }
            let frame = Array(buffer[0..<length])
            if Self.crc(frame.dropLast(2)) == UInt16(frame[length - 2]) | UInt16(frame[length - 1]) << 8 {
                buffer.removeFirst(length)
                return frame
            }
            buffer.removeFirst()
        }
        return nil
    }

    /// The length of the request at the start of `bytes` (unit id to CRC), from its function
    /// code; nil when more bytes are needed to tell. An unknown function code takes every byte
    /// read so far (a master writes a frame in one go), so that the reply can say "illegal
    /// function".
    static func requestLength(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        switch bytes[1] {
        case 1...6, 8: return 8  // address or sub-function, quantity or value
        case 7, 11, 12, 17: return 4  // no data
        case 15, 16: return bytes.count > 6 ? 9 + Int(bytes[6]) : nil  // address, quantity, byte count, values
        case 22: return 10  // address, AND mask, OR mask
        case 23: return bytes.count > 10 ? 13 + Int(bytes[10]) : nil  // read and write ranges, byte count, values
        default: return bytes.count
        }
    }

    /// CRC-16/MODBUS (polynomial 0xA001 reflected, start 0xFFFF); its low byte goes first on
    /// the wire.
    static func crc(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        for byte in bytes {
            crc ^= UInt16(byte)
            for _ in 0..<8 {
                crc = crc & 1 != 0 ? (crc >> 1) ^ 0xA001 : crc >> 1
            }
        }
        return crc
    }
}

enum ModbusServerText {
    static func errno() -> String {
        String(cString: modbus_strerror(CModbus_errno()))
    }
}
