import Foundation
import GatewayCore
import MQTTClient
import SparkplugB
import SwiftProtobuf
import Synchronization

/// Counts what arrives on the telemetry topic, cheaply: the payloads come from the uplink's
/// own writer, so readings are counted by scanning for their opening bytes rather than by
/// decoding 10,000 readings a second with Foundation's JSON decoder in the measuring process.
final class TelemetryCounter: Sendable {
    struct Snapshot: Sendable {
        var messages = 0
        var readings = 0
        /// Of `readings`, those of derived devices (`Scenario.derivedPrefix`).
        var derivedReadings = 0
        var badReadings = 0
        /// Messages whose seq was above the previous seq + 1, and how many seqs were skipped.
        var gaps = 0
        var missingSeqs: UInt64 = 0
        /// Messages whose seq was not above the previous one (redelivery).
        var duplicates = 0
        var firstSeq: UInt64?
        var lastSeq: UInt64?
        /// Age at arrival of each message's first (oldest) reading, in ms, when `recordAges` is on.
        var ages: [Double] = []
        var recordAges = false
        var firstMessage: ContinuousClock.Instant?
        /// The drain of a backlog after an outage, when `startDrain` was called.
        var drain: Drain?
        /// MQTT PUBLISH bytes of the data messages (`mqttPublishSize`).
        var wireBytes = 0
        /// With sparkplug-b: births and their bytes, deaths, and data the births do not explain
        /// (an alias no birth gave, a payload that does not decode).
        var births = 0
        var birthBytes = 0
        var deaths = 0
        var hostErrors = 0
        /// With sparkplug-b: the node's last seq, and each device's aliases from its birth.
        var sparkplugSeq: UInt64?
        var aliases: [String: Set<UInt64>] = [:]
    }

    /// The size of a PUBLISH packet on the wire: fixed header (type byte and remaining length),
    /// topic (with its length), packet id (QoS 1 and 2), payload.
    static func mqttPublishSize(topic: String, payload: Int, qos: Int) -> Int {
        let remaining = 2 + topic.utf8.count + (qos > 0 ? 2 : 0) + payload
        var lengthBytes = 1
        var n = remaining >> 7
        while n > 0 { lengthBytes += 1; n >>= 7 }
        return 1 + lengthBytes + remaining
    }

    /// A backlog being delivered: from the gateway's `online: true` after the mark (its
    /// reconnect) until the first message whose oldest reading is younger than `fresh` ms
    /// (caught up with live data). Messages the hub kept from before the outage and hands
    /// out before the gateway is back do not count.
    struct Drain: Sendable {
        var fresh: Double
        /// When the gateway said `online: true` again.
        var online: ContinuousClock.Instant?
        var first: ContinuousClock.Instant?
        /// The arrival of the last backlog message (the one before the first fresh one).
        var last: ContinuousClock.Instant?
        var caughtUp: ContinuousClock.Instant?
        /// Messages and readings from the first arrival up to (not including) the fresh one.
        var messages = 0
        var readings = 0
        var bytes = 0
        var firstSeq: UInt64?
    }

    private let state = Mutex(Snapshot())

    private static let readingMarker = Array(#"{"device":"#.utf8)
    private static let derivedMarker = Array(#"{"device":""#.utf8) + Array(Scenario.derivedPrefix.utf8)
    private static let badMarker = Array(#""quality":"bad""#.utf8)
    private static let seqMarker = Array(#""seq":"#.utf8)
    private static let tsMarker = Array(#""ts":""#.utf8)

    var snapshot: Snapshot { state.withLock { $0 } }

    /// Starts or stops collecting per-message ages (the measurement window only).
    func recordAges(_ on: Bool) {
        state.withLock { $0.recordAges = on }
    }

    /// From now on, measures the drain of a backlog (see `Drain`).
    func startDrain(fresh milliseconds: Double) {
        state.withLock { $0.drain = Drain(fresh: milliseconds) }
    }

    /// Waits until `condition` holds for the drain or `timeout` passes; true if it did. Polls
    /// every 5 ms, so that a process sample taken right after is close to the event.
    func waitForDrain(timeout: Duration, until condition: (Drain) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if state.withLock({ $0.drain.map(condition) ?? false }) { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    /// Waits until the first message has arrived or `timeout` passes; true if one arrived.
    func waitForFirstMessage(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if state.withLock({ $0.messages > 0 }) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    private static let onlineMarker = Array(#""online":true"#.utf8)

    /// Consumes the connection's messages until it ends: telemetry, and the gateway's live
    /// (not retained) status, whose `online: true` marks its reconnect during a drain.
    func consume(_ connection: MQTTConnection, topic: String, status: String) async {
        for await message in connection.messages {
            if message.topic == topic {
                ingest(message.payload, wire: Self.mqttPublishSize(topic: message.topic, payload: message.payload.count, qos: message.qos))
            } else if message.topic == status, !message.retain, Self.count(Self.onlineMarker, in: message.payload) > 0 {
                let now = ContinuousClock.now
                state.withLock { s in
                    if s.drain != nil, s.drain?.online == nil { s.drain?.online = now }
                }
            }
        }
    }

    /// Consumes a Sparkplug B host's subscription (`spBv1.0/{group}/#`) until it ends: DDATA
    /// metrics are the readings, decoded with the protobuf types; births give the aliases a
    /// data metric must use; `seq` must go up by one over all the node's messages, wrapping
    /// at 256.
    func consumeSparkplug(_ connection: MQTTConnection) async {
        for await message in connection.messages {
            let levels = message.topic.split(separator: "/")
            guard levels.count >= 4 else { continue }
            let type = levels[2]
            let device = levels.count > 4 ? String(levels[4]) : ""
            let wire = Self.mqttPublishSize(topic: message.topic, payload: message.payload.count, qos: message.qos)
            let now = ContinuousClock.now
            guard let payload = try? Org_Eclipse_Tahu_Protobuf_Payload(serializedBytes: message.payload) else {
                state.withLock { $0.hostErrors += 1 }
                continue
            }
            let age = payload.metrics.first.map { Date().timeIntervalSince1970 * 1000 - Double($0.timestamp) }
            state.withLock { s in
                if type != "NDEATH" {
                    if type == "NBIRTH" {
                        s.sparkplugSeq = payload.seq
                    } else if let last = s.sparkplugSeq {
                        let expected = (last + 1) % 256
                        if payload.seq != expected {
                            s.gaps += 1
                            s.missingSeqs += (payload.seq + 256 - expected) % 256
                        }
                        s.sparkplugSeq = payload.seq
                    }
                }
                switch type {
                case "NBIRTH", "DBIRTH":
                    s.births += 1
                    s.birthBytes += wire
                    if type == "DBIRTH" { s.aliases[device] = Set(payload.metrics.map(\.alias)) }
                case "NDEATH", "DDEATH":
                    s.deaths += 1
                case "DDATA":
                    let known = s.aliases[device] ?? []
                    s.hostErrors += payload.metrics.filter { !$0.hasName && !known.contains($0.alias) }.count
                    s.messages += 1
                    s.readings += payload.metrics.count
                    s.badReadings += payload.metrics.filter(\.isNull).count
                    s.wireBytes += wire
                    if s.firstMessage == nil { s.firstMessage = now }
                    if s.recordAges, let age { s.ages.append(age) }
                default:
                    break
                }
            }
        }
    }

    private func ingest(_ payload: [UInt8], wire: Int) {
        let now = ContinuousClock.now
        let readings = Self.count(Self.readingMarker, in: payload)
        let derived = Self.count(Self.derivedMarker, in: payload)
        let bad = Self.count(Self.badMarker, in: payload)
        let seq = Self.integer(after: Self.seqMarker, in: payload)
        var age: Double?
        if let range = Self.range(after: Self.tsMarker, in: payload),
            let end = payload[range.lowerBound...].firstIndex(of: UInt8(ascii: "\"")),
            let ts = Timestamp.parse(String(decoding: payload[range.lowerBound..<end], as: UTF8.self))
        {
            age = Date().timeIntervalSince(ts) * 1000
        }
        state.withLock { s in
            s.messages += 1
            s.wireBytes += wire
            s.readings += readings
            s.derivedReadings += derived
            s.badReadings += bad
            if s.firstMessage == nil { s.firstMessage = now }
            if let seq {
                if let last = s.lastSeq {
                    if seq > last + 1 {
                        s.gaps += 1
                        s.missingSeqs += seq - last - 1
                    } else if seq <= last {
                        s.duplicates += 1
                    }
                    s.lastSeq = max(last, seq)
                } else {
                    s.firstSeq = seq
                    s.lastSeq = seq
                }
            }
            if s.recordAges, let age { s.ages.append(age) }
            if var d = s.drain, d.online != nil, d.caughtUp == nil {
                if d.first == nil {
                    d.first = now
                    d.firstSeq = seq
                }
                if let age, age < d.fresh {
                    d.caughtUp = now
                } else {
                    d.messages += 1
                    d.readings += readings
                    d.bytes += payload.count
                    d.last = now
                }
                s.drain = d
            }
        }
    }

    static func count(_ marker: [UInt8], in bytes: [UInt8]) -> Int {
        var n = 0
        var i = 0
        let m = marker.count
        guard bytes.count >= m else { return 0 }
        let first = marker[0]
        bytes.withUnsafeBufferPointer { b in
            while i <= b.count - m {
                if b[i] == first {
                    var j = 1
                    while j < m && b[i + j] == marker[j] { j += 1 }
                    if j == m { n += 1; i += m; continue }
                }
                i += 1
            }
        }
        return n
    }

    static func range(after marker: [UInt8], in bytes: [UInt8]) -> Range<Int>? {
        let m = marker.count
        guard bytes.count >= m else { return nil }
        for i in 0...(bytes.count - m) where bytes[i] == marker[0] {
            if bytes[i..<i + m].elementsEqual(marker) { return (i + m)..<bytes.count }
        }
        return nil
    }

    static func integer(after marker: [UInt8], in bytes: [UInt8]) -> UInt64? {
        guard let range = range(after: marker, in: bytes) else { return nil }
        var value: UInt64 = 0
        var digits = 0
        for byte in bytes[range] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { break }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
            digits += 1
        }
        return digits > 0 ? value : nil
    }
}
