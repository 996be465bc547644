/// Where an adapter delivers its readings. Safe to call from any thread, including the
/// dedicated threads that blocking C libraries need.
///
/// A sink also says whether the pipeline behind it can take more (`isReady`): a polling
/// adapter asks before it reads and, when the answer is no, skips that cycle and counts it,
/// so that readings which were never taken are not readings lost, and the memory between
/// the devices and the hub stays bounded. What a sink was given (`emit`) it never refuses.
public struct ReadingSink: Sendable {
    private let deliver: @Sendable ([Reading]) -> Void
    private let readiness: @Sendable () -> Bool
    /// The gateway's per-device metrics; nil for a sink that counts nothing.
    private let metrics: DeviceMetrics?

    /// Creates a sink that hands each batch to `deliver`.
    /// - Parameter ready: whether the pipeline behind the sink takes another poll's worth of
    ///   readings now; the default always says yes.
    public init(ready: @escaping @Sendable () -> Bool = { true }, _ deliver: @escaping @Sendable ([Reading]) -> Void) {
        self.init(ready: ready, metrics: nil, deliver)
    }

    private init(ready: @escaping @Sendable () -> Bool, metrics: DeviceMetrics?, _ deliver: @escaping @Sendable ([Reading]) -> Void) {
        self.deliver = deliver
        self.readiness = ready
        self.metrics = metrics
    }

    /// Delivers one batch of readings (one poll of one device, typically).
    public func emit(_ readings: [Reading]) {
        if !readings.isEmpty { deliver(readings) }
    }

    /// True when the pipeline can take another poll's readings now; false while it is
    /// behind (encoding or the hub cannot keep up), when a poller should skip its cycle.
    /// Cheap (an atomic load in the gateway): ask before every poll.
    public var isReady: Bool { readiness() }

    /// The same sink with its readings passed through `transform` first (a filter); the
    /// readiness is this sink's.
    public func map(_ transform: @escaping @Sendable ([Reading]) -> [Reading]) -> ReadingSink {
        let inner = self
        return ReadingSink(ready: readiness, metrics: metrics) { inner.emit(transform($0)) }
    }

    /// The same sink, counting what it is given into `metrics` (readings by quality, whether
    /// each device is up) before it passes it on; its adapters find their devices' poll
    /// metrics there (`pollMetrics(device:)`).
    public func counting(into metrics: DeviceMetrics) -> ReadingSink {
        let inner = self
        return ReadingSink(ready: readiness, metrics: metrics) { readings in
            metrics.record(readings)
            inner.emit(readings)
        }
    }

    /// The poll metrics of `device`, for a polling adapter to keep with the device's schedule
    /// (asked when it starts or takes a new device set, not per poll); they record nothing
    /// when the sink counts nothing.
    public func pollMetrics(device: String) -> PollMetrics {
        metrics?.polls(device: device) ?? .disabled
    }
}

/// Why an adapter could not carry out a write.
public enum WriteError: Error, Sendable, Hashable {
    /// The request cannot be expressed for this device (for example a value that does not fit
    /// its register after scale and offset). Nothing was sent. Becomes status `rejected`.
    case rejected(String)
    /// The device was asked and failed, or could not be reached. Becomes status `failed`.
    case failed(String)
}

/// A protocol adapter: runs its devices until cancelled and executes writes for them.
///
/// `run` connects, polls or subscribes, reconnects with backoff, and emits readings into the
/// sink; it returns when its task is cancelled. `write` may be called concurrently with `run`.
public protocol DeviceAdapter: Sendable {
    /// The devices this adapter serves.
    var devices: [DeviceDescriptor] { get }

    /// Runs until the surrounding task is cancelled.
    func run(sink: ReadingSink) async throws

    /// Writes engineering values to points of one device (already validated against the
    /// descriptors by the router) and returns the values read back afterwards.
    func write(device: String, values: [String: Value]) async throws(WriteError) -> [String: Value]
}

/// An adapter whose devices are computed from other devices' readings (derived devices): the
/// gateway hands it every batch of readings that flows, before the report filter holds any
/// back, and the adapter emits what it computes into its own sink.
public protocol ReadingObserver: DeviceAdapter {
    /// Takes one batch of readings (its own devices' included: it ignores those). Called on
    /// the thread that emitted the batch, a poller's among them: quick, and never blocking.
    func observe(_ readings: [Reading])
}

/// An adapter with state that must survive a restart (a derived device's windows and the
/// shift's OEE), kept in files in a folder the gateway names: the outbox's, so that it lives
/// and is backed up with the telemetry not yet delivered.
public protocol StateKeeping: DeviceAdapter {
    /// Where to keep and find the state; called once, before `run`. Never called when the
    /// outbox is in memory: then the state is not kept either.
    func keepState(in folder: String)
}

/// Returns when the current task is cancelled: what an adapter's `run` waits for while its
/// own threads and tasks do the work.
public func waitUntilCancelled() async {
    while !Task.isCancelled {
        try? await Task.sleep(for: .seconds(3600))
    }
}
