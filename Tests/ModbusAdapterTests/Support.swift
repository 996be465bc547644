import CModbus
import DeviceMaps
import Foundation
import GatewayCore
import Logging
import ModbusAdapter
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// An independent libmodbus client, used directly (not through the adapter) to check what
/// the simulator really holds. Lives within one test function.
final class RawClient {
    private let context: OpaquePointer
    private var connected = false

    init(port: Int) throws {
        guard let context = modbus_new_tcp("127.0.0.1", Int32(port)) else { throw TestFailure("modbus_new_tcp failed") }
        self.context = context
        modbus_set_response_timeout(context, 1, 0)
        guard modbus_connect(context) == 0 else {
            // No cleanup here: a throwing class init still runs deinit, which frees the context.
            let why = String(cString: modbus_strerror(CModbus_errno()))
            throw TestFailure("test client cannot connect to 127.0.0.1:\(port): \(why)")
        }
        connected = true
    }

    deinit {
        if connected { modbus_close(context) }
        modbus_free(context)
    }

    func holding(_ address: Int, count: Int = 1) throws -> [UInt16] {
        var out = [UInt16](repeating: 0, count: count)
        guard modbus_read_registers(context, Int32(address), Int32(count), &out) == count else { throw failure() }
        return out
    }

    func input(_ address: Int, count: Int = 1) throws -> [UInt16] {
        var out = [UInt16](repeating: 0, count: count)
        guard modbus_read_input_registers(context, Int32(address), Int32(count), &out) == count else { throw failure() }
        return out
    }

    func coil(_ address: Int) throws -> Bool {
        var out: [UInt8] = [0]
        guard modbus_read_bits(context, Int32(address), 1, &out) == 1 else { throw failure() }
        return out[0] != 0
    }

    func discrete(_ address: Int) throws -> Bool {
        var out: [UInt8] = [0]
        guard modbus_read_input_bits(context, Int32(address), 1, &out) == 1 else { throw failure() }
        return out[0] != 0
    }

    func writeHolding(_ address: Int, _ value: UInt16) throws {
        guard modbus_write_register(context, Int32(address), value) == 1 else { throw failure() }
    }

    /// errno after a failed call.
    private func failure() -> TestFailure {
        let code = CModbus_errno()
        return TestFailure("errno \(code): \(String(cString: modbus_strerror(code)))")
    }
}

/// The boiler of the design document plus a few points that exercise the other types and
/// write paths.
func boiler(
    id: String = "boiler-1", port: Int, unit: Int = 1, poll: Duration = .milliseconds(100),
    extra: [PointDefinition] = []
) -> DeviceDefinition {
    DeviceDefinition(
        id: id, protocolName: "modbus",
        connection: ModbusConnection(host: "127.0.0.1", port: port, unitID: unit, responseTimeout: .milliseconds(300)),
        poll: poll,
        points: [
            PointDefinition(name: "temperature", address: ModbusAddress(table: .holding, offset: 0, type: .int16), scale: 0.1, unit: "°C"),
            PointDefinition(
                name: "setpoint", address: ModbusAddress(table: .holding, offset: 1, type: .int16), scale: 0.1, unit: "°C",
                access: .readwrite, min: 5, max: 90),
            PointDefinition(
                name: "mode", address: ModbusAddress(table: .holding, offset: 2, type: .uint16), access: .readwrite,
                min: 0, max: 3),
            PointDefinition(
                name: "flow", address: ModbusAddress(table: .input, offset: 10, type: .float32, wordOrder: .little),
                unit: "l/min"),
            PointDefinition(name: "pump", address: ModbusAddress(table: .coil, offset: 0, type: .bool), access: .readwrite),
            PointDefinition(name: "alarm", address: ModbusAddress(table: .discrete, offset: 3, type: .bool)),
            PointDefinition(
                name: "gain", address: ModbusAddress(table: .holding, offset: 20, type: .float32, wordOrder: .little),
                access: .readwrite, min: -100, max: 100),
            PointDefinition(name: "preset", address: ModbusAddress(table: .holding, offset: 22, type: .int32), access: .readwrite),
            PointDefinition(name: "energy", address: ModbusAddress(table: .holding, offset: 100, type: .uint32), scale: 0.01, unit: "kWh"),
            PointDefinition(name: "reset", address: ModbusAddress(table: .coil, offset: 5, type: .bool), access: .write),
        ] + extra)
}

/// `device` moved onto a Modbus RTU bus (the serial device `bus`, 19200 8E1), keeping its
/// unit id; `timeout` replaces its response timeout when given.
func onBus(_ device: DeviceDefinition, _ bus: String, timeout: Duration? = nil, rs485: Bool = false) -> DeviceDefinition {
    var device = device
    var connection = device.modbusConnection
    connection.transport = .rtu(ModbusSerialPort(device: bus, rs485: rs485))
    if let timeout { connection.responseTimeout = timeout }
    device.modbusConnection = connection
    return device
}

/// The message of `RegisterCodec.encode`'s rejection, nil when it encodes, or a description
/// of any other error.
func rejection(_ value: Value, _ point: PointDefinition, device: String = "boiler-1") -> String? {
    do {
        _ = try RegisterCodec.encode(value, for: point, device: device)
        return nil
    } catch {
        guard case .rejected(let message) = error else { return "unexpected \(error)" }
        return message
    }
}

/// A logger that stays quiet unless a test is being debugged.
let testLogger: Logger = {
    var logger = Logger(label: "edgegate.tests.modbus") { _ in SwiftLogNoOpLogHandler() }
    logger.logLevel = .critical
    return logger
}()
