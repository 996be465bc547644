/// How quickly a lost device connection (Modbus, an MQTT broker) is retried.
///
/// Exponential backoff with jitter: a gateway restarting next to a PLC must not hammer it,
/// and many gateways losing one network must not retry in lockstep.
public struct ReconnectPolicy: Sendable, Hashable {
    /// The wait after the first failure.
    public var initialDelay: Duration
    /// The longest wait between attempts.
    public var maximumDelay: Duration
    /// Random spread applied to each wait, as a fraction (0.2 = ±20 %).
    public var jitter: Double

    /// Creates a policy.
    public init(initialDelay: Duration = .milliseconds(500), maximumDelay: Duration = .seconds(30), jitter: Double = 0.2) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.jitter = jitter
    }

    /// 0.5 s doubling to 30 s, ±20 %.
    public static let standard = ReconnectPolicy()
}

/// The retry schedule of one connection.
public struct Backoff: Sendable {
    /// The policy it follows.
    public let policy: ReconnectPolicy
    /// Failures since the last successful connect.
    public private(set) var failures = 0

    /// A schedule with no failures yet.
    public init(policy: ReconnectPolicy) {
        self.policy = policy
    }

    /// The wait before the next attempt, counting one more failure.
    public mutating func next(random: Double = Double.random(in: -1...1)) -> Duration {
        let exponent = min(failures, 30)
        failures += 1
        let base = min(policy.initialDelay * (1 << exponent), policy.maximumDelay)
        let spread = max(0, min(policy.jitter, 1))
        let jittered = base * (1 + spread * max(-1, min(random, 1)))
        return min(jittered, policy.maximumDelay)
    }

    /// Called after a successful connect.
    public mutating func reset() {
        failures = 0
    }
}
