import ArgumentParser
import CommandSupport
import Foundation
import GatewayCore
import MapReports
import Logging
import MQTTClient
import Synchronization
import UnixSignals
import Uplink

#if canImport(Glibc)
import Glibc
#endif

/// `edgegate command watch`: a gateway's live telemetry, the commands sent to it and its
/// responses, as they pass through the hub.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Show a gateway's live readings, the commands sent to it and its responses until Ctrl-C.",
        discussion: """
            On a terminal: a table with one line per point (value, unit, quality, age) that updates in \
            place, the gateway's status above it and the latest commands and responses below. When \
            standard output is not a terminal: one line per reading, command, response and status change. \
            With --json: one JSON object per line, with "kind" reading, command, response or status.
            --device shows one device's readings, commands and the responses to them.
            Stops cleanly on SIGINT or SIGTERM (exit code 0); exit code 1 when the hub cannot be reached \
            or the connection is lost, 2 for usage errors.
            """)

    @Option(help: ArgumentHelp("Show only this device.", valueName: "id"))
    var device: String?

    @Flag(help: "Print one JSON object per line.")
    var json = false

    @OptionGroup var hub: HubClientOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let target = try hub.resolve()
        let logger = logging.makeLogger("edgegate.command")
        // Caught from before connecting: a Ctrl-C at any point ends the watch cleanly.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let connection = try await target.connect(purpose: "watch", logger: logger)
        let topics = target.topics
        let mode: WatchView.Mode = json ? .json : (isatty(STDOUT_FILENO) == 1 ? .table : .lines)
        do {
            try await connection.subscribe(topics.status, qos: 1)
            try await connection.subscribe(topics.commands, qos: 1)
            try await connection.subscribe(topics.responses, qos: 1)
            if mode == .table {
                // The retained inventory lists every point, so the table shows the quiet ones
                // too (report by exception may not send them for a while).
                try await connection.subscribe(topics.devices, qos: 1)
            }
            // Readings are many and soon replaced: QoS 0 spares the hub and us the acknowledgements.
            try await connection.subscribe(topics.telemetry, qos: 0)
        } catch {
            await connection.disconnect()
            throw failOperation(target.connectFailure(error))
        }
        let view = WatchView(mode: mode, gateway: target.gateway, hub: "\(target.settings.hub)", device: device)
        enum Ending { case signalled, connectionEnded }
        let ending: Ending = await withTaskGroup(of: Ending?.self) { group in
            group.addTask {
                for await message in connection.messages {
                    view.handle(message, topics: topics)
                }
                return Task.isCancelled ? nil : .connectionEnded
            }
            group.addTask {
                for await _ in signals { return .signalled }
                return nil
            }
            if mode == .table {
                group.addTask {
                    // Redrawn at most 4 times a second, and at least once a second for the ages.
                    var last = ContinuousClock.now
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(250))
                        if view.takeDirty() || ContinuousClock.now - last >= .seconds(1) {
                            view.render()
                            last = .now
                        }
                    }
                    return nil
                }
            }
            var first: Ending?
            while first == nil, let next = await group.next() { first = next }
            group.cancelAll()
            return first ?? .signalled
        }
        view.finish()
        if ending == .connectionEnded {
            let why = await connection.closed()
            throw failOperation("error: the connection to the hub \(target.settings.hub) ended: \(why.map { "\($0)" } ?? "closed")")
        }
        await connection.disconnect()
    }
}

/// What `watch` knows and prints. Fed from the connection's task, drawn from the timer's.
final class WatchView: Sendable {
    enum Mode: Sendable { case table, lines, json }

    private struct PointState {
        var value: String
        var quality: String
        var timestamp: Date?
    }

    private struct State {
        var points: [String: [String: PointState]] = [:]
        /// Command id → device, for responses (which name no device); the latest 10,000.
        var commandDevices: [String: String] = [:]
        var commandOrder: [String] = []
        var recent: [String] = []
        var status = "no status yet"
        var dirty = true
        var drawn = false
    }

    private let mode: Mode
    private let gateway: String
    private let hub: String
    private let device: String?
    private let state = Mutex(State())

    init(mode: Mode, gateway: String, hub: String, device: String?) {
        self.mode = mode
        self.gateway = gateway
        self.hub = hub
        self.device = device
        if mode == .table { render() }
    }

    func handle(_ message: MQTTMessage, topics: MQTTTopics) {
        guard case .object(let object)? = try? JSONDecoder().decode(JSONNode.self, from: Data(message.payload)) else { return }
        switch message.topic {
        case topics.telemetry: telemetry(object)
        case topics.commands: command(object, payload: message.payload)
        case topics.responses: response(object)
        case topics.status: status(object, live: !message.retain)
        case topics.devices: inventory(object)
        default: break
        }
    }

    private func telemetry(_ message: [String: JSONNode]) {
        guard case .array(let readings)? = message["readings"] else { return }
        for case .object(let r) in readings {
            guard case .string(let d)? = r["device"], case .string(let p)? = r["point"], device == nil || d == device else { continue }
            let quality = if case .string(let q)? = r["quality"] { q } else { "?" }
            let unit = if case .string(let u)? = r["unit"] { " \(u)" } else { "" }
            let value = quality == "bad" ? "-" : r["value"].map(humanText).map { $0 + unit } ?? "-"
            let reason = if case .string(let why)? = r["reason"] { " (\(why))" } else { "" }
            let ts = if case .string(let t)? = r["ts"] { t } else { "" }
            switch mode {
            case .json:
                var event = r
                event["kind"] = .string("reading")
                event["gateway"] = .string(gateway)
                if let seq = message["seq"] { event["seq"] = seq }
                emit(Self.jsonLine(event))
            case .lines:
                emit("\(ts)  reading   \(d)  \(p)  \(value)  \(quality)\(reason)\n")
            case .table:
                state.withLock {
                    $0.points[d, default: [:]][p] = PointState(value: value, quality: quality + reason, timestamp: Timestamp.parse(ts))
                    $0.dirty = true
                }
            }
        }
    }

    /// Adds the inventory's readable points not seen yet, as waiting for a reading.
    private func inventory(_ object: [String: JSONNode]) {
        guard case .array(let devices)? = object["devices"] else { return }
        state.withLock { s in
            for case .object(let d) in devices {
                guard case .string(let id)? = d["id"], device == nil || id == device, case .array(let points)? = d["points"] else { continue }
                for case .object(let p) in points {
                    guard case .string(let name)? = p["name"], p["access"] != .string("write") else { continue }
                    if s.points[id]?[name] == nil {
                        s.points[id, default: [:]][name] = PointState(value: "-", quality: "no reading yet", timestamp: nil)
                    }
                }
            }
            s.dirty = true
        }
    }

    private func command(_ object: [String: JSONNode], payload: [UInt8]) {
        guard case .string(let id)? = object["id"], case .string(let d)? = object["device"] else { return }
        state.withLock { s in
            if s.commandDevices.updateValue(d, forKey: id) == nil { s.commandOrder.append(id) }
            if s.commandOrder.count > 10_000 { s.commandDevices[s.commandOrder.removeFirst()] = nil }
        }
        guard device == nil || d == device else { return }
        let what: String
        switch MQTTWire.decodeCommand(payload) {
        case .success(let c): what = c.action.description + (c.by.map { "  by \($0)" } ?? "")
        case .failure(let problem): what = "malformed: \(problem.message)"
        }
        event(kind: "command", object, line: "command   \(id)  \(d)  \(what)")
    }

    private func response(_ object: [String: JSONNode]) {
        guard case .string(let id)? = object["id"] else { return }
        let d = state.withLock { $0.commandDevices[id] }
        guard device == nil || d == device else { return }
        var object = object
        if let d { object["device"] = .string(d) }
        let status = if case .string(let s)? = object["status"] { s } else { "?" }
        let message = if case .string(let m)? = object["message"] { m } else { "" }
        var line = "response  \(id)  \(status)  \(message)"
        if case .object(let values)? = object["values"], !values.isEmpty { line += "  values: \(humanPairs(values))" }
        event(kind: "response", object, line: line)
    }

    private func status(_ object: [String: JSONNode], live: Bool) {
        guard let status = GatewayStatus(object) else { return }
        var text = status.text
        if mode == .table, live, status.since == nil {
            // The table's status line has no time of its own: say when this watch saw the change.
            text += ", noticed at \(Timestamp.rfc3339(Date()))"
        }
        state.withLock {
            $0.status = text
            $0.dirty = true
        }
        // The table shows the status in its first line.
        if mode != .table { event(kind: "status", object, line: "status    \(text)") }
    }

    /// A command, response or status: a JSON line, a plain line, or a line of the table's log.
    private func event(kind: String, _ object: [String: JSONNode], line: String) {
        let now = Timestamp.rfc3339(Date())
        switch mode {
        case .json:
            var event = object
            event["kind"] = .string(kind)
            emit(Self.jsonLine(event))
        case .lines:
            emit("\(now)  \(line)\n")
        case .table:
            state.withLock {
                $0.recent.append("\(now.dropFirst(11).dropLast())  \(line)")
                if $0.recent.count > 8 { $0.recent.removeFirst() }
                $0.dirty = true
            }
        }
    }

    /// Whether anything changed since the last call.
    func takeDirty() -> Bool {
        state.withLock { s in
            defer { s.dirty = false }
            return s.dirty
        }
    }

    /// Draws the table over the previous one (table mode only).
    func render() {
        guard mode == .table else { return }
        let now = Date()
        let (lines, first) = state.withLock { s -> ([String], Bool) in
            var lines = ["gateway \(gateway) on \(hub): \(s.status)  (Ctrl-C stops)", ""]
            let rows = s.points.keys.sorted().flatMap { d in
                s.points[d]!.keys.sorted().map { p -> [String] in
                    let point = s.points[d]![p]!
                    let age = point.timestamp.map { String(format: "%.1fs", max(0, now.timeIntervalSince($0))) } ?? ""
                    return [d, p, point.value, point.quality, age]
                }
            }
            if rows.isEmpty {
                lines.append("waiting for readings\(device.map { " of \($0)" } ?? "")…")
            } else {
                lines += columns(["device", "point", "value", "quality", "age"], rows)
            }
            lines += ["", "latest commands and responses:"] + (s.recent.isEmpty ? ["  none yet"] : s.recent.map { "  " + $0 })
            let first = !s.drawn
            s.drawn = true
            return (lines, first)
        }
        var shown = lines
        let height = Self.terminalRows()
        if height > 2, shown.count > height - 1 {
            let hidden = shown.count - (height - 2)
            shown = Array(shown.prefix(height - 2)) + ["… \(hidden) more lines: enlarge the terminal or use --device"]
        }
        // Home, each line cleared to its end, then everything below cleared: no flicker.
        var text = first ? "\u{1B}[2J\u{1B}[?25l" : ""
        text += "\u{1B}[H" + shown.map { $0 + "\u{1B}[K" }.joined(separator: "\n") + "\n\u{1B}[J"
        emit(text)
    }

    /// Leaves the terminal as it was: cursor shown, below the last table.
    func finish() {
        if mode == .table {
            render()
            emit("\u{1B}[?25h")
        }
    }

    private static func terminalRows() -> Int {
        var size = winsize()
        return ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 ? Int(size.ws_row) : 0
    }

    private static func jsonLine(_ object: [String: JSONNode]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(JSONNode.object(object)) else { return "" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Written at once, unbuffered: a pipe or a file sees each line as it happens.
    private func emit(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
