import Foundation
package import GatewayCore

extension MQTTWire {
    /// The readings of a telemetry message as `telemetry(…)` writes it (docs/protocol.md), for
    /// a profile that sends them in another form (`sparkplug-b`); nil when the payload is no
    /// telemetry message. A reading without a device, a point or a valid `ts` is skipped:
    /// the outbox only holds what this gateway wrote, so none is.
    ///
    /// Every message the uplink sends passes here, so the layout this gateway writes is read
    /// by a scanner of its own, in bytes: the readings of a poll share their device's and their
    /// time's text, and those are made once (about a fifth of the general parser's cost). Any
    /// other layout goes to the general JSON parser.
    package static func readings(inTelemetry payload: [UInt8]) -> [Reading]? {
        scannedReadings(payload) ?? parsedReadings(payload)
    }

    /// The shortcut alone: nil for any layout but the one this gateway writes.
    static func scannedReadings(_ payload: [UInt8]) -> [Reading]? {
        payload.withUnsafeBufferPointer { bytes -> [Reading]? in
            var scanner = TelemetryScanner(bytes: bytes)
            return scanner.message()
        }
    }

    /// The general way: the JSON parser, then the fields.
    static func parsedReadings(_ payload: [UInt8]) -> [Reading]? {
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
            readings.append(
                Reading(device: device, point: point, value: r["value"]?.value, unit: r["unit"]?.string, quality: quality, timestamp: timestamp))
        }
        return readings
    }
}

/// Reads the exact layout `MQTTWire.telemetry` writes: `{"gateway":…,"seq":…,"readings":[…]}`,
/// each reading `{"device","point","value"[,"unit"],"quality"[,"reason"],"ts"}`. Any surprise
/// (white space, another key, an escape in a name) returns nil, and the caller parses the
/// message the general way: this is a shortcut, never a second definition of the format.
private struct TelemetryScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0
    /// The text of the last device and time read, and what they became: a poll's readings
    /// share them.
    var lastDevice: (bytes: Slice<UnsafeBufferPointer<UInt8>>, value: String)?
    var lastTime: (bytes: Slice<UnsafeBufferPointer<UInt8>>, value: Date)?

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    mutating func message() -> [Reading]? {
        guard literal(#"{"gateway":"#), skipString(), literal(#","seq":"#) else { return nil }
        while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
        guard literal(#","readings":["#) else { return nil }
        var readings: [Reading] = []
        readings.reserveCapacity(bytes.count / 100)
        if literal("]}") { return i == bytes.count ? readings : nil }
        while true {
            guard let reading = reading() else { return nil }
            readings.append(reading)
            if literal(",") { continue }
            guard literal("]}"), i == bytes.count else { return nil }
            return readings
        }
    }

    mutating func reading() -> Reading? {
        guard literal(#"{"device":"#), let device = device(), literal(#","point":"#), let point = plainString(),
            literal(#","value":"#)
        else { return nil }
        var value: Value?
        if literal("null") {
            value = nil
        } else if literal("true") {
            value = .bool(true)
        } else if literal("false") {
            value = .bool(false)
        } else if i < bytes.count, bytes[i] == UInt8(ascii: "\"") {
            guard let s = plainString() else { return nil }
            value = .string(s)
        } else {
            guard let n = number() else { return nil }
            value = n
        }
        var unit: String?
        if literal(#","unit":"#) {
            guard let u = plainString() else { return nil }
            unit = u
        }
        let quality: Quality
        if literal(#","quality":"good""#) {
            quality = .good
        } else if literal(#","quality":"uncertain","reason":"#) {
            guard let reason = plainString() else { return nil }
            quality = .uncertain(reason)
        } else if literal(#","quality":"bad","reason":"#) {
            guard let reason = plainString() else { return nil }
            quality = .bad(reason)
        } else {
            return nil
        }
        guard literal(#","ts":"#), let timestamp = time(), literal("}") else { return nil }
        return Reading(device: device, point: point, value: value, unit: unit, quality: quality, timestamp: timestamp)
    }

    /// Matches `text` here and moves past it.
    mutating func literal(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard i + count <= bytes.count else { return false }
        let start = text.utf8Start
        for k in 0..<count where bytes[i + k] != start[k] { return false }
        i += count
        return true
    }

    /// The content of a string without escapes, and moves past its closing quote.
    mutating func stringBytes() -> Slice<UnsafeBufferPointer<UInt8>>? {
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return nil }
        let start = i + 1
        var j = start
        while j < bytes.count {
            let b = bytes[j]
            if b == UInt8(ascii: "\"") {
                i = j + 1
                return bytes[start..<j]
            }
            if b == UInt8(ascii: "\\") || b < 0x20 { return nil }
            j += 1
        }
        return nil
    }

    mutating func skipString() -> Bool { stringBytes() != nil }

    mutating func plainString() -> String? {
        stringBytes().map { String(decoding: $0, as: UTF8.self) }
    }

    /// The device, the previous reading's String when the text is the same.
    mutating func device() -> String? {
        guard let text = stringBytes() else { return nil }
        if let last = lastDevice, last.bytes.elementsEqual(text) { return last.value }
        let value = String(decoding: text, as: UTF8.self)
        lastDevice = (text, value)
        return value
    }

    /// The time, the previous reading's Date when the text is the same.
    mutating func time() -> Date? {
        guard let text = stringBytes() else { return nil }
        if let last = lastTime, last.bytes.elementsEqual(text) { return last.value }
        guard let value = Timestamp.parse(String(decoding: text, as: UTF8.self)) else { return nil }
        lastTime = (text, value)
        return value
    }

    /// A JSON number: an integer when written without fraction or exponent and within Int64.
    mutating func number() -> Value? {
        let start = i
        var integral = true
        while i < bytes.count {
            let b = bytes[i]
            if b >= 0x30 && b <= 0x39 || b == UInt8(ascii: "-") || b == UInt8(ascii: "+") {
                i += 1
            } else if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") {
                integral = false
                i += 1
            } else {
                break
            }
        }
        guard i > start else { return nil }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if integral, let n = Int64(text) { return .int(n) }
        return Double(text).map(Value.double)
    }
}
