import DevTools
import Foundation
import Gateway
import GatewayCore
import MQTTClient
import MetricsExposition
import TestSupport
import Testing
import Uplink

/// A scrape as prometheus_client's own parser read it.
struct ParsedScrape {
    /// Family name (a counter's without `_total`, as the parser names it) → type and samples.
    let families: [String: JSONValue]

    func type(of family: String) -> String? {
        families[family]?["type"]?.string
    }

    /// The value of the sample named `name` whose labels include `labels`; nil when there is
    /// none, and a failure when more than one matches.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        var found: [Double] = []
        for family in families.values {
            for sample in family["samples"]?.array ?? [] where sample["name"]?.string == name {
                let have = sample["labels"]?.object?.dictionary ?? [:]
                if labels.allSatisfy({ have[$0.key]?.string == $0.value }), let v = sample["value"]?.number { found.append(v) }
            }
        }
        #expect(found.count <= 1, "\(name) \(labels) matches \(found.count) samples")
        return found.first
    }

    /// Parses `scrapes` with `Peers/prometheus_parse.py`, in one Python process.
    static func parse(_ scrapes: [[UInt8]], in folder: TemporaryDirectory) async throws -> [ParsedScrape] {
        var files: [String] = []
        for (i, scrape) in scrapes.enumerated() {
            let file = folder.file("scrape-\(i).txt")
            try Data(scrape).write(to: URL(fileURLWithPath: file))
            files.append(file)
        }
        let out = folder.file("parsed.json")
        let errors = folder.file("parse-errors.txt")
        let parser = try TestProcess.spawn(
            try peerPython(), [peerScript("prometheus_parse.py")] + files, stdout: .file(out, append: false),
            stderr: .file(errors, append: false))
        let status = await parser.wait()
        let why = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
        try #require(status == 0, "prometheus_client refused a scrape: \(why)")
        let parsed = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        return try #require(parsed.array).map { ParsedScrape(families: $0["families"]?.object?.dictionary ?? [:]) }
    }
}

/// `GET /metrics`'s text from a real gateway (libmodbus simulator, mutual-TLS mosquitto),
/// read by an independent parser.
@Suite("Metrics", .serialized, .timeLimit(.minutes(3)))
struct MetricsTests {
    static let counters = [
        "edgegate_device_polls", "edgegate_poll_overruns", "edgegate_readings", "edgegate_uplink_reconnects",
        "edgegate_telemetry_messages_acked", "edgegate_outbox_dropped_readings", "edgegate_commands", "edgegate_map_reloads",
    ]
    static let gauges = [
        "edgegate_build_info", "edgegate_device_up", "edgegate_uplink_connected", "edgegate_outbox_messages",
        "edgegate_outbox_bytes", "edgegate_outbox_oldest_age_seconds",
    ]
    static let histograms = ["edgegate_device_poll_duration_seconds", "edgegate_command_duration_seconds"]

    @Test("scrapes parse with prometheus_client; readings, polls and a command move their counters; a hub outage shows the uplink down and a growing outbox")
    func scrapes() async throws {
        let exposition = MetricsExposition(version: "9.9.9-test")
        let folder = try TemporaryDirectory(prefix: "edgegate-metrics")
        defer { folder.remove() }
        let device = ["device": "boiler-1"]
        var scrapes: [[UInt8]] = []
        try await Plant.run { plant in
            let view = try await OperatorView(hub: plant.hub)
            try await plant.withGateway(metrics: exposition.factory) { gateway in
                exposition.attach(gateway)
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { await view.collect() }
                    _ = try await waitFor("uplink connected") { gateway.uplink.isConnected ? true : nil }
                    _ = try await waitFor("readings at the operator") { view.readingCount >= 10 ? true : nil }
                    scrapes.append(exposition.scrape())
                    let mark = view.readingCount
                    _ = try await waitFor("more readings") { view.readingCount >= mark + 30 ? true : nil }
                    _ = try await waitFor("a telemetry message acknowledged") { gateway.uplink.statistics.acknowledgedMessages > 0 ? true : nil }
                    scrapes.append(exposition.scrape())
                    let response = try await view.send(#"{"id":"m1","device":"boiler-1","write":{"setpoint":21.5}}"#, id: "m1")
                    #expect(response["status"] == .string("ok"), "\(response)")
                    scrapes.append(exposition.scrape())

                    // The hub goes away: the link is down and telemetry gathers in the outbox.
                    await view.connection.disconnect()
                    await plant.hub.hub.stop()
                    _ = try await waitFor("uplink down") { gateway.uplink.isConnected ? nil : true }
                    let held = try await waitFor("a backlog") {
                        let n = gateway.uplink.statistics.queuedMessages
                        return n > 0 ? n : nil
                    }
                    scrapes.append(exposition.scrape())
                    _ = try await waitFor("a growing backlog") { gateway.uplink.statistics.queuedMessages >= held + 3 ? true : nil }
                    scrapes.append(exposition.scrape())
                }
            }
        }
        let parsed = try await ParsedScrape.parse(scrapes, in: folder)
        try #require(parsed.count == 5)
        let (first, second, third, down, later) = (parsed[0], parsed[1], parsed[2], parsed[3], parsed[4])

        for name in Self.counters { #expect(first.type(of: name) == "counter", "\(name)") }
        for name in Self.gauges { #expect(first.type(of: name) == "gauge", "\(name)") }
        for name in Self.histograms { #expect(first.type(of: name) == "histogram", "\(name)") }
        // docs/operations.md's table names every metric a scrape shows, and only those.
        let page = try String(contentsOfFile: DocumentationSamples.repositoryRoot + "/docs/operations.md", encoding: .utf8)
        let documented = Set(page.matches(of: /\n\| `(?<name>edgegate_[a-z_]+)` \|/).map { String($0.name) })
        let scraped = Set(first.families.keys.map { first.type(of: $0) == "counter" ? $0 + "_total" : $0 })
        #expect(documented == scraped, "documented only: \(documented.subtracting(scraped)); scraped only: \(scraped.subtracting(documented))")
        #expect(first.value("edgegate_build_info", ["version": "9.9.9-test"]) == 1)
        #expect(second.value("edgegate_device_up", ["device": "boiler-1", "protocol": "modbus"]) == 1)

        // Readings and polls move as readings flow.
        let good = ["device": "boiler-1", "quality": "good"]
        let readings = (first.value("edgegate_readings_total", good) ?? 0, second.value("edgegate_readings_total", good) ?? 0)
        #expect(readings.0 > 0 && readings.1 > readings.0, "\(readings)")
        let ok = ["device": "boiler-1", "result": "ok"]
        let polls = (first.value("edgegate_device_polls_total", ok) ?? 0, second.value("edgegate_device_polls_total", ok) ?? 0)
        #expect(polls.0 > 0 && polls.1 > polls.0, "\(polls)")
        let timed = (
            first.value("edgegate_device_poll_duration_seconds_count", device) ?? 0,
            second.value("edgegate_device_poll_duration_seconds_count", device) ?? 0
        )
        #expect(timed.1 > timed.0, "\(timed)")
        #expect(second.value("edgegate_device_poll_duration_seconds_bucket", device.merging(["le": "+Inf"]) { $1 }) == timed.1)
        #expect((second.value("edgegate_telemetry_messages_acked_total") ?? 0) > 0)
        #expect(second.value("edgegate_uplink_connected") == 1)

        // The command: one more `ok`, one more duration observed.
        let commandsOK = ["status": "ok"]
        #expect(third.value("edgegate_commands_total", commandsOK) == (second.value("edgegate_commands_total", commandsOK) ?? -1) + 1)
        #expect(
            third.value("edgegate_command_duration_seconds_count") == (second.value("edgegate_command_duration_seconds_count") ?? -1) + 1)
        #expect(third.value("edgegate_commands_total", ["status": "failed"]) == 0)

        // The outage.
        #expect(down.value("edgegate_uplink_connected") == 0)
        #expect(later.value("edgegate_uplink_connected") == 0)
        let messages = (down.value("edgegate_outbox_messages") ?? 0, later.value("edgegate_outbox_messages") ?? 0)
        #expect(messages.0 > 0 && messages.1 > messages.0, "\(messages)")
        let bytes = (down.value("edgegate_outbox_bytes") ?? 0, later.value("edgegate_outbox_bytes") ?? 0)
        #expect(bytes.0 > 0 && bytes.1 > bytes.0, "\(bytes)")
        let age = (down.value("edgegate_outbox_oldest_age_seconds") ?? -1, later.value("edgegate_outbox_oldest_age_seconds") ?? -1)
        #expect(age.0 >= 0 && age.1 > age.0, "\(age)")
        #expect(later.value("edgegate_outbox_dropped_readings_total", ["reason": "max_bytes"]) == 0)
    }
}
