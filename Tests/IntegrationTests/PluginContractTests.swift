import DevTools
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Logging
import MapReports
import Synchronization
import TestSupport
import Testing

// A protocol defined here, in a test target, as docs/architecture.md's "Adding a protocol"
// walks through it: a syntax, an adapter, a template and one ability, in one plugin value.
// Registered with one call, it must appear wherever the protocols of the build appear.

/// `protocol: counter`: counts up from `start` by one at every poll.
enum CounterSyntax: ProtocolSyntax {
    static let name = "counter"
    static let connectionKeys = ["start"]
    static let connectionExample = "connection: { start: 0 }"
    static let pointKeys = ["field"]

    static func connection(_ c: MapSection) -> (any DeviceConnection)? {
        let before = c.errorCount
        let start = c.integer("start", in: 0...1_000_000) ?? 0
        return c.errorCount == before ? CounterConnection(start: start) : nil
    }

    static func point(_ m: MapSection, access: Access) -> (any PointAddress)? {
        if access.isWritable {
            m.error("a counter takes no writes", atValueOf: "access")
            return nil
        }
        return m.choice("field", CounterField.self, required: true).map(CounterPoint.init)
    }

    static func check(
        points: [PointDefinition], connection: (any DeviceConnection)?, of device: String,
        at location: DeviceMaps.SourceLocation, reporter: MapReporter
    ) {}

    static var connectionSchema: [String: Any] {
        [
            "type": "object", "additionalProperties": false,
            "properties": ["start": ["type": "integer", "minimum": 0, "maximum": 1_000_000]] as [String: Any],
        ]
    }

    static var pointSchema: [String: Any] {
        ["field": ["enum": CounterField.allCases.map(\.rawValue)]]
    }

    static var pointSchemaRules: [String: Any] { ["required": ["field"]] }
}

enum CounterField: String, CaseIterable, Sendable {
    case count, double
}

struct CounterConnection: DeviceConnection, Equatable {
    let start: Int
    var description: String { "from \(start)" }
    var fields: [MapField] { [MapField("start", .int(Int64(start)))] }
}

struct CounterPoint: PointAddress, Equatable {
    let field: CounterField
    var typeName: String { "int64" }
    var rawKind: ValueKind { .integer }
    var fields: [MapField] { [MapField("field", .string(field.rawValue))] }
    var description: String { field.rawValue }
}

/// Emits every device's points once per poll: `count` is start + polls so far, `double` twice that.
final class CounterAdapter: MapAdapter {
    private let state: Mutex<[DeviceDefinition]>

    init(devices: [DeviceDefinition], logger: Logger) {
        state = Mutex(devices)
    }

    var devices: [DeviceDescriptor] { state.withLock { $0.map(\.descriptor) } }

    func update(devices: [DeviceDefinition]) async {
        state.withLock { $0 = devices }
    }

    func run(sink: ReadingSink) async throws {
        var polls = 0
        while !Task.isCancelled {
            for device in state.withLock({ $0 }) {
                let start = device.connection(as: CounterConnection.self).start
                sink.emit(
                    device.points.map { point in
                        let count = Int64(start + polls)
                        let value = point.address(as: CounterPoint.self).field == .count ? count : 2 * count
                        return Reading(device: device.id, point: point.name, value: .int(value), unit: point.unit, quality: .good, timestamp: Date())
                    })
            }
            polls += 1
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    func write(device: String, values: [String: Value]) async throws(WriteError) -> [String: Value] {
        throw .rejected("a counter takes no writes")
    }
}

struct CounterSummary: RequestSummarizing {
    func requestSummary(of device: DeviceDefinition, among devices: [DeviceDefinition]) -> String {
        "no requests: counts inside the gateway (\(devices.count) counter(s))"
    }
}

extension ProtocolPlugin {
    static let counter = ProtocolPlugin(
        syntax: CounterSyntax.self, adapter: CounterAdapter.self, title: "counter",
        template: MapTemplate(
            header: ["# A counter: counts up by one per poll."],
            device: ["    connection: { start: 10 }", "    poll: 100ms"],
            body: ["    points:", "      count:  { field: count }", "      double: { field: double, unit: x2 }"]),
        abilities: [CounterSummary()])
}

@Suite("a protocol plugs in with one registry call", .timeLimit(.minutes(2)))
struct PluginContractTests {
    let protocols = ProtocolRegistry.standard.adding(.counter)

    @Test("map new prints a template of the added protocol that its loader accepts, with and without a profile")
    func template() throws {
        let plugin = try #require(protocols.plugin(named: "counter"))
        for profile in [nil, "tally"] as [String?] {
            let id = MapNew.defaultID(protocol: plugin.name, profile: profile)
            let text = MapNew.text(of: plugin, profile: profile, id: id)
            let (map, diagnostics) = protocols.loader.parse(yaml: text, file: "counter.yaml")
            #expect(diagnostics.isEmpty, "\(diagnostics)\n\(text)")
            let device = try #require(map?.devices.first)
            #expect(device.id == id && device.protocolName == "counter" && device.profile == profile)
            #expect(device.points.map(\.name) == ["count", "double"])
        }
        // The standard registry does not know it: the protocol came in through the one call.
        let (map, diagnostics) = ProtocolRegistry.standard.loader.parse(
            yaml: MapNew.text(of: plugin, profile: nil, id: "c-1"), file: "counter.yaml")
        #expect(map == nil)
        #expect(diagnostics.contains { $0.message.contains("unknown protocol 'counter'") }, "\(diagnostics)")
    }

    @Test("map show and map plan list the added protocol's devices through its fields and its ability")
    func showAndPlan() throws {
        let (loaded, diagnostics) = protocols.loader.parse(
            yaml: """
                devices:
                  - id: tally-1
                    protocol: counter
                    connection: { start: 7 }
                    poll: 2s
                    points:
                      count: { field: count }
                """, file: "tally.yaml")
        let map = try #require(loaded, "\(diagnostics)")
        let table = MapShow.table(map.devices[0])
        #expect(table.hasPrefix("tally-1  counter  from 7  poll 2s\n"), "\(table)")
        #expect(table.contains("  point  field  scale"), "\(table)")
        #expect(table.contains("  count  count  1"), "\(table)")

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(MapShow.DeviceRecord(map.devices[0])), as: UTF8.self)
        #expect(json.contains(#""start":7"#) && json.contains(#""field":"count""#) && json.contains(#""protocol":"counter""#), "\(json)")

        let plan = MapPlan(map.devices, protocols: protocols.plugins).table
        #expect(plan.contains("tally-1  counter  no requests: counts inside the gateway (1 counter(s))"), "\(plan)")
    }

    @Test("map schema describes the added protocol: an independent validator accepts its template and refuses a wrong key")
    func schema() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let schema = DeviceMapSchema.json(protocols: protocols.syntaxes)
        #expect(schema.contains(#""counter""#))
        try schema.write(toFile: dir.file("schema.json"), atomically: true, encoding: .utf8)
        let plugin = try #require(protocols.plugin(named: "counter"))
        let good = MapNew.text(of: plugin, profile: nil, id: "counter-1")
        try good.write(toFile: dir.file("good.yaml"), atomically: true, encoding: .utf8)
        try good.replacingOccurrences(of: "{ field: count }", with: "{ feild: count }")
            .write(toFile: dir.file("typo.yaml"), atomically: true, encoding: .utf8)
        let out = dir.file("check.txt")
        let check = try TestProcess.spawn(
            try peerPython(),
            [
                peerScript("check_schema.py"), dir.file("schema.json"), dir.file("good.yaml"),
                "--invalid", dir.file("typo.yaml"),
            ],
            stdout: .file(out, append: false), stderr: .file(out, append: true))
        let status = await check.wait()
        let output = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(output)")
        #expect(output.contains("ok \(dir.file("good.yaml"))"), "\(output)")
        #expect(output.contains("invalid \(dir.file("typo.yaml"))"), "\(output)")
    }

    @Test("the gateway runs the added protocol beside the standard ones: its readings and inventory reach the hub")
    func gateway() async throws {
        let yaml =
            boilerMapYAML + """

                  - id: tally-1
                    protocol: counter
                    connection: { start: 1000 }
                    poll: 100ms
                    points:
                      count: { field: count }
                      double: { field: double }
                """
        try await Plant.run(mapYAML: yaml, protocols: protocols) { plant in
            try await plant.withGatewayAndOperator { gateway, view in
                #expect(gateway.adapters.count == ProtocolRegistry.standard.plugins.count + 1)
                let count = try await waitFor("a count of tally-1") { view.latest("count", of: "tally-1") }
                let double = try await waitFor("a double of tally-1") { view.latest("double", of: "tally-1") }
                guard let n = count["value"]?.integer, let d = double["value"]?.integer else {
                    Issue.record("values: \(count) \(double)")
                    return
                }
                #expect(n >= 1000 && d >= 2000 && d % 2 == 0)
                _ = try await waitFor("tally-1 in the inventory") { view.inventoryDevices.contains("tally-1") ? true : nil }
                #expect(view.inventoryPoints(of: "tally-1") == ["count", "double"])
                // The boiler's Modbus points keep coming beside it.
                _ = try await waitFor("a Modbus reading") { view.latest("temperature", of: "boiler-1") }
            }
        }
    }
}
