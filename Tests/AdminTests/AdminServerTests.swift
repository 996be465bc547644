import Admin
import DevTools
import DeviceMaps
import Foundation
import Gateway
import GatewayCore
import Logging
import ServiceLifecycle
import TestSupport
import Testing

/// The admin server in process, around a real gateway (a simulated door sensor, an in-memory
/// outbox, an uplink with no hub to reach), spoken to by curl.
@Suite("admin server", .serialized, .timeLimit(.minutes(2)))
struct AdminServerTests {
    static let doors = """
        devices:
          - id: door-1
            protocol: door-sim
            connection: { seed: 1, open_every: 100h, open_for: 1s, battery_drain: 0 }
            poll: 50ms
            points: { contact: { field: contact } }
        """

    static func gateway() throws -> Gateway {
        let yaml = "gateway: { id: gw-a, devicemaps: [m/] }\nuplink: { url: \"mqtt://127.0.0.1:1\", insecure: true }\noutbox: { path: ':memory:' }\n"
        let config = try #require(GatewayConfiguration.parse(yaml: yaml, file: "g.yaml").config)
        let (map, diagnostics) = DeviceMapLoader.standard.parse(yaml: doors, file: "doors.yaml")
        return try Gateway(configuration: config, deviceMap: try #require(map, "\(diagnostics)"), logger: Logger(label: "t"))
    }

    /// Runs `services` in a group around `body`, then shuts the group down.
    static func running(_ services: [any Service], _ body: () async throws -> Void) async throws {
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: Logger(label: "t")))
        let task = Task { try await group.run() }
        do {
            try await body()
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
            throw error
        }
        await group.triggerGracefulShutdown()
        try await task.value
    }

    @Test("/metrics serves the closure's text with Prometheus' content type; readyz is 503 before the gateway runs, 200 after")
    func metricsAndReadiness() async throws {
        let gateway = try Self.gateway()
        let port = try freeLoopbackPort()
        let text = "# HELP edgegate_test A fixed sample.\n# TYPE edgegate_test gauge\nedgegate_test 42\n"
        let server = AdminServer(
            address: AdminAddress(host: "127.0.0.1", port: port), token: nil, source: gateway.adminSource, version: "9.9.9",
            metrics: { Array(text.utf8) }, logger: Logger(label: "t"))
        try await Self.running([server]) {
            let starting = try await waitForAsync("the server answers", timeout: .seconds(20)) { () async throws -> HTTPProbe.Answer? in
                let a = try await HTTPProbe.request(port: port, "/readyz")
                return a.status == 0 ? nil : a
            }
            #expect(starting.status == 503)
            #expect(try starting.json()["ready"] as? Bool == false)
            #expect((try starting.json()["reason"] as? String)?.hasPrefix("starting") == true)
            #expect(try starting.json()["uplink"] as? String == "disconnected")

            let metrics = try await HTTPProbe.request(port: port, "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body == text)
            #expect(metrics.contentType == "text/plain; version=0.0.4; charset=utf-8")

            // Without a token file, writes are refused whatever is sent.
            let write = try await HTTPProbe.request(
                "POST", port: port, "/api/v1/commands", token: "anything", body: Array(#"{"id":"c1","device":"door-1","write":{"contact":true}}"#.utf8))
            #expect(write.status == 403, "\(write)")
        }
        // The gateway's services now: the live state's loop makes it ready, the door reports.
        let second = try freeLoopbackPort()
        let withoutMetrics = AdminServer(
            address: AdminAddress(host: "127.0.0.1", port: second), token: nil, source: gateway.adminSource, version: "9.9.9",
            logger: Logger(label: "t"))
        try await Self.running(gateway.services + [withoutMetrics]) {
            _ = try await waitForAsync("readyz 200", timeout: .seconds(20)) { () async throws -> Bool? in
                try await HTTPProbe.request(port: second, "/readyz").status == 200 ? true : nil
            }
            #expect(try await HTTPProbe.request(port: second, "/metrics").status == 404)
            let status = try await HTTPProbe.request(port: second, "/api/v1/status").json()
            #expect(status["gateway"] as? String == "gw-a" && status["version"] as? String == "9.9.9")
            #expect(status["uplink"] as? String == "disconnected")
            _ = try await waitForAsync("door-1 up", timeout: .seconds(20)) { () async throws -> Bool? in
                let d = try await HTTPProbe.request(port: second, "/api/v1/devices/door-1")
                return (try? d.json())?["state"] as? String == "up" ? true : nil
            }
            #expect(try await HTTPProbe.request(port: second, "/healthz").status == 200)
        }
    }

    @Test("on a non-loopback address every request needs the token, reads included, but the console's own files")
    func nonLoopbackNeedsTokenForReads() async throws {
        let gateway = try Self.gateway()
        let port = try freeLoopbackPort()
        let server = AdminServer(
            address: AdminAddress(host: "0.0.0.0", port: port), token: AdminToken("wide-open-secret"), source: gateway.adminSource,
            version: "1", logger: Logger(label: "t"))
        try await Self.running([server]) {
            let refused = try await waitForAsync("the server answers", timeout: .seconds(20)) { () async throws -> HTTPProbe.Answer? in
                let a = try await HTTPProbe.request(port: port, "/api/v1/status")
                return a.status == 0 ? nil : a
            }
            #expect(refused.status == 401)
            #expect(try await HTTPProbe.request(port: port, "/healthz", token: "wrong").status == 401)
            #expect(try await HTTPProbe.request(port: port, "/api/v1/status", token: "wide-open-secret").status == 200)
            // The console's files load without it (they hold no data), so that the page can ask for it.
            #expect(try await HTTPProbe.request(port: port, "/").status == 200)
            #expect(try await HTTPProbe.request(port: port, "/console.js").status == 200)
            #expect(try await HTTPProbe.request(port: port, "/api/v1/devices").status == 401)
        }
    }

    @Test("the live state keeps one entry per device and point, and a slow event client loses its oldest events, counted")
    func boundedStoreAndSlowClient() async throws {
        let live = LiveState(subscriberBuffer: 8)
        let subscription = try #require(live.subscribe())
        let start = Date()
        for i in 0..<20 {
            live.observe([
                Reading(device: "d", point: "p", value: .int(Int64(i)), unit: nil, quality: .good, timestamp: start + Double(i))
            ])
        }
        let state = try #require(live.deviceState("d"))
        #expect(state.points.count == 1)
        #expect(state.points["p"]?.value == .int(19))
        #expect(state.up == true)
        // 20 readings events and one device event (unknown → up): 21 sent, 8 kept.
        #expect(subscription.takeDropped() == 13)
        var iterator = subscription.events.makeAsyncIterator()
        guard case .readings(let first)? = await iterator.next()?.event else {
            Issue.record("expected a readings event")
            return
        }
        #expect(first.first?.value == .int(12))

        live.observe([Reading(device: "d", point: "p", value: nil, unit: nil, quality: .bad("timeout"), timestamp: start + 30)])
        let down = try #require(live.deviceState("d"))
        #expect(down.up == false && down.lastError == "timeout")
        #expect(down.points.count == 1)
        subscription.finish()
    }
}
