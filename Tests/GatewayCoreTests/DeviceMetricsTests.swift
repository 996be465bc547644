import Foundation
import GatewayCore
import MetricsTestKit
import Testing

@Suite("Device metrics")
struct DeviceMetricsTests {
    func reading(_ device: String, _ quality: Quality) -> Reading {
        Reading(device: device, point: "p", value: .int(1), unit: nil, quality: quality, timestamp: Date())
    }

    func total(_ metrics: TestMetrics, _ device: String, _ quality: String) throws -> Int64 {
        try metrics.expectCounter("edgegate_readings_total", [("device", device), ("quality", quality)]).totalValue
    }

    func up(_ metrics: TestMetrics, _ device: String, _ protocolName: String) throws -> Double? {
        try metrics.expectGauge("edgegate_device_up", [("device", device), ("protocol", protocolName)]).lastValue
    }

    @Test("readings are counted per device and quality, and device_up says whether the latest delivery had a usable reading")
    func readingsAndUp() throws {
        let metrics = TestMetrics()
        let devices = DeviceMetrics(devices: [("a", "modbus"), ("b", "mqtt")], factory: metrics)
        #expect(try up(metrics, "a", "modbus") == 0)
        devices.record([reading("a", .good), reading("a", .bad("x")), reading("a", .good), reading("b", .bad("offline"))])
        #expect(try total(metrics, "a", "good") == 2)
        #expect(try total(metrics, "a", "bad") == 1)
        #expect(try total(metrics, "a", "uncertain") == 0)
        #expect(try total(metrics, "b", "bad") == 1)
        #expect(try up(metrics, "a", "modbus") == 1)
        #expect(try up(metrics, "b", "mqtt") == 0)
        devices.record([reading("b", .uncertain("stale")), reading("a", .bad("down")), reading("b", .uncertain("stale"))])
        #expect(try total(metrics, "b", "uncertain") == 2)
        #expect(try up(metrics, "b", "mqtt") == 1)
        #expect(try up(metrics, "a", "modbus") == 0)
        // A device the gateway does not know makes no series.
        devices.record([reading("z", .good)])
        #expect(metrics.counters.allSatisfy { !$0.dimensions.contains { $0 == ("device", "z") } })
        #expect(metrics.recorders.allSatisfy { !$0.dimensions.contains { $0 == ("device", "z") } })
    }

    @Test("a reload keeps the series of devices that stay, makes those of new ones and removes those of removed ones")
    func update() throws {
        let metrics = TestMetrics()
        let devices = DeviceMetrics(devices: [("a", "modbus"), ("b", "modbus")], factory: metrics)
        devices.record([reading("a", .good)])
        devices.update(devices: [("a", "modbus"), ("c", "hue")])
        #expect(try total(metrics, "a", "good") == 1)
        #expect(throws: (any Error).self) { try total(metrics, "b", "good") }
        #expect(try up(metrics, "c", "hue") == 0)
        // A device whose protocol changed starts over under its new label.
        devices.update(devices: [("a", "mqtt"), ("c", "hue")])
        #expect(throws: (any Error).self) { try up(metrics, "a", "modbus") }
        #expect(try total(metrics, "a", "good") == 0)
        #expect(try up(metrics, "a", "mqtt") == 0)
    }

    @Test("a device's poll metrics count results, busy skips and overruns, and time each poll")
    func polls() throws {
        let metrics = TestMetrics()
        let devices = DeviceMetrics(devices: [("a", "modbus")], factory: metrics)
        let sink = ReadingSink { _ in }.counting(into: devices)
        let polls = sink.pollMetrics(device: "a")
        polls.polled(ok: true, duration: .milliseconds(3))
        polls.polled(ok: false, duration: .milliseconds(300))
        polls.polled(ok: true, duration: .microseconds(50))
        polls.skippedWhileBusy()
        polls.overran()
        let result = { (r: String) in try metrics.expectCounter("edgegate_device_polls_total", [("device", "a"), ("result", r)]).totalValue }
        #expect(try result("ok") == 2)
        #expect(try result("error") == 1)
        #expect(try result("skipped") == 1)
        #expect(try metrics.expectCounter("edgegate_poll_overruns_total", [("device", "a")]).totalValue == 1)
        #expect(try metrics.expectTimer("edgegate_device_poll_duration_seconds", [("device", "a")]).values == [3_000_000, 300_000_000, 50_000])
        // The counting sink counts what it passes on.
        sink.emit([reading("a", .good)])
        #expect(try total(metrics, "a", "good") == 1)
        // A sink without metrics hands out poll metrics that record nothing.
        ReadingSink { _ in }.pollMetrics(device: "a").polled(ok: true, duration: .seconds(1))
        #expect(try result("ok") == 2)
    }
}
