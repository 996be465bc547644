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
        router.add(middleware: SameOriginMiddleware(loopbackOnly: !tokenForReads))
        router.add(middleware: BearerTokenMiddleware(token: token, tokenForReads: tokenForReads))
        ConsolePages.register(on: router)
        router.get("/healthz") { _, _ in health() }
        router.get("/readyz") { _, _ in readiness() }
        router.get("/metrics") { _, _ in metricsText() }
        router.get("/api/v1/status") { _, _ in status() }
        router.get("/api/v1/devices") { _, _ in deviceList() }
        router.get("/api/v1/devices/:id") { _, context in device(Self.deviceID(context)) }
        router.get("/api/v1/devices/:id/trends") { _, context in trends(Self.deviceID(context)) }
        router.get("/api/v1/events") { _, _ in events() }
        router.get("/api/v1/commands") { request, _ in commandHistory(limit: request.uri.queryParameters.get("limit", as: Int.self)) }
        router.post("/api/v1/commands") { request, context in await command(request, client: context.clientAddress) }
    }

    /// The `{id}` of the path, percent-decoded: a device id may hold any character, and a
    /// browser sends a space or a slash in it encoded.
    static func deviceID(_ context: AdminRequestContext) -> String {
        let raw = context.parameters.get("id") ?? ""
        return raw.removingPercentEncoding ?? raw
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
        w.raw(","); w.key("started_at"); w.string(Timestamp.rfc3339(live.startedAt))
        w.raw(","); w.key("uplink"); w.string(source.uplinkConnected() ? "connected" : "disconnected")
        if let link = source.uplinkLink() {
            w.raw(","); w.key("hub"); w.raw("{")
            w.key("profile"); w.string(link.profile)
            w.raw(","); w.key("address"); w.string(link.hub)
            w.raw(","); w.key("since"); optionalTime(link.since, to: &w)
            w.raw(","); w.key("reconnects"); w.integer(Int64(link.reconnects))
            w.raw(","); w.key("last_error")
            if let e = link.lastError { w.string(e) } else { w.raw("null") }
            w.raw("}")
        }
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
        w.raw(","); w.key("readings_per_second"); w.value(.double(live.readingsPerSecond))
        w.raw(","); w.key("devices"); w.raw("{")
        w.key("total"); w.integer(Int64(devices.count))
        w.raw(","); w.key("up"); w.integer(Int64(up))
        w.raw(","); w.key("down"); w.integer(Int64(down))
        w.raw(","); w.key("unknown"); w.integer(Int64(devices.count - up - down))
        w.raw("}")
        w.raw(","); w.key("reload"); w.raw("{")
        let reload = live.lastReload
        w.key("state"); w.string(reload?.outcome.rawValue ?? "none")
        w.raw(","); w.key("at"); optionalTime(reload?.at, to: &w)
        w.raw(","); w.key("trigger")
        if let t = reload?.trigger { w.string(t) } else { w.raw("null") }
        w.raw(","); w.key("message")
        if let m = reload?.message { w.string(m) } else { w.raw("null") }
        w.raw(","); w.key("diagnostics"); w.raw("[")
        for (i, line) in (reload?.diagnostics ?? []).enumerated() {
            if i > 0 { w.raw(",") }
            w.string(line)
        }
        w.raw("]}")
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
        let periods = source.live.pollPeriods
        let polls = source.pollCounts()
        let devices = source.devices()
        var w = JSONWriter(capacity: 256 * devices.count + 64)
        w.raw("{"); w.key("gateway"); w.string(source.gatewayID)
        w.raw(","); w.key("devices"); w.raw("[")
        for (i, d) in devices.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{")
            Self.appendSummary(d, states[d.id], poll: periods[d.id], polls: polls[d.id], to: &w)
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
        var w = JSONWriter(capacity: 256 * d.points.count + 1024)
        w.raw("{")
        Self.appendSummary(d, state, poll: source.live.pollPeriods[id], polls: source.pollCounts()[id], to: &w)
        w.raw(","); w.key("points"); w.raw("[")
        for (i, p) in d.points.enumerated() {
            if i > 0 { w.raw(",") }
            w.raw("{"); w.key("point"); w.string(p.name)
            w.raw(","); w.key("type"); w.string(p.typeName)
            w.raw(","); w.key("kind"); w.string(p.kind.rawValue)
            w.raw(","); w.key("access"); w.string(p.access.rawValue)
            if let unit = p.unit { w.raw(","); w.key("unit"); w.string(unit) }
            if let min = p.min { w.raw(","); w.key("min"); w.value(.double(min)) }
            if let max = p.max { w.raw(","); w.key("max"); w.value(.double(max)) }
            if let range = p.range {
                w.raw(","); w.key("range"); w.raw("["); w.value(.double(range.lowerBound)); w.raw(",")
                w.value(.double(range.upperBound)); w.raw("]")
            }
            if let step = p.step {
                w.raw(","); w.key("step"); w.value(.double(step))
                w.raw(","); w.key("step_origin"); w.value(.double(p.stepOrigin))
            }
            MQTTWire.appendOptions(p.options, to: &w)
            if let r = state?.points[p.name] {
                w.raw(","); w.key("value")
                if case .bad = r.quality { w.raw("null") } else { w.value(r.value) }
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
        w.raw("],"); w.key("commands"); w.raw("[")
        for (i, c) in d.commands.enumerated() {
            if i > 0 { w.raw(",") }
            MQTTWire.appendCommand(c, to: &w)
        }
        w.raw("]}")
        return json(w)
    }

    /// `{"device","step_seconds","window_seconds","points":[{"point","unit"?,"samples":[[unix seconds, value or null]]}]}`,
    /// the points in map order.
    func trends(_ id: String) -> Response {
        guard let d = source.devices().first(where: { $0.id == id }) else {
            return problem(.notFound, "no device '\(id)' in the device maps")
        }
        let byPoint = Dictionary(source.live.trends(id).map { ($0.point, $0.samples) }, uniquingKeysWith: { a, _ in a })
        var w = JSONWriter(capacity: 1024)
        w.raw("{"); w.key("device"); w.string(id)
        w.raw(","); w.key("step_seconds"); w.integer(Int64(LiveState.trendStep))
        w.raw(","); w.key("window_seconds"); w.integer(Int64(LiveState.trendWindow))
        w.raw(","); w.key("points"); w.raw("[")
        var first = true
        for p in d.points {
            guard let samples = byPoint[p.name] else { continue }
            if !first { w.raw(",") }
            first = false
            w.raw("{"); w.key("point"); w.string(p.name)
            if let unit = p.unit { w.raw(","); w.key("unit"); w.string(unit) }
            w.raw(","); w.key("samples"); w.raw("[")
            for (k, sample) in samples.enumerated() {
                if k > 0 { w.raw(",") }
                w.raw("["); w.integer(sample.seconds); w.raw(",")
                if let v = sample.value { w.value(.double(Double(v))) } else { w.raw("null") }
                w.raw("]")
            }
            w.raw("]}")
        }
        w.raw("]}")
        return json(w)
    }

    /// `{"commands":[{"id","device","what","by","status","message","values","ts","duration_ms"}]}`, newest first.
    func commandHistory(limit: Int?) -> Response {
        let limit = min(max(limit ?? 100, 0), source.live.historyCapacity)
        var w = JSONWriter(capacity: 256 * limit + 32)
        w.raw("{"); w.key("commands"); w.raw("[")
        for (i, record) in source.live.recentCommands(limit).enumerated() {
            if i > 0 { w.raw(",") }
            let result = record.result
            w.raw("{"); w.key("id"); w.string(record.command.id)
            w.raw(","); w.key("device"); w.string(record.command.device)
            w.raw(","); w.key("what"); w.string(record.command.action.description)
            w.raw(","); w.key("by")
            if let by = record.command.by { w.string(by) } else { w.raw("null") }
            w.raw(","); w.key("status"); w.string(result.status.rawValue)
            w.raw(","); w.key("message"); w.string(result.message)
            w.raw(","); w.key("values"); MQTTWire.appendObject(result.values, to: &w)
            w.raw(","); w.key("ts"); w.string(Timestamp.rfc3339(result.timestamp))
            w.raw(","); w.key("duration_ms"); w.value(.double(record.duration.seconds * 1000))
            w.raw("}")
        }
        w.raw("]}")
        return json(w)
    }

    /// `"id","protocol","state","last_reading","last_error","last_error_at","poll_seconds","points",
    /// "bad_points","uncertain_points","polls"` of a device.
    static func appendSummary(
        _ d: DeviceDescriptor, _ state: LiveState.DeviceState?, poll: Duration?, polls: PollCounts?, to w: inout JSONWriter
    ) {
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
        w.raw(","); w.key("poll_seconds")
        if let poll { w.value(.double(poll.seconds)) } else { w.raw("null") }
        var bad = 0
        var uncertain = 0
        for reading in state?.points.values ?? [:].values {
            switch reading.quality {
            case .good: break
            case .uncertain: uncertain += 1
            case .bad: bad += 1
            }
        }
        w.raw(","); w.key("points"); w.integer(Int64(d.points.count))
        w.raw(","); w.key("bad_points"); w.integer(Int64(bad))
        w.raw(","); w.key("uncertain_points"); w.integer(Int64(uncertain))
        let counts = polls ?? PollCounts()
        w.raw(","); w.key("polls"); w.raw("{")
        w.key("ok"); w.integer(Int64(counts.ok))
        w.raw(","); w.key("error"); w.integer(Int64(counts.failed))
        w.raw(","); w.key("skipped"); w.integer(Int64(counts.skipped))
        w.raw(","); w.key("overruns"); w.integer(Int64(counts.overruns))
        w.raw("}")
    }

    /// A time, or `null`.
    func optionalTime(_ date: Date?, to w: inout JSONWriter) {
        if let date { w.string(Timestamp.rfc3339(date)) } else { w.raw("null") }
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
                    try await writer.write(ByteBuffer(bytes: event.frame))
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
/// every request but the console's files when the listener is not on loopback.
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
        // The console's own files hold no data of the gateway: they load without the token, so
        // that the page can ask for it, and then sends it with every request.
        if isRead, ConsolePages.serves(request.uri.path) { return try await next(request, context) }
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

/// Keeps other web sites out of the admin endpoint, for the console's sake: a write must come
/// from the endpoint's own origin (the `Origin` a browser sends must be this host, and
/// `Sec-Fetch-Site`, when sent, `same-origin` or `none`), and on a loopback listener every
/// request must name a loopback host, so that a page whose domain is re-pointed at 127.0.0.1
/// (DNS rebinding) cannot read what loopback serves without a token. Clients that are not
/// browsers (curl, `edgegate status`) send neither header and pass.
struct SameOriginMiddleware: RouterMiddleware {
    typealias Context = AdminRequestContext

    /// Whether the listener is on loopback (reads without a token are allowed there).
    let loopbackOnly: Bool

    /// What a browser says of where a request comes from (every current browser sends it).
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!

    func handle(
        _ request: Request, context: AdminRequestContext,
        next: (Request, AdminRequestContext) async throws -> Response
    ) async throws -> Response {
        // HTTP/1's Host header is the request's authority in HTTPTypes.
        let host = request.head.authority ?? ""
        if loopbackOnly, !host.isEmpty, !Self.isLoopbackHost(host) {
            return AdminHandler.problem(
                .misdirectedRequest, "this endpoint answers only requests for a loopback host (127.0.0.1, localhost, [::1]), not '\(host)'")
        }
        let isRead = request.method == .get || request.method == .head
        guard !isRead else { return try await next(request, context) }
        if let site = request.headers[Self.secFetchSite], site != "same-origin", site != "none" {
            return AdminHandler.problem(.forbidden, "writes are accepted only from this endpoint's own pages (Sec-Fetch-Site: \(site))")
        }
        if let origin = request.headers[.origin], origin != "http://\(host)" {
            return AdminHandler.problem(.forbidden, "writes are accepted only from this endpoint's own pages, not from '\(origin)'")
        }
        return try await next(request, context)
    }

    /// `127.0.0.1`, `localhost`, `[::1]`, any `127.x.y.z`, each with or without a port.
    static func isLoopbackHost(_ host: String) -> Bool {
        var name = Substring(host.lowercased())
        if name.hasPrefix("[") {
            guard let close = name.firstIndex(of: "]") else { return false }
            return name[name.index(after: name.startIndex)..<close] == "::1"
        }
        if let colon = name.lastIndex(of: ":") { name = name[..<colon] }
        if name == "localhost" { return true }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
