/// The link-button pairing of the v1 API: `POST /api {"devicetype": ...}` until someone
/// presses the bridge's button, which whitelists a new username for 30 seconds.
public enum HuePairing {
    /// Asks for a username every `interval` until the bridge grants one or `timeout` passes.
    /// - Parameters:
    ///   - devicetype: `app#instance` as the bridge lists it (`edgegate#gw-1`), at most 40 characters.
    ///   - waiting: called once, after the first "link button not pressed", to tell the user.
    /// - Returns: the new username (a secret).
    /// - Throws: `.pairingTimedOut`, `.unreachable` (at once: no point waiting for a button
    ///   on a bridge that does not answer), or any other error the bridge answers.
    public static func pair(
        bridge: HueBridge, devicetype: String, timeout: Duration, interval: Duration = .seconds(1),
        requestTimeout: Duration = .seconds(2), waiting: @Sendable () -> Void = {}
    ) async throws(HueError) -> String {
        let client = HueBridgeClient(bridge: bridge, username: nil, timeout: requestTimeout)
        let deadline = ContinuousClock.now + timeout
        var told = false
        while true {
            do {
                return try await client.createUser(devicetype: devicetype)
            } catch {
                guard case .bridge(_, let answer) = error, answer.type == HueAPIError.linkButtonNotPressed else { throw error }
            }
            if !told {
                waiting()
                told = true
            }
            guard ContinuousClock.now + interval < deadline else { throw .pairingTimedOut(bridge, timeout) }
            do { try await Task.sleep(for: interval) } catch { throw .pairingTimedOut(bridge, timeout) }
        }
    }
}
