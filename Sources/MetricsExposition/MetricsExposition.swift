import CoreMetrics
public import Gateway
import GatewayCore
public import Prometheus
import Synchronization

/// edgegate's metrics in the Prometheus text format: a registry of its own, the swift-metrics
/// factory that fills it (the libraries count through swift-metrics and never see Prometheus),
/// and `scrape()`, which the admin listener serves as `GET /metrics`.
///
/// Only the executable calls `bootstrap()` (`MetricsSystem` takes one factory per process);
/// a test makes its own exposition and hands `factory` to the `Gateway` it runs, so that
/// gateways in one test process do not count into each other's registry.
public final class MetricsExposition: Sendable {
    /// Where the metrics are kept.
    public let registry: PrometheusCollectorRegistry
    /// The swift-metrics factory over `registry`, with the histogram buckets of edgegate's
    /// durations.
    public let factory: PrometheusMetricsFactory
    /// The running gateway whose read-not-counted gauges a scrape brings up to date.
    private let gateway = Mutex<Gateway?>(nil)

    /// Poll durations: a loopback Modbus poll takes tens of microseconds to milliseconds, a
    /// serial line or a Hue bridge tens to hundreds of milliseconds, a timeout seconds.
    public static let pollDurationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .microseconds(2_500_000), .seconds(5), .seconds(10),
    ]
    /// Command durations, arrival to answer: a write and its read-back take milliseconds; the
    /// default execution timeout is 10 s, and a queue of commands to one device adds up.
    public static let commandDurationBuckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .microseconds(2_500_000), .seconds(5), .seconds(10), .seconds(30),
    ]

    /// - Parameter version: edgegate's version, for `edgegate_build_info{version}`.
    public init(version: String) {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [
            MetricNames.pollDuration: Self.pollDurationBuckets,
            MetricNames.commandDuration: Self.commandDurationBuckets,
        ]
        self.registry = registry
        self.factory = factory
        // Through swift-metrics like the others: the registry's own help texts would have to
        // match across every series of a name, and swift-metrics gives none.
        Gauge(label: MetricNames.buildInfo, dimensions: [("version", version)], factory: factory).record(1)
    }

    /// Makes this exposition's factory the process's `MetricsSystem`: what the libraries count
    /// with when nobody hands them a factory. Once per process, before the gateway is made.
    public func bootstrap() {
        MetricsSystem.bootstrap(factory)
    }

    /// The gateway whose outbox gauges each scrape brings up to date; the last one attached.
    public func attach(_ gateway: Gateway) {
        self.gateway.withLock { $0 = gateway }
    }

    /// Every metric now, in the Prometheus text exposition format (version 0.0.4): first the
    /// gauges that are read rather than counted (the outbox's backlog and age) are set from
    /// the running gateway, then the registry is written out. Safe from any thread.
    public func scrape() -> [UInt8] {
        gateway.withLock { $0 }?.updateMetrics()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 << 10)
        registry.emit(into: &buffer)
        return buffer
    }
}
