public import DevTools
import Foundation
public import Logging
public import MQTTClient

/// A folder under the system temporary directory, removed by `remove()`.
public struct TemporaryDirectory: Sendable {
    /// Absolute path of the folder.
    public let path: String

    /// Creates a fresh, uniquely named folder.
    public init(prefix: String = "edgegate-test") throws {
        path = (NSTemporaryDirectory() as NSString).appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// The path of `name` inside the folder.
    public func file(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }

    /// Writes `text` to `name` inside the folder (creating its subfolders) and returns its path.
    @discardableResult
    public func write(_ name: String, _ text: String) throws -> String {
        let path = file(name)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Removes the folder and everything in it.
    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Who connects to a test hub.
public enum HubIdentity: Sendable {
    /// The gateway `TestHub.gatewayID` (its certificate CN).
    case gateway
    /// The operator (CN `operator`).
    case `operator`
}

/// Thrown by `withTimeout` when the body did not finish in time.
public struct TimeoutError: Error, CustomStringConvertible {
    /// What was being waited for.
    public var what: String
    /// The limit.
    public var limit: Duration
    /// A human sentence.
    public var description: String { "\(what) did not finish within \(limit)" }
}

/// Runs `body` and fails with `TimeoutError` after `limit`, so a test that goes wrong fails
/// instead of hanging. The body must honour cancellation.
public func withTimeout<T: Sendable>(
    _ limit: Duration = .seconds(10), _ what: String = "operation",
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimeoutError(what: what, limit: limit)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// A real mosquitto with mutual TLS and the edgegate ACL on a free loopback port, with a
/// development PKI (one per test process, shared by every hub).
public final class TestHub: Sendable {
    /// The gateway id of the PKI's gateway certificate.
    public static let gatewayID = "gw-1"
    /// The operator's certificate CN.
    public static let operatorID = "operator"
    /// The topic prefix.
    public static let prefix = "edgegate"

    /// The shared PKI.
    public let pki: DevPKIFiles
    /// The running hub.
    public let hub: LocalHub
    /// The hub's run folder (config, ACL, log).
    public let directory: TemporaryDirectory

    /// The hub's address.
    public var host: String { hub.host }
    /// The hub's port.
    public var port: Int { hub.port }
    /// The port of the SAS listener (IoT Hub's user name and SAS token), when started with one.
    public var sasPort: Int? { hub.configuration.sasListener?.port }

    private init(pki: DevPKIFiles, hub: LocalHub, directory: TemporaryDirectory) {
        self.pki = pki
        self.hub = hub
        self.directory = directory
    }

    /// Starts a hub; retries once on another port if the first was taken meanwhile.
    /// - Parameter sas: also open a listener that checks user names and passwords (SAS
    ///   tokens) against a password file, empty at first: see `allow(user:password:)`.
    public static func start(logger: Logger = Logger(label: "test-hub"), sas: Bool = false) async throws -> TestHub {
        let pki = try await SharedPKI.shared.files(logger: logger)
        let directory = try TemporaryDirectory(prefix: "edgegate-hub")
        var lastError: (any Error)?
        for _ in 0..<3 {
            var configuration = HubConfiguration(
                port: try freeLoopbackPort(), pki: pki, prefix: prefix,
                operatorIdentity: operatorID, runDirectory: directory.path)
            // Like a production broker: a restarted hub keeps sessions and what it owes them.
            configuration.persistence = true
            if sas {
                configuration.sasListener = .init(port: try freeLoopbackPort(), passwordFile: directory.file("passwords"))
            }
            do {
                let hub = try await LocalHub.start(configuration, logger: logger)
                return TestHub(pki: pki, hub: hub, directory: directory)
            } catch {
                lastError = error
            }
        }
        directory.remove()
        throw lastError!
    }

    /// Connection options for an identity of the PKI, verifying the hub's certificate.
    public func options(identity: HubIdentity, clientID: String, cleanSession: Bool = true) -> MQTTOptions {
        let (cert, key) = identity == .gateway ? (pki.gatewayCert, pki.gatewayKey) : (pki.operatorCert, pki.operatorKey)
        return MQTTOptions(
            host: host, port: port, clientID: clientID,
            tls: MQTTTLS(caFile: pki.caCert, certFile: cert, keyFile: key, verifyHostname: true),
            cleanSession: cleanSession, connectTimeout: .seconds(5))
    }

    /// Makes the SAS listener accept `user` with `password`, replacing what that user had
    /// (mosquitto keeps one password per user): the entry is written with `mosquitto_passwd`
    /// and, unless told otherwise, the hub reloads its password file at once, which also
    /// disconnects clients whose password no longer matches (as IoT Hub does when a token
    /// expires). `reload: false` leaves that to a later `reload()`.
    public func allow(user: String, password: String, reload: Bool = true) async throws {
        guard let file = hub.configuration.sasListener?.passwordFile else {
            throw TestHubError(description: "this test hub has no SAS listener: start it with `sas: true`")
        }
        let (status, output) = try await TestProcess.run("/usr/bin/mosquitto_passwd", ["-b", file, user, password])
        guard status == 0 else { throw TestHubError(description: "mosquitto_passwd failed (\(status)): \(output)") }
        if reload { hub.reload() }
    }

    /// Makes mosquitto read its password and ACL files again.
    public func reload() {
        hub.reload()
    }

    /// Stops mosquitto and removes the run folder.
    public func stop() async {
        await hub.stop()
        directory.remove()
    }
}

/// A test hub could not do what a test asked.
public struct TestHubError: Error, CustomStringConvertible {
    /// A human sentence.
    public var description: String
}

/// Creating a PKI takes about a second of openssl calls: do it once per test process.
actor SharedPKI {
    static let shared = SharedPKI()
    private var task: Task<DevPKIFiles, any Error>?

    func files(logger: Logger) async throws -> DevPKIFiles {
        if let task { return try await task.value }
        let task = Task {
            try await DevPKI.create(
                in: sharedPKIDirectory, gatewayID: TestHub.gatewayID,
                operatorID: TestHub.operatorID, force: true, logger: logger)
        }
        self.task = task
        return try await task.value
    }
}

/// One folder per test process, removed when the process exits.
let sharedPKIDirectory: String = {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("edgegate-test-pki-\(getpid())")
    atexit {
        try? FileManager.default.removeItem(atPath: sharedPKIDirectory)
    }
    return path
}()
