import DevTools
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import ModbusAdapter
import TestSupport
import Testing

/// One ```yaml block of a Markdown page, so that examples readers copy are checked like code.
struct DocExample: Sendable, CustomTestStringConvertible {
    /// The page, relative to the package root.
    let page: String
    /// 1-based line of the block's first YAML line in the page.
    let line: Int
    /// The block's text.
    let yaml: String

    /// The keys at the top level of the block.
    var topKeys: [String] {
        yaml.split(separator: "\n").compactMap { line in
            guard line.first?.isLetter == true, let colon = line.firstIndex(of: ":") else { return nil }
            return String(line[..<colon])
        }
    }

    /// A device map: it has `devices:` or `profiles:` at the top.
    var isDeviceMap: Bool { topKeys.contains("devices") || topKeys.contains("profiles") }

    /// A gateway configuration: it has `gateway:` at the top.
    var isGatewayConfiguration: Bool { topKeys.contains("gateway") }

    /// Marked with a `# invalid: why` line: an example of a map that must not load.
    var isInvalid: Bool { yaml.split(separator: "\n").contains { $0.hasPrefix("# invalid:") } }

    /// Files (relative to the package root) that a `# loaded together with PATH` line names:
    /// an example that uses a profile of another file is loaded with that file.
    var companions: [String] {
        yaml.split(separator: "\n").compactMap { line in
            line.firstMatch(of: /^# loaded together with (\S+)/).map { String($0.1) }
        }
    }

    /// `docs/devicemaps.md:42`, the place to fix.
    var testDescription: String { "\(page):\(line)" }

    /// Loads the example as the gateway would, with its companion files.
    func load(in directory: TemporaryDirectory) throws -> (map: DeviceMap?, diagnostics: [Diagnostic]) {
        if companions.isEmpty { return DeviceMapLoader.standard.parse(yaml: yaml, file: testDescription) }
        let file = directory.file("example-\(line).yaml")
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        return DeviceMapLoader.standard.validate(paths: companions.map { packageRoot.appendingPathComponent($0).path } + [file])
    }

    /// The ```yaml blocks of a Markdown page.
    static func blocks(in page: String) throws -> [DocExample] {
        let text = try String(contentsOf: packageRoot.appendingPathComponent(page), encoding: .utf8)
        var examples: [DocExample] = []
        var open: (line: Int, lines: [Substring])?
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let block = open {
                if line.hasPrefix("```") {
                    examples.append(DocExample(page: page, line: block.line, yaml: block.lines.joined(separator: "\n") + "\n"))
                    open = nil
                } else {
                    open?.lines.append(line)
                }
            } else if line == "```yaml" {
                open = (index + 2, [])
            }
        }
        return examples
    }
}

@Suite("docs/devicemaps.md examples")
struct DocumentationTests {
    static let examples: [DocExample] = (try? DocExample.blocks(in: "docs/devicemaps.md")) ?? []
    static let maps = examples.filter(\.isDeviceMap)

    @Test("the page shows every type and every part of the format in a valid map, and a map that fails")
    func coverage() {
        #expect(Self.maps.count >= 15, "found \(Self.maps.count) example maps")
        let valid = Self.maps.filter { !$0.isInvalid }.map(\.yaml).joined()
        for type in ModbusDataType.allCases {
            #expect(valid.contains("type: \(type.rawValue)"), "no valid example of type \(type.rawValue)")
        }
        for key in [
            "bit:", "length:", "byte_order:", "word_order: little", "offset:", "enum: [", "enum: {",
            "commands:", "args:", "default:", "$$", "report:", "deadband: \"", "max_interval:", "profile:",
            "command_timeout:",
        ] {
            #expect(valid.contains(key), "no valid example uses \(key)")
        }
        #expect(Self.maps.contains { $0.isInvalid })
    }

    @Test("each example map loads without a single diagnostic; one marked `# invalid:` does not load", arguments: maps)
    func exampleMap(_ example: DocExample) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (map, diagnostics) = try example.load(in: dir)
        if example.isInvalid {
            #expect(map == nil, "marked invalid, but it loads")
            #expect(diagnostics.contains { $0.severity == .error })
        } else {
            #expect(map != nil && diagnostics.isEmpty, "\(diagnostics.map(\.description).joined(separator: "\n"))")
        }
    }

    @Test("the gateway configuration example is valid")
    func configurationExample() throws {
        let configurations = Self.examples.filter(\.isGatewayConfiguration)
        #expect(!configurations.isEmpty)
        for example in configurations {
            let (config, diagnostics) = GatewayConfiguration.parse(yaml: example.yaml, file: "examples/gateway.yaml")
            #expect(config != nil && diagnostics.isEmpty, "\(example.testDescription): \(diagnostics)")
        }
    }
}

/// The worked examples of docs/devicemaps.md state registers and the readings they give: the
/// codec the adapter uses must agree, point by point, with what the page says.
@Suite("docs/devicemaps.md worked examples")
struct WorkedExampleTests {
    /// device, point, the registers the page shows, the reading it states.
    static let rows: [(device: String, point: String, registers: [UInt16], reading: Value)] = [
        ("heater", "heating_on", [0x0000], .bool(false)),
        ("heater", "heating_on", [0x0100], .bool(true)),
        ("drive-1", "status", [0x0009], .int(9)),
        ("drive-1", "running", [0x0009], .bool(true)),
        ("drive-1", "overheat", [0x0009], .bool(true)),
        ("drive-1", "remote", [0x8000], .bool(true)),
        ("climate-1", "temperature", [0xFF33], .double(-20.5)),
        ("climate-1", "outdoor", [0x0271], .double(22.5)),
        ("climate-1", "speed", [0xFF33], .int(65331)),
        ("climate-1", "level", [0x2710], .double(100)),
        ("meter-2", "energy", [0x0001, 0x86A0], .int(100000)),
        ("meter-2", "energy_lo", [0x86A0, 0x0001], .int(100000)),
        ("meter-2", "balance", [0xFFFF, 0xFC18], .double(-10)),
        ("meter-3", "total", [0x0000, 0x0002, 0x540B, 0xE400], .int(10_000_000_000)),
        ("meter-3", "position", [0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF], .int(-2)),
        ("meter-3", "total", [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], .double(1.8446744073709552e19)),
        ("flowmeter-1", "flow", [0x41AC, 0x0000], .double(21.5)),
        ("flowmeter-1", "flow_cdab", [0x0000, 0x41AC], .double(21.5)),
        ("flowmeter-1", "flow", [0x3DCC, 0xCCCD], .double(0.1)),
        ("flowmeter-1", "density", [0x408F, 0x3199, 0x9999, 0x999A], .double(998.2)),
        ("panel-1", "model", [0x5344, 0x4D36, 0x3330, 0x0000], .string("SDM630")),
        ("panel-1", "serial", [0x4241, 0x312D, 0x0032], .string("AB-12")),
    ]

    static func points() throws -> [String: PointDefinition] {
        var points: [String: PointDefinition] = [:]
        for example in DocumentationTests.maps where !example.isInvalid && example.companions.isEmpty {
            for device in DeviceMapLoader.standard.parse(yaml: example.yaml, file: example.testDescription).map?.devices ?? [] {
                for point in device.points { points["\(device.id).\(point.name)"] = point }
            }
        }
        return points
    }

    @Test("each register example decodes to the reading the page states")
    func readings() throws {
        let points = try Self.points()
        for row in Self.rows {
            let point = try #require(points["\(row.device).\(row.point)"], "no point \(row.device).\(row.point) on the page")
            #expect(try RegisterCodec.decode(row.registers, for: point) == row.reading, "\(row.device).\(row.point) \(row.registers)")
        }
        let nan = try #require(points["flowmeter-1.flow"])
        #expect(throws: DecodeError.self) { try RegisterCodec.decode([0x7FC0, 0x0000], for: nan) }
    }

    @Test("the table of byte and word orders, and the writes the page describes")
    func ordersAndWrites() throws {
        let orders: [(ByteOrder, ByteOrder, [UInt16])] = [
            (.big, .big, [0x1234, 0x5678]), (.big, .little, [0x5678, 0x1234]),
            (.little, .big, [0x3412, 0x7856]), (.little, .little, [0x7856, 0x3412]),
        ]
        for (bytes, words, registers) in orders {
            let point = PointDefinition(
                name: "p",
                address: ModbusAddress(
                    table: .input, offset: 100, type: .uint32,
                    byteOrder: bytes, wordOrder: words))
            #expect(try RegisterCodec.decode(registers, for: point) == .int(305_419_896), "\(bytes)/\(words)")
        }
        let points = try Self.points()
        #expect(try RegisterCodec.encode(.bool(true), for: #require(points["heater.heating_on"]), device: "heater") == .registers([1]))
        #expect(try RegisterCodec.encode(.bool(false), for: #require(points["drive-1.remote"]), device: "drive-1") == .registerBit(15, false))
        #expect(try RegisterCodec.encode(.double(22.5), for: #require(points["climate-1.outdoor"]), device: "climate-1") == .registers([625]))
        let label = try #require(points["panel-1.label"])
        #expect(
            try RegisterCodec.encode(.string("Hall 3"), for: label, device: "panel-1")
                == .registers([0x4861, 0x6C6C, 0x2033, 0, 0, 0, 0, 0, 0, 0]))
        #expect(throws: WriteError.self) { try RegisterCodec.encode(.string(String(repeating: "x", count: 21)), for: label, device: "panel-1") }
    }
}

@Suite("docs/architecture.md")
struct ArchitecturePageTests {
    @Test("the module graph on the page is the one scripts/module-graph reads from Package.swift, and names every target of Sources/")
    func moduleGraphIsCurrent() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let root = DocumentationSamples.repositoryRoot
        let out = dir.file("graph.txt")
        let child = try TestProcess.spawn(
            "/usr/bin/python3", ["\(root)/scripts/module-graph"],
            stdout: .file(out, append: false), stderr: .file(dir.file("err"), append: false))
        let status = try await withTimeout(.seconds(30), "scripts/module-graph") { await child.wait() }
        #expect(status == 0, "\((try? String(contentsOfFile: dir.file("err"), encoding: .utf8)) ?? "")")
        let generated = try String(contentsOfFile: out, encoding: .utf8)
        let page = try String(contentsOfFile: "\(root)/docs/architecture.md", encoding: .utf8)
        let block = try #require(
            page.firstMatch(of: /<!-- module-graph: generated by scripts\/module-graph -->\n```graph\n(?<graph>[^`]*)```\n<!-- \/module-graph -->/),
            "docs/architecture.md has no module-graph block")
        #expect(String(block.graph) == generated, "docs/architecture.md's module graph is out of date: run scripts/module-graph --write")
        // Independently of the script: every folder of Sources/ is a target on the page.
        let folders = try FileManager.default.contentsOfDirectory(atPath: "\(root)/Sources").filter { !$0.hasPrefix(".") }
        let named = Set(block.graph.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        #expect(Set(folders) == named, "Sources/ folders vs the page's targets")
    }
}

@Suite("README.md")
struct ReadmeLayoutTests {
    @Test("the layout names every folder of Sources/")
    func layoutNamesEveryTarget() throws {
        let root = DocumentationSamples.repositoryRoot
        let readme = try String(contentsOfFile: "\(root)/README.md", encoding: .utf8)
        let layout = try #require(readme.firstMatch(of: /## Layout\n\n```\n(?<block>[\s\S]*?)\n```\n/)).block
        // `Sources/CModbus, CMosquitto ...; also CCrypto, ...`: every word that is a folder counts.
        let words = Set(layout.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map(String.init))
        let folders = try FileManager.default.contentsOfDirectory(atPath: "\(root)/Sources").filter { !$0.hasPrefix(".") }
        for folder in folders { #expect(words.contains(folder), "README's layout does not name Sources/\(folder)") }
    }
}
