import Foundation
import Synchronization

/// When a point's readings are worth sending (report by exception).
public struct ReportPolicy: Sendable, Hashable {
    /// How far a number must move from the last reported value to be reported again.
    public enum Deadband: Sendable, Hashable {
        /// In engineering units.
        case absolute(Double)
        /// In percent of the last reported value's magnitude.
        case percent(Double)
    }

    /// The change that is reported; nil: every change.
    public var deadband: Deadband?
    /// Longest time without a report of an unchanged point; nil: never repeated.
    public var maxInterval: Duration?

    /// Creates a policy.
    public init(deadband: Deadband? = nil, maxInterval: Duration? = nil) {
        self.deadband = deadband
        self.maxInterval = maxInterval
    }
}

/// Drops readings that tell nothing new under their point's `ReportPolicy`.
///
/// A reading is reported when it is the point's first, when its quality or reason changed,
/// when its value moved by more than the deadband from the last *reported* value (so a slow
/// drift is reported once it adds up, never lost in small steps), or when `maxInterval` has
/// passed since the last report. Non-numeric values are reported on any change. Points
/// without a policy pass unchanged. Intervals use the readings' own timestamps, so the
/// filter needs no clock. Safe to call from any thread.
public final class ReportFilter: Sendable {
    private struct Key: Hashable {
        let device: String
        let point: String
    }

    private struct Last {
        var value: Value?
        var quality: Quality
        var time: Date
    }

    private struct State {
        var policies: [String: [String: ReportPolicy]]
        var last: [Key: Last] = [:]
    }

    private let state: Mutex<State>

    /// Creates a filter.
    /// - Parameter policies: device id → point name → policy.
    public init(policies: [String: [String: ReportPolicy]]) {
        state = Mutex(State(policies: policies))
    }

    /// Replaces the policies (after a device-map reload). Points keep their last reported
    /// value, so a reload does not re-send every unchanged point.
    public func update(policies: [String: [String: ReportPolicy]]) {
        state.withLock { $0.policies = policies }
    }

    /// The readings that must be reported, in their original order.
    ///
    /// Runs for every reading: a device without policies costs one lookup per batch (a
    /// batch is one device's poll, typically), and a batch of which nothing is dropped is
    /// returned as it came, without a copy.
    public func filter(_ readings: [Reading]) -> [Reading] {
        state.withLock { state in
            var kept: [Reading]?
            var device: String?
            var policies: [String: ReportPolicy]?
            for (index, reading) in readings.enumerated() {
                if reading.device != device {
                    device = reading.device
                    policies = state.policies[reading.device]
                }
                if let policy = policies?[reading.point] {
                    let key = Key(device: reading.device, point: reading.point)
                    if let last = state.last[key], !Self.mustReport(reading, after: last, policy: policy) {
                        if kept == nil { kept = Array(readings[..<index]) }
                        continue
                    }
                    state.last[key] = Last(value: reading.value, quality: reading.quality, time: reading.timestamp)
                }
                kept?.append(reading)
            }
            return kept ?? readings
        }
    }

    private static func mustReport(_ reading: Reading, after last: Last, policy: ReportPolicy) -> Bool {
        if reading.quality != last.quality { return true }
        if let interval = policy.maxInterval,
            reading.timestamp.timeIntervalSince(last.time) >= interval / .seconds(1)
        {
            return true
        }
        guard let value = reading.value, let previous = last.value else {
            return reading.value != last.value
        }
        guard let now = value.numeric, let before = previous.numeric else {
            return value != previous
        }
        switch policy.deadband {
        case nil:
            return now != before
        case .absolute(let band)?:
            return abs(now - before) > band
        case .percent(let percent)?:
            // From zero any change counts: no percentage of 0 is a useful band.
            return abs(now - before) > abs(before) * percent / 100
        }
    }
}
