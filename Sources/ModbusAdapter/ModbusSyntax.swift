public import DeviceMaps
public import GatewayCore

/// The Modbus part of the device-map format: `connection:` of Modbus TCP (`host`, `port`) or
/// RTU (`serial`, `baud`, `parity`, `data_bits`, `stop_bits`, `rs485`) with what both share
/// (`unit_id`, `timeout`, `byte_timeout`, ...), and the point keys `table`, `address`, `type`, `length`, `bit`, `byte_order`, `word_order`.
public enum ModbusSyntax: ProtocolSyntax {
    /// `modbus`.
    public static let name = "modbus"
    /// Modbus TCP.
    public static let tcpKeys = ["host", "port"]
    /// Modbus RTU.
    public static let rtuKeys = ["serial", "baud", "parity", "data_bits", "stop_bits", "rs485"]
    /// Keys for both transports.
    public static let sharedConnectionKeys = [
        "unit_id", "timeout", "byte_timeout", "max_gap", "max_registers_per_request",
        "write_multiple",
    ]
    /// Keys of `connection:`.
    public static var connectionKeys: [String] { tcpKeys + rtuKeys + sharedConnectionKeys }
    /// A Modbus TCP connection.
    public static let connectionExample =
        "connection: { host: 192.0.2.10, port: 502, unit_id: 1 } for TCP, or { serial: /dev/ttyUSB0, baud: 19200, unit_id: 1 } for RTU"
    /// The point keys Modbus adds.
    public static let pointKeys = ["table", "address", "type", "length", "bit", "byte_order", "word_order"]
    /// Registers one read request can carry (FC 3/4), so the longest string.
    public static let maxStringRegisters = 125
    /// The unit ids a unit on an RTU bus can have: 0 is broadcast, 248…255 are reserved.
    public static let rtuUnits = 1...247

    /// Reads `connection:`: `host`/`port` for TCP or `serial`/`baud`/`parity`/`data_bits`/
    /// `stop_bits`/`rs485` for RTU, then what both share.
    public static func connection(_ c: MapSection) -> (any DeviceConnection)? {
        let before = c.errorCount
        let isRTU = c.has("serial")
        if isRTU, let tcp = c.keys.first(where: { tcpKeys.contains($0) }) {
            c.error(
                "'\(tcp)' is a Modbus TCP key, and 'serial' makes this a Modbus RTU connection", atKey: tcp,
                hint: "a device is reached over TCP (host, port) or over a serial line (serial, baud, ...), not both")
        } else if !isRTU, let rtu = c.keys.first(where: { rtuKeys.contains($0) }) {
            c.error(
                "'\(rtu)' is a Modbus RTU key, but the connection has no 'serial' device", atKey: rtu,
                hint: "add serial: /dev/ttyUSB0 for RTU, or remove it for TCP")
        }
        var transport: ModbusTransport?
        if isRTU {
            let device = c.name("serial", hint: "the serial device, e.g. /dev/ttyUSB0")
            let baud = c.integer("baud", in: 50...4_000_000) ?? 19200
            let parity = c.choice("parity", ModbusSerialPort.Parity.self) ?? .even
            let dataBits = c.integer("data_bits", in: 5...8) ?? 8
            let stopBits = c.integer("stop_bits", in: 1...2) ?? 1
            let rs485 = c.bool("rs485") ?? false
            transport = device.map {
                .rtu(
                    ModbusSerialPort(
                        device: $0, baud: baud, parity: parity, dataBits: dataBits,
                        stopBits: stopBits, rs485: rs485))
            }
        } else {
            let host = c.name("host", required: true, hint: "the device's IP address or host name; for RTU: serial: /dev/ttyUSB0")
            let port = c.integer("port", in: 1...65535) ?? 502
            transport = host.map { .tcp(host: $0, port: port) }
        }
        let unit = c.integer("unit_id", in: 0...255) ?? 1
        if isRTU, !rtuUnits.contains(unit) {
            c.error(
                "unit id \(unit) cannot be polled on a Modbus RTU bus", atValueOf: "unit_id",
                hint: "RTU unit ids are 1…247: 0 is the broadcast address, which no unit answers, and 248…255 are reserved")
        }
        let timeout = c.duration("timeout") ?? .seconds(1)
        let byteTimeout = c.duration("byte_timeout")
        let maxGap = c.integer("max_gap", in: 0...124) ?? ModbusConnection.defaultMaxGap
        let maxRegisters = c.integer("max_registers_per_request", in: 1...125) ?? 125
        let writeMultiple = c.bool("write_multiple") ?? true
        guard let transport, c.errorCount == before else { return nil }
        return ModbusConnection(
            transport: transport, unitID: unit, responseTimeout: timeout, byteTimeout: byteTimeout,
            maxGap: maxGap, maxRegistersPerRequest: maxRegisters, writeMultiple: writeMultiple)
    }

    /// Reads a point's table, address and encoding, and checks them against each other and
    /// against the point's access.
    public static func point(_ m: MapSection, access: Access) -> (any PointAddress)? {
        let before = m.errorCount
        let table = m.choice("table", ModbusTable.self, required: true)
        let address = m.integer("address", in: 0...65535, required: true)
        let explicitType = m.choice("type", ModbusDataType.self)
        let byteOrder = m.choice("byte_order", ByteOrder.self) ?? .big
        let wordOrder = m.choice("word_order", ByteOrder.self) ?? .big
        let bit = m.integer("bit", in: 0...15)

        var type = explicitType
        if let table {
            if table.isBitTable, let t = explicitType, t != .bool {
                m.error(
                    "type '\(t.rawValue)' does not fit table '\(table.rawValue)'", atValueOf: "type",
                    hint: "\(table.rawValue) holds single bits: use type bool or leave type out")
            }
            if let bit {
                if table.isBitTable {
                    m.error(
                        "'bit' selects one bit of a register, and table '\(table.rawValue)' holds single bits already",
                        atValueOf: "bit", hint: "remove 'bit'; the address is the bit's own address")
                } else if let t = explicitType, t != .bool {
                    m.error(
                        "type '\(t.rawValue)' does not fit 'bit: \(bit)'", atValueOf: "type",
                        hint: "a single bit is a bool: use type bool or leave type out")
                }
            }
            if type == nil { type = table.isBitTable || bit != nil ? .bool : .int16 }
            if access.isWritable, !table.isWritable, m.has("access") {
                let instead = table == .input ? "holding" : "coil"
                m.error(
                    "access '\(access.rawValue)' is not possible on table '\(table.rawValue)'", atValueOf: "access",
                    hint: "Modbus \(table.rawValue) \(table.isBitTable ? "inputs" : "registers") are read-only; a writable point lives in table \(instead)")
            }
        }
        var length = 0
        if m.has("length") {
            if type == .string {
                let hint = "'length' counts registers, two characters each: 1 to \(maxStringRegisters)"
                if let n = m.integer("length", in: 0...65535) {
                    if n == 0 {
                        m.error("a string of length 0 holds nothing", atValueOf: "length", hint: hint)
                    } else if n > maxStringRegisters {
                        m.error("a string of \(n) registers is longer than one Modbus read can carry", atValueOf: "length", hint: hint)
                    }
                    length = n
                }
            } else {
                m.warning("'length' only applies to string points", atKey: "length")
            }
        } else if type == .string, table?.isBitTable == false {
            let hint = "the number of registers it spans, two characters each, e.g. length: 10 for 20 characters"
            if m.has("type") {
                m.error("a string point needs 'length'", atValueOf: "type", hint: hint)
            } else {
                m.error("a string point needs 'length'", hint: hint)
            }
        }
        if let type, let table, let address {
            let count = ModbusAddress(table: table, offset: address, type: type, length: length).registerCount
            if count > 0, address + count - 1 > 65535 {
                let what = type == .string ? "string[\(length)]" : type.rawValue
                m.error(
                    "\(what) at address \(address) needs \(count) registers and runs past the last address 65535",
                    atValueOf: "address", hint: "the highest address for a \(what) is \(65536 - count)")
            }
        }
        if type == .string, m.has("word_order") {
            m.warning(
                "'word_order' does not apply to strings: their registers are always read in address order", atKey: "word_order",
                hint: "byte_order: little swaps the two characters of each register")
        }
        guard m.errorCount == before, let table, let address, let type else { return nil }
        return ModbusAddress(
            table: table, offset: address, type: type, byteOrder: byteOrder, wordOrder: wordOrder,
            length: length, bit: bit)
    }

    /// Two points reading the same register or bit are usually a typo in an address (the
    /// same register decoded twice is legal, hence a warning, not an error). A point wider than
    /// the connection's `max_registers_per_request`, or a writable string longer than one
    /// FC 16 request, could never be read or written whole: errors.
    public static func check(
        points: [PointDefinition], connection: (any DeviceConnection)?, of device: String,
        at location: SourceLocation, reporter: MapReporter
    ) {
        if let connection = connection as? ModbusConnection {
            checkRequestLimits(points, connection, of: device, at: location, reporter: reporter)
        }
        var claimed: [ModbusTable: [(range: Range<Int>, bit: Int?, name: String)]] = [:]
        for point in points {
            let a = point.modbus
            let range = a.offset..<(a.offset + a.registerCount)
            // A status word read whole and bit by bit is a common, deliberate pattern: a bit
            // point only clashes with another point on the same bit (as it travels: byte
            // order renumbers bits).
            if let other = claimed[a.table, default: []].first(where: { $0.range.overlaps(range) && $0.bit == a.wireBit }) {
                let shared = max(range.lowerBound, other.range.lowerBound)
                let unit = a.table.isBitTable ? "bit" : "register"
                reporter.warning(
                    "\(device), point '\(point.name)': overlaps point '\(other.name)' at \(a.table.rawValue) \(unit) \(shared)",
                    at: point.location ?? location,
                    hint: "check the address: \(a.typeName) at \(a.offset) uses \(range.count) \(unit)(s)")
            }
            claimed[a.table, default: []].append((range, a.wireBit, point.name))
        }
    }

    /// Devices on one serial bus share its port, opened once with one set of line settings:
    /// two devices naming the same `serial` device with a different baud, parity, data bits,
    /// stop bits or RS-485 mode would each be right only half the time. Reported at the device
    /// that disagrees with the first one on the bus.
    /// Modbus connections (TCP host:port pairs and serial buses) one gateway process serves at
    /// most. libmodbus waits for answers with select(2), which aborts the process on a
    /// descriptor numbered 1024 or above; this leaves 64 for the outbox, the ledger, the hub and
    /// the other adapters.
    public static let maxConnections = 960

    public static func check(devices: [DeviceDefinition], reporter: MapReporter) {
        checkConnectionCount(devices, reporter: reporter)
        var first: [String: (device: DeviceDefinition, port: ModbusSerialPort)] = [:]
        for device in devices {
            guard case .rtu(let port) = device.modbusConnection.transport else { continue }
            guard let bus = first[port.device] else {
                first[port.device] = (device, port)
                continue
            }
            guard bus.port != port else { continue }
            let differing = [
                ("baud", port.baud != bus.port.baud), ("parity", port.parity != bus.port.parity),
                ("data_bits", port.dataBits != bus.port.dataBits), ("stop_bits", port.stopBits != bus.port.stopBits),
                ("rs485", port.rs485 != bus.port.rs485),
            ].filter(\.1).map(\.0)
            let at = bus.device.location.map { " (\($0))" } ?? ""
            reporter.error(
                "device '\(device.id)': serial bus \(port.device) runs at \(lineSettings(bus.port)) for device '\(bus.device.id)'\(at), not \(lineSettings(port))",
                at: device.location ?? SourceLocation(file: port.device, line: 0, column: 0),
                hint: "devices on one bus share its port: give them the same \(differing.joined(separator: ", "))")
        }
    }

    /// More connections than one process can serve is an error at the first device beyond
    /// them: better refused with a reason than aborted by libmodbus once running.
    private static func checkConnectionCount(_ devices: [DeviceDefinition], reporter: MapReporter) {
        var endpoints: Set<String> = []
        for device in devices {
            endpoints.insert(device.modbusConnection.transport.endpoint)
            guard endpoints.count == maxConnections + 1 else { continue }
            let total = Set(devices.map(\.modbusConnection.transport.endpoint)).count
            reporter.error(
                "device '\(device.id)': the maps need \(total) Modbus connections (host:port pairs and serial buses); "
                    + "one gateway serves at most \(maxConnections), as libmodbus waits with select(2), which cannot watch "
                    + "descriptors numbered 1024 or above",
                at: device.location ?? SourceLocation(file: device.modbusConnection.transport.endpoint, line: 0, column: 0),
                hint: "split the devices over two gateways, or reach several units through one gateway or bus (one connection)")
            return
        }
    }

    /// `19200 8E1`, `9600 8N2 RS-485`.
    static func lineSettings(_ port: ModbusSerialPort) -> String {
        "\(port.baud) \(port.dataBits)\(port.parity.rawValue)\(port.stopBits)" + (port.rs485 ? " RS-485" : "")
    }

    /// One request carries a whole value: a value wider than the device's request limit could
    /// never be read (nor written with FC 16), and FC 16 carries at most 123 registers.
    private static func checkRequestLimits(
        _ points: [PointDefinition], _ connection: ModbusConnection, of device: String,
        at location: SourceLocation, reporter: MapReporter
    ) {
        let cap = connection.maxRegistersPerRequest
        for point in points where !point.modbus.table.isBitTable {
            let a = point.modbus
            let width = a.registerCount
            // A write-only value on a device without FC 16 goes register by register.
            let needsOneRequest = point.access.isReadable || connection.writeMultiple
            if needsOneRequest, width > cap {
                reporter.error(
                    "\(device), point '\(point.name)': \(a.typeName) needs \(width) registers in one request, "
                        + "and the connection's max_registers_per_request is \(cap)",
                    at: point.location ?? location,
                    hint: "raise max_registers_per_request to at least \(width), or split the value into points of at most \(cap) registers")
            } else if point.access.isWritable, connection.writeMultiple, width > WritePlan.maxWriteRegisters {
                reporter.error(
                    "\(device), point '\(point.name)': \(a.typeName) is writable, and one Modbus write (FC 16) "
                        + "carries at most \(WritePlan.maxWriteRegisters) registers",
                    at: point.location ?? location,
                    hint: "make it read-only (access: read), or shorten it to length \(WritePlan.maxWriteRegisters)")
            }
        }
    }

    /// `connection:` of Modbus TCP (`host`) or RTU (`serial`).
    public static var connectionSchema: [String: Any] {
        [
            "type": "object", "additionalProperties": false,
            "description": "Modbus TCP (host, port) or Modbus RTU (serial, baud, parity, data_bits, stop_bits, rs485).",
            "oneOf": [
                ["required": ["host"], "not": ["anyOf": rtuKeys.map { ["required": [$0]] }]],
                [
                    "required": ["serial"], "not": ["anyOf": tcpKeys.map { ["required": [$0]] }],
                    "properties": ["unit_id": ["minimum": rtuUnits.lowerBound, "maximum": rtuUnits.upperBound]],
                ],
            ],
            "properties": [
                "host": ["type": "string", "minLength": 1],
                "port": ["type": "integer", "minimum": 1, "maximum": 65535, "description": "Default 502."],
                "serial": ["type": "string", "minLength": 1, "description": "Serial device, e.g. /dev/ttyUSB0."],
                "baud": ["type": "integer", "minimum": 50, "maximum": 4_000_000, "description": "Default 19200."],
                "parity": ["enum": ModbusSerialPort.Parity.allCases.map(\.rawValue), "description": "N, E or O (default E)."],
                "data_bits": ["type": "integer", "minimum": 5, "maximum": 8, "description": "Default 8."],
                "stop_bits": ["type": "integer", "minimum": 1, "maximum": 2, "description": "Default 1."],
                "rs485": ["type": "boolean", "description": "Switch the port to RS-485 mode (default false)."],
                "unit_id": ["type": "integer", "minimum": 0, "maximum": 255, "description": "Default 1; 1…247 on an RTU bus."],
                "timeout": ["$ref": "#/$defs/duration", "description": "Response timeout (default 1s)."],
                "byte_timeout": ["$ref": "#/$defs/duration", "description": "Longest silence between two bytes of one response (libmodbus default 500ms)."],
                "max_gap": [
                    "type": "integer", "minimum": 0, "maximum": 124,
                    "description": "Unnamed registers a read may include to merge two points into one request (default \(ModbusConnection.defaultMaxGap)).",
                ],
                "max_registers_per_request": [
                    "type": "integer", "minimum": 1, "maximum": 125,
                    "description": "For devices that accept fewer than 125 registers per request (bit requests: 16 bits per register).",
                ],
                "write_multiple": [
                    "type": "boolean",
                    "description": "False for devices that accept only FC 5 and FC 6: multi-register values are written register by register (default true).",
                ],
            ] as [String: Any],
        ]
    }

    /// The Modbus point keys.
    public static var pointSchema: [String: Any] {
        [
            "table": ["enum": ModbusTable.allCases.map(\.rawValue), "description": "Modbus table."],
            "address": ["type": "integer", "minimum": 0, "maximum": 65535, "description": "0-based register or bit offset."],
            "type": ["enum": ModbusDataType.allCases.map(\.rawValue), "description": "Encoding; default bool on coil/discrete, int16 otherwise."],
            "byte_order": ["enum": ByteOrder.allCases.map(\.rawValue), "description": "Byte order inside each register (default big)."],
            "word_order": ["enum": ByteOrder.allCases.map(\.rawValue), "description": "Register order inside a multi-register value (default big)."],
            "length": [
                "type": "integer", "minimum": 1, "maximum": maxStringRegisters,
                "description": "Registers of a string point, two characters each.",
            ],
            "bit": [
                "type": "integer", "minimum": 0, "maximum": 15,
                "description": "One bit of a holding or input register (0 = least significant); the point is a bool.",
            ],
        ]
    }

    /// `table` and `address` are required, and the rules between a point's keys that the
    /// syntax reports as errors and a schema can still state (as `if`/`then`), so that
    /// editors flag them as the author types. Rules that need arithmetic (a string's
    /// `address + length`) or other parts of the map stay with the loader.
    public static var pointSchemaRules: [String: Any] {
        let bitTables = ModbusTable.allCases.filter(\.isBitTable).map(\.rawValue)
        let registerTables = ModbusTable.allCases.filter { !$0.isBitTable }.map(\.rawValue)
        let readOnlyTables = ModbusTable.allCases.filter { !$0.isWritable }.map(\.rawValue)
        var rules: [[String: Any]] = [
            // A string point without a length would read nothing.
            [
                "if": ["properties": ["type": ["const": ModbusDataType.string.rawValue]], "required": ["type"]],
                "then": ["required": ["length"]],
            ],
            // Coils and discrete inputs hold single bits: only bool fits.
            [
                "if": ["properties": ["table": ["enum": bitTables]], "required": ["table"]],
                "then": ["properties": ["type": ["const": ModbusDataType.bool.rawValue]]],
            ],
            // `bit` picks a bit of a register, and that bit is a bool.
            [
                "if": ["required": ["bit"]],
                "then": ["properties": ["table": ["enum": registerTables], "type": ["const": ModbusDataType.bool.rawValue]]],
            ],
            // Modbus offers no write to input registers and discrete inputs.
            [
                "if": ["properties": ["table": ["enum": readOnlyTables]], "required": ["table"]],
                "then": ["properties": ["access": ["const": Access.read.rawValue]]],
            ],
        ]
        // A value of n registers must start at 65536 − n at the latest.
        let widths = Dictionary(
            grouping: ModbusDataType.allCases.filter { ($0.fixedRegisterCount ?? 1) > 1 },
            by: { $0.fixedRegisterCount! })
        for (count, types) in widths.sorted(by: { $0.key < $1.key }) {
            rules.append([
                "if": ["properties": ["type": ["enum": types.map(\.rawValue)]], "required": ["type"]],
                "then": ["properties": ["address": ["maximum": 65536 - count]]],
            ])
        }
        return ["required": ["table", "address"], "allOf": rules]
    }
}

extension DeviceMapLoader {
    /// A loader for Modbus devices only (tools and tests that need no other protocol).
    public static let modbus = DeviceMapLoader(protocols: [ModbusSyntax.self])
}
