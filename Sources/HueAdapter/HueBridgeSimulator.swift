import DeviceMaps
import Foundation
import GatewayCore
import Hummingbird
public import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// One light of the simulated bridge, as the v1 API shows its `state`.
public struct HueSimLight: Sendable, Hashable {
    /// The bridge's id: `"1"`.
    public var id: String
    /// `Kitchen`.
    public var name: String
    /// `Extended color light` (every field), `Color temperature light` (no hue/sat/xy) or
    /// `Dimmable light` (on and bri only).
    public var type: String
    /// `state.on`.
    public var on = false
    /// `state.bri`, 1…254.
    public var bri = 127
    /// `state.hue`, 0…65535.
    public var hue = 8418
    /// `state.sat`, 0…254.
    public var sat = 140
    /// `state.ct`, 153…500.
    public var ct = 366
    /// `state.xy`.
    public var xy: [Double] = [0.4573, 0.41]
    /// `state.alert`.
    public var alert = "none"
    /// `state.effect`.
    public var effect = "none"
    /// `state.colormode`.
    public var colormode = "ct"
    /// `state.reachable`.
    public var reachable = true

    /// Creates a light.
    public init(id: String, name: String? = nil, type: String = "Extended color light") {
        self.id = id
        self.name = name ?? "Hue light \(id)"
        self.type = type
    }

    /// The state parameters this type of light has.
    var parameters: Set<String> {
        switch type {
        case "Dimmable light": return ["on", "bri", "alert", "transitiontime"]
        case "Color temperature light": return ["on", "bri", "ct", "alert", "transitiontime", "colormode"]
        default: return ["on", "bri", "hue", "sat", "ct", "xy", "alert", "effect", "transitiontime", "colormode"]
        }
    }

    var json: GatewayCore.JSONValue {
        var state: [String: GatewayCore.JSONValue] = ["on": .bool(on), "reachable": .bool(reachable), "alert": .string(alert)]
        let p = parameters
        if p.contains("bri") { state["bri"] = .number(Double(bri)) }
        if p.contains("hue") { state["hue"] = .number(Double(hue)) }
        if p.contains("sat") { state["sat"] = .number(Double(sat)) }
        if p.contains("ct") { state["ct"] = .number(Double(ct)) }
        if p.contains("xy") { state["xy"] = .array(xy.map { .number($0) }) }
        if p.contains("effect") { state["effect"] = .string(effect) }
        if p.contains("colormode") { state["colormode"] = .string(colormode) }
        return .object([
            "state": .object(JSONObject(state)), "type": .string(type), "name": .string(name),
            "modelid": .string("LCT015"), "manufacturername": .string("Signify Netherlands B.V."),
            "uniqueid": .string("00:17:88:01:00:00:00:\(String(format: "%02x", Int(id) ?? 0))-0b"),
            "swversion": .string("1.50.2_r30933"),
        ])
    }
}

/// One sensor of the simulated bridge.
public struct HueSimSensor: Sendable, Hashable {
    /// The bridge's id: `"5"`.
    public var id: String
    /// `Hall temperature`.
    public var name: String
    /// `ZLLTemperature`, `ZLLPresence`, `ZLLLightLevel` or `CLIPOpenClose`.
    public var type: String
    /// ZLLTemperature `state.temperature`, in 0.01 °C.
    public var temperature = 2150
    /// ZLLPresence `state.presence`.
    public var presence = false
    /// ZLLLightLevel `state.lightlevel` (10000 × log10(lux) + 1).
    public var lightlevel = 20001
    /// CLIPOpenClose `state.open`.
    public var open = false
    /// `config.battery` (nil for CLIP sensors, which have none).
    public var battery: Int? = 100
    /// `config.reachable`.
    public var reachable = true

    /// Creates a sensor.
    public init(id: String, type: String, name: String? = nil) {
        self.id = id
        self.type = type
        self.name = name ?? "\(type) \(id)"
        if type.hasPrefix("CLIP") { battery = nil }
    }

    func json(lastupdated: String) -> GatewayCore.JSONValue {
        var state: [String: GatewayCore.JSONValue] = ["lastupdated": .string(lastupdated)]
        switch type {
        case "ZLLTemperature": state["temperature"] = .number(Double(temperature))
        case "ZLLPresence": state["presence"] = .bool(presence)
        case "ZLLLightLevel":
            state["lightlevel"] = .number(Double(lightlevel))
            state["dark"] = .bool(lightlevel < 16000)
            state["daylight"] = .bool(lightlevel > 26000)
        case "CLIPOpenClose": state["open"] = .bool(open)
        default: break
        }
        var config: [String: GatewayCore.JSONValue] = ["on": .bool(true), "reachable": .bool(reachable)]
        if let battery { config["battery"] = .number(Double(battery)) }
        return .object([
            "state": .object(JSONObject(state)), "config": .object(JSONObject(config)), "type": .string(type), "name": .string(name),
            "modelid": .string(type.hasPrefix("CLIP") ? "edgegate-sim" : "SML001"),
        ])
    }
}

/// A write the simulated bridge received (`PUT` and `POST`), for tests.
public struct HueSimWrite: Sendable, Hashable {
    /// `PUT`, `POST`.
    public var method: String
    /// The path after `/api/<user>`: `/lights/1/state` (`/api` for pairing).
    public var resource: String
    /// The body as received.
    public var body: String
}

/// A Philips Hue bridge speaking the local REST API v1 over HTTP (served with Hummingbird), for
/// demos and tests.
///
/// - Lights and sensors as configured; every light-state write is checked as a real bridge
///   checks it (ranges, types, parameters the light type has, "device is set to off"), on its
///   own, independently of the adapter's checks, and answered with the v1 success and error objects.
/// - Unless frozen, sensors change over time: temperature drifts on a slow sine, presence
///   toggles every 10 s, the light level follows a 2-minute day.
/// - Pairing: `POST /api` answers "link button not pressed" (101) until the button is pressed
///   (`pressLinkButton()`, `--link-button`, or `PUT /api/<user>/config {"linkbutton":true}`),
///   then creates a username for 30 s.
/// - Counts requests by method and resource (`GET /lights`) and logs writes.
public final class HueBridgeSimulator: Sendable {
    private struct State {
        var lights: [String: HueSimLight]
        var sensors: [String: HueSimSensor]
        /// The whitelisted usernames, as a bridge shows them in its configuration: per
        /// username, the `devicetype` it paired with and when (one given at start: "edgegate").
        var whitelist: [String: (name: String, created: String)]
        var linkButtonUntil: ContinuousClock.Instant?
        var requests: [String: Int] = [:]
        var writes: [HueSimWrite] = []
        var lastUpdated: [String: String] = [:]
    }

    /// How long a pressed link button lets apps pair.
    public static let linkButtonWindow: Duration = .seconds(30)

    private let host: String
    private let requestedPort: Int
    private let animated: Bool
    private let started = ContinuousClock.now
    private let state: Mutex<State>
    private let server: Mutex<(group: ServiceGroup, task: Task<Void, any Error>)?>
    private let boundPort = Atomic<Int>(0)
    private let logger: Logger

    /// The default setup: three color lamps, a temperature, presence and light-level sensor, a door contact.
    public static let defaultLights = (1...3).map { HueSimLight(id: "\($0)", name: "Hue color lamp \($0)") }
    /// See `defaultLights`.
    public static let defaultSensors = [
        HueSimSensor(id: "4", type: "ZLLTemperature", name: "Hall temperature"),
        HueSimSensor(id: "5", type: "ZLLPresence", name: "Hall motion"),
        HueSimSensor(id: "6", type: "ZLLLightLevel", name: "Hall light level"),
        HueSimSensor(id: "7", type: "CLIPOpenClose", name: "Front door"),
    ]

    /// Creates a simulator; nothing listens until `start()`.
    /// - Parameters:
    ///   - port: 0 picks a free port (read `port` after `start()`).
    ///   - usernames: usernames whitelisted from the start (a paired gateway).
    ///   - animated: false freezes the sensors at their configured values, for tests.
    ///   - linkButton: true presses the link button at start.
    public init(
        host: String = "127.0.0.1", port: Int = 0, lights: [HueSimLight] = HueBridgeSimulator.defaultLights,
        sensors: [HueSimSensor] = HueBridgeSimulator.defaultSensors, usernames: [String] = [],
        animated: Bool = true, linkButton: Bool = false, logger: Logger
    ) {
        self.host = host
        self.requestedPort = port
        self.animated = animated
        self.state = Mutex(
            State(
                lights: Dictionary(lights.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a }),
                sensors: Dictionary(sensors.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a }),
                whitelist: Dictionary(usernames.map { ($0, (name: "edgegate", created: Self.bridgeTime(Date()))) }, uniquingKeysWith: { a, _ in a }),
                linkButtonUntil: linkButton ? ContinuousClock.now + Self.linkButtonWindow : nil))
        self.server = Mutex(nil)
        var logger = logger
        logger[metadataKey: "simulator"] = "hue"
        self.logger = logger
    }

    /// The port it listens on (the chosen one once started with port 0).
    public var port: Int { boundPort.load(ordering: .relaxed) }

    /// `http://127.0.0.1:PORT`.
    public var url: String { "http://\(host):\(port)" }

    /// Listens and serves in the background; returns once the port is bound. Starting a
    /// running simulator does nothing.
    /// - Throws: `SimulatorError.listenFailed` (port in use, not an IPv4 address).
    public func start() async throws {
        guard server.withLock({ $0 == nil }) else { return }
        let endpoint = "\(host):\(requestedPort)"
        let failure = { (why: String) in SimulatorError.listenFailed("cannot listen on \(endpoint): \(why)") }
        // An address, never a name to resolve: what the command's --host promises.
        var address = in_addr()
        guard inet_pton(AF_INET, host, &address) == 1 else { throw failure("not an IPv4 address") }
        guard (0...65535).contains(requestedPort) else { throw failure("not a TCP port") }
        let (bound, announce) = AsyncStream.makeStream(of: Int.self)
        let serverLogger = Self.serverLogger(logger)
        // The process's shared event loops (as many threads as cores), as every Hummingbird
        // server in the process uses: a simulator inside the demo adds no threads of its own.
        let app = Application(
            responder: CallbackResponder { [self] (request: Request, _: BasicRequestContext) in await handle(request) },
            configuration: ApplicationConfiguration(address: .hostname(host, port: requestedPort)),
            onServerRunning: { channel in
                announce.yield(channel.localAddress?.port ?? 0)
                announce.finish()
            },
            eventLoopGroupProvider: .singleton, logger: serverLogger)
        var configuration = ServiceGroupConfiguration(services: [app], logger: serverLogger)
        // `stop()` lets requests in progress finish, for a second at most, as before.
        configuration.maximumGracefulShutdownDuration = .seconds(1)
        let group = ServiceGroup(configuration: configuration)
        let task = Task {
            defer { announce.finish() }
            try await group.run()
        }
        let deadline = Task {
            try? await Task.sleep(for: .seconds(10))
            announce.finish()
        }
        var port: Int?
        for await p in bound { port = p }
        deadline.cancel()
        guard let port, port > 0 else {
            task.cancel()
            if case .failure(let error) = await task.result, !(error is CancellationError) { throw failure("\(error)") }
            throw failure("not listening within 10 s")
        }
        boundPort.store(port, ordering: .relaxed)
        server.withLock { $0 = (group, task) }
        logger.info("Hue bridge simulator serving on \(url)")
    }

    /// Stops listening and closes open connections.
    public func stop() async {
        guard
            let (group, task) = server.withLock({ s in
                defer { s = nil }; return s
            })
        else { return }
        await group.triggerGracefulShutdown()
        _ = await task.result
    }

    /// Presses the link button: `POST /api` creates usernames for the next 30 s.
    public func pressLinkButton() {
        state.withLock { $0.linkButtonUntil = ContinuousClock.now + Self.linkButtonWindow }
    }

    /// Whitelists a username, as a past pairing would have.
    public func addUsername(_ name: String) {
        state.withLock { s in
            if s.whitelist[name] == nil { s.whitelist[name] = ("edgegate", Self.bridgeTime(Date())) }
        }
    }

    /// True when `name` is whitelisted.
    public func isWhitelisted(_ name: String) -> Bool {
        state.withLock { $0.whitelist[name] != nil }
    }

    /// How many requests arrived for `key`: `GET /lights`, `PUT /lights/1/state`, `POST /api`
    /// (paths after `/api/<user>`).
    public func requestCount(_ key: String) -> Int {
        state.withLock { $0.requests[key] ?? 0 }
    }

    /// The writes received, in order (the last 10 000).
    public var writeLog: [HueSimWrite] {
        state.withLock { $0.writes }
    }

    /// A light as it is now.
    public func light(_ id: String) -> HueSimLight? {
        state.withLock { $0.lights[id] }
    }

    /// A sensor as it is now (frozen or at its last animation step).
    public func sensor(_ id: String) -> HueSimSensor? {
        state.withLock { $0.sensors[id] }
    }

    /// Changes a light, as someone at a wall switch or an app would.
    public func updateLight(_ id: String, _ change: @Sendable (inout HueSimLight) -> Void) {
        state.withLock { s in if var light = s.lights[id] { change(&light); s.lights[id] = light } }
    }

    /// Changes a sensor.
    public func updateSensor(_ id: String, _ change: @Sendable (inout HueSimSensor) -> Void) {
        state.withLock { s in if var sensor = s.sensors[id] { change(&sensor); s.sensors[id] = sensor } }
    }

    // MARK: - Requests

    /// The largest body read; a longer one is answered as an empty one would be (invalid JSON).
    private static let maximumBody = 1 << 20

    private func handle(_ request: Request) async -> Response {
        let method = request.method.rawValue
        let path = request.uri.path
        // One line per request, one level lower than the simulator's own lines, as a busy
        // gateway polls many times a second.
        logger.debug("\(method) \(Self.redact(path))")
        let body = (try? await request.body.collect(upTo: Self.maximumBody)).map { Data($0.readableBytesView) } ?? Data()
        let answer = respond(method: method, path: path, body: body)
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: answer.text)))
    }

    /// `GET /api/abc123/lights` → `GET /api/<user>/lights`; `/api/config` stays: usernames
    /// are secrets on both sides.
    static func redact(_ line: String) -> String {
        line.replacing(/\/api\/(?!config\b)[^\/\s]+/) { _ in "/api/<user>" }
    }

    /// The answer to one request; internal for tests.
    func respond(method: String, path: String, body: Data) -> GatewayCore.JSONValue {
        var parts = path.split(separator: "/").map(String.init)
        guard parts.first == "api" else {
            return Self.error(4, "/", "method, \(method), not available for resource, \(path)")
        }
        parts.removeFirst()
        let now = ContinuousClock.now
        return state.withLock { s -> GatewayCore.JSONValue in
            if animated { animate(&s, at: now) }
            if parts.isEmpty {
                count(&s, "\(method) /api")
                guard method == "POST" else { return Self.error(1, "/", "unauthorized user") }
                return pair(&s, body: body, now: now)
            }
            if parts == ["config"], method == "GET" {
                count(&s, "GET /config")
                return Self.publicConfig
            }
            let user = parts.removeFirst()
            let resource = "/" + parts.joined(separator: "/")
            count(&s, "\(method) \(parts.isEmpty ? "/" : resource)")
            guard s.whitelist[user] != nil else { return Self.error(1, parts.isEmpty ? "/" : resource, "unauthorized user") }
            if method == "PUT" || method == "POST" {
                s.writes.append(HueSimWrite(method: method, resource: resource, body: String(decoding: body, as: UTF8.self)))
                if s.writes.count > 10_000 { s.writes.removeFirst(s.writes.count - 10_000) }
            }
            switch (method, parts.count, parts.first) {
            case ("GET", 0, _):
                return .object(["lights": lights(s), "sensors": sensors(s), "config": config(s), "groups": .object([:])])
            case ("GET", 1, "lights"): return lights(s)
            case ("GET", 1, "sensors"): return sensors(s)
            case ("GET", 1, "config"): return config(s)
            case ("GET", 2, "lights"):
                return s.lights[parts[1]]?.json ?? Self.error(3, resource, "resource, \(resource), not available")
            case ("GET", 2, "sensors"):
                return s.sensors[parts[1]].map { $0.json(lastupdated: s.lastUpdated[$0.id] ?? "none") }
                    ?? Self.error(3, resource, "resource, \(resource), not available")
            case ("PUT", 3, "lights") where parts[2] == "state":
                guard s.lights[parts[1]] != nil else { return Self.error(3, "/lights/\(parts[1])", "resource, /lights/\(parts[1]), not available") }
                guard let json = GatewayCore.JSONValue.parse(body), let fields = json.object?.dictionary else {
                    return Self.error(2, "", "body contains invalid json")
                }
                return setState(&s, light: parts[1], fields)
            case ("PUT", 1, "config"):
                guard let json = GatewayCore.JSONValue.parse(body), let fields = json.object?.dictionary else {
                    return Self.error(2, "", "body contains invalid json")
                }
                return setConfig(&s, fields, now: now)
            default:
                return Self.error(4, resource, "method, \(method), not available for resource, \(resource)")
            }
        }
    }

    private func count(_ s: inout State, _ key: String) {
        s.requests[key, default: 0] += 1
    }

    private func pair(_ s: inout State, body: Data, now: ContinuousClock.Instant) -> GatewayCore.JSONValue {
        guard let json = GatewayCore.JSONValue.parse(body), json.object != nil else { return Self.error(2, "", "body contains invalid json") }
        guard let devicetype = json["devicetype"]?.string, (1...40).contains(devicetype.count) else {
            return Self.error(7, "/devicetype", "invalid value, \(json["devicetype"]?.text ?? "null"), for parameter, devicetype")
        }
        guard let until = s.linkButtonUntil, now < until else { return Self.error(101, "", "link button not pressed") }
        let name = (0..<40).map { _ in String("0123456789abcdefABCDEF-".randomElement()!) }.joined()
        s.whitelist[name] = (devicetype, Self.bridgeTime(Date()))
        s.writes.append(HueSimWrite(method: "POST", resource: "/api", body: String(decoding: body, as: UTF8.self)))
        logger.info("paired", metadata: ["devicetype": "\(devicetype)"])
        return .array([.object(["success": .object(["username": .string(name)])])])
    }

    private func setConfig(_ s: inout State, _ fields: [String: GatewayCore.JSONValue], now: ContinuousClock.Instant) -> GatewayCore.JSONValue {
        var answers: [GatewayCore.JSONValue] = []
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            guard key == "linkbutton" else {
                answers.append(Self.error(6, "/config/\(key)", "parameter, \(key), not available").array![0])
                continue
            }
            guard let pressed = value.bool else {
                answers.append(Self.error(7, "/config/linkbutton", "invalid value, \(value.text), for parameter, linkbutton").array![0])
                continue
            }
            s.linkButtonUntil = pressed ? now + Self.linkButtonWindow : nil
            answers.append(.object(["success": .object(["/config/linkbutton": .bool(pressed)])]))
        }
        return .array(answers)
    }

    /// Applies a light-state write field by field, as a real bridge does: the valid fields
    /// take effect, each invalid one gets its own error object.
    private func setState(_ s: inout State, light id: String, _ fields: [String: GatewayCore.JSONValue]) -> GatewayCore.JSONValue {
        var light = s.lights[id]!
        var answers: [GatewayCore.JSONValue] = []
        let turningOn = fields["on"]?.bool == true
        func fail(_ type: Int, _ key: String, _ text: String) {
            answers.append(
                .object([
                    "error": .object([
                        "type": .number(Double(type)), "address": .string("/lights/\(id)/state/\(key)"),
                        "description": .string(text),
                    ])
                ]))
        }
        func integer(_ value: GatewayCore.JSONValue, _ range: ClosedRange<Int>) -> Int? {
            guard let n = value.number, n == n.rounded(), range.contains(Int(exactly: n) ?? -1) else { return nil }
            return Int(n)
        }
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            guard light.parameters.contains(key) || key == "on" else {
                fail(6, key, "parameter, \(key), not available")
                continue
            }
            let invalid = "invalid value, \(value.text), for parameter, \(key)"
            if !light.on, !turningOn, !["on", "alert", "transitiontime"].contains(key) {
                fail(201, key, "parameter, \(key), is not modifiable. Device is set to off.")
                continue
            }
            var applied = true
            switch key {
            case "on": if let b = value.bool { light.on = b } else { applied = false }
            case "bri": if let n = integer(value, 1...254) { light.bri = n } else { applied = false }
            case "hue": if let n = integer(value, 0...65535) { light.hue = n; light.colormode = "hs" } else { applied = false }
            case "sat": if let n = integer(value, 0...254) { light.sat = n; light.colormode = "hs" } else { applied = false }
            case "ct": if let n = integer(value, 153...500) { light.ct = n; light.colormode = "ct" } else { applied = false }
            case "transitiontime": applied = integer(value, 0...65535) != nil
            case "xy":
                if let pair = value.array, pair.count == 2, let x = pair[0].number, let y = pair[1].number,
                    (0...1).contains(x), (0...1).contains(y)
                {
                    light.xy = [x, y]
                    light.colormode = "xy"
                } else {
                    applied = false
                }
            case "alert": if let a = value.string, ["none", "select", "lselect"].contains(a) { light.alert = a } else { applied = false }
            case "effect": if let e = value.string, ["none", "colorloop"].contains(e) { light.effect = e } else { applied = false }
            default: applied = false
            }
            if applied {
                answers.append(.object(["success": .object(["/lights/\(id)/state/\(key)": value])]))
            } else {
                fail(7, key, invalid)
            }
        }
        s.lights[id] = light
        return .array(answers)
    }

    // MARK: - State over time

    /// Sensors follow the time since start: temperature a slow sine, presence every 10 s,
    /// the light level a 2-minute day.
    private func animate(_ s: inout State, at now: ContinuousClock.Instant) {
        let t = (now - started) / .seconds(1)
        for (id, var sensor) in s.sensors {
            let before = sensor
            switch sensor.type {
            case "ZLLTemperature": sensor.temperature = 2150 + Int((150 * sin(t / 60 * 2 * .pi)).rounded())
            case "ZLLPresence": sensor.presence = Int(t / 10) % 2 == 1
            case "ZLLLightLevel":
                let lux = max(1, 400 * sin(t / 120 * 2 * .pi) + 200)
                sensor.lightlevel = Int((10000 * log10(lux) + 1).rounded())
            default: break
            }
            if sensor != before {
                s.sensors[id] = sensor
                s.lastUpdated[id] = Self.bridgeTime(Date())
            }
        }
    }

    private static func bridgeTime(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate]
        return formatter.string(from: date)
    }

    private func lights(_ s: State) -> GatewayCore.JSONValue {
        .object(JSONObject(s.lights.mapValues(\.json)))
    }

    private func sensors(_ s: State) -> GatewayCore.JSONValue {
        .object(JSONObject(Dictionary(uniqueKeysWithValues: s.sensors.map { ($0.key, $0.value.json(lastupdated: s.lastUpdated[$0.key] ?? "none")) })))
    }

    private func config(_ s: State) -> GatewayCore.JSONValue {
        var config = Self.publicConfig.object!
        config["linkbutton"] = .bool(s.linkButtonUntil.map { ContinuousClock.now < $0 } ?? false)
        // Every username, with the app it paired for (`GET /api/<user>/config` of a real bridge).
        config["whitelist"] = .object(
            JSONObject(
                s.whitelist.mapValues { entry in
                    .object(["name": .string(entry.name), "create date": .string(entry.created), "last use date": .string(entry.created)])
                }))
        return .object(config)
    }

    private static let publicConfig: GatewayCore.JSONValue = .object([
        // A real bridge's id is its MAC address with FFFE in the middle; clients read both.
        "name": .string("edgegate simulated bridge"), "bridgeid": .string("001788FFFE000000"), "mac": .string("00:17:88:00:00:00"),
        "apiversion": .string("1.60.0"), "swversion": .string("1960000000"), "modelid": .string("BSB002"),
    ])

    private static func error(_ type: Int, _ address: String, _ text: String) -> GatewayCore.JSONValue {
        .array([.object(["error": .object(["type": .number(Double(type)), "address": .string(address), "description": .string(text)])])])
    }
}

/// Hummingbird's and the service group's log lines into the simulator's logger, one level
/// lower: "Server started and listening on ..." and "Shutting down" are details beside the
/// simulator's own "serving on" line.
private struct OneLevelLower: LogHandler {
    let target: Logger
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level

    init(target: Logger) {
        self.target = target
        // The lowest level that still reaches the target's level once lowered, so that what
        // would be dropped there is not even formatted here.
        let levels = Logger.Level.allCases
        self.logLevel = levels[min(levels.count - 1, levels.firstIndex(of: target.logLevel)! + 1)]
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let levels = Logger.Level.allCases
        let lower = levels[max(0, levels.firstIndex(of: event.level)! - 1)]
        target.log(
            level: lower, event.message, metadata: metadata.merging(event.metadata ?? [:]) { $1 }, source: event.source,
            file: event.file, function: event.function, line: event.line)
    }
}

extension HueBridgeSimulator {
    fileprivate static func serverLogger(_ logger: Logger) -> Logger {
        Logger(label: logger.label) { _ in OneLevelLower(target: logger) }
    }
}
