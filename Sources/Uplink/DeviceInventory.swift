import GatewayCore
import Synchronization

/// The device list the uplink publishes as its retained inventory, numbered by version, so
/// that a session publishes every new list once and always the latest one last.
final class DeviceInventory: Sendable {
    private struct State {
        var devices: [DeviceDescriptor]
        var version = 0
        /// The one consumer: the inventory task of the current session.
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state: Mutex<State>

    init(_ devices: [DeviceDescriptor]) {
        state = Mutex(State(devices: devices))
    }

    /// The current list and its version.
    var current: (version: Int, devices: [DeviceDescriptor]) {
        state.withLock { ($0.version, $0.devices) }
    }

    /// Replaces the list and wakes the session waiting for a change.
    func set(_ devices: [DeviceDescriptor]) {
        state.withLock { s in
            s.devices = devices
            s.version += 1
            let waiter = s.waiter
            s.waiter = nil
            return waiter
        }?.resume()
    }

    /// Waits until the version is above `version`, or the task is cancelled.
    func waitForChange(after version: Int) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.version > version || Task.isCancelled { return true }
                    s.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { s in
                let waiter = s.waiter
                s.waiter = nil
                return waiter
            }?.resume()
        }
    }
}
