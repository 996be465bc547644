import Foundation
import GatewayCore
import TestSupport
import Testing
import Uplink

@Suite("edgegate config")
struct ConfigCommandTests {
    @Test("validate: the example configuration and the maps it names are valid, exit 0, and the summary names the gateway")
    func validateExample() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let example = packageRoot.appendingPathComponent("examples/gateway.yaml").path
        let result = try await runEdgegate(["config", "validate", example], in: dir)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output == "configuration valid: gw-1, 11 device(s), 0 warning(s)\n", "\(result.output)")

        let out = dir.file("report.json")
        #expect(try await runEdgegate(["config", "validate", "--format", "json", example], writingStdoutTo: out) == 0)
        let report = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(report == .object(["valid": .bool(true), "gateway": .string("gw-1"), "devices": .integer(11), "diagnostics": .array([])]))
    }

    @Test("validate: every problem of a broken configuration and of the broken map it names, at once, exit 1")
    func validateBroken() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("maps"), withIntermediateDirectories: true)
        try """
        devices:
          - id: boiler-1
            protocol: modbus
            connection: { host: 127.0.0.1, prot: 1502 }
            points: { t: { table: holding, adress: 0 } }
        """.write(toFile: dir.file("maps/plant.yaml"), atomically: true, encoding: .utf8)
        let config = dir.file("gateway.yaml")
        try """
        gateway:
          id: gw/1
          devicemaps: [maps/, missing/]
        uplink:
          url: mqtt://127.0.0.1:1883
        outbox:
          path: var/outbox.sqlite
          max_bytes: lots
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try await runEdgegate(["config", "validate", config], in: dir)
        #expect(result.status == 1, "\(result.output)")
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(
            lines == [
                "\(config):2:7: error: gateway: id 'gw/1' cannot be an MQTT topic level (it must not contain '/', '+', '#', spaces or control characters)",
                "\(config):5:8: error: uplink: plain MQTT sends commands and telemetry unencrypted; set `insecure: true` to allow it (or use mqtts:// with tls.ca)",
                "\(config):8:14: error: outbox: 'max_bytes' must be a size such as 64KB, 256MB or 1GB, found the string 'lots'",
                "\(dir.file("missing")): error: no such file or folder",
                "\(dir.file("maps/plant.yaml")):4:36: error: device 'boiler-1': unknown key 'prot' (did you mean 'port'?)",
                "\(dir.file("maps/plant.yaml")):5:36: error: device 'boiler-1', point 't': unknown key 'adress' (did you mean 'address'?)",
                "6 error(s), 0 warning(s)",
            ], "\(result.output)")
    }

    @Test("validate: a valid configuration creates no outbox or command ledger, and a map's warning is counted")
    func validateCreatesNothing() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try """
        devices:
          - id: d1
            protocol: modbus
            connection: { host: 127.0.0.1 }
        """.write(toFile: dir.file("plant.yaml"), atomically: true, encoding: .utf8)
        let config = dir.file("gateway.yaml")
        try """
        gateway: { id: site-7, devicemaps: plant.yaml }
        uplink: { url: mqtt://127.0.0.1:1883, insecure: true }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try await runEdgegate(["config", "validate", config], in: dir)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.hasSuffix("configuration valid: site-7, 1 device(s), 1 warning(s)\n"), "\(result.output)")
        #expect(result.output.contains("\(dir.file("plant.yaml")):2:5: warning: device 'd1': the device has no points"), "\(result.output)")
        // The default outbox, var/outbox.sqlite beside the configuration, and commands.sqlite with it.
        #expect(!FileManager.default.fileExists(atPath: dir.file("var")))
    }

    @Test("validate: a missing file is an error naming it (exit 1, as map validate); no file at all is a usage error (exit 2)")
    func validateMissing() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let missing = dir.file("nope.yaml")
        let result = try await runEdgegate(["config", "validate", missing], in: dir)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.hasPrefix("\(missing): error: "), "\(result.output)")
        #expect(result.output.hasSuffix("1 error(s), 0 warning(s)\n"), "\(result.output)")
        #expect(try await runEdgegate(["config", "validate"], in: dir).status == 2)
    }

    @Test("map validate on a gateway configuration, and config validate on a device map, say which command checks it")
    func wrongCommandHints() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let example = packageRoot.appendingPathComponent("examples/gateway.yaml").path
        let asMap = try await runEdgegate(["map", "validate", example], in: dir)
        #expect(asMap.status == 1)
        #expect(
            asMap.output == """
                \(example):4:1: error: unknown key 'gateway' (this looks like a gateway configuration: check it with `edgegate config validate \(example)`)
                1 error(s), 0 warning(s)

                """, "\(asMap.output)")

        let plant = packageRoot.appendingPathComponent("devicemaps/demo-plant.yaml").path
        let asConfig = try await runEdgegate(["config", "validate", plant], in: dir)
        #expect(asConfig.status == 1)
        #expect(asConfig.output.hasPrefix("\(plant):"), "\(asConfig.output)")
        #expect(
            asConfig.output.contains("error: unknown key 'profiles' (this looks like a device map: check it with `edgegate map validate \(plant)`)"),
            "\(asConfig.output)")
        #expect(asConfig.output.hasSuffix("1 error(s), 0 warning(s)\n"), "\(asConfig.output)")
    }
}
