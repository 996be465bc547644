import Foundation
import Gateway
import TestSupport
import Testing

@Suite("sd_notify: the datagram to $NOTIFY_SOCKET")
struct SystemdNotifyTests {
    @Test("no $NOTIFY_SOCKET: nothing is sent and there is no watchdog to feed")
    func noSocket() {
        let notifier = SystemdNotifier(environment: ["WATCHDOG_USEC": "1000000"], pid: 42)
        #expect(notifier.address == nil)
        #expect(!notifier.isEnabled)
        #expect(!notifier.notify("READY=1"))
        // Addresses this implementation does not speak: relative paths, vsock, an empty name.
        for other in ["", "notify.sock", "vsock:2:1234", "@"] {
            #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": other]).address == nil, "\(other)")
        }
        let tooLong = "/" + String(repeating: "x", count: 120)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": tooLong]).address == nil, "beyond sun_path")
    }

    @Test("an abstract socket (@name) receives each state as one datagram")
    func abstractSocket() throws {
        let name = "@edgegate-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        let socket = try NotifySocket(name)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": name])
        #expect(notifier.address == .abstract(String(name.dropFirst())))
        #expect(notifier.notify("READY=1"))
        #expect(notifier.notify("STATUS=uplink connected\nX=1"))
        #expect(socket.messages == ["READY=1", "STATUS=uplink connected\nX=1"])
    }

    @Test("a socket file receives each state as one datagram; with no socket there yet, sending reports false and nothing fails")
    func pathSocket() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("notify.sock")
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        #expect(notifier.address == .path(path))
        #expect(!notifier.notify("READY=1"), "no socket there yet")
        let socket = try NotifySocket(path)
        #expect(notifier.notify("READY=1"))
        #expect(notifier.notify("STOPPING=1"))
        #expect(socket.messages == ["READY=1", "STOPPING=1"])
    }

    @Test("the watchdog: $WATCHDOG_USEC when $WATCHDOG_PID is unset or ours, none for another process or a bad value")
    func watchdog() {
        let socket = ["NOTIFY_SOCKET": "/run/systemd/notify"]
        #expect(SystemdNotifier(environment: socket.merging(["WATCHDOG_USEC": "30000000"]) { $1 }, pid: 7).watchdog == .seconds(30))
        #expect(SystemdNotifier(environment: socket.merging(["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "7"]) { $1 }, pid: 7).watchdog == .seconds(2))
        #expect(SystemdNotifier(environment: socket.merging(["WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "8"]) { $1 }, pid: 7).watchdog == nil)
        for bad in ["0", "-5", "soon", ""] {
            #expect(SystemdNotifier(environment: socket.merging(["WATCHDOG_USEC": bad]) { $1 }, pid: 7).watchdog == nil, "\(bad)")
        }
        #expect(SystemdNotifier(environment: socket, pid: 7).watchdog == nil)
    }
}
