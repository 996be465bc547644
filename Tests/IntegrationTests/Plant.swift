import CModbus
import CoreMetrics
import DevTools
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Logging
import MQTTClient
import ModbusAdapter
import ServiceLifecycle
import Synchronization
import TestSupport
import Uplink

/// The boiler of devicemaps/demo-plant.yaml, as the integration tests' device map.
let boilerMapYAML = """
    profiles:
      boiler-controller:
        protocol: modbus
        points:
          temperature: { table: holding, address: 0, type: int16, scale: 0.1, unit: "°C" }
          setpoint:    { table: holding, address: 1, type: int16, scale: 0.1, unit: "°C",
                         access: readwrite, min: 5, max: 90 }
          flow:        { table: input, address: 10, type: float32, word_order: little, unit: "l/min" }
          pump:        { table: coil, address: 0, type: bool, access: readwrite }
          alarm:       { table: discrete, address: 3, type: bool }
          counter:     { table: holding, address: 20, type: uint32, access: readwrite }
          mode:        { table: holding, address: 30, type: uint16, access: readwrite, enum: { off: 0, heat: 1 } }
          burner:      { table: holding, address: 31, bit: 2, access: readwrite }
          level:       { table: holding, address: 32, type: uint16, report: { deadband: 5 } }
        commands:
          start_pump:      { write: { pump: true } }
          set_temperature:
            args: { celsius: { type: number, min: 10, max: 80 } }
            write: { setpoint: $celsius, mode: heat }
    devices:
      - id: boiler-1
        profile: boiler-controller
        connection: { host: 127.0.0.1, port: PORT, unit_id: 1, timeout: 300ms }
        poll: 100ms
    """

/// An independent Modbus client (plain libmodbus calls, not the adapter's code) for checking
/// what is really in the simulator's registers.
final class ProbeClient {
    private let context: OpaquePointer

    init(port: Int) throws {
        guard let ctx = modbus_new_tcp("127.0.0.1", Int32(port)) else { throw ProbeError("modbus_new_tcp failed") }
        modbus_set_slave(ctx, 1)
        guard modbus_connect(ctx) == 0 else {
            modbus_free(ctx)
            throw ProbeError("probe cannot connect to 127.0.0.1:\(port)")
        }
        context = ctx
    }

    /// A probe of unit `unit` on a Modbus RTU bus, the serial device `path` (19200 8E1; a
    /// pseudo-terminal ignores the line settings).
    init(serial path: String, unit: Int) throws {
        guard let ctx = modbus_new_rtu(path, 19200, CChar(UInt8(ascii: "E")), 8, 1) else { throw ProbeError("modbus_new_rtu failed") }
        modbus_set_slave(ctx, Int32(unit))
        guard modbus_connect(ctx) == 0 else {
            modbus_free(ctx)
            throw ProbeError("probe cannot open \(path)")
        }
        context = ctx
    }

    deinit {
        modbus_close(context)
        modbus_free(context)
    }

    /// Addresses the next requests to `unit` (on a bus, one port reaches every unit).
    func use(unit: Int) {
        modbus_set_slave(context, Int32(unit))
    }

    func holding(_ address: Int, count: Int = 1) throws -> [UInt16] {
        var registers = [UInt16](repeating: 0, count: count)
        guard modbus_read_registers(context, Int32(address), Int32(count), &registers) == Int32(count) else {
            throw ProbeError("read holding \(address) failed")
        }
        return registers
    }

    func input(_ address: Int, count: Int) throws -> [UInt16] {
        var registers = [UInt16](repeating: 0, count: count)
        guard modbus_read_input_registers(context, Int32(address), Int32(count), &registers) == Int32(count) else {
            throw ProbeError("read input \(address) failed")
        }
        return registers
    }

    func coil(_ address: Int) throws -> Bool {
        var bit: UInt8 = 0
        guard modbus_read_bits(context, Int32(address), 1, &bit) == 1 else { throw ProbeError("read coil failed") }
        return bit != 0
    }

    func discrete(_ address: Int) throws -> Bool {
        var bit: UInt8 = 0
        guard modbus_read_input_bits(context, Int32(address), 1, &bit) == 1 else { throw ProbeError("read discrete failed") }
        return bit != 0
    }

    func writeHolding(_ address: Int, _ value: UInt16) throws {
        guard modbus_write_register(context, Int32(address), value) == 1 else { throw ProbeError("write holding failed") }
    }

    /// FC 16: several registers at once.
    func writeHolding(_ address: Int, _ values: [UInt16]) throws {
        guard modbus_write_registers(context, Int32(address), Int32(values.count), values) == Int32(values.count) else {
            throw ProbeError("write holding \(address)–\(address + values.count - 1) failed")
        }
    }

    func writeCoil(_ address: Int, _ value: Bool) throws {
        guard modbus_write_bit(context, Int32(address), value ? 1 : 0) == 1 else { throw ProbeError("write coil failed") }
    }
}

/// Everything the operator sees on the hub: telemetry readings, responses, status.
final class OperatorView: Sendable {
    let connection: MQTTConnection
    let readings = Mutex<[(seq: Int, device: String, point: String, fields: [String: JSONValue])]>([])
    /// Every telemetry message as it arrived, redeliveries included.
    let telemetry = Mutex<[(seq: Int, payload: [UInt8])]>([])
    let responses = Mutex<[[String: JSONValue]]>([])
    /// The latest retained inventory (`{p}/{gw}/devices`) received.
    let inventory = Mutex<[String: JSONValue]?>(nil)
    let topics = MQTTTopics(prefix: TestHub.prefix, gateway: TestHub.gatewayID)

    /// - Parameter session: a client id whose session the hub keeps (clean session off), to
    ///   resume it after a hub restart with everything published meanwhile; nil for a fresh one.
    init(hub: TestHub, session: String? = nil) async throws {
        let options = hub.options(
            identity: .operator, clientID: session ?? "operator-\(UUID().uuidString.prefix(6))",
            cleanSession: session == nil)
        connection = try await MQTTConnection.connect(options, logger: Logger(label: "operator"))
        try await connection.subscribe(topics.telemetry, qos: 1)
        try await connection.subscribe(topics.responses, qos: 1)
        try await connection.subscribe(topics.devices, qos: 1)
    }

    /// Collects until the connection ends; run it in a child task.
    func collect() async {
        for await message in connection.messages {
            guard let root = try? JSONDecoder().decode(JSONValue.self, from: Data(message.payload)).object?.dictionary else { continue }
            if message.topic == topics.responses {
                responses.withLock { $0.append(root) }
            } else if message.topic == topics.devices {
                inventory.withLock { $0 = root }
            } else if message.topic == topics.telemetry, let seq = root["seq"]?.integer, case .array(let list)? = root["readings"] {
                let parsed = list.compactMap { node -> (Int, String, String, [String: JSONValue])? in
                    guard case .object(let r) = node, case .string(let d)? = r["device"], case .string(let p)? = r["point"] else { return nil }
                    return (Int(seq), d, p, r.dictionary)
                }
                readings.withLock { $0.append(contentsOf: parsed.map { (seq: $0.0, device: $0.1, point: $0.2, fields: $0.3) }) }
                telemetry.withLock { $0.append((Int(seq), message.payload)) }
            }
        }
    }

    /// The newest reading of one point (of `device`, or of any device) among those received
    /// after `index` readings in total.
    func latest(_ point: String, of device: String? = nil, after index: Int = 0) -> [String: JSONValue]? {
        readings.withLock { all in all.dropFirst(index).last { $0.point == point && (device == nil || $0.device == device) }?.fields }
    }

    var readingCount: Int { readings.withLock { $0.count } }

    /// The device ids of the latest inventory, in its order.
    var inventoryDevices: [String] {
        guard case .array(let devices)? = inventory.withLock({ $0?["devices"] }) else { return [] }
        return devices.compactMap { node in
            if case .object(let device) = node, case .string(let id)? = device["id"] { return id }
            return nil
        }
    }

    /// One device's entry in the latest inventory.
    func inventoryDevice(_ id: String) -> [String: JSONValue]? {
        guard case .array(let devices)? = inventory.withLock({ $0?["devices"] }) else { return nil }
        for case .object(let device) in devices where device["id"] == .string(id) { return device.dictionary }
        return nil
    }

    /// The point names of one device in the latest inventory.
    func inventoryPoints(of id: String) -> [String] {
        guard case .array(let points)? = inventoryDevice(id)?["points"] else { return [] }
        return points.compactMap { node in
            if case .object(let point) = node, case .string(let name)? = point["name"] { return name }
            return nil
        }
    }

    /// Publishes a raw command payload and waits for the response with that id.
    func send(_ payload: String, id: String, timeout: Duration = .seconds(10)) async throws -> [String: JSONValue] {
        try await connection.publish(topics.commands, payload: Array(payload.utf8), qos: 1, retain: false)
        return try await waitFor("response to \(id)", timeout: timeout) {
            self.responses.withLock { $0.first { if case .string(id)? = $0["id"] { return true } else { return false } } }
        }
    }
}

/// A hub, a simulator of a device map (the boiler's unless told) and a running gateway,
/// wired as in production.
struct Plant {
    let hub: TestHub
    let simulator: ModbusSimulator
    let modbusPort: Int
    let map: DeviceMap
    let log = LogCapture()
    /// Holds the gateway's outbox (`outbox.sqlite`).
    let directory: TemporaryDirectory
    /// The protocols of the map and the gateway.
    var protocols = ProtocolRegistry.standard

    /// Starts a hub and a simulator serving `mapYAML`, whose `PORT` becomes the simulator's port.
    /// - Parameter sas: also open the hub's SAS listener (IoT Hub user names and tokens).
    /// - Parameter protocols: the protocols of the map and the gateway.
    static func start(mapYAML: String = boilerMapYAML, sas: Bool = false, protocols: ProtocolRegistry = .standard) async throws -> Plant {
        let hub = try await TestHub.start(sas: sas)
        let (port, map, simulator) = try withFreshPorts(isPortTaken: { $0 is SimulatorError }) {
            let port = try freeLoopbackPort()
            let map = try deviceMap(mapYAML, modbusPort: port, protocols: protocols)
            // The simulator serves the Modbus devices; the map may have devices of other protocols.
            let simulator = try ModbusSimulator(
                devices: map.devices.filter { $0.protocolName == ModbusSyntax.name }, port: port,
                animated: false, logger: Logger(label: "sim"))
            try simulator.start()
            return (port, map, simulator)
        }
        return Plant(
            hub: hub, simulator: simulator, modbusPort: port, map: map, directory: try TemporaryDirectory(prefix: "edgegate-plant"),
            protocols: protocols)
    }

    /// A device map from `yaml`, whose `PORT` becomes `modbusPort`; it must validate.
    static func deviceMap(_ yaml: String, modbusPort: Int, protocols: ProtocolRegistry = .standard) throws -> DeviceMap {
        let (map, diagnostics) = protocols.loader.parse(yaml: yaml.replacingOccurrences(of: "PORT", with: "\(modbusPort)"), file: "plant.yaml")
        guard let map else { throw ProbeError("test map does not validate: \(diagnostics)") }
        return map
    }

    /// Another version of the plant's device map (for a reload), with the simulator's port as `PORT`.
    func deviceMap(_ yaml: String) throws -> DeviceMap {
        try Self.deviceMap(yaml, modbusPort: modbusPort, protocols: protocols)
    }

    /// The plant's gateway configuration; the outbox is `outbox.sqlite` in the plant's folder
    /// unless `outbox` says otherwise.
    func configuration(ca: String? = nil, outbox: OutboxConfiguration? = nil) -> GatewayConfiguration {
        let tls = MQTTTLS(caFile: ca ?? hub.pki.caCert, certFile: hub.pki.gatewayCert, keyFile: hub.pki.gatewayKey)
        return GatewayConfiguration(
            devicemaps: [],
            uplink: UplinkConfiguration(
                link: MQTTUplinkConfiguration(
                    gatewayID: TestHub.gatewayID, prefix: TestHub.prefix,
                    connection: MQTTOptions(host: "127.0.0.1", port: hub.port, clientID: TestHub.gatewayID, tls: tls))),
            outbox: outbox ?? OutboxConfiguration(path: directory.file("outbox.sqlite")))
    }

    /// Runs a gateway for the duration of `body`, then shuts it down gracefully.
    func withGateway<T>(
        ca: String? = nil, outbox: OutboxConfiguration? = nil, initialBackoff: Duration = .milliseconds(100),
        metrics: any MetricsFactory = MetricsSystem.factory,
        _ body: (Gateway) async throws -> T
    ) async throws -> T {
        try await withGateway(configuration: configuration(ca: ca, outbox: outbox), initialBackoff: initialBackoff, metrics: metrics, body)
    }

    /// Runs a gateway of the plant's device map with `configuration` for the duration of
    /// `body`, then shuts it down gracefully.
    /// - Parameter wallClock: what SAS token expiries are counted from.
    /// - Parameter tuning: further uplink settings, after the plant's own.
    /// - Parameter metrics: where the gateway counts (a test's own registry).
    func withGateway<T>(
        configuration: GatewayConfiguration, initialBackoff: Duration = .milliseconds(100),
        wallClock: @escaping @Sendable () -> Date = { Date() },
        tuning: (inout MQTTUplinkConfiguration) -> Void = { _ in },
        metrics: any MetricsFactory = MetricsSystem.factory,
        _ body: (Gateway) async throws -> T
    ) async throws -> T {
        let logger = log.logger
        let gateway = try Gateway(
            configuration: configuration, deviceMap: map, logger: logger,
            tuning: {
                $0.batchInterval = .milliseconds(20)
                $0.initialBackoff = initialBackoff
                $0.maxBackoff = max(initialBackoff, .milliseconds(500))
                tuning(&$0)
            }, wallClock: wallClock, protocols: protocols, metrics: metrics)
        let group = ServiceGroup(configuration: .init(services: gateway.services.map { .init(service: $0) }, logger: logger))
        let running = Task { try await group.run() }
        do {
            let result = try await body(gateway)
            await group.triggerGracefulShutdown()
            try await withTimeout(.seconds(15), "gateway shutdown") { try await running.value }
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await withTimeout(.seconds(15), "gateway shutdown") { try await running.value }
            throw error
        }
    }

    /// Runs a gateway and an operator watching its telemetry and responses for the duration
    /// of `body`, once the gateway's uplink is connected.
    func withGatewayAndOperator(_ body: @escaping (Gateway, OperatorView) async throws -> Void) async throws {
        let view = try await OperatorView(hub: hub)
        try await withGateway { gateway in
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await view.collect() }
                _ = try await waitFor("uplink connected") { gateway.uplink.isConnected ? true : nil }
                try await body(gateway, view)
                await view.connection.disconnect()
            }
        }
    }

    /// Starts a plant, runs `body`, and stops the plant whatever happens.
    static func run(
        mapYAML: String = boilerMapYAML, sas: Bool = false, protocols: ProtocolRegistry = .standard,
        _ body: (Plant) async throws -> Void
    ) async throws {
        let plant = try await start(mapYAML: mapYAML, sas: sas, protocols: protocols)
        do {
            try await body(plant)
        } catch {
            await plant.stop()
            throw error
        }
        await plant.stop()
    }

    func stop() async {
        simulator.stop()
        await hub.stop()
        directory.remove()
    }
}
