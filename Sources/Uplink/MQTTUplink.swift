import Foundation
import GatewayCore
import Logging
import MQTTClient
import ServiceLifecycle
import Synchronization

/// Settings of the `mqtt` uplink profile.
public struct MQTTUplinkConfiguration: Sendable {
    /// The gateway id: the `{gw}` topic level and the default client id.
    public var gatewayID: String
    /// The `{p}` topic level.
    public var prefix: String
    /// How to reach the hub (the uplink adds the will itself).
    public var connection: MQTTOptions
    /// Readings gather this long before a telemetry message is sealed.
    public var batchInterval: Duration
    /// Largest telemetry message in bytes.
    public var maxMessageBytes: Int
    /// Telemetry messages published but not yet acknowledged, at most.
    public var window: Int
    /// First reconnect delay, doubled per failure up to `maxBackoff`, with jitter.
    public var initialBackoff: Duration
    /// Longest reconnect delay.
    public var maxBackoff: Duration
    /// On shutdown, how long to keep delivering queued telemetry before going offline.
    public var drainGrace: Duration

    /// Creates a configuration with the defaults of DESIGN.md.
    public init(gatewayID: String, prefix: String = "edgegate", connection: MQTTOptions,
                batchInterval: Duration = .milliseconds(50), maxMessageBytes: Int = 256 * 1024, window: Int = 32,
                initialBackoff: Duration = .milliseconds(500), maxBackoff: Duration = .seconds(30),
                drainGrace: Duration = .seconds(3)) {
        self.gatewayID = gatewayID
        self.prefix = prefix
        self.connection = connection
        self.batchInterval = batchInterval
        self.maxMessageBytes = maxMessageBytes
        self.window = window
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.drainGrace = drainGrace
    }
}

/// The northbound link, profile `mqtt`: telemetry out (batched, kept in the durable outbox
/// until acknowledged, QoS 1, in order), a retained
/// `status` that is also the last will, a retained device inventory (published at each
/// session start and again whenever `update(devices:)` changes it), commands in and
/// responses out. Reconnects with backoff for as long as it runs.
public final class MQTTUplink: Service {
    /// Executes one decoded command and returns its result (the `CommandRouter`, in practice).
    public typealias CommandHandler = @Sendable (Command) async -> CommandResult

    private let configuration: MQTTUplinkConfiguration
    private let topics: MQTTTopics
    private let inventory: DeviceInventory
    private let handler: CommandHandler
    private let logger: Logger
    private let queue: TelemetryQueue
    private let malformed = Atomic<Int>(0)
    private let connected = Atomic<Bool>(false)

    /// Creates the uplink around an open outbox. Nothing connects until `run()`.
    public init(configuration: MQTTUplinkConfiguration, outbox: OutboxStore, devices: [DeviceDescriptor],
                handler: @escaping CommandHandler, logger: Logger) {
        self.configuration = configuration
        self.topics = MQTTTopics(prefix: configuration.prefix, gateway: configuration.gatewayID)
        self.inventory = DeviceInventory(devices)
        self.handler = handler
        self.logger = logger
        self.queue = TelemetryQueue(gateway: configuration.gatewayID, maxMessageBytes: configuration.maxMessageBytes, store: outbox)
    }

    /// Where adapters deliver readings; callable from any thread.
    public var sink: ReadingSink {
        let queue = self.queue
        return ReadingSink { queue.append($0) }
    }

    /// Counters so far.
    public var statistics: UplinkStatistics {
        var s = queue.statistics
        s.malformedCommands = malformed.load(ordering: .relaxed)
        return s
    }

    /// True while a session with the hub is up.
    public var isConnected: Bool { connected.load(ordering: .relaxed) }

    /// Replaces the device list of the retained inventory (`{p}/{gw}/devices`), after a
    /// reload of the device maps. A connected session publishes it at once; otherwise the
    /// next session does, as every session start does.
    public func update(devices: [DeviceDescriptor]) {
        inventory.set(devices)
    }

    /// Runs until cancelled or gracefully shut down. On graceful shutdown it seals what is
    /// pending, keeps delivering for `drainGrace`, publishes `online: false` and disconnects.
    public func run() async throws {
        let stopping = StopFlag()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.batchLoop() }
            group.addTask { await self.connectionLoop(stopping: stopping) }
            await withGracefulShutdownHandler {
                await group.next()
            } onGracefulShutdown: {
                stopping.set()
                self.queue.interrupt()
            }
            group.cancelAll()
        }
        await queue.close()
    }

    // MARK: - Batching

    private func batchLoop() async {
        while !Task.isCancelled {
            await queue.waitForReadings()
            // Let a poll's worth of readings from several devices gather into one message.
            try? await Task.sleep(for: configuration.batchInterval)
            await queue.seal()
        }
        await queue.seal()
    }

    // MARK: - Connection

    private func connectionLoop(stopping: StopFlag) async {
        var failures = 0
        var lastError: MQTTError?
        while !Task.isCancelled && !stopping.isSet {
            var options = configuration.connection
            options.will = MQTTWill(topic: topics.status,
                                    payload: MQTTWire.status(gateway: configuration.gatewayID, online: false, reason: "connection lost"),
                                    qos: 1, retain: true)
            let connection: MQTTConnection
            do {
                connection = try await MQTTConnection.connect(options, logger: logger)
            } catch {
                if error != lastError {
                    logger.error("uplink cannot connect to the hub", metadata: [
                        "hub": "\(options.host):\(options.port)", "error": "\(error)"])
                    lastError = error
                }
                failures += 1
                await backoff(failures, stopping: stopping)
                continue
            }
            logger.info("uplink connected", metadata: ["hub": "\(options.host):\(options.port)", "client_id": "\(options.clientID)"])
            failures = 0
            lastError = nil
            let ended = await session(connection, stopping: stopping)
            connected.store(false, ordering: .relaxed)
            if stopping.isSet { return }
            // Not stopping, so the session ended by itself (the hub went away, or the send
            // loop gave up on a publish error and disconnected): reconnect.
            logger.warning("uplink connection lost", metadata: ["error": "\(ended ?? .connectionLost("the session ended"))"])
            failures = 1
            await backoff(failures, stopping: stopping)
        }
    }

    private func backoff(_ failures: Int, stopping: StopFlag) async {
        let base = configuration.initialBackoff / .seconds(1)
        let cap = configuration.maxBackoff / .seconds(1)
        let delay = min(cap, base * pow(2, Double(min(failures - 1, 30))))
        // Full jitter in the upper half: many gateways restarting together do not reconnect in step.
        let jittered = delay * Double.random(in: 0.5...1.0)
        // Sleep in short steps: a shutdown must not wait out a 30 s backoff.
        let until = ContinuousClock.now + .milliseconds(Int(jittered * 1000))
        while ContinuousClock.now < until, !stopping.isSet, !Task.isCancelled {
            try? await Task.sleep(for: min(.milliseconds(100), until - .now))
        }
    }

    /// One connected session; returns why it ended, nil for a clean disconnect.
    private func session(_ connection: MQTTConnection, stopping: StopFlag) async -> MQTTError? {
        let (published, devices) = inventory.current
        do {
            try await connection.publish(topics.status, payload: MQTTWire.status(gateway: configuration.gatewayID, online: true), qos: 1, retain: true)
            try await publishInventory(devices, on: connection)
            try await connection.subscribe(topics.commands, qos: 1)
        } catch {
            await connection.disconnect()
            return error
        }
        connected.store(true, ordering: .relaxed)

        // The session ends when the connection closes (error) or when the send loop, told to
        // stop, has drained the queue, published `online: false` and disconnected (nil).
        return await withTaskGroup(of: MQTTError?.self) { group in
            group.addTask { await self.commandLoop(connection); return nil }
            group.addTask { await self.sendLoop(connection, stopping: stopping); return nil }
            group.addTask { await self.inventoryLoop(connection, published: published); return nil }
            let ended = await connection.closed()
            group.cancelAll()
            return ended
        }
    }

    /// Publishes telemetry in seq order with up to `window` messages awaiting PUBACK, reading
    /// them from the outbox one at a time. A message leaves the outbox only when acknowledged;
    /// after a reconnect the unacknowledged ones are sent again (at-least-once; the cloud
    /// drops duplicates by `seq`). When told to stop it keeps delivering for `drainGrace`,
    /// then says goodbye and disconnects.
    private func sendLoop(_ connection: MQTTConnection, stopping: StopFlag) async {
        var inFlight: [(seq: UInt64, bytes: Int, messageID: Int32)] = []
        var lastSent: UInt64?
        var deadline: ContinuousClock.Instant?
        do {
            while !Task.isCancelled {
                if deadline == nil, stopping.isSet {
                    deadline = .now + configuration.drainGrace
                    await queue.seal()
                }
                var next = inFlight.count < configuration.window ? await queue.batch(after: lastSent) : nil
                if let deadline, inFlight.isEmpty && next == nil || .now >= deadline {
                    break
                }
                while let batch = next {
                    let id = try connection.send(topics.telemetry, payload: batch.payload, qos: 1, retain: false)
                    inFlight.append((batch.seq, batch.payload.count, id))
                    lastSent = batch.seq
                    next = inFlight.count < configuration.window ? await queue.batch(after: lastSent) : nil
                }
                if let first = inFlight.first {
                    try await connection.acknowledgement(of: first.messageID)
                    await queue.acknowledge(first.seq, bytes: first.bytes)
                    inFlight.removeFirst()
                } else {
                    await queue.waitForBatch(after: lastSent)
                }
            }
        } catch {
            if case .connectionLost = error {
                return  // the session notices through closed() and reconnects
            }
            // Anything else would stop telemetry while commands keep working: end the session
            // so that the connection loop starts a fresh one.
            logger.error("uplink cannot publish telemetry; reconnecting", metadata: ["error": "\(error)"])
            await connection.disconnect()
            return
        }
        guard deadline != nil else { return }
        let left = queue.statistics.queuedMessages
        if left > 0 {
            logger.warning("uplink stopping with telemetry undelivered; it stays in the outbox for the next start", metadata: ["messages": "\(left)"])
        }
        try? await connection.publish(topics.status, payload: MQTTWire.status(gateway: configuration.gatewayID, online: false, reason: "shutdown"), qos: 1, retain: true)
        await connection.disconnect()
        logger.info("uplink disconnected", metadata: ["statistics": "\(statistics)"])
    }

    private func publishInventory(_ devices: [DeviceDescriptor], on connection: MQTTConnection) async throws(MQTTError) {
        try await connection.publish(topics.devices, payload: MQTTWire.inventory(gateway: configuration.gatewayID, devices: devices),
                                     qos: 1, retain: true)
    }

    /// Publishes each new device list while the session lasts, one at a time, so the retained
    /// inventory always ends with the latest list.
    private func inventoryLoop(_ connection: MQTTConnection, published: Int) async {
        var published = published
        while !Task.isCancelled {
            await inventory.waitForChange(after: published)
            if Task.isCancelled { return }
            let (version, devices) = inventory.current
            do {
                try await publishInventory(devices, on: connection)
                published = version
                logger.info("device inventory published", metadata: ["devices": "\(devices.count)"])
            } catch {
                if case .connectionLost = error { return }  // the next session publishes it
                logger.error("device inventory not published; reconnecting", metadata: ["error": "\(error)"])
                await connection.disconnect()
                return
            }
        }
    }

    /// Commands being handled at once, at most; beyond it a command is answered `rejected`
    /// at once, so a flood cannot grow memory without bound.
    static let maxCommandsInFlight = 256

    private func commandLoop(_ connection: MQTTConnection) async {
        let inFlight = Counter()
        await withDiscardingTaskGroup { group in
            for await message in connection.messages {
                guard message.topic == topics.commands else { continue }
                if inFlight.add(1) > Self.maxCommandsInFlight {
                    inFlight.add(-1)
                    group.addTask { await self.handle(message, on: connection, refusal: "gateway busy: more than \(Self.maxCommandsInFlight) commands in progress") }
                    continue
                }
                group.addTask {
                    await self.handle(message, on: connection)
                    inFlight.add(-1)
                }
            }
        }
    }

    private func handle(_ message: MQTTMessage, on connection: MQTTConnection, refusal: String? = nil) async {
        let payload = message.payload
        let result: CommandResult
        switch MQTTWire.decodeCommand(payload) {
        case .success(let command) where message.retain:
            // A retained command would run again on every reconnect of every gateway session.
            result = CommandResult(id: command.id, status: .rejected,
                                   message: "retained commands are refused: they would run again on every reconnect; publish commands without the retain flag")
        case .success(let command) where refusal != nil:
            result = CommandResult(id: command.id, status: .rejected, message: refusal!)
        case .success(let command):
            result = await handler(command)
        case .failure(let error):
            guard let id = error.id else {
                let count = malformed.wrappingAdd(1, ordering: .relaxed).newValue
                logger.warning("malformed command dropped: no id to answer", metadata: [
                    "error": "\(error.message)", "bytes": "\(payload.count)", "malformed_total": "\(count)"])
                return
            }
            logger.warning("command rejected", metadata: ["id": "\(id)", "error": "\(error.message)"])
            result = CommandResult(id: id, status: .rejected, message: error.message)
        }
        do {
            try await connection.publish(topics.responses, payload: MQTTWire.response(result), qos: 1, retain: false)
        } catch {
            logger.error("response not delivered", metadata: ["id": "\(result.id)", "status": "\(result.status.rawValue)", "error": "\(error)"])
        }
    }
}

/// A one-way switch shared by the uplink's tasks: set once when a graceful shutdown begins.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)

    var isSet: Bool { value.load(ordering: .relaxed) }

    func set() { value.store(true, ordering: .relaxed) }
}

/// A shared count (commands in flight), for tasks that cannot capture an `Atomic` directly.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)

    /// Adds `delta` and returns the new value.
    @discardableResult
    func add(_ delta: Int) -> Int { value.wrappingAdd(delta, ordering: .relaxed).newValue }
}
