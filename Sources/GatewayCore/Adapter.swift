/// Where an adapter delivers its readings. Safe to call from any thread, including the
/// dedicated threads that blocking C libraries need.
public struct ReadingSink: Sendable {
    private let deliver: @Sendable ([Reading]) -> Void

    /// Creates a sink that hands each batch to `deliver`.
    public init(_ deliver: @escaping @Sendable ([Reading]) -> Void) {
        self.deliver = deliver
    }

    /// Delivers one batch of readings (one poll of one device, typically).
    public func emit(_ readings: [Reading]) {
        if !readings.isEmpty { deliver(readings) }
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

/// Returns when the current task is cancelled: what an adapter's `run` waits for while its
/// own threads and tasks do the work.
public func waitUntilCancelled() async {
    while !Task.isCancelled {
        try? await Task.sleep(for: .seconds(3600))
    }
}
