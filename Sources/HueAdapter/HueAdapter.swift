public import DeviceMaps
public import GatewayCore
public import Logging
import Synchronization

/// Philips Hue lights and sensors through the bridge's local REST API v1 over HTTP.
///
/// Devices on the same bridge (and username) share one poller: one `GET /lights` and one
/// `GET /sensors` per period, the shortest poll of those devices, never a request per point;
/// each device still gets a batch at its own `poll` (rounded to the bridge's cycle).
/// A bridge that cannot be reached or refuses the username makes all its points `bad` with
/// the reason; a light or sensor id the bridge does not have makes its points `bad`; a light
/// or sensor the bridge marks unreachable makes its values `uncertain` (they are the bridge's
/// last known state), except its `reachable` point itself.
///
/// A write sends one `PUT /lights/<id>/state` per light with all the fields of the command
/// (`bri` with `transitiontime`, `x` with `y` as `xy`), then reads the light back. The
/// bridge's answer decides the result: unauthorized user and unknown light are `failed`,
/// invalid value, unknown parameter and "device is set to off" are `rejected` with the
/// bridge's words. Writes work whether or not `run` is active.
public final class HueAdapter: MapAdapter {
    private struct State {
        var devices: [DeviceDefinition] = []
        var definitions: [String: DeviceDefinition] = [:]
        var pollers: [BridgeKey: BridgePoller] = [:]
        var tasks: [BridgeKey: Task<Void, Never>] = [:]
        var run = RunClaim(adapter: "Hue")
    }

    private let state = Mutex(State())
    private let clients = ClientCache()
    private let busy: BusySkipReport
    private let logger: Logger

    /// Creates an adapter for Hue devices; nothing connects until `run` or a write.
    public init(devices: [DeviceDefinition], logger: Logger) {
        self.logger = logger
        self.busy = BusySkipReport(cycles: "Hue poll", sources: "bridge(s)", logger: logger)
        state.withLock { s in
            for (key, members) in Self.bridges(of: devices) {
                s.pollers[key] = BridgePoller(key: key, devices: members, clients: clients, busy: busy, logger: logger)
            }
            s.devices = devices
            s.definitions = Dictionary(devices.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    /// The devices this adapter serves, in map order.
    public var devices: [DeviceDescriptor] {
        state.withLock { $0.devices.map(\.descriptor) }
    }

    /// Values bridges sent that did not fit their field, since the start (each became a `bad` reading).
    public var malformedValueCount: Int {
        state.withLock { Array($0.pollers.values) }.reduce(0) { $0 + $1.malformedCount }
    }

    /// Bridge poll cycles skipped since the start because the telemetry pipeline was busy
    /// (`ReadingSink.isReady` said no): the bridge was not asked, and its devices reported at
    /// the next poll that ran.
    public var busySkipCount: Int {
        busy.total
    }

    /// Polls every bridge until the task is cancelled, then stops the pollers and returns.
    /// - Throws: `AdapterRunError.alreadyRunning` if this adapter is already running.
    public func run(sink: ReadingSink) async throws {
        try state.withLock { s throws(AdapterRunError) in
            try s.run.claim(sink)
            for (key, poller) in s.pollers { s.tasks[key] = Task { await poller.run(sink: sink) } }
        }
        await waitUntilCancelled()
        let tasks = state.withLock { s in
            s.run.release()
            defer { s.tasks.removeAll() }
            return Array(s.tasks.values)
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    /// Switches to a new set of devices while running: a bridge that keeps devices keeps
    /// its poller, which polls at once with the new set; a bridge left without devices stops
    /// being polled; a new bridge starts. Returns once no reading of a removed device can follow.
    public func update(devices: [DeviceDefinition]) async {
        let (applying, stopping) = state.withLock { s -> ([(BridgePoller, Int)], [Task<Void, Never>]) in
            var pollers: [BridgeKey: BridgePoller] = [:]
            var applying: [(BridgePoller, Int)] = []
            for (key, members) in Self.bridges(of: devices) {
                if let poller = s.pollers[key] {
                    applying.append((poller, poller.setDevices(members)))
                    pollers[key] = poller
                } else {
                    let poller = BridgePoller(key: key, devices: members, clients: clients, busy: busy, logger: logger)
                    pollers[key] = poller
                    if let sink = s.run.sink { s.tasks[key] = Task { await poller.run(sink: sink) } }
                }
            }
            var stopping: [Task<Void, Never>] = []
            for key in s.pollers.keys where pollers[key] == nil {
                if let task = s.tasks.removeValue(forKey: key) {
                    task.cancel()
                    stopping.append(task)
                }
            }
            s.pollers = pollers
            s.devices = devices
            s.definitions = Dictionary(devices.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            return (applying, stopping)
        }
        clients.retain(Set(Self.bridges(of: devices).map(\.key)))
        for (poller, generation) in applying { await poller.waitUntilApplied(generation) }
        for task in stopping { await task.value }
    }

    /// The requests of the bridge poller that reads `device`: one GET per collection its
    /// devices read, at the shortest poll of those devices.
    static func requestSummary(of device: DeviceDefinition, among devices: [DeviceDefinition]) -> String {
        let connection = device.hueConnection
        let key = BridgeKey(bridge: connection.bridge, username: connection.username)
        let sharing = bridges(of: devices).first { $0.key == key }?.members ?? [device]
        let period = sharing.map(\.poll).min() ?? device.poll
        let needed = Set(sharing.flatMap(\.points).filter(\.access.isReadable).map(\.hue.resource))
        let requests = HueResource.allCases.filter(needed.contains).map { "GET /\($0.collection)" }
        guard !requests.isEmpty else { return "no requests: no readable point on its bridge \(connection.bridge)" }
        let shared = sharing.count == 1 ? "" : ", shared by the \(sharing.count) devices of the bridge (the shortest poll)"
        return "polled with its bridge \(connection.bridge): \(requests.joined(separator: " and ")) every \(period.mapText)\(shared)"
    }

    /// The devices grouped by bridge and username, in order of first appearance.
    private static func bridges(of devices: [DeviceDefinition]) -> [(key: BridgeKey, members: [DeviceDefinition])] {
        var groups: [BridgeKey: [DeviceDefinition]] = [:]
        var order: [BridgeKey] = []
        for device in devices {
            let connection = device.hueConnection
            let key = BridgeKey(bridge: connection.bridge, username: connection.username)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(device)
        }
        return order.map { ($0, groups[$0]!) }
    }

    /// Sends the values, one `PUT /lights/<id>/state` per light with all its fields, and
    /// reads the lights back.
    ///
    /// - Returns: the values read back for the written points (not for `transitiontime`).
    /// - Throws: `.rejected` for a value the bridge cannot take (wrong kind, a fraction of a
    ///   whole-number field, an unknown `alert`/`effect`), `transitiontime` without another
    ///   field of its light, and the bridge's answers "invalid value", "parameter not
    ///   available" and "device is set to off"; `.failed` when the bridge cannot be reached,
    ///   refuses the username, does not have the light, or cannot be read back.
    public func write(device: String, values: [String: Value]) async throws(WriteError) -> [String: Value] {
        guard let definition = state.withLock({ $0.definitions[device] }) else {
            throw .rejected("no Hue device '\(device)'")
        }
        if let unknown = values.keys.sorted().first(where: { name in !definition.points.contains { $0.name == name } }) {
            throw .rejected("\(device) has no point '\(unknown)'")
        }
        var lights: [String: [(PointDefinition, JSONValue)]] = [:]
        for point in definition.points {
            guard let value = values[point.name] else { continue }
            // The router checks access first; this keeps the adapter safe on its own.
            guard point.access.isWritable, point.hue.field.isWritable else { throw .rejected("\(device).\(point.name) is read-only") }
            lights[point.hue.id, default: []].append((point, try HueReadout.wire(value, for: point, device: device)))
        }
        guard !lights.isEmpty else { throw .rejected("command for \(device) writes no point") }
        let connection = definition.hueConnection
        let client: HueBridgeClient
        switch clients.client(for: BridgeKey(bridge: connection.bridge, username: connection.username), timeout: connection.timeout) {
        case .success(let c): client = c
        case .failure(let error): throw .failed("\(device): \(error)")
        }
        // Every light's request is checked before the first one is sent.
        var requests: [(id: String, fields: [(PointDefinition, JSONValue)], request: LightRequest)] = []
        for (id, fields) in lights.sorted(by: { $0.key < $1.key }) {
            requests.append((id, fields, try LightRequest(fields, light: id, device: device)))
        }
        var done: [String] = []
        for (id, fields, request) in requests {
            do throws(WriteError) {
                try await send(request, fields, toLight: id, of: device, via: client)
            } catch {
                guard !done.isEmpty else { throw error }
                let already = "; light \(done.joined(separator: ", ")) of the same command was set already"
                switch error {
                case .rejected(let why): throw .rejected(why + already)
                case .failed(let why): throw .failed(why + already)
                }
            }
            done.append(id)
        }
        var readBack: [String: Value] = [:]
        for (id, fields) in lights.sorted(by: { $0.key < $1.key }) {
            let light: JSONValue
            do {
                light = try await client.get("lights/\(id)")
            } catch {
                throw .failed("\(device): light \(id) was written, but reading it back failed: \(error)")
            }
            for (point, _) in fields where point.access.isReadable {
                if case .success(let value) = HueReadout.value(of: point, in: light) { readBack[point.name] = value }
            }
        }
        return readBack
    }

    /// One `PUT` with every field of one light; the answer's first error decides the outcome.
    private func send(
        _ request: LightRequest, _ fields: [(PointDefinition, JSONValue)], toLight id: String, of device: String,
        via client: HueBridgeClient
    ) async throws(WriteError) {
        var body = request.body
        var xy = request.xy
        if !xy.isEmpty {
            // The bridge takes x and y only together: the one not written keeps its value.
            if xy.count == 1 {
                let light: JSONValue
                do { light = try await client.get("lights/\(id)") } catch { throw Self.failure(error, device: device, light: id) }
                let address = HuePointAddress(resource: .light, id: id, field: xy[.x] == nil ? .x : .y)
                guard case .success(let current) = HueReadout.raw(address.field, of: address, in: light), let n = current.numeric else {
                    throw .failed("\(device): light \(id) reports no color coordinates (xy) to keep \(address.field.rawValue) from")
                }
                xy[address.field] = .number(n)
            }
            body["xy"] = .array([xy[.x]!, xy[.y]!])
        }
        let answer: JSONValue
        do {
            answer = try await client.put("lights/\(id)/state", .object(JSONObject(body)))
        } catch {
            throw Self.failure(error, device: device, light: id)
        }
        let successes = answer.successes
        guard let error = answer.apiErrors.first else {
            guard !successes.isEmpty else {
                throw .failed("\(device): bridge \(client.bridge) answered the write to light \(id) with \(answer.text.prefix(120))")
            }
            return
        }
        let parameter = error.parameter ?? "?"
        let points = fields.filter { $0.0.hue.field.rawValue == parameter || (parameter == "xy" && [.x, .y].contains($0.0.hue.field)) }
        let named = points.isEmpty ? "\(device), light \(id)" : points.map { "\(device).\($0.0.name)" }.joined(separator: ", ")
        let sent = body[parameter].map { "\(parameter)=\($0.text)" } ?? parameter
        let applied = successes.keys.compactMap { $0.split(separator: "/").last.map(String.init) }.sorted()
        let others = applied.isEmpty ? "" : " (the bridge applied \(applied.joined(separator: ", ")))"
        switch error.type {
        case HueAPIError.invalidValue, HueAPIError.parameterNotAvailable, HueAPIError.deviceOff:
            throw .rejected("\(named): bridge \(client.bridge) refused \(sent): \(error.text)\(others)")
        default:
            throw Self.failure(.bridge(client.bridge, error), device: device, light: id)
        }
    }

    private static func failure(_ error: HueError, device: String, light id: String) -> WriteError {
        if case .bridge(let bridge, let e) = error, e.type == HueAPIError.resourceNotAvailable {
            return .failed("\(device): light \(id) is not on bridge \(bridge) (\(e.text))")
        }
        return .failed("\(device), light \(id): \(error)")
    }
}

/// The fields of one light that a command writes, as the bridge takes them.
private struct LightRequest {
    /// Every field but `x`/`y`.
    var body: [String: JSONValue] = [:]
    /// `x` and `y`, which travel together as `xy`.
    var xy: [HueField: JSONValue] = [:]

    /// Checks that the fields can go in one request: no field written twice, and more than
    /// `transitiontime` alone.
    init(_ fields: [(PointDefinition, JSONValue)], light id: String, device: String) throws(WriteError) {
        var writers: [HueField: String] = [:]
        for (point, json) in fields {
            let field = point.hue.field
            if let other = writers[field] {
                throw .rejected("\(device).\(other) and \(device).\(point.name) both write \(field.rawValue) of light \(id): write one of them")
            }
            writers[field] = point.name
            switch field {
            case .x, .y: xy[field] = json
            default: body[field.rawValue] = json
            }
        }
        if xy.isEmpty, body.keys.allSatisfy({ $0 == HueField.transitiontime.rawValue }) {
            throw .rejected("\(device): transitiontime only applies together with another field of light \(id) (on, bri, hue, sat, ct, x/y)")
        }
    }
}
