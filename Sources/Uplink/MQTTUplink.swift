public import CoreMetrics
public import Foundation
public import GatewayCore
public import Logging
public import MQTTClient
public import ServiceLifecycle
import Synchronization

/// Settings of the `mqtt` uplink profile.
public struct MQTTUplinkConfiguration: Sendable {
    /// The gateway id: the `{gw}` topic level and the default client id.
    public var gatewayID: String
    /// The `{p}` topic level.
    public var prefix: String
    /// How to reach the hub (the uplink adds the will itself).
    public var connection: MQTTOptions
    /// While the link is busy, readings coalesce at most this long before a message is sealed;
    /// while it is idle they are sealed at once.
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
    /// Telemetry bytes held before the hub's acknowledgement (encoded and waiting to be
    /// sealed, or sealed during this session and unacknowledged) beyond which the pollers
    /// skip their cycles. Between sessions the outbox takes everything, bounded by its own
    /// `max_bytes`.
    public var holdBytes: Int = 8 << 20

    /// Creates a configuration with the defaults docs/operations.md lists.
    public init(
        gatewayID: String, prefix: String = "edgegate", connection: MQTTOptions,
        batchInterval: Duration = .milliseconds(50), maxMessageBytes: Int = 256 * 1024, window: Int = 32,
        initialBackoff: Duration = .milliseconds(500), maxBackoff: Duration = .seconds(30),
        drainGrace: Duration = .seconds(3)
    ) {
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

/// The northbound link: telemetry out (batched, kept in the durable outbox until
/// acknowledged, QoS 1, in order), an online status with a last will, a device inventory
/// (published at each session start and again whenever `update(devices:)` changes it),
/// commands in and answers out. Reconnects with backoff for as long as it runs, and at once
/// when its profile's credentials are due for renewal. What goes where on the wire is its
/// `UplinkProfile`'s: `mqtt` (docs/protocol.md) unless told.
public final class MQTTUplink: Service {
    /// Admits one decoded command and returns the task that answers it (the
    /// `CommandRouter`'s `submit`, in practice). Called synchronously, one command after the
    /// other in arrival order, so that the handler can fix the order commands run in.
    public typealias CommandHandler = @Sendable (Command) -> Task<CommandResult, Never>

    private let configuration: MQTTUplinkConfiguration
    private let profile: any UplinkProfile
    private let inventory: DeviceInventory
    private let handler: CommandHandler
    private let logger: Logger
    private let queue: TelemetryQueue
    private let malformed = Atomic<Int>(0)
    private let connected = Atomic<Bool>(false)
    private let linkState: Mutex<UplinkLink>
    /// Warnings about malformed commands: a flood of them must not become a flood of lines.
    private let malformedLog = LogThrottle(burst: 10, interval: .seconds(10))
    private let metrics: UplinkMetrics

    /// Creates the uplink around an open outbox. Nothing connects until `run()`.
    /// - Parameters:
    ///   - profile: the wire profile; nil: `mqtt` with the configuration's prefix and
    ///     gateway id. A profile's telemetry size limit lowers `maxMessageBytes` when below it.
    ///   - metrics: where the link's state and its reconnects are counted, and the outbox's
    ///     gauges kept (`updateMetrics()`); the outbox counts what it was given to.
    public init(
        configuration: MQTTUplinkConfiguration, outbox: OutboxStore, devices: [DeviceDescriptor],
        handler: @escaping CommandHandler, logger: Logger, profile: (any UplinkProfile)? = nil,
        metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        self.metrics = UplinkMetrics(factory: metrics)
        let profile = profile ?? MQTTProfile(prefix: configuration.prefix, gatewayID: configuration.gatewayID)
        var configuration = configuration
        if let limit = profile.maxTelemetryBytes { configuration.maxMessageBytes = min(configuration.maxMessageBytes, limit) }
        self.configuration = configuration
        self.profile = profile
        self.linkState = Mutex(
            UplinkLink(
                profile: profile.name, hub: "\(configuration.connection.host):\(configuration.connection.port)", since: nil,
                reconnects: 0, lastError: nil))
        self.inventory = DeviceInventory(devices)
        self.handler = handler
        self.logger = logger
        self.queue = TelemetryQueue(
            gateway: configuration.gatewayID, maxMessageBytes: configuration.maxMessageBytes, store: outbox,
            holdLimit: configuration.holdBytes)
    }

    /// Where adapters deliver readings; callable from any thread.
    public var sink: ReadingSink {
        let queue = self.queue
        let profile = self.profile
        return ReadingSink(ready: { queue.isReady }) { readings in
            profile.observe(readings)
            queue.append(readings)
        }
    }

    /// Counters so far.
    public var statistics: UplinkStatistics {
        var s = queue.statistics
        s.malformedCommands = malformed.load(ordering: .relaxed)
        return s
    }

    /// True while a session with the hub is up.
    public var isConnected: Bool { connected.load(ordering: .relaxed) }

    /// The link as an operator sees it: which hub, connected or not since when, how many
    /// reconnects, the last error.
    public var link: UplinkLink { linkState.withLock { $0 } }

    /// Sets the outbox's gauges (messages and bytes held, age of the oldest message) from
    /// where it stands now: called before each metrics scrape, as these are states to read,
    /// not events to count. Cheap: counters under a lock, and one indexed row of the outbox
    /// file only when its oldest message changed since the last call.
    public func updateMetrics() {
        let counts = queue.store.snapshot
        metrics.outboxMessages.record(counts.messages)
        metrics.outboxBytes.record(counts.bytes)
        metrics.outboxOldestAge.record(outboxOldestAge ?? 0)
    }

    /// Seconds since the oldest message in the outbox was sealed; nil when it holds none.
    /// One indexed row of the outbox file, and only when the oldest message changed since the
    /// last look.
    public var outboxOldestAge: Double? {
        queue.store.oldestCreated.map { max(0, queue.store.configuration.clock().timeIntervalSince($0)) }
    }

    /// Replaces the device list of the inventory (the retained `{p}/{gw}/devices` of the
    /// `mqtt` profile), after a reload of the device maps. A connected session publishes it
    /// at once; otherwise the next session does, as every session start does.
    public func update(devices: [DeviceDescriptor]) {
        inventory.set(devices)
    }

    /// Runs until cancelled or gracefully shut down. On graceful shutdown it seals what is
    /// pending, keeps delivering for `drainGrace`, publishes `online: false` and disconnects.
    /// Every stop logs the statistics: `uplink disconnected` after that goodbye, `uplink
    /// stopped while not connected to the hub` when there was no session to end.
    public func run() async throws {
        let stopping = StopFlag()
        let saidGoodbye = StopFlag()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.batchLoop() }
            group.addTask { await self.connectionLoop(stopping: stopping, saidGoodbye: saidGoodbye) }
            await withGracefulShutdownHandler {
                await group.next()
            } onGracefulShutdown: {
                stopping.set()
                self.queue.interrupt()
            }
            group.cancelAll()
        }
        if !saidGoodbye.isSet {
            // The hub was unreachable (or the session ended while stopping): what stays in the
            // outbox matters all the more.
            let left = queue.statistics.queuedMessages
            if left > 0 {
                logger.warning("uplink stopping with telemetry undelivered; it stays in the outbox for the next start", metadata: ["messages": "\(left)"])
            }
            logger.info("uplink stopped while not connected to the hub", metadata: statistics.logMetadata)
        }
        await queue.close()
    }

    // MARK: - Batching

    private func batchLoop() async {
        while !Task.isCancelled {
            await queue.waitForReadings()
            // At once while the link is idle; while it is busy, readings coalesce for up to
            // the batch interval or a full message.
            await queue.waitUntilSealIsDue(interval: configuration.batchInterval)
            await queue.seal()
        }
        await queue.seal()
    }

    // MARK: - Connection

    private func connectionLoop(stopping: StopFlag, saidGoodbye: StopFlag) async {
        var failures = 0
        var lastError: String?
        var renewing = false
        var sessions = 0
        while !Task.isCancelled && !stopping.isSet {
            let plan: UplinkConnectionPlan
            do {
                plan = try profile.connectionPlan(configuration.connection)
            } catch {
                // An unreadable key file may be fixed while we run: keep trying, say it once.
                noteFailure(error.description)
                if error.description != lastError {
                    logger.error("uplink cannot make its credentials", metadata: ["profile": "\(profile.name)", "error": "\(error)"])
                    lastError = error.description
                }
                failures += 1
                await backoff(failures, stopping: stopping)
                continue
            }
            let made = ContinuousClock.now
            let options = plan.options
            let connection: MQTTConnection
            do {
                connection = try await MQTTConnection.connect(options, logger: logger)
            } catch {
                noteFailure(error.description)
                if error.description != lastError {
                    logger.error(
                        "uplink cannot connect to the hub",
                        metadata: [
                            "hub": "\(options.host):\(options.port)", "error": "\(error)",
                        ])
                    lastError = error.description
                }
                failures += 1
                await backoff(failures, stopping: stopping)
                continue
            }
            linkState.withLock { $0.hub = "\(options.host):\(options.port)" }
            logger.info("uplink connected", metadata: ["hub": "\(options.host):\(options.port)", "client_id": "\(options.clientID)"])
            if sessions > 0 { metrics.reconnects.increment() }
            sessions += 1
            if renewing {
                logger.info("\(plan.credential) renewed", metadata: plan.expiry.map { ["valid_until": "\(Timestamp.rfc3339($0))"] } ?? [:])
            }
            failures = 0
            lastError = nil
            let renewal = plan.renewAfter.map { SessionRenewal(at: made + $0, grace: min(.seconds(15), $0 / 8), credential: plan.credential) }
            let ended = await session(connection, stopping: stopping, saidGoodbye: saidGoodbye, renewal: renewal)
            connected.store(false, ordering: .relaxed)
            metrics.connected.record(0)
            linkState.withLock { link in
                link.since = Date()
                if let ended { link.lastError = ended.description }
            }
            if stopping.isSet { return }
            renewing = renewal?.started.isSet == true
            if renewing { continue }  // a planned reconnect: no backoff, no warning
            // Not stopping, so the session ended by itself (the hub went away, or the send
            // loop gave up on a publish error and disconnected): reconnect.
            logger.warning("uplink connection lost", metadata: ["error": "\(ended ?? .connectionLost("the session ended"))"])
            failures = 1
            await backoff(failures, stopping: stopping)
        }
    }

    /// Remembers why the link is down; `since` moves only when the state changes.
    private func noteFailure(_ error: String) {
        linkState.withLock { link in
            if link.since == nil { link.since = Date() }
            link.lastError = error
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
    private func session(
        _ connection: MQTTConnection, stopping: StopFlag, saidGoodbye: StopFlag,
        renewal: SessionRenewal?
    ) async -> MQTTError? {
        let (published, devices) = inventory.current
        // A profile may wait here (for its primary host); a stop must not wait with it.
        let started: Result<Void, MQTTError>? = await withTaskGroup(of: Result<Void, MQTTError>?.self) { group in
            group.addTask {
                do throws(MQTTError) {
                    try await self.profile.startSession(connection, devices: devices)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                await stopping.wait()
                return nil
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
        switch started {
        case .success: break
        case .failure(let error):
            await connection.disconnect()
            return error
        case nil:
            await connection.disconnect()
            return nil
        }
        connected.store(true, ordering: .relaxed)
        metrics.connected.record(1)
        linkState.withLock { link in
            if link.connectedOnce { link.reconnects += 1 }
            link.connectedOnce = true
            link.since = Date()
        }
        let commands = Counter()

        // The session ends when the connection closes (error) or when the send loop, told to
        // stop, has drained the queue, published `online: false` and disconnected (nil), or
        // when the credentials are due for renewal (nil).
        return await withTaskGroup(of: MQTTError?.self) { group in
            group.addTask {
                await self.commandLoop(connection, inFlight: commands); return nil
            }
            group.addTask {
                await self.sendLoop(connection, stopping: stopping, saidGoodbye: saidGoodbye); return nil
            }
            group.addTask {
                await self.inventoryLoop(connection, published: published); return nil
            }
            if let renewal {
                group.addTask {
                    await self.renew(connection, renewal, commands: commands, stopping: stopping); return nil
                }
            }
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
    private func sendLoop(_ connection: MQTTConnection, stopping: StopFlag, saidGoodbye: StopFlag) async {
        // One outbox message may go out as several MQTT messages (`sparkplug-b`: one per
        // device); it is acknowledged once the hub has all of them.
        var inFlight: [(seq: UInt64, bytes: Int, messageIDs: [Int32])] = []
        var lastSent: UInt64?
        var deadline: ContinuousClock.Instant?
        var drained = true
        let sessionFloor = queue.sessionStarted()
        defer { queue.sessionEnded() }
        do {
            while !Task.isCancelled {
                if deadline == nil, stopping.isSet {
                    deadline = .now + configuration.drainGrace
                    await queue.seal()
                }
                var next = inFlight.count < configuration.window ? await queue.batch(after: lastSent) : nil
                if let deadline, inFlight.isEmpty && next == nil || .now >= deadline {
                    drained = inFlight.isEmpty && next == nil
                    break
                }
                while let batch = next {
                    let ids = try profile.sendTelemetry(batch.payload, replayed: batch.seq < sessionFloor, on: connection)
                    inFlight.append((batch.seq, batch.payload.count, ids))
                    lastSent = batch.seq
                    next = inFlight.count < configuration.window ? await queue.batch(after: lastSent) : nil
                }
                if let first = inFlight.first {
                    // A hub that stopped reading must hold neither the start of a shutdown
                    // nor, once draining, its end.
                    if let id = first.messageIDs.first {
                        guard
                            try await acknowledgement(
                                of: id, on: connection,
                                until: deadline == nil ? .stop(stopping) : .deadline(deadline!))
                        else { continue }
                        inFlight[0].messageIDs.removeFirst()
                        if !inFlight[0].messageIDs.isEmpty { continue }
                    }
                    await queue.acknowledge(first.seq, bytes: first.bytes)
                    inFlight.removeFirst()
                } else {
                    queue.setSenderIdle(true)
                    await queue.waitForBatch(after: lastSent)
                    queue.setSenderIdle(false)
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
        // The goodbye gets what is left of a second; a hub that did not take the telemetry in
        // time gets no clean disconnect either (its will says the gateway is offline).
        let goodbye = ContinuousClock.now + .seconds(1)
        let said = drained ? await within(goodbye) { try? await self.profile.publishOffline(reason: "shutdown", on: connection) } : false
        if said {
            await connection.disconnect()
            saidGoodbye.set()
        } else {
            logger.warning("uplink stopping without a goodbye: the hub did not acknowledge in time; its last will says the gateway is offline")
            await connection.abort()
            saidGoodbye.set()
        }
        logger.info("uplink disconnected", metadata: statistics.logMetadata)
    }

    /// What ends a wait for an acknowledgement early.
    private enum AcknowledgementLimit: Sendable {
        /// A graceful shutdown beginning.
        case stop(StopFlag)
        /// The end of the drain.
        case deadline(ContinuousClock.Instant)
    }

    /// Waits for a PUBACK: true when it came, false when `limit` came first.
    private func acknowledgement(
        of messageID: Int32, on connection: MQTTConnection,
        until limit: AcknowledgementLimit
    ) async throws(MQTTError) -> Bool {
        let outcome: Result<Bool, MQTTError> = await withTaskGroup(of: Result<Bool, MQTTError>?.self) { group in
            group.addTask {
                do throws(MQTTError) {
                    try await connection.acknowledgement(of: messageID)
                    return .success(true)
                } catch {
                    return Task.isCancelled ? nil : .failure(error)
                }
            }
            group.addTask {
                switch limit {
                case .stop(let flag): await flag.wait()
                case .deadline(let deadline): try? await Task.sleep(until: deadline, clock: .continuous)
                }
                return Task.isCancelled ? nil : .success(false)
            }
            let first = await group.next()!
            group.cancelAll()
            return first ?? .success(false)
        }
        return try outcome.get()
    }

    /// Runs `work` until `deadline`: true when it finished in time.
    private func within(_ deadline: ContinuousClock.Instant, _ work: @escaping @Sendable () async -> Void) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await work(); return true
            }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous); return false
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
    }

    /// Publishes each new device list while the session lasts, one at a time, so the
    /// inventory always ends with the latest list.
    private func inventoryLoop(_ connection: MQTTConnection, published: Int) async {
        var published = published
        while !Task.isCancelled {
            await inventory.waitForChange(after: published)
            if Task.isCancelled { return }
            let (version, devices) = inventory.current
            do {
                try await profile.publishInventory(devices, on: connection)
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

    private func commandLoop(_ connection: MQTTConnection, inFlight: Counter) async {
        await withDiscardingTaskGroup { group in
            for await message in connection.messages {
                guard let incoming = profile.command(from: message) else { continue }
                var refusal: String?
                if inFlight.add(1) > Self.maxCommandsInFlight {
                    refusal = "gateway busy: more than \(Self.maxCommandsInFlight) commands in progress"
                }
                // Decoded and handed to the handler here, one message after the other: the
                // order the handler sees is the arrival order, which child tasks racing to
                // it would not keep.
                let admitted = admit(incoming, of: message, refusal: refusal)
                group.addTask {
                    await self.answer(admitted, to: incoming, on: connection)
                    inFlight.add(-1)
                }
            }
        }
    }

    /// A command message, decoded and either refused at once or handed to the handler.
    private enum Admitted: Sendable {
        /// No id to answer: counted and logged.
        case dropped
        /// Answered without running; `busy` when refused for the in-flight bound.
        case refused(CommandResult, busy: Bool)
        /// Running; the task answers it.
        case running(Task<CommandResult, Never>)
    }

    private func admit(_ incoming: IncomingCommand, of message: MQTTMessage, refusal: String?) -> Admitted {
        switch incoming.command {
        case .success(let command) where message.retain:
            // A retained command would run again on every reconnect of every gateway session.
            return .refused(
                CommandResult(
                    id: command.id, status: .rejected,
                    message: "retained commands are refused: they would run again on every reconnect; publish commands without the retain flag"),
                busy: false)
        case .success(let command) where refusal != nil:
            return .refused(CommandResult(id: command.id, status: .rejected, message: refusal!), busy: true)
        case .success(let command):
            return .running(handler(command))
        case .failure(let error):
            guard let id = error.id else {
                let count = malformed.wrappingAdd(1, ordering: .relaxed).newValue
                malformedLog.log(
                    logger, "malformed command dropped: no id to answer",
                    metadata: [
                        "error": "\(error.message)", "bytes": "\(message.payload.count)", "malformed_total": "\(count)",
                    ])
                return .dropped
            }
            malformedLog.log(logger, "command rejected", metadata: ["id": "\(LogText.clean(id))", "error": "\(LogText.clean(error.message))"])
            return .refused(CommandResult(id: id, status: .rejected, message: error.message), busy: false)
        }
    }

    private func answer(_ admitted: Admitted, to incoming: IncomingCommand, on connection: MQTTConnection) async {
        let result: CommandResult
        var busy = false
        switch admitted {
        case .dropped: return
        case .refused(let refused, let refusedBusy): (result, busy) = (refused, refusedBusy)
        case .running(let task): result = await task.value
        }
        do {
            try await incoming.respond(result, busy, connection)
        } catch {
            logger.error("response not delivered", metadata: ["id": "\(result.id)", "status": "\(result.status.rawValue)", "error": "\(error)"])
        }
    }
}

/// When a session ends to reconnect with fresh credentials (SAS token renewal).
struct SessionRenewal: Sendable {
    /// When to start.
    let at: ContinuousClock.Instant
    /// How long to wait, at most, for commands in progress to be answered first.
    let grace: Duration
    /// What is renewed, for the log (`SAS token`).
    let credential: String
    /// Set when the renewal ended the session (rather than a loss or a shutdown).
    let started = StopFlag()
}

extension MQTTUplink {
    /// Ends the session cleanly (no will) when the credentials are due, once the commands in
    /// progress have been answered or `grace` has passed, so that a command is not cut off
    /// by a planned reconnect.
    private func renew(_ connection: MQTTConnection, _ renewal: SessionRenewal, commands: Counter, stopping: StopFlag) async {
        do {
            try await Task.sleep(until: renewal.at, clock: .continuous)
            let deadline = ContinuousClock.now + renewal.grace
            while commands.current > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
        } catch {
            return  // the session ended first
        }
        // A shutdown in progress owns the goodbye and the disconnect.
        guard !stopping.isSet else { return }
        logger.info("\(renewal.credential) expires soon: reconnecting with a new one", metadata: ["profile": "\(profile.name)"])
        renewal.started.set()
        await connection.disconnect()
    }
}

/// A one-way switch shared by the uplink's tasks: set once when a graceful shutdown begins,
/// when a renewal ends a session, or when the goodbye of a stop has been said.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    private let waiters = Mutex<[Int: CheckedContinuation<Void, Never>]>([:])
    private let tokens = Atomic<Int>(0)

    var isSet: Bool { value.load(ordering: .relaxed) }

    func set() {
        value.store(true, ordering: .relaxed)
        let all = waiters.withLock { w in
            defer { w.removeAll() }
            return Array(w.values)
        }
        for waiter in all { waiter.resume() }
    }

    /// Returns once the flag is set, or when the calling task is cancelled.
    func wait() async {
        let token = tokens.wrappingAdd(1, ordering: .relaxed).newValue
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = waiters.withLock { w -> Bool in
                    if isSet || Task.isCancelled { return true }
                    w[token] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            waiters.withLock { $0.removeValue(forKey: token) }?.resume()
        }
    }
}

/// A shared count (commands in flight), for tasks that cannot capture an `Atomic` directly.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)

    /// Adds `delta` and returns the new value.
    @discardableResult
    func add(_ delta: Int) -> Int { value.wrappingAdd(delta, ordering: .relaxed).newValue }

    /// The current value.
    var current: Int { value.load(ordering: .relaxed) }
}

/// The uplink's metrics, made once with the uplink.
private struct UplinkMetrics: Sendable {
    /// `edgegate_uplink_connected`: 1 while a session with the hub is up.
    let connected: Gauge
    /// `edgegate_uplink_reconnects_total`: sessions started after the first.
    let reconnects: CoreMetrics.Counter
    /// `edgegate_outbox_messages`, `edgegate_outbox_bytes`, `edgegate_outbox_oldest_age_seconds`.
    let outboxMessages: Gauge
    let outboxBytes: Gauge
    let outboxOldestAge: Gauge

    init(factory: any MetricsFactory) {
        connected = Gauge(label: MetricNames.uplinkConnected, factory: factory)
        connected.record(0)
        reconnects = CoreMetrics.Counter(label: MetricNames.uplinkReconnects, factory: factory)
        outboxMessages = Gauge(label: MetricNames.outboxMessages, factory: factory)
        outboxBytes = Gauge(label: MetricNames.outboxBytes, factory: factory)
        outboxOldestAge = Gauge(label: MetricNames.outboxOldestAge, factory: factory)
    }
}

extension UplinkStatistics {
    /// One log field per counter (`queued_messages=0 acknowledged_messages=177 …`), for the
    /// lines every stop logs: fields a log tool can read, not a dump of the struct.
    var logMetadata: Logger.Metadata {
        [
            "queued_messages": "\(queuedMessages)", "queued_bytes": "\(queuedBytes)", "pending_readings": "\(pendingReadings)",
            "acknowledged_messages": "\(acknowledgedMessages)", "dropped_messages": "\(droppedMessages)",
            "dropped_readings": "\(droppedReadings)", "expired_messages": "\(expiredMessages)", "unsaved_messages": "\(unsavedMessages)",
            "next_seq": "\(nextSeq)", "malformed_commands": "\(malformedCommands)",
        ]
    }
}

/// The uplink's link, for the admin endpoint and the console.
public struct UplinkLink: Sendable, Hashable {
    /// The profile's name (`mqtt`, `azure-iot-hub`).
    public var profile: String
    /// `host:port` of the hub.
    public var hub: String
    /// When the link last connected or disconnected (or first failed to connect); nil before
    /// the first attempt ended.
    public var since: Date?
    /// Sessions started after the first.
    public var reconnects: Int
    /// Why the last connection attempt failed or the last session ended; nil when none did.
    public var lastError: String?
    /// Whether any session started yet.
    var connectedOnce = false
}
