import DeviceMaps
import GatewayCore
import ModbusAdapter
import Testing

/// A second protocol defined entirely outside the loader, the way an adapter target adds
/// one: it proves that the loader hands each device's sections to its own syntax.
enum LampSyntax: ProtocolSyntax {
    struct Connection: DeviceConnection, Hashable {
        var url: String
        var description: String { url }
        var fields: [MapField] { [MapField("url", .string(url))] }
    }

    struct Address: PointAddress, Hashable {
        var field: String
        var typeName: String { "lamp field" }
        var rawKind: ValueKind { field == "on" ? .bool : .integer }
        var description: String { field }
        var fields: [MapField] { [MapField("field", .string(field))] }
    }

    static let name = "lamp"
    static let connectionKeys = ["url"]
    static let connectionExample = "connection: { url: http://192.0.2.4 }"
    static let pointKeys = ["field"]

    static func connection(_ section: MapSection) -> (any DeviceConnection)? {
        section.name("url", required: true).map { Connection(url: $0) }
    }

    static func point(_ section: MapSection, access: Access) -> (any PointAddress)? {
        guard let field = section.name("field", required: true) else { return nil }
        guard ["on", "bri"].contains(field) else {
            section.error("a lamp has no field '\(field)'", atValueOf: "field", hint: "fields: on, bri")
            return nil
        }
        return Address(field: field)
    }

    static func check(
        points: [PointDefinition], connection: (any DeviceConnection)?, of device: String,
        at location: DeviceMaps.SourceLocation, reporter: MapReporter
    ) {
        if points.count > 2 { reporter.warning("\(device): a lamp has two fields", at: location) }
    }

    static var connectionSchema: [String: Any] { ["type": "object", "properties": ["url": ["type": "string"]]] }
    static var pointSchema: [String: Any] { ["field": ["enum": ["on", "bri"]]] }
    static var pointSchemaRules: [String: Any] { [:] }
}

@Suite struct ProtocolSyntaxTests {
    let loader = DeviceMapLoader(protocols: [ModbusSyntax.self, LampSyntax.self])

    @Test func eachDeviceGetsItsOwnProtocolsTypedConfiguration() throws {
        let (map, diagnostics) = loader.parse(
            yaml: """
                profiles:
                  dimmable:
                    protocol: lamp
                    points: { bri: { field: bri, access: readwrite, min: 1, max: 254 } }
                devices:
                  - id: lamp-1
                    profile: dimmable
                    connection: { url: http://127.0.0.1:8080 }
                    points: { on: { field: on, access: readwrite } }
                  - id: plc-1
                    protocol: modbus
                    connection: { host: 127.0.0.1 }
                    points: { run: { table: coil, address: 0 } }
                """, file: "m.yaml")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let lamp = try #require(map?.devices.first)
        #expect(lamp.protocolName == "lamp")
        #expect(lamp.connection as? LampSyntax.Connection == LampSyntax.Connection(url: "http://127.0.0.1:8080"))
        #expect(lamp.points.map { ($0.address as? LampSyntax.Address)?.field } == ["bri", "on"])
        #expect(lamp.descriptor.points.map(\.kind) == [.integer, .bool])
        #expect(map?.devices.last?.connection is ModbusConnection)
    }

    @Test func keysOfAnotherProtocolAndProtocolMismatchesAreReported() {
        let (map, diagnostics) = loader.parse(
            yaml: """
                profiles:
                  dimmable: { protocol: lamp, points: { bri: { field: bri } } }
                devices:
                  - id: lamp-1
                    protocol: lamp
                    connection: { url: x, host: 127.0.0.1 }
                    points: { on: { field: colour, table: coil } }
                  - id: lamp-2
                    protocol: modbus
                    profile: dimmable
                    connection: { host: 127.0.0.1 }
                  - id: lamp-3
                    protocol: zigbee
                    connection: { url: x }
                """, file: "m.yaml")
        #expect(map == nil)
        #expect(
            diagnostics.map(\.description) == [
                "m.yaml:6:27: error: device 'lamp-1': unknown key 'host' (known keys: url)",
                "m.yaml:7:28: error: device 'lamp-1', point 'on': a lamp has no field 'colour' (fields: on, bri)",
                "m.yaml:7:36: error: device 'lamp-1', point 'on': unknown key 'table' (known keys: field, scale, offset, unit, description, access, min, max, enum, report)",
                "m.yaml:8:5: error: device 'lamp-2': protocol 'modbus' differs from protocol 'lamp' of profile 'dimmable' (leave `protocol` out to use the profile's)",
                "m.yaml:13:15: error: device 'lamp-3': unknown protocol 'zigbee'; known: modbus, lamp",
            ])
    }

    @Test func theSchemaTakesEveryProtocolsKeys() throws {
        let schema = DeviceMapSchema.object(protocols: [ModbusSyntax.self, LampSyntax.self])
        let defs = try #require(schema["$defs"] as? [String: Any])
        // Each protocol's points have its own keys and the shared ones, not the other's.
        let lamp = try #require((defs["point-lamp"] as? [String: Any])?["properties"] as? [String: Any])
        #expect(lamp["field"] != nil && lamp["scale"] != nil && lamp["table"] == nil)
        let modbus = try #require((defs["point-modbus"] as? [String: Any])?["properties"] as? [String: Any])
        #expect(modbus["table"] != nil && modbus["scale"] != nil && modbus["field"] == nil)
        let connection = try #require(defs["connection"] as? [String: Any])
        #expect((connection["anyOf"] as? [Any])?.count == 2)
        let device = try #require(defs["device"] as? [String: Any])
        let protocolEnum = ((device["properties"] as? [String: Any])?["protocol"] as? [String: Any])?["enum"] as? [String]
        #expect(protocolEnum == ["modbus", "lamp"])
    }
}
