import Foundation
import GatewayCore
import Testing

@testable import Admin

/// The bounded memories behind the console: trend rings, the command history, the reading
/// rate, and the host check that keeps re-pointed domains out.
@Suite struct LiveHistoryTests {
    @Test("a trend keeps the last value per bucket, marks bad buckets, clears skipped ones and forgets what left the window")
    func trendRing() {
        var ring = TrendRing(bucket: 1000)
        ring.record(1, bucket: 1000)
        ring.record(2, bucket: 1000)  // same bucket: the last value wins
        ring.record(nil, bucket: 1001)  // bad
        ring.record(4, bucket: 1003)  // 1002 had no reading
        var samples = ring.samples(now: 1003)
        #expect(samples.map(\.seconds) == [1000, 1001, 1003].map { $0 * TrendRing.step })
        #expect(samples.map(\.value) == [2, nil, 4])

        // A value older than the ring is ignored; one inside it lands in its bucket.
        ring.record(9, bucket: 1003 - Int64(TrendRing.count))
        ring.record(3, bucket: 1002)
        samples = ring.samples(now: 1003)
        #expect(samples.map(\.value) == [2, nil, 3, 4])

        // A full lap later the old buckets are gone, also from a slot reused by the new value.
        let later = 1000 + Int64(TrendRing.count)
        ring.record(7, bucket: later)
        samples = ring.samples(now: later)
        #expect(samples.map(\.value) == [nil, 3, 4, 7])
        #expect(samples.first?.seconds == 1001 * TrendRing.step)

        // Time passing without readings moves the window on: nothing old is shown as recent.
        #expect(ring.samples(now: later + Int64(TrendRing.count)).isEmpty)
        #expect(ring.samples(now: later + 2).map(\.value) == [4, 7])
    }

    @Test("the live state draws trends of numeric points only, by the readings' own timestamps")
    func trendsFromReadings() {
        let live = LiveState()
        let now = Date()
        live.observe([
            Reading(device: "d", point: "t", value: .double(20.5), unit: "°C", quality: .good, timestamp: now - 20),
            Reading(device: "d", point: "on", value: .bool(true), unit: nil, quality: .good, timestamp: now - 20),
            Reading(device: "d", point: "name", value: .string("x"), unit: nil, quality: .good, timestamp: now - 20),
            Reading(device: "d", point: "n", value: .int(3), unit: nil, quality: .uncertain("stale"), timestamp: now),
        ])
        live.observe([Reading(device: "d", point: "t", value: nil, unit: "°C", quality: .bad("timeout"), timestamp: now)])
        // A bad reading of a point without a trend starts none.
        live.observe([Reading(device: "d", point: "x", value: nil, unit: nil, quality: .bad("timeout"), timestamp: now)])
        let trends = Dictionary(uniqueKeysWithValues: live.trends("d").map { ($0.point, $0.samples) })
        #expect(Set(trends.keys) == ["t", "n"])
        #expect(trends["t"]?.map(\.value) == [20.5, nil])
        #expect(trends["t"]?.first?.seconds == TrendRing.bucket(of: now - 20) * TrendRing.step)
        #expect(trends["n"]?.map(\.value) == [3])
        #expect(live.trends("other").isEmpty)
    }

    @Test("the command history keeps the newest records, newest first")
    func history() {
        var history = CommandHistory(capacity: 3)
        #expect(history.latest(10).isEmpty)
        for i in 1...5 {
            let command = Command(id: "c\(i)", device: "d", action: .write(["p": .int(Int64(i))]))
            history.add(CommandRecord(command: command, result: CommandResult(id: "c\(i)", status: .ok, message: "ok"), duration: .milliseconds(i)))
        }
        #expect(history.latest(10).map(\.command.id) == ["c5", "c4", "c3"])
        #expect(history.latest(2).map(\.command.id) == ["c5", "c4"])
    }

    @Test("readings per second average the complete seconds of the window, or of the gateway's life when shorter")
    func readingRate() {
        var rate = ReadingRate(seconds: 10)
        for second in Int64(100)..<Int64(120) { rate.add(50, at: second) }
        rate.add(1_000, at: 120)  // the current, incomplete second does not count
        #expect(rate.perSecond(at: 120, start: 0) == 50)
        // Started at 117: three complete seconds.
        #expect(rate.perSecond(at: 120, start: 117) == 50)
        // Five seconds on: 115–119 at 50, second 120 now complete, 121–124 empty.
        #expect(rate.perSecond(at: 125, start: 0) == Double(5 * 50 + 1_000) / 10)
        // Long after: nothing.
        #expect(rate.perSecond(at: 200, start: 0) == 0)
        #expect(rate.perSecond(at: 120, start: 120) == 0)
    }

    @Test("every client gets the same published event, encoded once for all of them")
    func sharedEvents() async throws {
        let live = LiveState()
        let a = try #require(live.subscribe())
        let b = try #require(live.subscribe())
        live.observe([Reading(device: "d", point: "p", value: .int(1), unit: nil, quality: .good, timestamp: Date())])
        var ia = a.events.makeAsyncIterator()
        var ib = b.events.makeAsyncIterator()
        let first = try #require(await ia.next())
        let second = try #require(await ib.next())
        #expect(first === second)
        let frame = String(decoding: first.frame, as: UTF8.self)
        #expect(frame.hasPrefix("event: readings\ndata: {\"readings\":[{\"device\":\"d\",\"point\":\"p\",\"value\":1,") && frame.hasSuffix("}\n\n"), "\(frame)")
        a.finish()
        b.finish()
    }

    @Test("a readings event names each reading's own device and time, also where a batch mixes them")
    func mixedBatchEncoding() throws {
        let t1 = Date(timeIntervalSince1970: 1_765_000_000.25)
        let t2 = t1 + 1
        let frame = PublishedEvent(
            .readings([
                Reading(device: "a", point: "p", value: .int(1), unit: nil, quality: .good, timestamp: t1),
                Reading(device: "a", point: "q", value: .double(2.5), unit: "V", quality: .good, timestamp: t1),
                Reading(device: "b", point: "p", value: nil, unit: nil, quality: .bad("timeout"), timestamp: t1),
                Reading(device: "a", point: "p", value: .int(3), unit: nil, quality: .good, timestamp: t2),
            ])
        ).frame
        let text = String(decoding: frame, as: UTF8.self)
        let data = try #require(text.split(separator: "\n").first { $0.hasPrefix("data: ") }?.dropFirst(6))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any])
        let readings = try #require(object["readings"] as? [[String: Any]])
        #expect(readings.map { $0["device"] as? String } == ["a", "a", "b", "a"])
        #expect(readings.map { $0["point"] as? String } == ["p", "q", "p", "p"])
        #expect(readings.map { $0["ts"] as? String } == [t1, t1, t1, t2].map { Timestamp.rfc3339($0) })
        #expect(readings[2]["quality"] as? String == "bad" && readings[2]["reason"] as? String == "timeout")
        #expect(readings[1]["unit"] as? String == "V" && readings[1]["value"] as? Double == 2.5)
    }

    @Test(arguments: [
        ("127.0.0.1:9360", true), ("127.0.0.1", true), ("localhost:9360", true), ("LOCALHOST", true), ("[::1]:9360", true),
        ("127.1.2.3:80", true), ("evil.example:9360", false), ("127.0.0.1.evil.example", false), ("[::2]:9360", false),
        ("10.0.0.1:9360", false), ("127.0.0:9360", false), ("localhost.evil.example:9360", false),
    ])
    func loopbackHosts(host: String, loopback: Bool) {
        #expect(SameOriginMiddleware.isLoopbackHost(host) == loopback)
    }
}
