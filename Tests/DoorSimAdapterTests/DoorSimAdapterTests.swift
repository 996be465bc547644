import DeviceMaps
import DoorSimAdapter
import Foundation
import GatewayCore
import Logging
import Testing

@Suite("Door-sim adapter", .timeLimit(.minutes(1)))
struct DoorSimAdapterTests {
    static let frontYAML = """
        devices:
          - id: front
            protocol: door-sim
            connection: { seed: 7, open_every: 2m, open_for: 20s, battery: 22, battery_drain: 500, tamper_rate: 0.3 }
            poll: 1h
            points:
              contact: { field: contact }
              open:    { field: open }
              events:  { field: events }
              battery: { field: battery, unit: "%" }
              voltage: { field: voltage, unit: V, scale: 0.001 }
              low:     { field: battery_low }
              tamper:  { field: tamper }
        """

    /// Starts `adapter` on its own task; the caller cancels it.
    func start(_ adapter: DoorSimAdapter, _ batches: Batches) -> Task<Void, any Error> {
        Task { try await adapter.run(sink: batches.sink) }
    }

    @Test("readings follow the schedule: contact false at each opening and true at each closing, events count, battery drains, tamper")
    func readingsFollowTheSchedule() async throws {
        let devices = try doorDevices(Self.frontYAML)
        let clock = ManualDoorClock()
        let adapter = DoorSimAdapter(devices: devices, clock: clock, logger: Logger(label: "test"))
        let batches = Batches()
        let run = start(adapter, batches)
        defer { run.cancel() }

        // The current state at the start.
        let first = try await batches.wait("front", count: 1)[0]
        #expect(
            first.values == [
                "contact": .bool(true), "open": .bool(false), "events": .int(0), "battery": .int(22),
                "voltage": .double(Double(2632) * 0.001), "low": .bool(false), "tamper": .bool(false),
            ])
        #expect(first.allSatisfy { $0.quality == .good && $0.timestamp == clock.origin })
        #expect(first.first { $0.point == "battery" }?.unit == "%")

        let events = Array(DoorSchedule(seed: 7, door: "front", parameters: devices[0].doorSimConnection.parameters).prefix(25))
        var previous = first.values
        var seen: Set<String> = []
        for (index, event) in events.enumerated() {
            clock.advance(to: event.offset)
            let batch = try await batches.wait("front", count: index + 2)[index + 1]
            let values = batch.values
            #expect(batch.allSatisfy { $0.timestamp == clock.date(event.offset) }, "\(event)")
            switch event.kind {
            case .opened:
                #expect(values["contact"] == .bool(false) && values["open"] == .bool(true), "\(event)")
                guard case .int(let before) = previous["events"] else { Issue.record("events"); return }
                #expect(values["events"] == .int(before + 1), "\(event)")
                seen.insert("opened")
            case .closed:
                #expect(values["contact"] == .bool(true) && values["open"] == .bool(false), "\(event)")
                #expect(values["events"] == previous["events"])
                seen.insert("closed")
            case .tamper(let on):
                #expect(values["tamper"] == .bool(on), "\(event)")
                seen.insert("tamper")
            case .battery(let level):
                #expect(values["battery"] == .int(Int64(level)), "\(event)")
                #expect(values["voltage"] == .double(Double(2500 + 6 * level) * 0.001), "\(event)")
                #expect(values["low"] == .bool(level <= 20), "\(event)")
                seen.insert("battery")
            }
            previous = values
        }
        #expect(seen == ["opened", "closed", "tamper", "battery"])
        #expect(previous["low"] == .bool(true))
    }

    @Test("a report of the current state every poll period, in real time, at the same state between events")
    func periodicReports() async throws {
        let devices = try doorDevices(
            """
            devices:
              - id: slow
                protocol: door-sim
                connection: { seed: 1, open_every: 100h, open_for: 1s, battery_drain: 0 }
                poll: 10s
                points: { contact: { field: contact } }
            """)
        let first = DoorSchedule(seed: 1, door: "slow", parameters: devices[0].doorSimConnection.parameters).first { _ in true }!
        try #require(first.offset > .seconds(40))
        let clock = ManualDoorClock()
        let adapter = DoorSimAdapter(devices: devices, clock: clock, logger: Logger(label: "test"))
        let batches = Batches()
        let run = start(adapter, batches)
        defer { run.cancel() }
        try await batches.wait("slow", count: 1)
        clock.advance(to: .seconds(10))
        try await batches.wait("slow", count: 2)
        // A clock that jumps over three periods gets one report, at the last of them.
        clock.advance(to: .seconds(41))
        let reports = try await batches.wait("slow", count: 3)
        #expect(reports.map { $0[0].timestamp } == [clock.date(.zero), clock.date(.seconds(10)), clock.date(.seconds(40))])
        #expect(reports.allSatisfy { $0.values == ["contact": .bool(true)] })
    }

    @Test("update keeps an unchanged device's state and position, restarts a changed one, starts an added one, stops a removed one")
    func updateKeepsUnchangedDevices() async throws {
        func yaml(_ backSeed: Int, extra: String = "") -> String {
            """
            devices:
              - id: front
                protocol: door-sim
                connection: { seed: 7, open_every: 2m, open_for: 20s, battery_drain: 0, tamper_rate: 0 }
                poll: 1h
                points: { contact: { field: contact }, events: { field: events } }
              - id: back
                protocol: door-sim
                connection: { seed: \(backSeed), open_every: 2m, open_for: 20s, battery_drain: 0, tamper_rate: 0 }
                poll: 1h
                points: { contact: { field: contact }, events: { field: events } }
            \(extra)
            """
        }
        let side = """
              - id: side
                protocol: door-sim
                connection: { seed: 9, open_every: 2m, open_for: 20s, battery_drain: 0, tamper_rate: 0 }
                poll: 1h
                points: { events: { field: events } }
            """
        let clock = ManualDoorClock()
        let adapter = DoorSimAdapter(devices: try doorDevices(yaml(1, extra: side)), clock: clock, logger: Logger(label: "test"))
        let batches = Batches()
        let run = start(adapter, batches)
        defer { run.cancel() }
        try await batches.wait("front", count: 1)
        try await batches.wait("back", count: 1)
        try await batches.wait("side", count: 1)

        let parameters = try doorDevices(yaml(1))[0].doorSimConnection.parameters
        let front = Array(DoorSchedule(seed: 7, door: "front", parameters: parameters).prefix(6))
        // Play front's first two openings (four events).
        for (index, event) in front.prefix(4).enumerated() {
            clock.advance(to: event.offset)
            try await batches.wait("front", count: index + 2)
        }
        let now = clock.now

        // front unchanged (moved one line down: locations differ), back with a new seed, side removed, porch added.
        let porch = """
              - id: porch
                protocol: door-sim
                connection: { seed: 5 }
                poll: 1h
                points: { events: { field: events } }
            """
        var next = try doorDevices("\n" + yaml(2, extra: porch))
        #expect(next[0].location != nil)
        await adapter.update(devices: next)
        #expect(adapter.devices.map(\.id) == ["front", "back", "porch"])
        // Once update returns, the removed device's player has stopped.
        let sideCount = batches.of("side").count

        // back restarts: a report of its initial state at once; porch starts likewise.
        let initial: [String: Value] = ["contact": .bool(true), "events": .int(0)]
        try await batches.wait("back", "its initial state at the update") {
            $0.contains { $0[0].timestamp == clock.date(now) && $0.values == initial }
        }
        try await batches.wait("porch", count: 1)

        // front goes on where it was: no report at the update, its fifth event at its
        // original offset, with the count carried on.
        #expect(batches.of("front").count == 5)
        clock.advance(to: front[4].offset)
        let frontBatches = try await batches.wait("front", count: 6)
        #expect(frontBatches[5].values == ["contact": .bool(false), "events": .int(3)])
        #expect(frontBatches[5][0].timestamp == clock.date(front[4].offset))

        // back plays its new schedule from the update on.
        let backFirst = DoorSchedule(seed: 2, door: "back", parameters: parameters).first { _ in true }!
        clock.advance(to: now + backFirst.offset)
        try await batches.wait("back", "its first opening after the update") {
            $0.contains { $0[0].timestamp == clock.date(now + backFirst.offset) && $0.values == ["contact": .bool(false), "events": .int(1)] }
        }

        // side is gone: nothing more from it, however far the clock goes.
        clock.advance(to: now + .seconds(3000))
        try await batches.wait("porch", count: 2)
        #expect(batches.of("side").count == sideCount)

        next.removeAll()
        await adapter.update(devices: next)
        #expect(adapter.devices.isEmpty)
    }

    @Test("writes are rejected with a reason naming the device and the point")
    func writesAreRejected() async throws {
        let adapter = DoorSimAdapter(devices: try doorDevices(Self.frontYAML), clock: ManualDoorClock(), logger: Logger(label: "test"))
        await #expect(throws: WriteError.rejected("front.contact: a simulated door sensor only reports; it has nothing to write")) {
            try await adapter.write(device: "front", values: ["contact": .bool(false)])
        }
        await #expect(throws: WriteError.rejected("no door-sim device 'garage'")) {
            try await adapter.write(device: "garage", values: ["contact": .bool(false)])
        }
    }

    @Test("a second run while one is active is refused; after cancellation the adapter emits nothing more")
    func runOnceAndStop() async throws {
        let clock = ManualDoorClock()
        let adapter = DoorSimAdapter(devices: try doorDevices(Self.frontYAML), clock: clock, logger: Logger(label: "test"))
        let batches = Batches()
        let run = start(adapter, batches)
        try await batches.wait("front", count: 1)
        await #expect(throws: AdapterRunError.alreadyRunning(adapter: "door-sim")) { try await adapter.run(sink: batches.sink) }
        run.cancel()
        try await run.value
        // run returned after its players ended: a clock far ahead finds nobody to wake.
        clock.advance(to: .seconds(86_400))
        #expect(batches.of("front").count == 1)
    }
}
