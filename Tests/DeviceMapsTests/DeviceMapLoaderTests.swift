import DeviceMaps
import Foundation
import GatewayCore
import ModbusAdapter
import Testing

@Suite struct DeviceMapLoaderTests {
    @Test func demoPlantLoadsCleanly() throws {
        let map = try DeviceMapLoader.modbus.load(paths: [Repo.path("devicemaps/demo-plant.yaml")])
        #expect(map.devices.map(\.id) == ["boiler-1", "tank-1", "press-1"])
        let (_, diagnostics) = DeviceMapLoader.examples.validate(paths: [Repo.path("devicemaps"), Repo.path("devicemaps/models")])
        #expect(diagnostics.isEmpty, "\(diagnostics)")

        let boiler = try #require(map.devices.first)
        #expect(boiler.profile == "boiler-controller")
        #expect(boiler.modbusConnection == ModbusConnection(host: "127.0.0.1", port: 1502, unitID: 1))
        #expect(boiler.poll == .milliseconds(500))
        #expect(boiler.report == ReportPolicy(deadband: .absolute(0.2), maxInterval: .seconds(60)))
        #expect(boiler.points.map(\.name) == ["temperature", "setpoint", "mode", "flow", "pump", "alarm"])
        #expect(boiler.commands.map(\.name) == ["start_pump", "stop_pump", "set_temperature"])
        let mode = try #require(boiler.points.first { $0.name == "mode" })
        #expect(mode.options.map(\.label) == ["standby", "heat", "eco"])
        let flow = try #require(boiler.points.first { $0.name == "flow" })
        #expect(flow.modbus == ModbusAddress(table: .input, offset: 10, type: .float32, wordOrder: .little))
        let setpoint = try #require(boiler.points.first { $0.name == "setpoint" })
        #expect(setpoint.access == .readwrite && setpoint.min == 5 && setpoint.max == 90 && setpoint.scale == 0.1)
        #expect(setpoint.unit == "°C")

        let tank = try #require(map.devices.first { $0.id == "tank-1" })
        #expect(tank.reportPolicies["level"] == ReportPolicy(deadband: .percent(1), maxInterval: .seconds(300)))
        #expect(tank.reportPolicies["volume"] == ReportPolicy(deadband: .absolute(0.5), maxInterval: .seconds(30)))

        // The simulator plays press-1 as a machine: a read-only state with a `running` option.
        let press = try #require(map.devices.first { $0.id == "press-1" })
        let state = try #require(press.points.first { $0.name == "state" })
        #expect(state.access == .read && state.options.contains { $0.label == "running" && $0.value == .int(1) })

        // The demo runs against the simulator: small addresses only.
        for device in map.devices {
            for point in device.points { #expect(point.modbus.offset < 200, "\(device.id).\(point.name)") }
        }
    }

    @Test func defaultsAreFilledIn() throws {
        let yaml = """
            devices:
              - id: d1
                protocol: modbus
                connection: { host: plc.local }
                points:
                  bit: { table: coil, address: 7 }
                  reg: { table: input, address: 3 }
            """
        let (map, diagnostics) = DeviceMapLoader.modbus.parse(yaml: yaml, file: "d.yaml")
        #expect(diagnostics.isEmpty)
        let d = try #require(map?.devices.first)
        #expect(d.protocolName == "modbus")
        #expect(d.profile == nil)
        #expect(d.modbusConnection == ModbusConnection(host: "plc.local", port: 502, unitID: 1, responseTimeout: .seconds(1)))
        #expect(d.poll == .seconds(1))
        #expect(d.report == nil)
        #expect(d.location == SourceLocation(file: "d.yaml", line: 2, column: 5))
        let bit = d.points[0], reg = d.points[1]
        #expect(
            bit
                == PointDefinition(
                    name: "bit", address: ModbusAddress(table: .coil, offset: 7, type: .bool),
                    location: SourceLocation(file: "d.yaml", line: 6, column: 7)))
        #expect(reg.modbus == ModbusAddress(table: .input, offset: 3, type: .int16, byteOrder: .big, wordOrder: .big))
        #expect(reg.scale == 1 && reg.offset == 0 && reg.access == .read && reg.min == nil && reg.unit == nil)
    }

    @Test func profilePointsAreOverriddenInPlaceAndExtended() throws {
        let yaml = """
            profiles:
              ctl:
                protocol: modbus
                points:
                  a: { table: holding, address: 0, scale: 0.1, unit: bar }
                  b: { table: holding, address: 1 }
                  c: { table: coil, address: 0 }
            devices:
              - id: plain
                profile: ctl
                connection: { host: h }
              - id: custom
                profile: ctl
                connection: { host: h }
                points:
                  z: { table: input, address: 9 }
                  b: { table: holding, address: 5, type: uint16, access: readwrite }
            """
        let (map, diagnostics) = DeviceMapLoader.modbus.parse(yaml: yaml, file: "p.yaml")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let devices = try #require(map?.devices)
        #expect(devices[0].points.map(\.name) == ["a", "b", "c"])
        #expect(devices[0].protocolName == "modbus")
        #expect(devices[1].points.map(\.name) == ["a", "b", "c", "z"])
        let b = try #require(devices[1].points.first { $0.name == "b" })
        // The override replaces the whole point, not single fields.
        #expect(b.modbus == ModbusAddress(table: .holding, offset: 5, type: .uint16))
        #expect(b.access == .readwrite)
        #expect(b.location?.line == 17)
        // The profile stays untouched for other devices.
        #expect(devices[0].points[1].modbus.offset == 1)
        #expect(devices[1].points[0] == devices[0].points[0])
    }

    @Test func profilesAndDuplicateIdsSpanFiles() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        try tmp.write(
            "maps/a-profiles.yaml",
            """
            profiles:
              ctl: { protocol: modbus, points: { t: { table: input, address: 0 } } }
            devices:
              - { id: d1, profile: ctl, connection: { host: h } }
            """)
        try tmp.write(
            "maps/b-plant.yml",
            """
            devices:
              - { id: d2, profile: ctl, connection: { host: h } }
            """)
        try tmp.write("maps/notes.txt", "not a map")
        let map = try DeviceMapLoader.modbus.load(paths: [tmp.path + "/maps"])
        #expect(map.devices.map(\.id) == ["d1", "d2"])
        #expect(map.devices[1].points.map(\.name) == ["t"])

        let extra = try tmp.write(
            "extra.yaml",
            """
            devices:
              - id: d1
                protocol: modbus
                connection: { host: h }
            """)
        do {
            _ = try DeviceMapLoader.modbus.load(paths: [tmp.path + "/maps", extra])
            Issue.record("a duplicate id across files must not load")
        } catch {
            #expect(error.diagnostics.count == 1)
            let d = try #require(error.diagnostics.first)
            #expect(d.description == "\(extra):2:9: error: duplicate device id 'd1' (first declared at \(tmp.path)/maps/a-profiles.yaml:4:11)")
        }
    }

    @Test func nothingLoadsWhenAnyFileHasAnError() throws {
        let tmp = try TemporaryFolder()
        defer { tmp.remove() }
        try tmp.write("a.yaml", "devices:\n  - { id: ok, protocol: modbus, connection: { host: h } }\n")
        try tmp.write("b.yaml", "devices:\n  - { id: bad, protocol: modbus, connection: { host: h }, pol: 1s }\n")
        let (map, diagnostics) = DeviceMapLoader.modbus.validate(paths: [tmp.path])
        #expect(map == nil)
        #expect(
            diagnostics.map(\.description) == [
                "\(tmp.path)/a.yaml:2:5: warning: device 'ok': the device has no points; it will connect but report nothing (add `points:` or a `profile`)",
                "\(tmp.path)/b.yaml:2:59: error: device 'bad': unknown key 'pol' (did you mean 'poll'?)",
            ])
    }

    @Test func missingPathsAreReported() {
        let (map, diagnostics) = DeviceMapLoader.modbus.validate(paths: ["/nonexistent/maps"])
        #expect(map == nil)
        #expect(diagnostics.map(\.description) == ["/nonexistent/maps: error: no such file or folder"])
    }

    @Test func errorDescriptionIsOneDiagnosticPerLine() {
        let location = SourceLocation(file: "devicemaps/plant.yaml", line: 12, column: 7)
        let error = DeviceMapError(diagnostics: [
            Diagnostic(severity: .error, location: location, message: "unknown key 'adress'", hint: "did you mean 'address'?"),
            Diagnostic(severity: .warning, location: location, message: "something"),
        ])
        #expect(
            error.description == """
                devicemaps/plant.yaml:12:7: error: unknown key 'adress' (did you mean 'address'?)
                devicemaps/plant.yaml:12:7: warning: something
                """)
    }

    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)), ("2s", .seconds(2)), ("1m", .seconds(60)),
        ("1.5s", .milliseconds(1500)), ("1h", .seconds(3600)), ("250 ms", .milliseconds(250)),
    ])
    func durations(_ text: String, _ expected: Duration) throws {
        let yaml = "devices:\n  - { id: d, protocol: modbus, connection: { host: h }, poll: \(text), points: { p: { table: coil, address: 0 } } }\n"
        let (map, diagnostics) = DeviceMapLoader.modbus.parse(yaml: yaml, file: "d.yaml")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        #expect(map?.devices.first?.poll == expected)
    }
}

@Suite struct DeviceMapEdgeCaseTests {
    @Test func emptyPointNameIsAnError() {
        let yaml = "devices:\n  - { id: d, protocol: modbus, connection: { host: h }, points: { '': { table: coil, address: 0 } } }\n"
        let (map, diagnostics) = DeviceMapLoader.modbus.parse(yaml: yaml, file: "d.yaml")
        #expect(map == nil)
        #expect(diagnostics.map(\.message) == ["device 'd': a point name must not be empty"])
    }

    @Test func emptyFileWarnsButLoads() throws {
        let (map, diagnostics) = DeviceMapLoader.modbus.parse(yaml: "# nothing yet\n", file: "e.yaml")
        #expect(map == DeviceMap(devices: []))
        #expect(diagnostics.map(\.severity) == [.warning])
    }

    @Test func hexAddressesAndPlainNumbersAsStrings() throws {
        let yaml = """
            devices:
              - id: 42
                protocol: modbus
                connection: { host: 10.0.0.5, port: 0x1F6 }
                points: { p: { table: holding, address: 0x10, unit: 1 } }
            """
        let (map, diagnostics) = DeviceMapLoader.modbus.parse(yaml: yaml, file: "h.yaml")
        #expect(diagnostics.isEmpty, "\(diagnostics)")
        let d = try #require(map?.devices.first)
        #expect(d.id == "42" && d.modbusConnection.port == 502 && d.points[0].modbus.offset == 16 && d.points[0].unit == "1")
    }
}
