import CModbus
import DeviceMaps
import Foundation
import Logging
import ModbusAdapter
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Why a simulator could not start.
public enum SimulatorError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The port is not one libmodbus can listen on (it needs an explicit port, not 0).
    case invalidPort(Int)
    /// Listening failed (address in use, host not an IPv4 address, ...).
    case listenFailed(String)

    /// A sentence for the operator.
    public var description: String {
        switch self {
        case .invalidPort(let port): return "invalid port \(port): choose a TCP port from 1 to 65535"
        case .listenFailed(let why): return why
        }
    }
}

/// A Modbus TCP server (libmodbus) whose registers follow the points of a device map: for
/// demos, discovery and integration tests.
///
/// - Read-only points move: numeric ones follow a slow sine within `min`…`max` (15…25 when
///   the map gives no range), counters (energy, volume units) ramp up, bits toggle every few
///   seconds. Values are encoded with `RegisterCodec`, so scale, offset, byte and word order
///   are those of the map.
/// - Writable points start at the middle of `min`…`max` (or 0, or false) and keep whatever a
///   client writes.
/// - One register space serves every unit id: Modbus TCP servers (and libmodbus in TCP mode)
///   answer any unit id, so several devices on one port must not overlap in their addresses.
/// - Addresses no point covers beyond the highest point of a table answer "illegal data
///   address", like a real device.
///
/// The server thread owns the libmodbus context and register mapping, and animates the
/// registers itself between requests (about 10 times a second), so the mapping needs no lock.
public final class ModbusSimulator: Sendable {
    /// The TCP port the simulator listens on.
    public let port: Int
    /// The IPv4 address it listens on.
    public let host: String

    private let devices: [DeviceDefinition]
    private let animated: Bool
    private let logger: Logger
    private let control: ServerControl

    /// Creates a simulator; nothing listens until `start()`.
    /// - Parameters:
    ///   - host: an IPv4 address (`0.0.0.0` for every interface); libmodbus does not resolve names.
    ///   - port: 1…65535; 0 is refused because libmodbus cannot report an ephemeral port.
    ///   - animated: false freezes read-only points at their starting values, for tests that
    ///     compare readings taken at different instants.
    /// - Throws: `SimulatorError.invalidPort`.
    public init(devices: [DeviceDefinition], host: String = "127.0.0.1", port: Int,
                animated: Bool = true, logger: Logger) throws {
        guard (1...65535).contains(port) else { throw SimulatorError.invalidPort(port) }
        self.devices = devices
        self.host = host
        self.port = port
        self.animated = animated
        var logger = logger
        logger[metadataKey: "simulator"] = "modbus \(host):\(port)"
        self.logger = logger
        self.control = ServerControl()
    }

    /// Listens and starts serving on a dedicated thread; returns once the port is bound.
    /// Starting a running simulator does nothing.
    /// - Throws: `SimulatorError.listenFailed` (for example when the port is in use).
    public func start() throws {
        guard control.beginStart() else { return }
        let setup = SimulatorSetup(devices: devices, host: host, port: port, animated: animated)
        let control = self.control
        let logger = self.logger
        let thread = Thread {
            SimulatorServer.serve(setup, control: control, logger: logger)
            control.didExit()
        }
        thread.name = "modbus-sim \(host):\(port)"
        thread.start()
        if let failure = control.waitUntilListening() {
            throw SimulatorError.listenFailed(failure)
        }
        logger.info("Modbus simulator listening on \(host):\(port)", metadata: [
            "devices": "\(devices.map(\.id).joined(separator: ","))",
        ])
    }

    /// Stops serving, closes the listening and client sockets (the port can be bound again at
    /// once) and returns when the server thread has exited, within about 0.1 s.
    /// Stopping a stopped simulator does nothing.
    public func stop() {
        if control.stopAndWait() {
            logger.info("Modbus simulator stopped")
        }
    }

    /// Serves until the task is cancelled, then stops.
    public func run() async throws {
        try start()
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3600))
        }
        stop()
    }

    /// How many requests the simulator has answered per Modbus function code, for tests and
    /// diagnostics (for example to check that a 32-bit write used FC 16).
    public var requestCounts: [UInt8: Int] {
        control.counts.withLock { $0 }
    }

    deinit {
        stop()
    }
}

/// What the server thread needs, as Sendable values.
struct SimulatorSetup: Sendable {
    var devices: [DeviceDefinition]
    var host: String
    var port: Int
    var animated: Bool
}

/// Start/stop handshake between the simulator object and its server thread.
///
/// `@unchecked Sendable`: `phase` and `listenFailure` are only touched while holding
/// `condition`'s lock; `counts` is a Mutex.
final class ServerControl: @unchecked Sendable {
    enum Phase { case idle, starting, failed, listening, stopping }

    private let condition = NSCondition()
    private var phase = Phase.idle
    private var listenFailure: String?
    let counts = Mutex<[UInt8: Int]>([:])

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
    func waitUntilListening() -> String? {
        condition.lock()
        defer { condition.unlock() }
        // After a failure, wait for the thread to exit too, so a retry starts from a clean slate.
        while phase == .starting || phase == .failed { condition.wait() }
        return listenFailure
    }

    /// Called by the server thread once listening (failure nil) or not.
    func reportListening(failure: String?) {
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
}

/// One animated register or bit.
struct AnimatedPoint {
    enum Motion {
        case sine(low: Double, high: Double, period: Double, phase: Double)
        case ramp(start: Double, perSecond: Double)
        case toggle(period: Double, phase: Int)
    }

    var point: PointDefinition
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
        }
    }
}

/// The server proper: libmodbus context, register mapping and sockets.
///
/// Not `Sendable`: created, used and freed on the server thread only. The C resources are
/// freed in `deinit` and nowhere else (a throwing init still runs it).
final class SimulatorServer {
    private let context: OpaquePointer?
    private let mapping: UnsafeMutablePointer<modbus_mapping_t>?
    private let setup: SimulatorSetup
    private let logger: Logger
    private var listener: Int32 = -1
    private var clients: [Int32] = []
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
            control.reportListening(failure: error.description)
            return
        }
        control.reportListening(failure: nil)
        while !control.shouldStop {
            server.step(control: control)
        }
        // `server` is released on return, closing its sockets before `didExit` is reported.
    }

    private init(setup: SimulatorSetup, logger: Logger) throws(SimulatorError) {
        self.setup = setup
        self.logger = logger
        context = modbus_new_tcp(setup.host, Int32(setup.port))
        var sizes: [ModbusTable: Int] = [:]
        for device in setup.devices {
            for point in device.points {
                let width = point.modbus.registerCount
                sizes[point.modbus.table] = max(sizes[point.modbus.table] ?? 0, point.modbus.offset + width)
            }
        }
        mapping = modbus_mapping_new(Int32(sizes[.coil] ?? 0), Int32(sizes[.discrete] ?? 0),
                                     Int32(sizes[.holding] ?? 0), Int32(sizes[.input] ?? 0))
        guard let context, mapping != nil else {
            throw .listenFailed("cannot create the Modbus server for \(setup.host):\(setup.port): \(ModbusServerText.errno())")
        }
        // A client that sends half a request must not stall every other client.
        modbus_set_indication_timeout(context, 0, 500_000)
        listener = modbus_tcp_listen(context, Int32(Self.maxClients))
        guard listener >= 0 else {
            throw .listenFailed("cannot listen on \(setup.host):\(setup.port): \(ModbusServerText.errno())")
        }
        preparePoints()
    }

    deinit {
        for client in clients { Glibc.close(client) }
        if listener >= 0 { Glibc.close(listener) }
        if let context {
            // The sockets are closed above; keep libmodbus from closing one a second time.
            modbus_set_socket(context, -1)
            modbus_free(context)
        }
        if let mapping { modbus_mapping_free(mapping) }
    }

    private func preparePoints() {
        var index = 0
        for device in setup.devices {
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
                    store(RegisterCodec.nearestPayload(for: start, point: point), at: point.modbus)
                    continue
                }
                if point.modbus.type == .string {
                    // Text on a device is a name or a serial number: it does not move.
                    store(.registers(RegisterCodec.stringRegisters("\(device.id) \(point.name)", count: point.modbus.registerCount,
                                                                  byteOrder: point.modbus.byteOrder)), at: point.modbus)
                    continue
                }
                let motion: AnimatedPoint.Motion
                if point.modbus.type == .bool {
                    motion = .toggle(period: 3, phase: index % 2)
                } else if Self.isCounter(point) {
                    motion = .ramp(start: point.min ?? 1000, perSecond: 0.5)
                } else {
                    let low = point.min ?? 15, high = point.max ?? (point.min.map { $0 + 10 } ?? 25)
                    motion = .sine(low: low, high: high, period: 20, phase: Double(index))
                }
                points.append(AnimatedPoint(point: point, motion: motion))
            }
        }
        animate(force: true)
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
        let t = setup.animated ? seconds(now - started) : 0
        for animated in points {
            store(RegisterCodec.nearestPayload(for: animated.value(at: t), point: animated.point),
                  at: animated.point.modbus)
        }
    }

    private func store(_ payload: ModbusPayload, at address: ModbusAddress) {
        guard let m = mapping?.pointee else { return }
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
        guard let context, let mapping else { return }
        var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        fds += clients.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let ready = poll(&fds, nfds_t(fds.count), Int32(seconds(Self.tick) * 1000))
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
                // The function code follows the 7-byte MBAP header.
                control.count(query[Int(modbus_get_header_length(context))])
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
}

enum ModbusServerText {
    static func errno() -> String {
        String(cString: modbus_strerror(CModbus_errno()))
    }
}

private func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
