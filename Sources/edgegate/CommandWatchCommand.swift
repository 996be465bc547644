import ArgumentParser
import CommandSupport
import Foundation
import HubClient
import Logging
import MQTTClient
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `edgegate command watch`: a gateway's live telemetry, the commands sent to it and its
/// responses, as they pass through the hub.
struct CommandWatchCommand: AsyncParsableCommand {
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
        let client = try await target.connect(purpose: "watch", logger: logger)
        let mode: WatchView.Mode = json ? .json : (isatty(STDOUT_FILENO) == 1 ? .table : .lines)
        let events: HubEvents
        do throws(MQTTError) {
            // The retained inventory lists every point, so the table shows the quiet ones too
            // (report by exception may not send them for a while).
            events = try await client.watch(target.gateway, mode == .table ? .all : HubEvent.Kinds.all.subtracting(.inventory))
        } catch {
            await client.disconnect()
            throw failOperation(target.connectFailure(error))
        }
        let view = WatchView(mode: mode, gateway: target.gateway, hub: "\(target.settings.hub)", device: device)
        enum Ending { case signalled, connectionEnded }
        let ending: Ending = await withTaskGroup(of: Ending?.self) { group in
            group.addTask {
                for await event in events {
                    view.handle(event)
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
            let why = await client.closed()
            throw failOperation("error: the connection to the hub \(target.settings.hub) ended: \(why.map { "\($0)" } ?? "closed")")
        }
        await client.disconnect()
    }
}
