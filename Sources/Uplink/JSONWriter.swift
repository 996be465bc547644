import GatewayCore

/// A minimal JSON writer, in UTF-8 bytes: the uplink's hot path encodes hundreds of
/// thousands of readings per second and needs a fixed key order, which
/// `JSONSerialization` gives neither cheaply nor reliably.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    mutating func raw(_ encoded: [UInt8]) { bytes.append(contentsOf: encoded) }

    mutating func raw(_ encoded: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: encoded) }

    mutating func string(_ s: String) {
        JSONText.appendQuoted(s, to: &bytes)
    }

    mutating func integer(_ i: Int64) { JSONText.appendInteger(i, to: &bytes) }

    /// Writes a value; non-finite doubles have no JSON form and become null.
    mutating func value(_ v: Value?) {
        switch v {
        case .none: raw("null")
        case .bool(let b)?: b ? raw("true") : raw("false")
        case .int(let i)?: integer(i)
        case .double(let d)?: if d.isFinite { JSONText.appendDouble(d, to: &bytes) } else { raw("null") }
        case .string(let s)?: string(s)
        }
    }

    mutating func key(_ k: String) {
        string(k)
        bytes.append(UInt8(ascii: ":"))
    }
}
