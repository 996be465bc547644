import Foundation
import GatewayCore
import HubClient
import MapReports
import Synchronization
import Uplink

#if canImport(Glibc)
import Glibc
#endif

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

    func handle(_ event: HubEvent) {
        switch event {
        case .telemetry(let message): telemetry(message)
        case .command(let command): self.command(command)
        case .response(let response): self.response(response)
        case .status(let status, let retained): self.status(status, live: !retained)
        case .inventory(let inventory): self.inventory(inventory)
        }
    }

    private func telemetry(_ message: Telemetry) {
        for r in message.readings where device == nil || r.device == device {
            let quality = r.quality ?? "?"
            let unit = r.unit.map { " \($0)" } ?? ""
            let value = quality == "bad" ? "-" : r.value.map(humanText).map { $0 + unit } ?? "-"
            let reason = r.reason.map { " (\($0))" } ?? ""
            let ts = r.ts ?? ""
            switch mode {
            case .json:
                var event = r.fields
                event["kind"] = .string("reading")
                event["gateway"] = .string(gateway)
                if let seq = message.fields["seq"] { event["seq"] = seq }
                emit(Self.jsonLine(event))
            case .lines:
                emit("\(ts)  reading   \(r.device)  \(r.point)  \(value)  \(quality)\(reason)\n")
            case .table:
                state.withLock {
                    $0.points[r.device, default: [:]][r.point] = PointState(value: value, quality: quality + reason, timestamp: r.timestamp)
                    $0.dirty = true
                }
            }
        }
    }

    /// Adds the inventory's readable points not seen yet, as waiting for a reading.
    private func inventory(_ inventory: Inventory) {
        state.withLock { s in
            for d in inventory.devices where device == nil || d.id == device {
                for p in d.points where p.access != "write" && s.points[d.id]?[p.name] == nil {
                    s.points[d.id, default: [:]][p.name] = PointState(value: "-", quality: "no reading yet", timestamp: nil)
                }
            }
            s.dirty = true
        }
    }

    private func command(_ command: ObservedCommand) {
        let (id, d) = (command.id, command.device)
        state.withLock { s in
            if s.commandDevices.updateValue(d, forKey: id) == nil { s.commandOrder.append(id) }
            if s.commandOrder.count > 10_000 { s.commandDevices[s.commandOrder.removeFirst()] = nil }
        }
        guard device == nil || d == device else { return }
        let what: String
        switch command.decoded {
        case .success(let c): what = c.action.description + (c.by.map { "  by \($0)" } ?? "")
        case .failure(let problem): what = "malformed: \(problem.message)"
        }
        event(kind: "command", command.fields, line: "command   \(id)  \(d)  \(what)")
    }

    private func response(_ response: CommandResponse) {
        let id = response.id
        let d = state.withLock { $0.commandDevices[id] }
        guard device == nil || d == device else { return }
        var object = response.fields
        if let d { object["device"] = .string(d) }
        var line = "response  \(id)  \(response.statusText ?? "?")  \(response.message ?? "")"
        if !response.values.isEmpty { line += "  values: \(humanPairs(response.values))" }
        event(kind: "response", object, line: line)
    }

    private func status(_ status: GatewayStatus, live: Bool) {
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
        if mode != .table { event(kind: "status", status.fields, line: "status    \(text)") }
    }

    /// A command, response or status: a JSON line, a plain line, or a line of the table's log.
    private func event(kind: String, _ object: [String: JSONValue], line: String) {
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

    private static func jsonLine(_ object: [String: JSONValue]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(JSONValue.object(JSONObject(object))) else { return "" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Written at once, unbuffered: a pipe or a file sees each line as it happens.
    private func emit(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
