package import GatewayCore

/// A minimal JSON writer, in UTF-8 bytes: the uplink's hot path encodes hundreds of
/// thousands of readings per second and needs a fixed key order, which
/// `JSONSerialization` gives neither cheaply nor reliably. Package-wide: the profiles in
/// their own targets (Azure IoT Hub) write their messages with it too.
package struct JSONWriter {
    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    package mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    package mutating func raw(_ encoded: [UInt8]) { bytes.append(contentsOf: encoded) }

    package mutating func raw(_ encoded: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: encoded) }

    package mutating func string(_ s: String) {
        JSONText.appendQuoted(s, to: &bytes)
    }

    package mutating func integer(_ i: Int64) { JSONText.appendInteger(i, to: &bytes) }

    /// Writes a value; non-finite doubles have no JSON form and become null.
    package mutating func value(_ v: Value?) {
        switch v {
        case .none: raw("null")
        case .bool(let b)?: b ? raw("true") : raw("false")
        case .int(let i)?: integer(i)
        case .double(let d)?: if d.isFinite { JSONText.appendDouble(d, to: &bytes) } else { raw("null") }
        case .string(let s)?: string(s)
        }
    }

    package mutating func key(_ k: String) {
        string(k)
        bytes.append(UInt8(ascii: ":"))
    }
}
