import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Uplink

/// The admin endpoint's routes and their answers.
struct AdminHandler: Sendable {
    let source: AdminSource
    let token: AdminToken?
    /// A non-loopback listener asks the token for every request, reads included.
    let tokenForReads: Bool
    let version: String
    let metrics: (@Sendable () -> [UInt8])?
    let logger: Logger

    func register(on router: Router<AdminRequestContext>) {
        router.add(middleware: BearerTokenMiddleware(token: token, tokenForReads: tokenForReads))
        router.get("/healthz") { _, _ in health() }
        router.get("/readyz") { _, _ in readiness() }
        router.get("/metrics") { _, _ in metricsText() }
        router.get("/api/v1/status") { _, _ in status() }
        router.get("/api/v1/devices") { _, _ in deviceList() }
        router.get("/api/v1/devices/:id") { _, context in device(context.parameters.get("id") ?? "") }
        router.get("/api/v1/events") { _, _ in events() }
        router.post("/api/v1/commands") { request, context in await command(request, client: context.clientAddress) }
    }

    // MARK: - Health

    func health() -> Response {
        let live = source.live
        let since = live.sinceLastBeat
        // Reading the router's devices takes its lock: a stuck router does not answer here either.
        let devices = source.devices().count
        var w = JSONWriter()
        let healthy = since < AdminServer.healthLimit
        w.raw("{"); w.key("healthy"); w.raw(healthy ? "true" : "false")
        w.raw(","); w.key("heartbeat_age_seconds"); w.value(.double(since.seconds))
        w.raw(","); w.key("devices"); w.integer(Int64(devices))
        w.raw("}")
        return json(w, status: healthy ? .ok : .serviceUnavailable)
    }

    func readiness() -> Response {
        let phase = source.live.phase
        var w = JSONWriter()
        w.raw("{"); w.key("ready"); w.raw(phase == .ready ? "true" : "false")
        switch phase {
        case .ready: break
        case .starting: w.raw(","); w.key("reason"); w.string("starting: device maps or outbox not running yet")
        case .stopping: w.raw(","); w.key("reason"); w.string("shutting down")
        }
        w.raw(","); w.key("uplink"); w.string(source.uplinkConnected() ? "connected" : "disconnected")
        w.raw("}")
        return json(w, status: phase == .ready ? .ok : .serviceUnavailable)
    }

    func metricsText() -> Response {
        guard let metrics else { return problem(.notFound, "no metrics in this build") }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics())))
    }

    // MARK: - Status and devices

    func status() -> Response {
        let live = source.live
        let stats = source.uplinkStatistics()
        let devices = source.devices()
        let states = live.deviceStates
        var up = 0
        var down = 0
        for d in devices {
            switch states[d.id]?.up {
            case true?: up += 1
            case false?: down += 1
            case nil: break
            }
        }
        var w = JSONWriter(capacity: 512)
        w.raw("{"); w.key("gateway"); w.string(source.gatewayID)
        w.raw(","); w.key("version"); w.string(version)
        w.raw(","); w.key("ready"); w.raw(live.phase == .ready ? "true" : "false")
        w.raw(","); w.key("uptime_seconds"); w.value(.double(live.uptime.seconds))
        w.raw(","); w.key("uplink"); w.string(source.uplinkConnected() ? "connected" : "disconnected")
        w.raw(","); w.key("outbox"); w.raw("{")
        w.key("messages"); w.integer(Int64(stats.queuedMessages))
        w.raw(","); w.key("bytes"); w.integer(Int64(stats.queuedBytes))
        w.raw(","); w.key("pending_readings"); w.integer(Int64(stats.pendingReadings))
        w.raw(","); w.key("acknowledged_messages"); w.integer(Int64(stats.acknowledgedMessages))
        w.raw(","); w.key("dropped_messages"); w.integer(Int64(stats.droppedMessages))
        w.raw(","); w.key("dropped_readings"); w.integer(Int64(stats.droppedReadings))
        w.raw(","); w.key("oldest_age_seconds")
        if let age = source.outboxOldestAge() { w.value(.double(age)) } else { w.raw("null") }
        w.raw("}")
        w.raw(","); w.key("devices"); w.raw("{")
        w.key("total"); w.integer(Int64(devices.count))
        w.raw(","); w.key("up"); w.integer(Int64(up))
        w.raw(","); w.key("down"); w.integer(Int64(down))
        w.raw(","); w.key("unknown"); w.integer(Int64(devices.count - up - down))
        w.raw("}")
        w.raw(","); w.key("commands_last_hour"); w.raw("{")
        let counts = live.commandsLastHour
        for (i, s) in CommandStatus.allCases.filter({ counts[$0] != nil }).enumerated() {
            if i > 0 { w.raw(",") }
            w.key(s.rawValue); w.integer(Int64(counts[s] ?? 0))
        }
        w.raw("}")
        w.raw(","); w.key("event_clients"); w.integer(Int64(live.subscriberTotal))
        w.raw("}")
        return json(w)
    }

    func deviceList() -> Response {
        let states = source.live.deviceStates
        var w = JSONWriter(capacity: 1024)
        w.raw("{"); w.key("gateway"); w.string(source.gatewayID)
        w.raw(","); w.key("devices"); w.raw("[")
        for (i, d) in source.devices().enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{")
            Self.appendSummary(d, states[d.id], to: &w)
            w.raw("}")
        }
        w.raw("]}")
        return json(w)
    }

    func device(_ id: String) -> Response {
        guard let d = source.devices().first(where: { $0.id == id }) else {
            return problem(.notFound, "no device '\(id)' in the device maps")
        }
        let state = source.live.deviceState(id)
        let now = Date()
        var w = JSONWriter(capacity: 1024)
        w.raw("{")
        Self.appendSummary(d, state, to: &w)
        w.raw(","); w.key("points"); w.raw("[")
        for (i, p) in d.points.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{"); w.key("point"); w.string(p.name)
            if let r = state?.points[p.name] {
                w.raw(","); w.key("value")
                if case .bad = r.quality { w.raw("null") } else { w.value(r.value) }
                if let unit = r.unit { w.raw(","); w.key("unit"); w.string(unit) }
                w.raw(","); w.key("quality"); w.string(r.quality.name)
                if let reason = r.quality.reason { w.raw(","); w.key("reason"); w.string(reason) }
                w.raw(","); w.key("ts"); w.string(Timestamp.rfc3339(r.timestamp))
                w.raw(","); w.key("age_seconds"); w.value(.double(max(0, now.timeIntervalSince(r.timestamp))))
            } else {
                w.raw(","); w.key("value"); w.raw("null")
                w.raw(","); w.key("quality"); w.raw("null")
                w.raw(","); w.key("ts"); w.raw("null")
            }
            w.raw("}")
        }
        w.raw("]}")
        return json(w)
    }

    /// `"id","protocol","state","last_reading","last_error","last_error_at"` of a device.
    static func appendSummary(_ d: DeviceDescriptor, _ state: LiveState.DeviceState?, to w: inout JSONWriter) {
        w.key("id"); w.string(d.id)
        w.raw(","); w.key("protocol"); w.string(d.protocolName)
        let word = state?.up.map { $0 ? "up" : "down" } ?? "unknown"
        w.raw(","); w.key("state"); w.string(word)
        w.raw(","); w.key("last_reading")
        if let t = state?.lastReading { w.string(Timestamp.rfc3339(t)) } else { w.raw("null") }
        w.raw(","); w.key("last_error")
        if let e = state?.lastError { w.string(e) } else { w.raw("null") }
        w.raw(","); w.key("last_error_at")
        if let t = state?.lastErrorAt { w.string(Timestamp.rfc3339(t)) } else { w.raw("null") }
    }

    // MARK: - Events

    func events() -> Response {
        guard let subscription = source.live.subscribe() else {
            return problem(.serviceUnavailable, "too many event clients (at most \(source.live.maxSubscribers))")
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                defer { subscription.finish() }
                // A comment first, so that the client sees the stream open before any event.
                try await writer.write(ByteBuffer(string: ": edgegate events\n\n"))
                for await event in subscription.events {
                    let dropped = subscription.takeDropped()
                    if dropped > 0 {
                        try await writer.write(ByteBuffer(bytes: AdminEvents.lagged(dropped)))
                    }
                    try await writer.write(ByteBuffer(bytes: AdminEvents.encode(event)))
                }
                try await writer.finish(nil)
            })
    }

    // MARK: - Commands

    func command(_ request: Request, client: String) async -> Response {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > AdminServer.maxBodyBytes {
            return problem(.contentTooLarge, "the body is \(length) bytes; at most \(AdminServer.maxBodyBytes) are accepted")
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: AdminServer.maxBodyBytes)
        } catch {
            return problem(.contentTooLarge, "the body is larger than \(AdminServer.maxBodyBytes) bytes")
        }
        var command: Command
        switch MQTTWire.decodeCommand(Array(buffer: body)) {
        case .success(let c): command = c
        case .failure(let e): return problem(.badRequest, e.message)
        }
        command.by = "admin:\(client)"
        let result = await source.submit(command).value
        return json(MQTTWire.response(result), status: .ok)
    }

    // MARK: - Bodies

    func json(_ w: JSONWriter, status: HTTPResponse.Status = .ok) -> Response {
        json(w.bytes, status: status)
    }

    func json(_ bytes: [UInt8], status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `{"error": "..."}` with a status.
    func problem(_ status: HTTPResponse.Status, _ message: String) -> Response {
        AdminHandler.problem(status, message)
    }

    static func problem(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var w = JSONWriter()
        w.raw("{"); w.key("error"); w.string(message); w.raw("}")
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }
}

/// Checks `Authorization: Bearer TOKEN` before any route runs: for every write, and for
/// every request when the listener is not on loopback.
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = AdminRequestContext

    let token: AdminToken?
    let tokenForReads: Bool

    func handle(
        _ request: Request, context: AdminRequestContext,
        next: (Request, AdminRequestContext) async throws -> Response
    ) async throws -> Response {
        let isRead = request.method == .get || request.method == .head
        guard tokenForReads || !isRead else { return try await next(request, context) }
        guard let token else {
            return AdminHandler.problem(
                .forbidden, "writes need a bearer token, and this gateway's admin section has no token_file")
        }
        let header = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        guard header.hasPrefix(prefix) else {
            return unauthorized("send the token from admin.token_file as `Authorization: Bearer TOKEN`")
        }
        guard token.matches(header.utf8.dropFirst(prefix.utf8.count)) else {
            return unauthorized("the bearer token is wrong")
        }
        return try await next(request, context)
    }

    private func unauthorized(_ message: String) -> Response {
        var response = AdminHandler.problem(.unauthorized, message)
        response.headers[.wwwAuthenticate] = "Bearer"
        return response
    }
}

extension Duration {
    /// In seconds, as a double.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
