import Foundation

/// Polls `probe` every 20 ms until it yields a value, or fails after `timeout`.
public func waitFor<T>(_ what: String, timeout: Duration = .seconds(10), _ probe: () throws -> T?) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = try probe() { return value }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw ProbeError("\(what) did not happen within \(timeout)")
}

/// Like `waitFor`, for a probe that awaits (an HTTP request), every 100 ms.
public func waitForAsync<T>(_ what: String, timeout: Duration = .seconds(10), _ probe: () async throws -> T?) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = try await probe() { return value }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw ProbeError("\(what) did not happen within \(timeout)")
}

/// A test's precondition that did not come about (a server that never answered, a reading
/// that never came), with what was awaited.
public struct ProbeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
