import Foundation
import GatewayCore

/// Readings encoded as they appear inside a telemetry message (`{"device",…,"ts"}` each),
/// back to back, with where each one ends.
///
/// Made on the thread that delivers the readings (an adapter's), so that encoding runs on
/// every core at once and sealing a message only copies bytes. Two allocations per batch of
/// readings (one poll), none per reading once the arrays have grown.
struct EncodedReadings: Sendable {
    /// The encoded readings, without separators.
    private(set) var bytes: [UInt8]
    /// The end offset in `bytes` of each reading.
    private(set) var ends: [Int]

    /// Encodes readings; those with the same timestamp (one poll) share its formatting.
    init(_ readings: [Reading]) {
        var w = JSONWriter(capacity: readings.count * 112)
        var ends: [Int] = []
        ends.reserveCapacity(readings.count)
        // What the readings of one poll share is encoded once: the timestamp, and the device
        // (a map's readings share its id's storage, so the comparison is a pointer check).
        var lastDate: Date?
        var stamp: [UInt8] = []
        var lastDevice: String?
        var devicePrefix: [UInt8] = []
        for r in readings {
            if r.timestamp != lastDate {
                lastDate = r.timestamp
                stamp = [UInt8(ascii: "\"")]
                stamp.reserveCapacity(26)
                Timestamp.appendRFC3339(r.timestamp, to: &stamp)
                stamp.append(UInt8(ascii: "\""))
            }
            if r.device != lastDevice {
                lastDevice = r.device
                var prefix = JSONWriter(capacity: 24 + r.device.utf8.count)
                MQTTWire.appendReadingStart(device: r.device, to: &prefix)
                devicePrefix = prefix.bytes
            }
            MQTTWire.appendReading(r, start: devicePrefix, timestamp: stamp, to: &w)
            ends.append(w.bytes.count)
        }
        self.bytes = w.bytes
        self.ends = ends
    }

    /// The number of readings.
    var count: Int { ends.count }

    /// The encoded size of reading `i`.
    func size(of i: Int) -> Int { ends[i] - (i == 0 ? 0 : ends[i - 1]) }

    /// Readings `range` of these, without copying.
    subscript(range: Range<Int>) -> Slice { Slice(base: self, range: range) }

    /// All of them.
    subscript(_: UnboundedRange) -> Slice { Slice(base: self, range: 0..<count) }

    /// A run of consecutive encoded readings.
    struct Slice: Sendable {
        let base: EncodedReadings
        let range: Range<Int>

        var count: Int { range.count }

        /// Their encoded size, without separators.
        var byteCount: Int { bytes.count }

        private var bytes: Range<Int> {
            guard !range.isEmpty else { return 0..<0 }
            return (range.lowerBound == 0 ? 0 : base.ends[range.lowerBound - 1])..<base.ends[range.upperBound - 1]
        }

        /// Appends them comma-separated (a comma first unless `first`).
        func append(to w: inout JSONWriter, first: inout Bool) {
            var start = range.lowerBound == 0 ? 0 : base.ends[range.lowerBound - 1]
            let comma: [UInt8] = [UInt8(ascii: ",")]
            base.bytes.withUnsafeBufferPointer { all in
                for i in range {
                    if !first { w.raw(comma) }
                    first = false
                    let end = base.ends[i]
                    w.raw(UnsafeBufferPointer(rebasing: all[start..<end]))
                    start = end
                }
            }
        }
    }
}
