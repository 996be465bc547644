import Foundation
import GatewayCore
import MQTTClient
import Synchronization
import Uplink

/// Responses on the operator's one connection, matched to waiting commands by id. The arrival
/// instant is taken by the consuming task as the message comes off the stream, so a waiter
/// that resumes late does not inflate the round trip.
final class ResponseMailbox: Sendable {
    struct Response: Sendable {
        var status: String
        var values: [String: JSONValue]
        var message: String
        var arrived: ContinuousClock.Instant
    }

    private struct State {
        var arrived: [String: Response] = [:]
        var waiters: [String: CheckedContinuation<Response?, Never>] = [:]
        var unmatched = 0
    }

    private let state = Mutex(State())

    /// Responses whose id no command was waiting for (late answers after a timeout, strays).
    var unmatched: Int { state.withLock { $0.unmatched } }

    /// Consumes the connection's messages until it ends.
    func consume(_ connection: MQTTConnection, topic: String) async {
        for await message in connection.messages where message.topic == topic {
            let now = ContinuousClock.now
            guard let node = try? JSONDecoder().decode(JSONValue.self, from: Data(message.payload)),
                case .object(let o) = node, case .string(let id)? = o["id"]
            else {
                state.withLock { $0.unmatched += 1 }
                continue
            }
            var response = Response(status: "", values: [:], message: "", arrived: now)
            if case .string(let s)? = o["status"] { response.status = s }
            if case .string(let s)? = o["message"] { response.message = s }
            if case .object(let v)? = o["values"] { response.values = v.dictionary }
            let waiter = state.withLock { s -> CheckedContinuation<Response?, Never>? in
                if let w = s.waiters.removeValue(forKey: id) { return w }
                s.arrived[id] = response
                return nil
            }
            waiter?.resume(returning: response)
        }
    }

    /// The response to `id`, or nil after `timeout`.
    func wait(for id: String, timeout: Duration) async -> Response? {
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.expire(id)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let ready = state.withLock { s -> Response? in
                if let r = s.arrived.removeValue(forKey: id) { return r }
                s.waiters[id] = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func expire(_ id: String) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
    }

    /// Forgets responses that arrived after their command timed out.
    func discardArrived() {
        state.withLock { s in
            s.unmatched += s.arrived.count
            s.arrived = [:]
        }
    }
}

/// The outcome of the command phase.
struct CommandFigures: Sendable {
    var roundTrips: [Double] = []  // ms, of commands that got any response
    var acknowledgements: [Double] = []  // ms, command publish → the hub's PUBACK to the operator
    var notOK: [String: Int] = [:]  // status (or "no response") → count
    var readBackMismatches = 0
    var firstFailure: String?
}

enum CommandProbe {
    /// Sends `count` write commands one after another, each waiting for its response.
    static func run(
        count: Int, scenario: Scenario, connection: MQTTConnection, mailbox: ResponseMailbox,
        topics: MQTTTopics, timeout: Duration
    ) async -> CommandFigures {
        var figures = CommandFigures()
        for i in 0..<count {
            await sendOne(
                i, to: scenario.deviceID(i % scenario.devices), connection: connection, mailbox: mailbox,
                topics: topics, timeout: timeout, into: &figures)
        }
        return figures
    }

    /// The setpoint of command `i`: 0.1 steps across the whole range, different from one
    /// command to the next.
    static func value(_ i: Int) -> Double {
        let span = Int((Scenario.setpointMax - Scenario.setpointMin) * 10)
        return Double(Int(Scenario.setpointMin * 10) + (i * 37) % (span + 1)) / 10
    }

    /// Publishes write command `i` to `device`, waits for its response and records the round
    /// trip, the publish → PUBACK time, and any status other than ok or wrong read-back.
    static func sendOne(
        _ i: Int, to device: String, connection: MQTTConnection, mailbox: ResponseMailbox,
        topics: MQTTTopics, timeout: Duration, into figures: inout CommandFigures
    ) async {
        let value = value(i)
        let command = Command(
            id: "bench-\(i)-\(UUID().uuidString.prefix(8).lowercased())", device: device,
            action: .write(["setpoint": .double(value)]))
        let start = ContinuousClock.now
        do {
            try await connection.publish(topics.commands, payload: MQTTWire.command(command), qos: 1, retain: false)
            figures.acknowledgements.append((ContinuousClock.now - start).seconds * 1000)
        } catch {
            figures.notOK["publish failed", default: 0] += 1
            figures.firstFailure = figures.firstFailure ?? "command \(command.id): publish failed: \(error)"
            return
        }
        guard let response = await mailbox.wait(for: command.id, timeout: timeout) else {
            figures.notOK["no response", default: 0] += 1
            figures.firstFailure = figures.firstFailure ?? "command \(command.id) to \(device): no response within \(timeout)"
            return
        }
        figures.roundTrips.append((response.arrived - start).seconds * 1000)
        guard response.status == "ok" else {
            figures.notOK[response.status, default: 0] += 1
            figures.firstFailure = figures.firstFailure ?? "command \(command.id) to \(device): \(response.status): \(response.message)"
            return
        }
        let readBack = response.values["setpoint"]?.number
        if readBack.map({ abs($0 - value) > 0.051 }) ?? true {
            figures.readBackMismatches += 1
            figures.firstFailure =
                figures.firstFailure ?? "command \(command.id) to \(device): wrote \(value), read back \(String(describing: response.values["setpoint"]))"
        }
    }
}

extension CommandFigures {
    /// Adds another sender's figures.
    mutating func merge(_ other: CommandFigures) {
        roundTrips += other.roundTrips
        acknowledgements += other.acknowledgements
        notOK.merge(other.notOK, uniquingKeysWith: +)
        readBackMismatches += other.readBackMismatches
        firstFailure = firstFailure ?? other.firstFailure
    }

    /// Commands that were not answered `ok` with the value written.
    var problems: Int { notOK.values.reduce(0, +) + readBackMismatches }
}

/// Nearest-rank percentile of an ascending array.
func percentile(_ sorted: [Double], _ p: Double) -> Double? {
    guard !sorted.isEmpty else { return nil }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}
