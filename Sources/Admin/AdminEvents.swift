import Foundation
import GatewayCore
import Uplink

/// The server-sent events of `/api/v1/events`: `event: NAME` and one `data:` line of JSON,
/// the field names of docs/protocol.md.
enum AdminEvents {
    /// One event, encoded for the stream.
    static func encode(_ event: AdminEvent) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        let name: String
        switch event {
        case .readings(let readings):
            name = "readings"
            w = JSONWriter(capacity: 96 * readings.count + 32)
            w.raw("{"); w.key("readings"); w.raw("[")
            // The readings of one poll share their device and time: each is encoded once, as
            // the telemetry path does.
            var device: String?
            var start: [UInt8] = []
            var time: Date?
            var stamp: [UInt8] = []
            for (i, r) in readings.enumerated() {
                if i > 0 { w.raw(",") }
                if r.device != device {
                    var d = JSONWriter(capacity: r.device.utf8.count + 24)
                    MQTTWire.appendReadingStart(device: r.device, to: &d)
                    (device, start) = (r.device, d.bytes)
                }
                if r.timestamp != time {
                    var t = JSONWriter(capacity: 32)
                    t.string(Timestamp.rfc3339(r.timestamp))
                    (time, stamp) = (r.timestamp, t.bytes)
                }
                MQTTWire.appendReading(r, start: start, timestamp: stamp, to: &w)
            }
            w.raw("]}")
        case .command(let record):
            name = "command"
            w.raw("{"); w.key("device"); w.string(record.command.device)
            if let by = record.command.by { w.raw(","); w.key("by"); w.string(by) }
            w.raw(","); w.key("what"); w.string(record.command.action.description)
            w.raw(","); w.key("duration_ms"); w.value(.double(record.duration.seconds * 1000))
            w.raw(","); w.key("result"); w.raw(MQTTWire.response(record.result))
            w.raw("}")
        case .device(let id, let up, let reason):
            name = "device"
            w.raw("{"); w.key("device"); w.string(id)
            w.raw(","); w.key("state"); w.string(up ? "up" : "down")
            if let reason { w.raw(","); w.key("reason"); w.string(reason) }
            w.raw("}")
        case .uplink(let connected):
            name = "uplink"
            w.raw("{"); w.key("uplink"); w.string(connected ? "connected" : "disconnected"); w.raw("}")
        case .phase(let phase):
            name = "readiness"
            w.raw("{"); w.key("ready"); w.raw(phase == .ready ? "true" : "false")
            if phase == .stopping { w.raw(","); w.key("reason"); w.string("shutting down") }
            w.raw("}")
        }
        return frame(name, w.bytes)
    }

    /// `event: lagged` with how many events this client missed because it read too slowly.
    static func lagged(_ dropped: Int) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{"); w.key("dropped"); w.integer(Int64(dropped)); w.raw("}")
        return frame("lagged", w.bytes)
    }

    /// JSON from JSONWriter has no line breaks (strings escape them), so one `data:` line holds it.
    private static func frame(_ name: String, _ json: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(json.count + name.utf8.count + 16)
        out.append(contentsOf: "event: \(name)\ndata: ".utf8)
        out.append(contentsOf: json)
        out.append(contentsOf: "\n\n".utf8)
        return out
    }
}
