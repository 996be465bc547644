import DevTools
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The sd_notify protocol from a real `edgegate run`, heard on a socket as systemd would listen.
@Suite("systemd notifications from a real daemon", .serialized, .timeLimit(.minutes(2)))
struct SystemdNotifyDaemonTests {
    @Test("run under NOTIFY_SOCKET: READY=1, STATUS= with the uplink state, WATCHDOG=1, RELOADING=1 … READY=1 around SIGHUP, STOPPING=1 on SIGTERM")
    func daemon() async throws {
        try await Plant.run { plant in
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let configuration = try Daemon.writeBoilerConfiguration(for: plant, in: dir, extra: "outbox: { path: \(dir.file("outbox.sqlite")) }")
            let socket = try NotifySocket(dir.file("notify.sock"))
            let daemon = try await Daemon.start(
                configuration: configuration, in: dir,
                environment: ["NOTIFY_SOCKET": socket.address, "WATCHDOG_USEC": "1000000"])
            // A second's watchdog: a keep-alive every half second.
            do {
                _ = try await waitFor("three keep-alives and the connected status", timeout: .seconds(30)) {
                    let messages = socket.messages
                    let keepAlives = messages.filter { $0 == "WATCHDOG=1" }.count
                    return keepAlives >= 3 && messages.contains { $0.hasPrefix("STATUS=uplink connected") } ? true : nil
                }
                // SIGHUP (ExecReload): RELOADING=1 while the maps reload, READY=1 once done.
                daemon.process.signal(SIGHUP)
                _ = try await waitFor("READY=1 after the reload", timeout: .seconds(30)) {
                    socket.messages.filter { $0 == "READY=1" }.count >= 2 ? true : nil
                }
            } catch {
                _ = try? await daemon.stop()
                throw error
            }
            #expect(try await daemon.stop() == 0)
            let messages = socket.messages
            #expect(messages.first == "READY=1", "\(messages)")
            #expect(messages.last == "STOPPING=1", "\(messages)")
            let readies = messages.indices.filter { messages[$0] == "READY=1" }
            #expect(readies.count == 2, "\(messages)")
            let reloading = try #require(messages.firstIndex { $0.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") }, "\(messages)")
            #expect(readies.first! < reloading && reloading < readies.last!, "\(messages)")
            #expect(daemon.log.contains("SIGHUP"), "the reload was the signal's: \(daemon.log)")
            #expect(messages.filter { $0 == "STOPPING=1" }.count == 1, "\(messages)")
            let ready = try #require(messages.firstIndex(of: "READY=1"))
            let firstStatus = try #require(messages.firstIndex { $0.hasPrefix("STATUS=") }, "\(messages)")
            let firstKeepAlive = try #require(messages.firstIndex(of: "WATCHDOG=1"), "\(messages)")
            #expect(ready < firstStatus && firstStatus < firstKeepAlive, "\(messages)")
            let statuses = messages.filter { $0.hasPrefix("STATUS=") }
            #expect(statuses.contains { $0.contains("uplink connected") && $0.contains("outbox") && $0.contains("1 devices") }, "\(statuses)")
            // Only changes are sent: no two equal statuses in a row.
            #expect(zip(statuses, statuses.dropFirst()).allSatisfy { $0 != $1 }, "\(statuses)")
        }
    }
}
