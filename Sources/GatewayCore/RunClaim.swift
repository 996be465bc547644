/// Why an adapter refused to run: the one error of a second `run` on the same adapter.
public enum AdapterRunError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `run` was called while another `run` of the same adapter was active; `adapter` names
    /// it as people do (`Modbus`, `Hue`, `MQTT devices`, `door-sim`).
    case alreadyRunning(adapter: String)

    /// A sentence for the operator: `the Modbus adapter is already running`.
    public var description: String {
        switch self {
        case .alreadyRunning(let adapter): return "the \(adapter) adapter is already running"
        }
    }
}

/// An adapter's claim on its one `run`: part of the adapter's locked state, so that taking
/// the claim and starting its connections happen under one lock and an update in between
/// sees either no sink or a started adapter.
public struct RunClaim: Sendable {
    /// The adapter's name for `AdapterRunError.alreadyRunning`.
    public let adapter: String
    /// The sink of the active `run`; nil while the adapter is not running.
    public private(set) var sink: ReadingSink?

    /// An unclaimed run of the adapter named `adapter`.
    public init(adapter: String) {
        self.adapter = adapter
    }

    /// Claims the adapter for a `run` that emits to `sink`.
    /// - Throws: `AdapterRunError.alreadyRunning` when another `run` holds the claim.
    public mutating func claim(_ sink: ReadingSink) throws(AdapterRunError) {
        guard self.sink == nil else { throw .alreadyRunning(adapter: adapter) }
        self.sink = sink
    }

    /// Gives the claim back at the end of `run`.
    public mutating func release() {
        sink = nil
    }
}
