import DeviceMaps
import Foundation
import GatewayCore
import Logging
import Synchronization

/// Which bridge, as which user: devices with the same key share one poller.
struct BridgeKey: Hashable, Sendable {
    var bridge: HueBridge
    var username: HueUsername
}

/// Polls one bridge for all its devices: one `GET /lights` and one `GET /sensors` per
/// period (the shortest poll of its devices, and only the collections some point reads),
/// whatever the number of devices and points, then one batch of readings per device.
final class BridgePoller: Sendable {
    private struct State {
        var devices: [DeviceDefinition]
        /// Raised by every `setDevices`.
        var generation = 0
        /// The generation whose readings are being built and emitted right now.
        var emitting: Int?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    let key: BridgeKey
    private let state: Mutex<State>
    private let doorbell = Doorbell()
    private let clients: ClientCache
    private let busy: BusySkipReport
    private let malformed: Atomic<Int>
    private let logger: Logger

    init(key: BridgeKey, devices: [DeviceDefinition], clients: ClientCache, busy: BusySkipReport, logger: Logger) {
        self.key = key
        self.state = Mutex(State(devices: devices))
        self.clients = clients
        self.busy = busy
        self.malformed = Atomic(0)
        var logger = logger
        logger[metadataKey: "bridge"] = "\(key.bridge)"
        self.logger = logger
    }

    /// Values the bridge sent that did not fit their field (a text where a number belongs).
    var malformedCount: Int { malformed.load(ordering: .relaxed) }

    /// Replaces the devices; the next poll starts at once. Returns the number to wait for
    /// with `waitUntilApplied`.
    func setDevices(_ devices: [DeviceDefinition]) -> Int {
        let generation = state.withLock { s in
            s.devices = devices
            s.generation += 1
            return s.generation
        }
        doorbell.ring()
        return generation
    }

    /// Returns once no batch built from devices older than `generation` can be emitted any more.
    func waitUntilApplied(_ generation: Int) async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { s -> Bool in
                guard let emitting = s.emitting, emitting < generation else { return true }
                s.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Polls until the task is cancelled.
    func run(sink: ReadingSink) async {
        var reasons: [String: String] = [:]
        // When each device's next batch is due: a device polled every 5 s on a bridge that is
        // read every 500 ms for another one still reports every 5 s.
        var due: [String: ContinuousClock.Instant] = [:]
        var seen = 0
        // Each device's poll metrics, asked for when the device is first polled after a start
        // or a new device set.
        var metrics: [String: PollMetrics] = [:]
        func pollMetrics(_ id: String) -> PollMetrics {
            if let known = metrics[id] { return known }
            let made = sink.pollMetrics(device: id)
            metrics[id] = made
            return made
        }
        while !Task.isCancelled {
            let started = ContinuousClock.now
            let planned = state.withLock { $0.devices }
            let period = planned.map(\.poll).min() ?? .seconds(1)
            let points = planned.flatMap(\.points).filter(\.access.isReadable)
            let needed = Set(points.map(\.hue.resource))
            // Asked before every poll: while the pipeline is behind, the bridge is not asked,
            // so no readings are taken only to pile up; the devices report at the next poll.
            if !sink.isReady {
                busy.record(key.bridge.description)
                for device in planned { pollMetrics(device.id).skippedWhileBusy() }
                await doorbell.wait(upTo: period)
                continue
            }
            var fetched: [HueResource: Result<[String: JSONValue], HueError>] = [:]
            switch clients.client(for: key, timeout: planned.first?.hueConnection.timeout ?? .seconds(2)) {
            case .failure(let error):
                for resource in needed { fetched[resource] = .failure(error) }
            case .success(let client):
                // A poll reads every collection it needs, also when cancelled meanwhile: requests
                // cannot be interrupted, and `timeout` (at most 30 s) bounds how long a stop waits.
                for resource in HueResource.allCases where needed.contains(resource) {
                    fetched[resource] = await Self.fetch(resource, from: client)
                }
            }
            if Task.isCancelled { break }
            let took = ContinuousClock.now - started
            let (devices, generation) = state.withLock { s in
                s.emitting = s.generation
                return (s.devices, s.generation)
            }
            // New and changed devices report at once, as after a start.
            if generation != seen {
                due.removeAll()
                metrics.removeAll()
                seen = generation
            }
            for device in devices where due[device.id].map({ started >= $0 }) ?? true {
                let readings = self.readings(of: device, from: fetched, reasons: &reasons)
                let failed = device.points.contains { $0.access.isReadable && fetched[$0.hue.resource]?.isSuccess == false }
                if !readings.isEmpty { pollMetrics(device.id).polled(ok: !failed, duration: took) }
                sink.emit(readings)
                // Half a cycle early counts as on time: polls land on the bridge's cycle.
                if !readings.isEmpty { due[device.id] = started + device.poll - period / 2 }
            }
            finishEmitting()
            await doorbell.wait(upTo: period - (ContinuousClock.now - started))
        }
        finishEmitting()
    }

    private func finishEmitting() {
        let waiters = state.withLock { s in
            s.emitting = nil
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// One collection (`lights`, `sensors`) by id.
    private static func fetch(_ resource: HueResource, from client: HueBridgeClient) async -> Result<[String: JSONValue], HueError> {
        do {
            let json = try await client.get(resource.collection)
            guard let all = json.object else {
                return .failure(.badAnswer(client.bridge, path: "GET /api/<user>/\(resource.collection)", "\(json.text.prefix(80)) instead of an object"))
            }
            return .success(all.dictionary)
        } catch {
            return .failure(error)
        }
    }

    /// One device's readings from what was fetched; nothing for a device whose collection
    /// was not fetched (added since the poll began: the next poll follows at once).
    private func readings(
        of device: DeviceDefinition, from fetched: [HueResource: Result<[String: JSONValue], HueError>],
        reasons: inout [String: String]
    ) -> [Reading] {
        let now = Date()
        var readings: [Reading] = []
        for point in device.points where point.access.isReadable {
            let address = point.hue
            guard let collection = fetched[address.resource] else { return [] }
            var quality = Quality.good
            var value: Value?
            // A failed request is one problem of the bridge, logged once, not once per point.
            var slot = "\(device.id).\(point.name)"
            switch collection {
            case .failure(let error):
                quality = .bad(error.description)
                slot = "bridge \(address.resource.collection)"
            case .success(let all):
                if let resource = all[address.id] {
                    switch HueReadout.value(of: point, in: resource) {
                    case .success(let v):
                        value = v
                        if address.field != .reachable, let why = Self.unreachable(address, resource) { quality = .uncertain(why) }
                    case .failure(let error):
                        let why = error.description
                        quality = .bad(why)
                        if why.contains("the bridge sent") { malformed.add(1, ordering: .relaxed) }
                    }
                } else {
                    quality = .bad("\(address.resource.rawValue) \(address.id) not on bridge \(key.bridge)")
                }
            }
            if let why = quality.reason, case .bad = quality {
                // Logged when the reason changes, not at every poll.
                if reasons[slot] != why {
                    logger.warning("bad reading", metadata: ["device": "\(device.id)", "point": "\(point.name)", "reason": "\(why)"])
                }
                reasons[slot] = why
            } else if collection.isSuccess {
                reasons[slot] = nil
                reasons["bridge \(address.resource.collection)"] = nil
            }
            readings.append(Reading(device: device.id, point: point.name, value: value, unit: point.unit, quality: quality, timestamp: now))
        }
        return readings
    }

    /// Why a value is only the bridge's last known one: the light or sensor is unreachable.
    static func unreachable(_ address: HuePointAddress, _ resource: JSONValue) -> String? {
        let flag = address.resource == .light ? resource["state"]?["reachable"] : resource["config"]?["reachable"]
        guard flag?.bool == false else { return nil }
        return "\(address.resource.rawValue) \(address.id) unreachable: the bridge reports its last known state"
    }
}

/// One client per bridge and user, made when first needed (the username is read from the
/// environment then), shared by polls and writes so that requests to a bridge go one at a time.
/// A new request timeout (a reload changed `timeout`) gets a new client; `retain` drops the
/// clients of bridges no device uses any more.
final class ClientCache: Sendable {
    private let clients = Mutex<[BridgeKey: HueBridgeClient]>([:])

    func client(for key: BridgeKey, timeout: Duration) -> Result<HueBridgeClient, HueError> {
        if let client = clients.withLock({ $0[key] }), client.timeout == timeout { return .success(client) }
        return key.username.resolve().map { name in
            clients.withLock { all in
                if let client = all[key], client.timeout == timeout { return client }
                let client = HueBridgeClient(bridge: key.bridge, username: name, timeout: timeout)
                all[key] = client
                return client
            }
        }
    }

    /// Keeps only the clients of `keys`.
    func retain(_ keys: Set<BridgeKey>) {
        clients.withLock { all in all = all.filter { keys.contains($0.key) } }
    }
}

extension Result {
    /// True for `.success`.
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}

/// Wakes a sleeping poll loop early (new devices poll at once).
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Wakes the waiter, or the next one to wait.
    func ring() {
        let waiter = state.withLock { s in
            guard let waiter = s.waiter else {
                s.rung = true
                return nil as CheckedContinuation<Void, Never>?
            }
            s.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Waits until rung, `limit` passes, or the task is cancelled.
    func wait(upTo limit: Duration) async {
        guard limit > .zero else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: limit) }
            group.addTask { await self.waitForRing() }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForRing() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Checked under the lock: a cancellation handler that ran before this finds no
                // waiter, but then the task already reads as cancelled here.
                let now = state.withLock { s -> Bool in
                    if s.rung || Task.isCancelled {
                        s.rung = false
                        return true
                    }
                    s.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s in
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume()
        }
    }
}
