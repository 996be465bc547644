/// A durable memory of commands that ran, so that a repeated id — a QoS 1 redelivery, an
/// operator's retry, a replay after a gateway restart — is answered with the first result and
/// never executed twice. The router keeps its own in-memory window in front of it; the ledger
/// is what survives a restart.
///
/// Calls come from the router's tasks and must be cheap (an indexed lookup) and thread-safe.
public protocol CommandLedger: Sendable {
    /// The result first recorded for `id`, if the ledger still remembers it.
    func result(for id: String) -> CommandResult?

    /// Records the result of a command that ran (or was refused): recorded before the answer
    /// is published, so that a crash after the answer cannot make the command run again.
    func record(_ result: CommandResult)
}
