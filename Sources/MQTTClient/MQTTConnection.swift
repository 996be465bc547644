import CMosquitto
import Foundation
public import Logging
import Synchronization

/// One MQTT connection backed by one libmosquitto handle and one dedicated network thread.
///
/// A connection never reconnects by itself: when it ends, `closed()` returns the reason and
/// the caller creates a new connection (with its own backoff). Publishing from any task only
/// queues the packet and wakes the network thread, so callers never block on the socket.
public final class MQTTConnection: Sendable {
    let core: ConnectionCore

    private init(core: ConnectionCore) {
        self.core = core
    }

    deinit {
        // Forgotten without disconnect(): end the session so the thread exits and frees the handle.
        core.requestStop(clean: true)
    }

    /// Connects (TCP, TLS handshake, CONNACK) and returns once the broker accepted the
    /// session, or throws the first failure: `.unreachable`, `.tls`, `.refused` or `.timeout`.
    public static func connect(_ options: MQTTOptions, logger: Logger) async throws(MQTTError) -> MQTTConnection {
        _ = MosquittoLibrary.initialized
        let core = ConnectionCore(options: options, logger: logger)
        let result: Result<Void, MQTTError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                core.awaitConnect(continuation)
                core.startThread()
            }
        } onCancel: {
            core.finish(.failed("connecting to \(options.host):\(options.port) was cancelled"))
        }
        switch result {
        case .success:
            logger.debug("mqtt connected", metadata: ["broker": "\(options.host):\(options.port)", "client_id": "\(options.clientID)"])
            return MQTTConnection(core: core)
        case .failure(let error):
            core.requestStop(clean: false)
            throw error
        }
    }

    /// Incoming messages of every subscription, in arrival order. Single consumer; finishes
    /// when the connection ends. Buffers up to `ConnectionCore.messageBufferLimit` messages
    /// for a slow consumer and drops newer ones beyond that (logged), like a broker's queue.
    public var messages: AsyncStream<MQTTMessage> { core.messages }

    /// Subscribes and returns after SUBACK; throws `.failed` when the broker denies the
    /// filter (granted QoS 0x80) and `.connectionLost` if the connection ends first.
    public func subscribe(_ filter: String, qos: Int) async throws(MQTTError) {
        try await core.subscribe(filter, qos: qos).get()
    }

    /// Queues a publish in call order and returns its message id at once; pair it with
    /// `acknowledgement(of:)` to learn when the broker has it.
    public func send(_ topic: String, payload: [UInt8], qos: Int, retain: Bool) throws(MQTTError) -> Int32 {
        try core.send(topic, payload: payload, qos: qos, retain: retain).get()
    }

    /// Waits for the broker's acknowledgement of a message id from `send`: PUBACK for QoS 1
    /// (PUBCOMP for QoS 2), the socket write for QoS 0. Throws `.connectionLost` if the
    /// connection ends first. An acknowledgement that arrived before this call counts.
    public func acknowledgement(of messageID: Int32) async throws(MQTTError) {
        try await core.acknowledgement(of: messageID).get()
    }

    /// Sends `message` and waits for the acknowledgement.
    public func publish(_ message: MQTTMessage) async throws(MQTTError) {
        try await publish(message.topic, payload: message.payload, qos: message.qos, retain: message.retain)
    }

    /// Sends and waits for the acknowledgement.
    public func publish(_ topic: String, payload: [UInt8], qos: Int, retain: Bool) async throws(MQTTError) {
        let id = try send(topic, payload: payload, qos: qos, retain: retain)
        try await acknowledgement(of: id)
    }

    /// Waits until the connection ends: nil after `disconnect()`, the reason otherwise.
    public func closed() async -> MQTTError? {
        await core.closed()
    }

    /// Sends DISCONNECT (so the broker does not publish the will), stops the network thread
    /// and frees the handle. Returns once the connection has ended; safe to call twice.
    public func disconnect() async {
        core.requestStop(clean: true)
        _ = await core.closed(cancellable: false)
    }

    /// Ends the connection without DISCONNECT and without waiting for the socket to take
    /// anything more: the broker publishes the will. For a shutdown that must not wait on a
    /// hub that stopped reading. Returns once the connection has ended.
    public func abort() async {
        core.requestStop(clean: false)
        _ = await core.closed(cancellable: false)
    }

    /// Closes the socket without DISCONNECT, as a network failure would: the broker then
    /// publishes the will. For tests of will and reconnect behaviour.
    package func simulateConnectionDrop() {
        core.dropSocket()
    }
}

/// `mosquitto_lib_init` must run once per process before any handle exists.
enum MosquittoLibrary {
    static let initialized: Bool = {
        mosquitto_lib_init()
        return true
    }()
}

/// A libmosquitto handle. Raw pointers are not Sendable; this one is only used by the
/// network thread that created it and, for thread-safe calls (publish, subscribe,
/// disconnect), by other threads while they hold the core's lock, which the network
/// thread also takes before destroying the handle.
struct Handle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Shared state of a connection: touched by async callers and by libmosquitto's callbacks
/// on the network thread, always under `state`'s lock.
final class ConnectionCore: Sendable {
    static let messageBufferLimit = 10_000
    static let recentLogLimit = 8
    /// How long `disconnect()` waits for DISCONNECT to be written before closing anyway.
    static let disconnectGrace: Duration = .seconds(3)

    typealias Waiter = CheckedContinuation<Result<Void, MQTTError>, Never>

    enum Phase: Equatable {
        case connecting
        case connected
        case closed
    }

    struct State {
        var handle: Handle?
        var phase: Phase = .connecting
        var connectWaiter: Waiter?
        var connectResult: Result<Void, MQTTError>?
        var closeError: MQTTError?
        var closeWaiters: [UInt64: CheckedContinuation<MQTTError?, Never>] = [:]
        var stopRequested = false
        var cleanStop = false
        var stopDeadline: ContinuousClock.Instant?
        var ackWaiters: [Int32: [UInt64: Waiter]] = [:]
        /// Acknowledgements that arrived before anyone waited; bounded by the 16-bit id space
        /// and cleared when `send` hands out an id again.
        var earlyAcks: Set<Int32> = []
        var subscribeWaiters: [Int32: Waiter] = [:]
        var droppedMessages = 0
        var nextToken: UInt64 = 0

        mutating func token() -> UInt64 {
            nextToken += 1
            return nextToken
        }
    }

    let options: MQTTOptions
    let logger: Logger
    let state = Mutex(State())
    /// libmosquitto's recent warnings and errors, for error messages. A lock of its own:
    /// the log callback runs while libmosquitto holds its log mutex, and `mosquitto_publish`
    /// (called under `state`) logs too, so taking `state` in the callback would deadlock.
    /// Never call libmosquitto while holding this lock.
    let recentLog = Mutex<[String]>([])
    let messages: AsyncStream<MQTTMessage>
    let messageSink: AsyncStream<MQTTMessage>.Continuation

    var broker: String { "\(options.host):\(options.port)" }

    init(options: MQTTOptions, logger: Logger) {
        self.options = options
        var logger = logger
        logger[metadataKey: "broker"] = "\(options.host):\(options.port)"
        logger[metadataKey: "client_id"] = "\(options.clientID)"
        self.logger = logger
        (messages, messageSink) = AsyncStream.makeStream(
            of: MQTTMessage.self,
            bufferingPolicy: .bufferingOldest(Self.messageBufferLimit))
    }

    // MARK: - Connect

    func awaitConnect(_ continuation: Waiter) {
        state.withLock { s in
            if let result = s.connectResult {
                continuation.resume(returning: result)
            } else {
                s.connectWaiter = continuation
            }
        }
    }

    func startThread() {
        let thread = Thread { [self] in
            self.run()
        }
        thread.name = "mqtt \(options.clientID)"
        thread.start()
        // A blocking TCP connect can outlast any sensible timeout (SYN retries): the timer
        // fails the connect on time and the thread cleans up whenever the call returns.
        let timeout = options.connectTimeout
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout.timeInterval) { [self] in
            let stillConnecting = state.withLock { $0.phase == .connecting }
            if stillConnecting {
                finish(.timeout("no connection to \(broker) within \(timeout) (TCP, TLS handshake and CONNACK)"))
            }
        }
    }

    // MARK: - The network thread

    private func run() {
        guard
            let pointer = mosquitto_new(
                options.clientID, options.cleanSession,
                Unmanaged.passUnretained(self).toOpaque())
        else {
            finish(.failed("cannot create a libmosquitto client: \(String(cString: strerror(errno)))"))
            return
        }
        // The thread closure keeps `self` alive until the handle is destroyed below, so the
        // unretained userdata pointer is valid for every callback.
        let handle = Handle(pointer: pointer)
        if let error = configure(pointer) {
            finish(error)
        } else {
            let proceed = state.withLock { s in
                s.handle = handle
                return !s.stopRequested
            }
            if proceed {
                connectAndLoop(pointer)
            }
        }
        state.withLock { $0.handle = nil }
        mosquitto_destroy(pointer)
    }

    private func configure(_ m: OpaquePointer) -> MQTTError? {
        mosquitto_threaded_set(m, true)
        _ = mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, 4)  // MQTT 3.1.1
        mosquitto_max_inflight_messages_set(m, UInt32(max(1, options.maxInflight)))
        // Commands and their acknowledgements are small packets: with Nagle's algorithm each
        // waits for the peer's delayed ACK (about 40 ms) before it leaves.
        _ = mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1)
        mosquitto_connect_callback_set(m) { _, userdata, rc in
            ConnectionCore.from(userdata).onConnect(rc)
        }
        mosquitto_disconnect_callback_set(m) { _, userdata, rc in
            ConnectionCore.from(userdata).onDisconnect(rc)
        }
        mosquitto_publish_callback_set(m) { _, userdata, mid in
            ConnectionCore.from(userdata).onPublish(mid)
        }
        mosquitto_subscribe_callback_set(m) { _, userdata, mid, count, granted in
            let codes = (0..<Int(count)).map { granted?[$0] ?? 0x80 }
            ConnectionCore.from(userdata).onSubscribe(mid, granted: codes)
        }
        mosquitto_message_callback_set(m) { _, userdata, message in
            guard let message else { return }
            ConnectionCore.from(userdata).onMessage(message.pointee)
        }
        mosquitto_log_callback_set(m) { mosq, userdata, level, text in
            guard let text else { return }
            var line = String(cString: text)
            let core = ConnectionCore.from(userdata)
            // OpenSSL's handshake error only says "certificate verify failed"; the
            // verification result says why (unknown CA, expired, hostname mismatch). The SSL
            // object is still alive while libmosquitto logs the error.
            if line.contains("certificate verify failed"),
                let reason = OpenSSLVerifyResult.reason(mosquitto_ssl_get(mosq), host: core.options.host)
            {
                line += ": \(reason)"
            }
            core.onLog(level, line)
        }
        if options.username != nil || options.password != nil {
            let rc = mosquitto_username_pw_set(m, options.username, options.password)
            if rc != MOSQ_ERR_SUCCESS.code { return .failed("invalid user name or password setting: \(Self.describe(rc))") }
        }
        if let will = options.will {
            let rc = will.payload.withUnsafeBytes { bytes in
                mosquitto_will_set(m, will.topic, Int32(bytes.count), bytes.baseAddress, Int32(will.qos), will.retain)
            }
            if rc != MOSQ_ERR_SUCCESS.code { return .failed("invalid will on topic '\(will.topic)': \(Self.describe(rc))") }
        }
        if let tls = options.tls {
            // libmosquitto only says "invalid" for an unreadable file; name the file ourselves.
            for (role, path) in [("CA file", tls.caFile), ("certificate file", tls.certFile), ("key file", tls.keyFile)] {
                guard let path else { continue }
                if access(path, R_OK) != 0 {
                    return .tls("cannot read the TLS \(role) '\(path)': \(String(cString: strerror(errno)))")
                }
            }
            if (tls.certFile == nil) != (tls.keyFile == nil) {
                return .tls("a TLS client certificate needs both a certificate file and a key file")
            }
            var rc = mosquitto_tls_set(m, tls.caFile, nil, tls.certFile, tls.keyFile, nil)
            if rc != MOSQ_ERR_SUCCESS.code { return .tls("cannot load the TLS files: \(Self.describe(rc))\(logSuffix())") }
            rc = mosquitto_tls_opts_set(m, 1 /* SSL_VERIFY_PEER */, "tlsv1.2", nil)
            if rc != MOSQ_ERR_SUCCESS.code { return .tls("cannot set TLS options: \(Self.describe(rc))") }
            rc = mosquitto_tls_insecure_set(m, !tls.verifyHostname)
            if rc != MOSQ_ERR_SUCCESS.code { return .tls("cannot set hostname verification: \(Self.describe(rc))") }
        }
        return nil
    }

    private func connectAndLoop(_ m: OpaquePointer) {
        errno = 0
        var rc = mosquitto_connect(m, options.host, Int32(options.port), Int32(options.keepAlive))
        if rc != MOSQ_ERR_SUCCESS.code {
            finish(connectError(rc, errno: errno))
            return
        }
        while true {
            let stop = state.withLock { s -> Bool in
                guard s.stopRequested else { return false }
                if s.phase == .closed { return true }
                // A clean stop waits (bounded) for DISCONNECT to go out; anything else stops now.
                if s.cleanStop, let deadline = s.stopDeadline, ContinuousClock.now < deadline { return false }
                return true
            }
            if stop {
                finish(nil)  // no-op when already finished; otherwise the stop was asked for
                return
            }
            errno = 0
            rc = mosquitto_loop(m, 1000, 1)
            if rc != MOSQ_ERR_SUCCESS.code {
                finish(lossError(rc, errno: errno))
                return
            }
        }
    }

    // MARK: - Callbacks (network thread)

    static func from(_ userdata: UnsafeMutableRawPointer?) -> ConnectionCore {
        Unmanaged<ConnectionCore>.fromOpaque(userdata!).takeUnretainedValue()
    }

    private func onConnect(_ rc: Int32) {
        if rc == 0 {
            state.withLock { s in
                guard s.phase == .connecting else { return }
                s.phase = .connected
                s.connectResult = .success(())
                s.connectWaiter?.resume(returning: .success(()))
                s.connectWaiter = nil
            }
        } else {
            // "Connection Refused: not authorised." → "not authorised"
            var reason = String(cString: mosquitto_connack_string(rc))
            if reason.hasPrefix("Connection Refused: ") { reason.removeFirst("Connection Refused: ".count) }
            if reason.hasSuffix(".") { reason.removeLast() }
            finish(.refused("broker \(broker) refused the connection: \(reason)"))
        }
    }

    private func onDisconnect(_ rc: Int32) {
        let clean = state.withLock { $0.cleanStop }
        if rc == 0 && clean {
            finish(nil)
        }
        // Otherwise mosquitto_loop returns the error and the thread reports it with context.
    }

    private func onPublish(_ mid: Int32) {
        state.withLock { s in
            if let waiters = s.ackWaiters.removeValue(forKey: mid) {
                for waiter in waiters.values { waiter.resume(returning: .success(())) }
            } else {
                s.earlyAcks.insert(mid)
            }
        }
    }

    private func onSubscribe(_ mid: Int32, granted: [Int32]) {
        state.withLock { s in
            guard let waiter = s.subscribeWaiters.removeValue(forKey: mid) else { return }
            if granted.contains(where: { $0 >= 0x80 }) {
                waiter.resume(returning: .failure(.failed("broker \(broker) denied the subscription")))
            } else {
                waiter.resume(returning: .success(()))
            }
        }
    }

    private func onMessage(_ message: mosquitto_message) {
        let payload: [UInt8]
        if let bytes = message.payload, message.payloadlen > 0 {
            payload = Array(UnsafeRawBufferPointer(start: bytes, count: Int(message.payloadlen)))
        } else {
            payload = []
        }
        let incoming = MQTTMessage(
            topic: String(cString: message.topic), payload: payload,
            qos: Int(message.qos), retain: message.retain)
        if case .dropped = messageSink.yield(incoming) {
            let dropped = state.withLock { s in
                s.droppedMessages += 1
                return s.droppedMessages
            }
            if dropped == 1 || dropped % 1000 == 0 {
                logger.warning(
                    "mqtt incoming messages dropped: the consumer is too slow",
                    metadata: [
                        "dropped_total": "\(dropped)", "buffer": "\(Self.messageBufferLimit)",
                    ])
            }
        }
    }

    private func onLog(_ level: Int32, _ text: String) {
        // Only errors and warnings: they carry OpenSSL's reason for a failed handshake.
        guard level & (0x08 | 0x04) != 0 else { return }
        recentLog.withLock { lines in
            lines.append(text)
            if lines.count > Self.recentLogLimit { lines.removeFirst() }
        }
        logger.debug("libmosquitto: \(text)")
    }

    // MARK: - Operations (any thread)

    func send(_ topic: String, payload: [UInt8], qos: Int, retain: Bool) -> Result<Int32, MQTTError> {
        guard payload.count <= Int(Int32.max) else {
            return .failure(.failed("payload of \(payload.count) bytes is too large for MQTT"))
        }
        return state.withLock { s -> Result<Int32, MQTTError> in
            guard let handle = s.handle, s.phase == .connected, !s.stopRequested else {
                return .failure(notConnected(s))
            }
            var mid: Int32 = 0
            let rc = payload.withUnsafeBytes { bytes in
                mosquitto_publish(handle.pointer, &mid, topic, Int32(bytes.count), bytes.baseAddress, Int32(qos), retain)
            }
            guard rc == MOSQ_ERR_SUCCESS.code else {
                return .failure(operationError("publish to '\(topic)'", rc))
            }
            // The lock is held, so the acknowledgement for this id cannot have arrived yet:
            // an entry here is a stale one from before the 16-bit id wrapped.
            s.earlyAcks.remove(mid)
            return .success(mid)
        }
    }

    func acknowledgement(of mid: Int32) async -> Result<Void, MQTTError> {
        let token = state.withLock { $0.token() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: Waiter) in
                state.withLock { s in
                    if s.earlyAcks.remove(mid) != nil {
                        continuation.resume(returning: .success(()))
                    } else if s.phase == .closed {
                        continuation.resume(returning: .failure(lost(s, waitingFor: "the acknowledgement of message \(mid)")))
                    } else if Task.isCancelled {
                        continuation.resume(returning: .failure(.failed("waiting for the acknowledgement of message \(mid) was cancelled")))
                    } else {
                        s.ackWaiters[mid, default: [:]][token] = continuation
                    }
                }
            }
        } onCancel: {
            state.withLock { s in
                guard let waiter = s.ackWaiters[mid]?.removeValue(forKey: token) else { return }
                if s.ackWaiters[mid]?.isEmpty == true { s.ackWaiters[mid] = nil }
                waiter.resume(returning: .failure(.failed("waiting for the acknowledgement of message \(mid) was cancelled")))
            }
        }
    }

    func subscribe(_ filter: String, qos: Int) async -> Result<Void, MQTTError> {
        let midBox = Mutex<Int32?>(nil)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: Waiter) in
                state.withLock { s in
                    guard let handle = s.handle, s.phase == .connected, !s.stopRequested else {
                        continuation.resume(returning: .failure(notConnected(s)))
                        return
                    }
                    if Task.isCancelled {
                        continuation.resume(returning: .failure(.failed("subscribing to '\(filter)' was cancelled")))
                        return
                    }
                    var mid: Int32 = 0
                    let rc = mosquitto_subscribe(handle.pointer, &mid, filter, Int32(qos))
                    guard rc == MOSQ_ERR_SUCCESS.code else {
                        continuation.resume(returning: .failure(operationError("subscribe to '\(filter)'", rc)))
                        return
                    }
                    // Registered under the lock, before the SUBACK callback can take it.
                    s.subscribeWaiters[mid] = continuation
                    midBox.withLock { $0 = mid }
                }
            }
        } onCancel: {
            guard let mid = midBox.withLock({ $0 }) else { return }
            state.withLock { s in
                s.subscribeWaiters.removeValue(forKey: mid)?
                    .resume(returning: .failure(.failed("subscribing to '\(filter)' was cancelled")))
            }
        }
    }

    func closed(cancellable: Bool = true) async -> MQTTError? {
        let token = state.withLock { $0.token() }
        let wait = {
            await withCheckedContinuation { (continuation: CheckedContinuation<MQTTError?, Never>) in
                self.state.withLock { s in
                    if s.phase == .closed {
                        continuation.resume(returning: s.closeError)
                    } else if cancellable && Task.isCancelled {
                        continuation.resume(returning: .failed("waiting for the connection to \(self.broker) to close was cancelled"))
                    } else {
                        s.closeWaiters[token] = continuation
                    }
                }
            }
        }
        guard cancellable else { return await wait() }
        return await withTaskCancellationHandler {
            await wait()
        } onCancel: {
            state.withLock { s in
                s.closeWaiters.removeValue(forKey: token)?
                    .resume(returning: .failed("waiting for the connection to \(broker) to close was cancelled"))
            }
        }
    }

    /// Asks the thread to stop; a clean stop sends DISCONNECT first (no will).
    func requestStop(clean: Bool) {
        state.withLock { s in
            guard !s.stopRequested else { return }
            s.stopRequested = true
            guard let handle = s.handle else { return }
            if clean && s.phase == .connected {
                s.cleanStop = true
                s.stopDeadline = .now + Self.disconnectGrace
                // Queues DISCONNECT and wakes the loop; once written, on_disconnect(0) ends the session.
                if mosquitto_disconnect(handle.pointer) != MOSQ_ERR_SUCCESS.code {
                    s.stopDeadline = .now
                }
            }
        }
    }

    func dropSocket() {
        state.withLock { s in
            guard let handle = s.handle else { return }
            let fd = mosquitto_socket(handle.pointer)
            if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Ends the connection once: resolves every waiter and finishes `messages`. `nil` means
    /// a clean disconnect. Before CONNACK the error goes to `connect`.
    func finish(_ error: MQTTError?) {
        let log = state.withLock { s -> Bool in
            guard s.phase != .closed else { return false }
            let wasConnected = s.phase == .connected
            s.phase = .closed
            s.stopRequested = true
            s.closeError = error
            let failure = error ?? .connectionLost("the connection to \(broker) was closed")
            if s.connectResult == nil {
                s.connectResult = .failure(failure)
                s.connectWaiter?.resume(returning: .failure(failure))
                s.connectWaiter = nil
            }
            let lost = MQTTError.connectionLost(
                error.map { "connection ended before the acknowledgement: \($0)" }
                    ?? "the connection to \(broker) was closed before the acknowledgement")
            for waiters in s.ackWaiters.values {
                for waiter in waiters.values { waiter.resume(returning: .failure(lost)) }
            }
            s.ackWaiters = [:]
            for waiter in s.subscribeWaiters.values { waiter.resume(returning: .failure(lost)) }
            s.subscribeWaiters = [:]
            for waiter in s.closeWaiters.values { waiter.resume(returning: error) }
            s.closeWaiters = [:]
            return wasConnected && error != nil
        }
        messageSink.finish()
        if log, let error {
            logger.debug("mqtt connection ended", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Errors

    private func notConnected(_ s: State) -> MQTTError {
        if s.phase == .closed, let error = s.closeError {
            return .connectionLost("not connected to \(broker): \(error)")
        }
        return .connectionLost("not connected to \(broker)\(s.stopRequested ? " (disconnecting)" : "")")
    }

    private func lost(_ s: State, waitingFor what: String) -> MQTTError {
        .connectionLost("the connection to \(broker) ended before \(what)\(s.closeError.map { ": \($0)" } ?? "")")
    }

    private func operationError(_ what: String, _ rc: Int32) -> MQTTError {
        switch rc {
        case MOSQ_ERR_NO_CONN.code, MOSQ_ERR_CONN_LOST.code:
            return .connectionLost("cannot \(what): not connected to \(broker)")
        default:
            return .failed("cannot \(what): \(Self.describe(rc))")
        }
    }

    private func logSuffix() -> String {
        let lines = recentLog.withLock { $0 }
        return lines.isEmpty ? "" : " (\(lines.joined(separator: "; ")))"
    }

    /// OpenSSL's own words, said of the certificate they concern, or nil when libmosquitto
    /// logged none.
    private func tlsReason() -> String? {
        let lines = recentLog.withLock { $0 }
        let ssl = lines.filter { $0.contains("SSL") || $0.contains("certificate") || $0.contains("TLS") }
        guard !ssl.isEmpty else { return nil }
        return whose(ssl.map(Self.cleanOpenSSL).joined(separator: "; "))
    }

    /// Which side refused which certificate: our check of the hub's certificate fails with
    /// "certificate verify failed"; the hub refusing ours arrives as a TLS alert.
    private func whose(_ reason: String) -> String {
        let tls = options.tls
        if reason.contains("certificate verify failed") {
            return "the hub's certificate failed our check against the CA file '\(tls?.caFile ?? "")': \(reason)"
        }
        if reason.contains("alert") && (reason.contains("certificate") || reason.contains("unknown ca")) {
            let ours = tls?.certFile.map { "our client certificate '\($0)'" } ?? "the connection without a client certificate"
            return "the hub refused \(ours): \(reason)"
        }
        return reason
    }

    /// "OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed: hostname mismatch"
    /// → "certificate verify failed: hostname mismatch (error:0A000086)".
    static func cleanOpenSSL(_ line: String) -> String {
        guard line.hasPrefix("OpenSSL Error"), let range = line.range(of: "error:") else { return line }
        let detail = line[range.lowerBound...]
        // error:CODE:LIBRARY:FUNCTION:REASON[: our verification detail]
        let fields = detail.split(separator: ":", maxSplits: 4, omittingEmptySubsequences: false)
        guard fields.count == 5, !fields[4].isEmpty else { return String(detail) }
        return "\(fields[4]) (error:\(fields[1]))"
    }

    private func connectError(_ rc: Int32, errno code: Int32) -> MQTTError {
        switch rc {
        case MOSQ_ERR_ERRNO.code:
            let reason = String(cString: strerror(code)).lowercased()
            return .unreachable("broker \(broker) unreachable: \(reason)")
        case MOSQ_ERR_EAI.code, MOSQ_ERR_LOOKUP.code:
            return .unreachable("broker \(broker) unreachable: host name '\(options.host)' not found")
        case MOSQ_ERR_TLS.code, MOSQ_ERR_TLS_HANDSHAKE.code:
            return .tls("TLS handshake with \(broker) failed: \(tlsReason() ?? Self.describe(rc))")
        case MOSQ_ERR_INVAL.code:
            return .failed("invalid connection settings for \(broker) (keepalive must be 0 or at least 5 s): \(Self.describe(rc))")
        default:
            return .unreachable("broker \(broker) unreachable: \(Self.describe(rc))\(logSuffix())")
        }
    }

    private func lossError(_ rc: Int32, errno code: Int32) -> MQTTError {
        let connected = state.withLock { $0.phase == .connected }
        let reason: String
        if rc == MOSQ_ERR_ERRNO.code {
            reason = String(cString: strerror(code)).lowercased()
        } else if rc == MOSQ_ERR_KEEPALIVE.code {
            reason = "no answer from the broker within the keepalive of \(options.keepAlive) s"
        } else {
            reason = Self.describe(rc)
        }
        if connected {
            return .connectionLost("connection to \(broker) lost: \(tlsReason() ?? reason)")
        }
        // Before CONNACK over TLS, the broker ends the connection in the handshake: it
        // rejected our certificate (or its absence), or we rejected its certificate.
        if options.tls != nil {
            if let ssl = tlsReason() {
                return .tls("TLS handshake with \(broker) failed: \(ssl)")
            }
            return .tls(
                "TLS handshake with \(broker) failed: the broker closed the connection (\(reason)); "
                    + "it may require a valid client certificate")
        }
        return .connectionLost(
            "connection to \(broker) closed before CONNACK: \(reason); "
                + "a TLS port (8883 usually is) closes plain MQTT like this: use mqtts:// and a CA file")
    }

    static func describe(_ rc: Int32) -> String {
        String(cString: mosquitto_strerror(rc)).lowercased()
    }
}

/// `SSL_get_verify_result` and `X509_verify_cert_error_string`, looked up at run time in
/// the OpenSSL that libmosquitto already loaded, so this target needs no OpenSSL headers.
enum OpenSSLVerifyResult {
    typealias GetVerifyResult = @convention(c) (UnsafeMutableRawPointer?) -> Int
    typealias ErrorString = @convention(c) (Int) -> UnsafePointer<CChar>?

    /// The symbol addresses; raw pointers are immutable process-wide constants once resolved.
    struct Symbols: @unchecked Sendable {
        let getVerifyResult: UnsafeMutableRawPointer
        let errorString: UnsafeMutableRawPointer
    }

    static let symbols: Symbols? = {
        // nil is RTLD_DEFAULT on glibc: search every loaded object.
        guard let get = dlsym(nil, "SSL_get_verify_result"),
            let string = dlsym(nil, "X509_verify_cert_error_string")
        else { return nil }
        return Symbols(getVerifyResult: get, errorString: string)
    }()

    /// Why certificate verification failed on `ssl` ("hostname mismatch", "certificate has
    /// expired", "self-signed certificate in certificate chain"), or nil.
    static func reason(_ ssl: UnsafeMutableRawPointer?, host: String) -> String? {
        guard let ssl, let symbols else { return nil }
        let get = unsafeBitCast(symbols.getVerifyResult, to: GetVerifyResult.self)
        let code = get(ssl)
        guard code != 0 else { return nil }  // X509_V_OK
        if code == 1 {
            // X509_V_ERR_UNSPECIFIED: libmosquitto's verify callback rejects the chain after
            // OpenSSL accepted it only when the leaf certificate does not name the host.
            return "hostname mismatch (the certificate names neither DNS nor IP '\(host)')"
        }
        let string = unsafeBitCast(symbols.errorString, to: ErrorString.self)
        return string(code).map { String(cString: $0) }
    }
}

extension mosq_err_t {
    var code: Int32 { Int32(rawValue) }
}

extension Duration {
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
