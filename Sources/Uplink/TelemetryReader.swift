package import GatewayCore

extension MQTTWire {
    /// The readings of a telemetry message as `telemetry(…)` writes it (docs/protocol.md), for
    /// a profile that sends them in another form (`sparkplug-b`); nil when the payload is no
    /// telemetry message. A reading without a device, a point or a valid `ts` is skipped:
    /// the outbox only holds what this gateway wrote, so none is.
    package static func readings(inTelemetry payload: [UInt8]) -> [Reading]? {
        guard case .object(let root)? = try? JSONValue(parsing: payload), case .array(let list)? = root["readings"] else { return nil }
        var readings: [Reading] = []
        readings.reserveCapacity(list.count)
        for node in list {
            guard case .object(let r) = node, let device = r["device"]?.string, let point = r["point"]?.string,
                let ts = r["ts"]?.string, let timestamp = Timestamp.parse(ts)
            else { continue }
            let reason = r["reason"]?.string ?? ""
            let quality: Quality =
                switch r["quality"]?.string {
                case "bad": .bad(reason)
                case "uncertain": .uncertain(reason)
                default: .good
                }
            let value: Value? =
                switch r["value"] {
                case .bool(let b)?: .bool(b)
                case .number(let n)?: n.integer.map(Value.int) ?? .double(n.double)
                case .string(let s)?: .string(s)
                default: nil
                }
            readings.append(Reading(device: device, point: point, value: value, unit: r["unit"]?.string, quality: quality, timestamp: timestamp))
        }
        return readings
    }
}
