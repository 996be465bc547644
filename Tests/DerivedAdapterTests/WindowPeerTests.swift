import Foundation
import GatewayCore
import TestSupport
import Testing

@testable import DerivedAdapter

/// SplitMix64: the same stream for a seed on every machine and Swift version.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One reading as it reaches a window: its source timestamp, and when it arrives.
struct WindowEvent {
    var stream: String
    var timestamp: Date
    var arrival: Date
    var value: Value?
    var quality: Quality
}

/// A recorded point: readings every 1–3 s with a few gaps of minutes and runs of bad readings;
/// a temperature, or a uint16 part counter that wraps past 65535 and is reset once.
struct WindowStream {
    var name: String
    var readings: [(t: Double, value: Value?)]

    static func generate(name: String = "temperature", seconds: Double, counter: Bool = false, random: inout SeededRandom) -> WindowStream {
        let start = 1_800_000_017.25
        var readings: [(t: Double, value: Value?)] = []
        var t = start
        var badLeft = 0
        var count: Int64 = 62_000
        while t < start + seconds {
            let i = readings.count
            if i == 1200 {
                t += 400  // a gap longer than a window
            } else if i == 600 {
                t += 180
            } else if Double.random(in: 0..<1, using: &random) < 0.0015 {
                t += Double.random(in: 120..<720, using: &random)
            } else {
                t += Double.random(in: 1..<3, using: &random)
            }
            if badLeft == 0, Double.random(in: 0..<1, using: &random) < 0.01 { badLeft = Int.random(in: 3...40, using: &random) }
            count = (count + Int64.random(in: 0...5, using: &random)) % 65_536
            if counter, i == 2_000 { count = 2 }  // a reset, well below half the range
            let value: Value =
                counter ? .int(count) : .double(20 + 5 * sin((t - start) / 600) + Double.random(in: -0.5..<0.5, using: &random))
            if badLeft > 0 {
                badLeft -= 1
                readings.append((t, nil))
            } else {
                readings.append((t, value))
            }
        }
        return WindowStream(name: name, readings: readings)
    }

    /// The readings in arrival order: most 0–0.3 s after their timestamp, one in four up to
    /// 95 % of the grace (so out of order with their neighbours), and `late` of them minutes late.
    func events(grace: Double, late: Int = 0, random: inout SeededRandom) -> [WindowEvent] {
        let lateOnes = Set((0..<late).map { _ in Int.random(in: 100..<readings.count, using: &random) })
        return readings.enumerated().map { i, reading in
            let delay =
                lateOnes.contains(i)
                ? Double.random(in: 70..<200, using: &random)
                : Int.random(in: 0..<4, using: &random) == 0
                    ? Double.random(in: 0.3..<(grace * 0.95), using: &random) : Double.random(in: 0..<0.3, using: &random)
            return WindowEvent(
                stream: name, timestamp: Date(timeIntervalSince1970: reading.t), arrival: Date(timeIntervalSince1970: reading.t + delay),
                value: reading.value, quality: reading.value == nil ? .bad("timeout") : .good)
        }.sorted { $0.arrival < $1.arrival }
    }
}

private struct StreamLine: Encodable {
    var stream: String
    var t: Double
    var value: Double?
    var good: Bool
    var arrival: Double
}

private struct PeerSpec: Encodable {
    var name: String
    var stream: String
    var agg: String
    var size: Double
    var every: Double
    var grace: Double
    var modulus: Double?
    var integer: Bool
}

private struct PeerInput: Encodable {
    var until: Double
    var specs: [PeerSpec]
}

private struct PeerWindow: Decodable {
    var end: Double
    var value: Double?
    var kind: String?
    var quality: String
    var percent: Int
}

private struct PeerResult: Decodable {
    var late: Int
    var windows: [PeerWindow]
}

@Suite("time windows against an independent computation in Python", .timeLimit(.minutes(3)))
struct WindowPeerTests {
    @Test(
        "every aggregate, tumbling 5m and hopping 5m every 1m, over two hours with gaps, bad runs, out-of-order and late arrivals and a uint16 counter that wraps and resets"
    )
    func againstPython() async throws {
        var random = SeededRandom(seed: 2026_12_07)
        let grace = 2.0
        let temperature = WindowStream.generate(seconds: 7200, random: &random)
        let counter = WindowStream.generate(name: "counter", seconds: 7200, counter: true, random: &random)
        let events = temperature.events(grace: grace, late: 8, random: &random) + counter.events(grace: grace, random: &random)

        // The stream has what the test is about.
        let counts = counter.readings.compactMap { $0.value?.numeric }
        let falls = zip(counts, counts.dropFirst()).map { $0 - $1 }
        #expect(falls.contains { $0 > 32_768 } && falls.contains { $0 > 0 && $0 <= 32_768 }, "a wrap and a reset")
        let gaps = zip(temperature.readings, temperature.readings.dropFirst()).filter { $1.t - $0.t > 120 }
        #expect(gaps.count >= 3 && temperature.readings.contains { $0.value == nil })
        let outOfOrder = zip(events, events.dropFirst()).filter { $0.stream == $1.stream && $0.timestamp > $1.timestamp }
        #expect(outOfOrder.count > 50, "\(outOfOrder.count) out of order")

        var specs: [(String, WindowSpec)] = []
        for stream in [temperature, counter] {
            for aggregate in WindowAggregate.allCases {
                for every in [300, 60] {
                    let spec = WindowSpec(
                        aggregate: aggregate, size: .seconds(300), every: .seconds(every), grace: .seconds(grace),
                        counterModulus: stream.name == "counter" ? 65_536 : nil, inputIsInteger: stream.name == "counter")
                    specs.append(("\(stream.name)-\(aggregate)-\(every == 300 ? "tumbling" : "hopping")", spec))
                }
            }
        }
        let until = events.map(\.arrival.timeIntervalSince1970).max()! + 900

        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let encoder = JSONEncoder()
        var lines = Data()
        for event in events {
            let line = StreamLine(
                stream: event.stream, t: event.timestamp.timeIntervalSince1970, value: event.value?.numeric, good: event.quality == .good,
                arrival: event.arrival.timeIntervalSince1970)
            lines += try encoder.encode(line) + Data("\n".utf8)
        }
        try lines.write(to: URL(fileURLWithPath: dir.file("stream.jsonl")))
        var peerSpecs: [PeerSpec] = []
        for (name, spec) in specs {
            let stream = String(name.prefix(while: { $0 != "-" }))
            let size: Double = spec.size.seconds
            let every: Double = spec.every.seconds
            peerSpecs.append(
                PeerSpec(
                    name: name, stream: stream, agg: spec.aggregate.rawValue, size: size, every: every, grace: grace,
                    modulus: spec.counterModulus, integer: spec.inputIsInteger))
        }
        let input = PeerInput(until: until, specs: peerSpecs)
        try encoder.encode(input).write(to: URL(fileURLWithPath: dir.file("specs.json")))
        let (status, output) = try await TestProcess.run(
            try peerPython(), [windowsPeerScript, dir.file("stream.jsonl"), dir.file("specs.json"), dir.file("windows.json")])
        try #require(status == 0, "windows.py failed: \(output)")
        let peer = try JSONDecoder().decode([String: PeerResult].self, from: Data(contentsOf: URL(fileURLWithPath: dir.file("windows.json"))))
        #expect(peer.count == specs.count)

        var compared = 0
        var qualities: [String: Int] = [:]
        for (name, spec) in specs {
            var state = WindowState(spec: spec)
            var outputs: [WindowOutput] = []
            for event in events where name.hasPrefix(event.stream + "-") {
                outputs += state.advance(to: event.arrival)
                state.add(event.value, quality: event.quality, at: event.timestamp)
            }
            outputs += state.advance(to: Date(timeIntervalSince1970: until))
            let expected = try #require(peer[name], "\(name) missing from windows.py's output")
            #expect(state.lateReadings == expected.late, "\(name): late")
            #expect(outputs.count == expected.windows.count, "\(name): windows")
            for (got, want) in zip(outputs, expected.windows) {
                compared += 1
                qualities[want.quality, default: 0] += 1
                let label = "\(name) at \(Int64(want.end)): \(got) vs \(want)"
                #expect(got.end.timeIntervalSince1970 == want.end, "\(label)")
                #expect(got.quality.name == want.quality, "\(label)")
                if case .uncertain(let reason) = got.quality {
                    #expect(reason.hasPrefix("inputs good for \(want.percent)% of the window"), "\(label)")
                }
                switch (got.value, want.kind) {
                case (nil, nil): break
                case (.int(let v)?, "int"?): #expect(Double(v) == want.value, "\(label)")
                case (.double(let v)?, "double"?):
                    let w = want.value ?? .nan
                    #expect(abs(v - w) <= 1e-9 * max(abs(w), 1e-3), "\(label)")
                default: Issue.record("value kinds differ: \(label)")
                }
            }
        }
        // Every window compared, and every quality among them.
        #expect(compared > 36 * 24 && qualities.count == 3, "\(compared) windows, \(qualities)")
        #expect(peer.values.contains { $0.late > 0 }, "late arrivals in the stream")
    }
}

/// windows.py, beside this file.
private let windowsPeerScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/windows.py").path
