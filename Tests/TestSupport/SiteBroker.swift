public import DevTools
import Foundation
public import Logging
public import MQTTClient
import Synchronization

/// A real mosquitto standing in for a site broker that field devices publish to (zigbee2mqtt's,
/// say), on free loopback ports in a temporary folder: DevTools' `SiteBroker` with a plain
/// listener for anyone and optionally a mutual-TLS listener with the shared test PKI. No ACL.
public final class TestSiteBroker: Sendable {
    /// The plain listener's port.
    public let port: Int
    /// The mutual-TLS listener's port, when started with one.
    public let tlsPort: Int?
    /// The PKI of the TLS listener (the shared test PKI), when started with one.
    public let pki: DevPKIFiles?
    /// The address of both listeners.
    public let host = "127.0.0.1"
    private let broker: SiteBroker
    private let directory: TemporaryDirectory

    private init(broker: SiteBroker, pki: DevPKIFiles?, directory: TemporaryDirectory) {
        self.broker = broker
        self.port = broker.configuration.port
        self.tlsPort = broker.configuration.tls?.port
        self.pki = pki
        self.directory = directory
    }

    /// Starts mosquitto and returns once it accepts connections; retries on other ports if one
    /// was taken meanwhile.
    public static func start(tls: Bool = false, logger: Logger = Logger(label: "site-broker")) async throws -> TestSiteBroker {
        let pki = tls ? try await SharedPKI.shared.files(logger: logger) : nil
        var lastError: any Error = TestHubError(description: "mosquitto did not start")
        for _ in 0..<3 {
            let directory = try TemporaryDirectory(prefix: "edgegate-site-broker")
            let port = try freeLoopbackPort()
            let listener = try pki.map { (port: try freeLoopbackPort(), pki: $0) }
            do {
                let broker = try await SiteBroker.start(
                    SiteBroker.Configuration(port: port, tls: listener, runDirectory: directory.path),
                    startTimeout: .seconds(20), logger: logger)
                return TestSiteBroker(broker: broker, pki: pki, directory: directory)
            } catch {
                lastError = error
                directory.remove()
            }
        }
        throw lastError
    }

    /// Stops mosquitto and starts it again on the same ports (a broker restart, as devices see it).
    public func restart() async throws {
        try await broker.restart(startTimeout: .seconds(20))
    }

    /// What mosquitto logged since it last started.
    public var log: String { broker.log }

    /// Options for the plain listener.
    public func options(clientID: String) -> MQTTOptions {
        MQTTOptions(host: host, port: port, clientID: clientID, connectTimeout: .seconds(10))
    }

    /// `mqtt://127.0.0.1:PORT`.
    public var url: String { broker.url }

    /// Stops mosquitto and removes its folder.
    public func stop() async {
        await broker.stop()
        directory.remove()
    }
}

/// A raw MQTT client subscribed on a site broker that keeps every message it receives, for
/// checking what the gateway published to devices (topic and payload, byte for byte).
public final class SiteSubscriber: Sendable {
    private final class Inbox: Sendable {
        let messages = Mutex<[MQTTMessage]>([])
    }

    private let received = Inbox()
    private let connection: MQTTConnection
    private let task: Task<Void, Never>

    /// Connects to the broker's plain listener and returns once the subscription to `filter`
    /// is acknowledged, so nothing published afterwards is missed.
    public init(broker: TestSiteBroker, filter: String) async throws {
        connection = try await MQTTConnection.connect(
            broker.options(clientID: "test-sub-\(UUID().uuidString.prefix(8))"),
            logger: Logger(label: "test-subscriber"))
        let stream = connection.messages
        let received = self.received
        task = Task {
            for await message in stream { received.messages.withLock { $0.append(message) } }
        }
        do {
            try await connection.subscribe(filter, qos: 1)
        } catch {
            // A throwing init leaves no object to close: disconnect here.
            await connection.disconnect()
            task.cancel()
            throw error
        }
    }

    /// What arrived so far, in order, payloads as text.
    public var messages: [(topic: String, payload: String)] {
        received.messages.withLock { $0.map { ($0.topic, String(decoding: $0.payload, as: UTF8.self)) } }
    }

    /// Disconnects.
    public func close() async {
        await connection.disconnect()
        task.cancel()
    }
}
