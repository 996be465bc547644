import GatewayCore
public import ServiceLifecycle

/// The gateway's own loop for the admin endpoint: it marks the gateway ready when the
/// services start and stopping at shutdown, beats the heartbeat `/healthz` checks, and turns
/// changes of the uplink's connection into events.
public struct LiveStateService: Service {
    let live: LiveState
    let uplinkConnected: @Sendable () -> Bool
    let interval: Duration

    /// Creates the loop.
    /// - Parameters:
    ///   - uplinkConnected: whether the uplink has a session now (polled every `interval`).
    ///   - interval: how often it beats.
    public init(live: LiveState, uplinkConnected: @escaping @Sendable () -> Bool, interval: Duration = .seconds(1)) {
        self.live = live
        self.uplinkConnected = uplinkConnected
        self.interval = interval
    }

    /// Runs until the group shuts down.
    public func run() async throws {
        live.beat()
        live.enter(.ready)
        live.publish(.phase(.ready))
        var connected = uplinkConnected()
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                live.beat()
                let now = uplinkConnected()
                if now != connected {
                    connected = now
                    live.publish(.uplink(connected: now))
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            }
        } onGracefulShutdown: {
            live.enter(.stopping)
            live.publish(.phase(.stopping))
        }
    }
}
