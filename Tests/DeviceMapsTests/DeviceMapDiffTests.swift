import DeviceMaps
import ModbusAdapter
import Testing

@Suite("Device-map diff")
struct DeviceMapDiffTests {
    static let before = """
        profiles:
          pump:
            protocol: modbus
            points:
              speed: { table: holding, address: 0, type: uint16, unit: rpm }
        devices:
          - id: a
            profile: pump
            connection: { host: 127.0.0.1, port: 1502, unit_id: 1 }
          - id: b
            protocol: modbus
            connection: { host: 127.0.0.1, port: 1502, unit_id: 2 }
            points: { t: { table: input, address: 0, type: int16 } }
          - id: d
            protocol: modbus
            connection: { host: 127.0.0.1, port: 1503 }
            points: { t: { table: input, address: 0, type: int16 } }
        """

    func map(_ yaml: String, file: String = "plant.yaml") throws -> DeviceMap {
        let (map, diagnostics) = DeviceMapLoader.modbus.parse(yaml: yaml, file: file)
        return try #require(map, "\(diagnostics)")
    }

    @Test("moving devices and points to other lines or another file changes nothing")
    func locationsAreIgnored() throws {
        let old = try map(Self.before)
        // Comments push every line down, the devices swap places, and the file has another name.
        let moved = """
            # pumps and sensors of hall 2

            profiles:
              pump:
                protocol: modbus
                points:
                  speed: { table: holding, address: 0, type: uint16, unit: rpm }
            devices:
              - id: d
                protocol: modbus
                connection: { host: 127.0.0.1, port: 1503 }
                points: { t: { table: input, address: 0, type: int16 } }
              - id: b
                protocol: modbus
                connection: { host: 127.0.0.1, port: 1502, unit_id: 2 }
                points:
                  t: { table: input, address: 0, type: int16 }
              - id: a
                profile: pump
                connection: { host: 127.0.0.1, port: 1502, unit_id: 1 }
            """
        let new = try map(moved, file: "hall-2.yaml")
        #expect(old.devices[0].location != new.devices[2].location)
        #expect(old.devices[0] != new.devices[2])
        let diff = DeviceMapDiff(from: old, to: new)
        #expect(diff.isEmpty)
        #expect(diff.unchanged == ["d", "b", "a"])
        #expect(diff.description == "added 0, changed 0, removed 0, unchanged 3 (d, b, a)")
    }

    @Test("added, changed (also through its profile) and removed devices are told apart by id")
    func changes() throws {
        let old = try map(Self.before)
        let edited = """
            profiles:
              pump:
                protocol: modbus
                points:
                  speed: { table: holding, address: 0, type: uint16, unit: rpm }
                  current: { table: holding, address: 1, type: uint16, scale: 0.1, unit: A }
            devices:
              - id: a
                profile: pump
                connection: { host: 127.0.0.1, port: 1502, unit_id: 1 }
              - id: b
                protocol: modbus
                connection: { host: 127.0.0.1, port: 1502, unit_id: 2 }
                points: { t: { table: input, address: 0, type: int16 } }
              - id: c
                protocol: modbus
                connection: { host: 127.0.0.1, port: 1502, unit_id: 3 }
                poll: 250ms
                points: { t: { table: input, address: 0, type: int16 } }
            """
        let new = try map(edited)
        let diff = DeviceMapDiff(from: old, to: new)
        #expect(diff.added.map(\.id) == ["c"])
        #expect(diff.changed.map(\.id) == ["a"])
        #expect(diff.changed.first?.points.map(\.name) == ["speed", "current"])
        #expect(diff.removed == ["d"])
        #expect(diff.unchanged == ["b"])
        #expect(!diff.isEmpty)
    }

    @Test("any field other than a location makes a device changed")
    func fields() throws {
        let device = try #require(try map(Self.before).devices.first)
        var slower = device
        slower.poll = .seconds(5)
        var limited = device
        limited.points[0].max = 3000
        var relocated = device
        relocated.location = SourceLocation(file: "other.yaml", line: 40, column: 5)
        relocated.points[0].location = nil
        #expect(!device.hasSameDefinition(as: slower))
        #expect(!device.hasSameDefinition(as: limited))
        #expect(device.hasSameDefinition(as: relocated))
        #expect(relocated.withoutSourceLocations.location == nil)
        #expect(relocated.withoutSourceLocations.points.allSatisfy { $0.location == nil })
    }
}
