import Foundation
import GatewayCore

/// What a window point computes from the good readings in its window.
enum WindowAggregate: String, Sendable, Hashable, CaseIterable, Codable {
    case avg, min, max, sum, count, first, last, stddev, rate
}

/// One window point's settings: what it computes, over how long, how often, and how long it
/// waits for late readings.
///
/// `size` alone (`every == size`) is a tumbling window: `[k·size, (k+1)·size)`, aligned to the
/// Unix epoch (UTC). `every` < `size` is a hopping window: one ends at every multiple of
/// `every` and covers `[end − size, end)`; `size` must be a whole number of `every`s.
struct WindowSpec: Sendable, Hashable {
    var aggregate: WindowAggregate
    var size: Duration
    /// Equal to `size` for a tumbling window.
    var every: Duration
    /// How long after a window's end it is emitted: readings arrive after their timestamps.
    var grace: Duration
    /// The counter's wrap for `rate` (65536 for `uint16`), from `CounterIncrease.modulus(ofType:)`.
    var counterModulus: Double?
    /// Whether the input's values are whole numbers: `first`, `last`, `min` and `max` are then `.int`.
    var inputIsInteger: Bool

    init(
        aggregate: WindowAggregate, size: Duration, every: Duration? = nil, grace: Duration = .seconds(2),
        counterModulus: Double? = nil, inputIsInteger: Bool = false
    ) {
        self.aggregate = aggregate
        self.size = size
        self.every = every ?? size
        self.grace = grace
        self.counterModulus = counterModulus
        self.inputIsInteger = inputIsInteger
    }

    /// How many panes (each `every` long) one window covers.
    var panesPerWindow: Int64 {
        let ratio = size / every
        let panes = Int64(ratio.rounded())
        precondition(every > .zero && panes >= 1 && every * panes == size, "a window's size (\(size)) must be a whole number of its every (\(every))")
        return panes
    }
}

// Durations as seconds (a Double), which a person reading the state file understands and
// which every encoder handles; Duration's own encoding is a pair of 64-bit attosecond halves.
extension WindowSpec: Codable {
    private enum CodingKeys: String, CodingKey {
        case aggregate, size, every, grace, counterModulus, inputIsInteger
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        aggregate = try c.decode(WindowAggregate.self, forKey: .aggregate)
        size = .seconds(try c.decode(Double.self, forKey: .size))
        every = .seconds(try c.decode(Double.self, forKey: .every))
        grace = .seconds(try c.decode(Double.self, forKey: .grace))
        counterModulus = try c.decodeIfPresent(Double.self, forKey: .counterModulus)
        inputIsInteger = try c.decode(Bool.self, forKey: .inputIsInteger)
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(aggregate, forKey: .aggregate)
        try c.encode(size.seconds, forKey: .size)
        try c.encode(every.seconds, forKey: .every)
        try c.encode(grace.seconds, forKey: .grace)
        try c.encodeIfPresent(counterModulus, forKey: .counterModulus)
        try c.encode(inputIsInteger, forKey: .inputIsInteger)
    }
}

/// One emitted window: its value and quality, stamped at the window's end.
struct WindowOutput: Sendable, Hashable {
    var end: Date
    /// Nil when the window has nothing to compute from (its quality is then bad); `count` is
    /// `.int(0)` instead.
    var value: Value?
    var quality: Quality
}
