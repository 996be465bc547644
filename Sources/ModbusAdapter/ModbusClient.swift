import CModbus
import DeviceMaps
import Foundation
import GatewayCore

/// A failed libmodbus call: the errno it left, which is either a system error or a Modbus
/// exception code offset by `MODBUS_ENOBASE`.
struct ModbusFailure: Error, Sendable, Hashable {
    /// errno after the call.
    var code: Int32
    /// The whole sentence, when the client knows more than the errno says (which serial
    /// device could not be opened) or there is no errno to speak of (no context).
    var message: String?
    /// The function code of the request that failed (3 for a holding-register read, ...),
    /// when a request failed.
    var function: UInt8?

    /// A failure with an errno, of a request with function code `function`.
    init(code: Int32, message: String? = nil, function: UInt8? = nil) {
        self.code = code
        self.message = message
        self.function = function
    }

    /// The Modbus exception code (1...11) when the device answered with an exception.
    var exceptionCode: Int32? {
        let n = code - Int32(MODBUS_ENOBASE)
        return (1...11).contains(n) ? n : nil
    }

    /// True when the device answered, with an exception: the connection itself is fine.
    /// Anything else (timeouts, resets, malformed frames) leaves the TCP stream in an unknown
    /// state, so the caller reconnects.
    var isDeviceException: Bool { exceptionCode != nil }

    /// True when the device does not implement the function code it was sent.
    var isIllegalFunction: Bool { code == CModbus_EMBXILFUN }

    /// True when one unit stayed silent or answered garbage (a timeout, a bad CRC, a frame
    /// from another unit): on a serial bus that says nothing about the port itself.
    var isUnitSilentOrGarbled: Bool {
        code == ETIMEDOUT || (code > Int32(MODBUS_ENOBASE) && !isDeviceException)
    }
}

/// Turns libmodbus errors into sentences an operator can act on.
enum ModbusText {
    /// The name of a Modbus exception, or nil for other errno values.
    static func exceptionName(_ code: Int32) -> String? {
        switch code {
        case CModbus_EMBXILFUN: return "illegal function"
        case CModbus_EMBXILADD: return "illegal data address"
        case CModbus_EMBXILVAL: return "illegal data value"
        case CModbus_EMBXSFAIL: return "device failure"
        case CModbus_EMBXACK: return "acknowledged but not done (long operation in progress)"
        case CModbus_EMBXSBUSY: return "device busy"
        case CModbus_EMBXNACK: return "negative acknowledge"
        case CModbus_EMBXMEMPAR: return "memory parity error"
        case CModbus_EMBXGPATH: return "gateway path unavailable"
        case CModbus_EMBXGTAR: return "gateway target device failed to respond"
        default: return nil
        }
    }

    /// Modicon-style reference numbers (`40101–40102`), the form device manuals use.
    static func reference(_ table: ModbusTable, start: Int, count: Int) -> String {
        let prefix: Int
        let name: String
        switch table {
        case .coil: prefix = 0; name = count == 1 ? "coil" : "coils"
        case .discrete: prefix = 1; name = count == 1 ? "discrete input" : "discrete inputs"
        case .input: prefix = 3; name = count == 1 ? "input register" : "input registers"
        case .holding: prefix = 4; name = count == 1 ? "holding register" : "holding registers"
        }
        let last = start + count - 1
        let base = last < 9999 ? prefix * 10000 : prefix * 100000
        func ref(_ n: Int) -> String {
            let digits = last < 9999 ? 5 : 6
            let s = String(base + n + 1)
            return String(repeating: "0", count: Swift.max(0, digits - s.count)) + s
        }
        let refs = count == 1 ? ref(start) : "\(ref(start))–\(ref(last))"
        let offsets = count == 1 ? "\(start)" : "\(start)–\(last)"
        return "\(refs) (\(name) \(offsets))"
    }

    /// What a function code does: `FC 16 (write multiple registers)`.
    static func function(_ code: UInt8) -> String {
        let name: String
        switch code {
        case 1: name = "read coils"
        case 2: name = "read discrete inputs"
        case 3: name = "read holding registers"
        case 4: name = "read input registers"
        case 5: name = "write single coil"
        case 6: name = "write single register"
        case 15: name = "write multiple coils"
        case 16: name = "write multiple registers"
        case 22: name = "mask write register"
        default: return "FC \(code)"
        }
        return "FC \(code) (\(name))"
    }

    /// Why a request failed, in words an operator can act on, with the Modbus reference
    /// numbers device manuals use where the address matters, e.g.
    /// `illegal data address 40101–40102 (holding registers 100–101) on meter-7 (Modbus exception 2)`,
    /// `gateway target failed to respond (unit 7 behind 127.0.0.1:502) (Modbus exception 11)` or
    /// `no response from 127.0.0.1:1502 (unit 7) within 1 s`.
    /// - Parameters:
    ///   - table, start, count: the registers or bits the request addressed.
    static func describe(
        _ failure: ModbusFailure, endpoint: String, device: String, unit: Int,
        timeout: Duration, table: ModbusTable? = nil, start: Int = 0, count: Int = 0
    ) -> String {
        if let message = failure.message { return message }
        let at = table.map { " " + reference($0, start: start, count: count) } ?? ""
        let isRead = failure.function.map { (1...4).contains($0) } ?? false
        if let exception = failure.exceptionCode {
            let suffix = " (Modbus exception \(exception))"
            switch failure.code {
            case CModbus_EMBXILFUN:
                let what = failure.function.map { " \(function($0))" } ?? " the request it was sent"
                return "illegal function: \(device) does not support\(what)" + suffix
            case CModbus_EMBXILADD:
                return "illegal data address\(at) on \(device)" + suffix
            case CModbus_EMBXILVAL:
                let many = table?.isBitTable == true ? "bits" : "registers"
                let why =
                    isRead && count > 1
                    ? ": the device may take fewer \(many) per request (set max_registers_per_request)"
                    : isRead ? "" : ": the device refused the value"
                return "illegal data value\(table == nil ? "" : " for")\(at) on \(device)" + suffix + why
            case CModbus_EMBXSFAIL:
                return "device failure on \(device)\(table == nil ? "" : " at")\(at): the device could not carry out the request" + suffix
            case CModbus_EMBXACK:
                return "\(device) accepted the request but is still working on it (long operation in progress)" + suffix
            case CModbus_EMBXSBUSY:
                return "\(device) is busy with a long operation" + suffix
            case CModbus_EMBXGPATH:
                return "gateway path unavailable (unit \(unit) behind \(endpoint)): the gateway has no route to that unit" + suffix
            case CModbus_EMBXGTAR:
                return "gateway target failed to respond (unit \(unit) behind \(endpoint))" + suffix
            default:
                return "\(exceptionName(failure.code) ?? "exception")\(at) on \(device)" + suffix
            }
        }
        switch failure.code {
        case ETIMEDOUT:
            return "no response from \(endpoint) (unit \(unit)) within \(timeout.mapText)"
        case CModbus_EMBBADSLAVE:
            return "\(endpoint) answered for another unit id than \(unit)"
        case CModbus_EMBBADCRC:
            return "corrupted response from \(endpoint) (unit \(unit)): CRC error (check baud rate, parity and wiring)"
        case CModbus_EMBBADDATA:
            return "malformed response from \(endpoint) (unit \(unit)): its data does not match the request\(at)"
        case CModbus_EMBBADEXC:
            return "malformed response from \(endpoint) (unit \(unit)): an exception code Modbus does not define"
        case CModbus_EMBMDATA:
            return "too many registers or bits for one Modbus request\(at)"
        default:
            return connectionText(failure, endpoint: endpoint)
        }
    }

    /// Why connecting (or staying connected) failed, e.g. `connection refused by 127.0.0.1:1502`.
    static func connectionText(_ failure: ModbusFailure, endpoint: String, timeout: Duration? = nil) -> String {
        if let message = failure.message { return message }
        switch failure.code {
        case ECONNREFUSED:
            return "connection refused by \(endpoint)"
        case ETIMEDOUT, EINPROGRESS:
            return "no answer from \(endpoint)" + (timeout.map { " within \($0.mapText)" } ?? "")
        case ECONNRESET, EPIPE, ENOTCONN, EBADF:
            return "connection to \(endpoint) lost (\(text(failure.code)))"
        case EHOSTUNREACH, ENETUNREACH:
            return "\(endpoint) is unreachable (\(text(failure.code)))"
        default:
            return "\(text(failure.code)) (\(endpoint))"
        }
    }

    /// libmodbus's own text for an errno, which covers both its codes and system ones.
    static func text(_ code: Int32) -> String {
        String(cString: modbus_strerror(code))
    }
}

/// A libmodbus client context, TCP or RTU.
///
/// Deliberately not `Sendable`: the context is created, used and freed on its connection's
/// dedicated thread only (libmodbus contexts are not thread-safe and every call blocks).
final class ModbusClient {
    private let context: OpaquePointer?
    /// `host:port` or the serial device, for messages.
    let endpoint: String
    /// The serial line of an RTU context; nil for TCP.
    private let serial: ModbusSerialPort?
    /// libmodbus's own byte timeout, for devices that set none: one device's `byte_timeout`
    /// must not stick to the next device polled on the same connection.
    private var defaultByteTimeout: (seconds: UInt32, microseconds: UInt32) = (0, 500_000)
    private(set) var isConnected = false

    init(transport: ModbusTransport) {
        endpoint = transport.endpoint
        switch transport {
        case .tcp(let host, let port):
            // The `_pi` variant resolves host names as well as literal addresses.
            context = modbus_new_tcp_pi(host, String(port))
            serial = nil
        case .rtu(let port):
            let parity = CChar(port.parity.rawValue.utf8.first!)
            context = modbus_new_rtu(port.device, Int32(port.baud), parity, Int32(port.dataBits), Int32(port.stopBits))
            serial = port
        }
        if let context {
            var seconds: UInt32 = 0, microseconds: UInt32 = 0
            modbus_get_byte_timeout(context, &seconds, &microseconds)
            defaultByteTimeout = (seconds, microseconds)
        }
    }

    deinit {
        if let context {
            if isConnected { modbus_close(context) }
            modbus_free(context)
        }
    }

    private func require() throws(ModbusFailure) -> OpaquePointer {
        guard let context else {
            throw ModbusFailure(code: EINVAL, message: "cannot create a Modbus context for \(endpoint)")
        }
        return context
    }

    /// The context, ready for a request. On a bus, whatever arrived since the last answer is
    /// dropped first: a unit that answers after its timeout must not have its late answer
    /// taken for the answer to the next request, which libmodbus would accept when it is the
    /// same unit and function (the next poll of a slow unit). Flushing right after the timeout
    /// is not enough, since the late answer may come later still.
    private func request() throws(ModbusFailure) -> OpaquePointer {
        let ctx = try require()
        if serial != nil { modbus_flush(ctx) }
        return ctx
    }

    /// The errno of a failed request with function code `function`.
    private static func failure(_ function: UInt8? = nil) -> ModbusFailure {
        ModbusFailure(code: CModbus_errno(), function: function)
    }

    /// Connects over TCP (the response timeout doubles as the connect timeout in libmodbus) or
    /// opens the serial device, switching it to RS-485 mode when asked.
    func connect(timeout: Duration) throws(ModbusFailure) {
        let ctx = try require()
        if isConnected { return }
        setResponseTimeout(timeout)
        guard modbus_connect(ctx) == 0 else {
            let failure = Self.failure()
            guard let serial else { throw failure }
            throw ModbusFailure(code: failure.code, message: "cannot open \(serial.device): \(ModbusText.text(failure.code))")
        }
        // Only possible on an open port: it is an ioctl on the device. A pseudo-terminal, a
        // USB adapter that switches the line by itself or a driver without RS-485 refuses it.
        if let serial, serial.rs485, modbus_rtu_set_serial_mode(ctx, MODBUS_RTU_RS485) != 0 {
            let failure = Self.failure()
            modbus_close(ctx)
            throw ModbusFailure(
                code: failure.code,
                message: "cannot switch \(serial.device) to RS-485 mode: "
                    + "\(ModbusText.text(failure.code)) (set rs485: false for an adapter that drives the line itself)")
        }
        isConnected = true
    }

    /// Whether the connection stays usable after a failed request; prepares it for the next one.
    ///
    /// An exception answer leaves any connection fine. On TCP anything else (a timeout, a reset,
    /// a malformed frame) leaves the stream in an unknown state, so the caller reconnects. On a
    /// serial bus a silent or garbled unit says nothing about the port, which stays open for
    /// the other units (what the unit may still send is flushed before the next request).
    /// Errors of the port itself (an adapter unplugged) close it.
    func keepsConnection(after failure: ModbusFailure) -> Bool {
        failure.isDeviceException || (serial != nil && failure.isUnitSilentOrGarbled)
    }

    func close() {
        guard let context, isConnected else { return }
        modbus_close(context)
        isConnected = false
    }

    func setUnit(_ unit: Int) {
        guard let context else { return }
        modbus_set_slave(context, Int32(unit))
    }

    func setResponseTimeout(_ timeout: Duration) {
        guard let context else { return }
        let (seconds, microseconds) = Self.timeval(timeout)
        modbus_set_response_timeout(context, seconds, microseconds)
    }

    /// The longest silence between two bytes of one response; nil restores libmodbus's default.
    func setByteTimeout(_ timeout: Duration?) {
        guard let context else { return }
        let (seconds, microseconds) = timeout.map(Self.timeval) ?? defaultByteTimeout
        modbus_set_byte_timeout(context, seconds, microseconds)
    }

    /// Addresses the next requests to one device: its unit id and its timeouts.
    func select(_ connection: ModbusConnection) {
        setUnit(connection.unitID)
        setResponseTimeout(connection.responseTimeout)
        setByteTimeout(connection.byteTimeout)
    }

    /// Seconds and microseconds for libmodbus, at least 1 ms: libmodbus reads 0 as "no timeout".
    private static func timeval(_ d: Duration) -> (UInt32, UInt32) {
        let us = max(1000, d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000)
        return (UInt32(clamping: us / 1_000_000), UInt32(us % 1_000_000))
    }

    /// FC 3 (holding) or FC 4 (input).
    func readRegisters(_ table: ModbusTable, start: Int, count: Int) throws(ModbusFailure) -> [UInt16] {
        let ctx = try request()
        let function: UInt8 = table == .input ? 4 : 3
        var buffer = [UInt16](repeating: 0, count: count)
        let (rc, error) = buffer.withUnsafeMutableBufferPointer { p in
            let rc =
                table == .input
                ? modbus_read_input_registers(ctx, Int32(start), Int32(count), p.baseAddress)
                : modbus_read_registers(ctx, Int32(start), Int32(count), p.baseAddress)
            return (rc, CModbus_errno())
        }
        guard rc >= 0 else { throw ModbusFailure(code: error, function: function) }
        guard rc == count else { throw ModbusFailure(code: CModbus_EMBBADDATA, function: function) }
        return buffer
    }

    /// FC 1 (coils) or FC 2 (discrete inputs).
    func readBits(_ table: ModbusTable, start: Int, count: Int) throws(ModbusFailure) -> [Bool] {
        let ctx = try request()
        let function: UInt8 = table == .discrete ? 2 : 1
        var buffer = [UInt8](repeating: 0, count: count)
        let (rc, error) = buffer.withUnsafeMutableBufferPointer { p in
            let rc =
                table == .discrete
                ? modbus_read_input_bits(ctx, Int32(start), Int32(count), p.baseAddress)
                : modbus_read_bits(ctx, Int32(start), Int32(count), p.baseAddress)
            return (rc, CModbus_errno())
        }
        guard rc >= 0 else { throw ModbusFailure(code: error, function: function) }
        guard rc == count else { throw ModbusFailure(code: CModbus_EMBBADDATA, function: function) }
        return buffer.map { $0 != 0 }
    }

    /// FC 5.
    func writeBit(_ address: Int, _ value: Bool) throws(ModbusFailure) {
        let ctx = try request()
        guard modbus_write_bit(ctx, Int32(address), value ? 1 : 0) == 1 else { throw Self.failure(5) }
    }

    /// FC 15: several adjacent coils in one request, so they change together.
    func writeBits(_ address: Int, _ values: [Bool]) throws(ModbusFailure) {
        let ctx = try request()
        let bytes = values.map { UInt8($0 ? 1 : 0) }
        let (rc, error) = bytes.withUnsafeBufferPointer { p in
            (modbus_write_bits(ctx, Int32(address), Int32(values.count), p.baseAddress), CModbus_errno())
        }
        guard rc == values.count else { throw ModbusFailure(code: rc < 0 ? error : CModbus_EMBBADDATA, function: 15) }
    }

    /// FC 22: sets the register to (current AND `and`) OR (`or` AND NOT `and`), on the device,
    /// so no other master's write between a read and a write is lost.
    func maskWriteRegister(_ address: Int, and: UInt16, or: UInt16) throws(ModbusFailure) {
        let ctx = try request()
        guard modbus_mask_write_register(ctx, Int32(address), and, or) == 1 else { throw Self.failure(22) }
    }

    /// FC 6: one register.
    func writeRegister(_ address: Int, _ value: UInt16) throws(ModbusFailure) {
        let ctx = try request()
        guard modbus_write_register(ctx, Int32(address), value) == 1 else { throw Self.failure(6) }
    }

    /// FC 6 for one register, FC 16 for several (a multi-register value must change at once).
    func writeRegisters(_ address: Int, _ values: [UInt16]) throws(ModbusFailure) {
        let ctx = try request()
        if values.count == 1 {
            try writeRegister(address, values[0])
        } else {
            let (rc, error) = values.withUnsafeBufferPointer { p in
                (modbus_write_registers(ctx, Int32(address), Int32(values.count), p.baseAddress), CModbus_errno())
            }
            guard rc == values.count else { throw ModbusFailure(code: rc < 0 ? error : CModbus_EMBBADDATA, function: 16) }
        }
    }
}
