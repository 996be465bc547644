import Foundation
import GatewayCore
import Logging
import MetricsTestKit
import Synchronization
import Testing

/// A scripted adapter: the router's unit tests need to control timing and failures, which a
/// real device cannot do on demand. The real path is covered by the integration tests.
/// Holds writes until the test opens it: a device busy for exactly as long as the test needs.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// Returns once the gate is open.
    func pass() async {
        await withCheckedContinuation { c in
            let open = state.withLock { s -> Bool in
                if !s.open { s.waiters.append(c) }
                return s.open
            }
            if open { c.resume() }
        }
    }

    /// Lets every waiting and later write through.
    func open() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

final class ScriptedAdapter: DeviceAdapter {
    let delay: Duration
    let failure: WriteError?
    /// When set, a write runs until the gate opens, and cancellation does not end it: like a
    /// blocking C library, a request once started runs to its end.
    let gate: Gate?
    let log = Mutex<[String]>([])
    private let deviceSet: Mutex<[DeviceDescriptor]>

    var devices: [DeviceDescriptor] { deviceSet.withLock { $0 } }

    /// Serves other devices from now on, as an adapter does after a reload of the maps.
    func setDevices(_ devices: [DeviceDescriptor]) {
        deviceSet.withLock { $0 = devices }
    }

    init(devices: [DeviceDescriptor], delay: Duration = .zero, failure: WriteError? = nil, gate: Gate? = nil) {
        self.deviceSet = Mutex(devices)
        self.gate = gate
        self.delay = delay
        self.failure = failure
    }

    func run(sink: ReadingSink) async throws {}

    func write(device: String, values: [String: Value]) async throws(WriteError) -> [String: Value] {
        let key = values.keys.sorted().map { "\($0)=\(values[$0]!)" }.joined(separator: ",")
        log.withLock { $0.append("start \(device) \(key)") }
        if let gate {
            await gate.pass()
        } else {
            try? await Task.sleep(for: delay)
        }
        log.withLock { $0.append("end \(device) \(key)") }
        if let failure { throw failure }
        return values
    }
}

@Suite("Command router")
struct CommandRouterTests {
    static let device = DeviceDescriptor(
        id: "boiler-1", protocolName: "test",
        points: [
            PointDescriptor(name: "setpoint", kind: .number, access: .readwrite, min: 5, max: 90, typeName: "int16"),
            PointDescriptor(name: "temperature", kind: .number, access: .read, typeName: "int16"),
        ])
    let logger = Logger(label: "test")

    @Test("a valid write runs and returns the read-back values")
    func ok() async {
        let router = CommandRouter(adapters: [ScriptedAdapter(devices: [Self.device])], logger: logger)
        let result = await router.execute(Command(id: "c1", device: "boiler-1", action: .write(["setpoint": .double(21.5)])))
        #expect(result.status == .ok)
        #expect(result.id == "c1")
        #expect(result.values == ["setpoint": .double(21.5)])
    }

    @Test("each answer counts once under its status and its duration, a repeated id as duplicate")
    func metrics() async throws {
        let metrics = TestMetrics()
        let router = CommandRouter(adapters: [ScriptedAdapter(devices: [Self.device])], logger: logger, metrics: metrics)
        let write = Command(id: "m1", device: "boiler-1", action: .write(["setpoint": .double(21.5)]))
        _ = await router.execute(write)
        _ = await router.execute(write)
        _ = await router.execute(Command(id: "m2", device: "boiler-9", action: .write(["setpoint": .int(20)])))
        let count = { (status: String) in try metrics.expectCounter("edgegate_commands_total", [("status", status)]).totalValue }
        #expect(try count("ok") == 1)
        #expect(try count("duplicate") == 1)
        #expect(try count("unknown_device") == 1)
        #expect(try count("failed") == 0)
        #expect(try metrics.expectTimer("edgegate_command_duration_seconds").values.count == 3)
    }

    @Test("an unknown device gets unknown_device and lists the known ones")
    func unknownDevice() async {
        let router = CommandRouter(adapters: [ScriptedAdapter(devices: [Self.device])], logger: logger)
        let result = await router.execute(Command(id: "c2", device: "boiler-9", action: .write(["setpoint": .int(20)])))
        #expect(result.status == .unknownDevice)
        #expect(result.message.contains("boiler-9") && result.message.contains("boiler-1"))
    }

    @Test("invalid writes are rejected and never reach the adapter")
    func rejected() async {
        let adapter = ScriptedAdapter(devices: [Self.device])
        let router = CommandRouter(adapters: [adapter], logger: logger)
        let readOnly = await router.execute(Command(id: "c3", device: "boiler-1", action: .write(["temperature": .int(20)])))
        let tooHigh = await router.execute(Command(id: "c4", device: "boiler-1", action: .write(["setpoint": .int(95)])))
        let named = await router.execute(Command(id: "c5", device: "boiler-1", action: .named("start", arguments: [:])))
        #expect(readOnly.status == .rejected)
        #expect(tooHigh.status == .rejected)
        #expect(named.status == .rejected)
        #expect(adapter.log.withLock { $0 }.isEmpty)
    }

    @Test("an expired command is not executed")
    func expired() async {
        let adapter = ScriptedAdapter(devices: [Self.device])
        let router = CommandRouter(adapters: [adapter], logger: logger)
        let result = await router.execute(
            Command(
                id: "c6", device: "boiler-1", action: .write(["setpoint": .int(20)]),
                expiresAt: Date().addingTimeInterval(-1)))
        #expect(result.status == .expired)
        #expect(adapter.log.withLock { $0 }.isEmpty)
    }

    @Test("adapter failures map to rejected and failed")
    func adapterErrors() async {
        let rejecting = CommandRouter(adapters: [ScriptedAdapter(devices: [Self.device], failure: .rejected("does not fit"))], logger: logger)
        let failing = CommandRouter(adapters: [ScriptedAdapter(devices: [Self.device], failure: .failed("no answer"))], logger: logger)
        let command = Command(id: "c7", device: "boiler-1", action: .write(["setpoint": .int(20)]))
        let r1 = await rejecting.execute(command)
        let r2 = await failing.execute(command)
        #expect(r1.status == .rejected && r1.message == "does not fit")
        #expect(r2.status == .failed && r2.message == "no answer")
    }

    @Test("a device slower than the execution timeout yields timeout")
    func timeout() async {
        let router = CommandRouter(
            adapters: [ScriptedAdapter(devices: [Self.device], delay: .seconds(2))],
            executionTimeout: .milliseconds(50), logger: logger)
        let result = await router.execute(Command(id: "c8", device: "boiler-1", action: .write(["setpoint": .int(20)])))
        #expect(result.status == .timeout)
    }

    @Test("the timeout answers on time even when the device cannot be interrupted, and the next command waits for it")
    func timeoutBound() async {
        let gate = Gate()
        let adapter = ScriptedAdapter(devices: [Self.device], gate: gate)
        let router = CommandRouter(adapters: [adapter], executionTimeout: .milliseconds(50), logger: logger)
        let slow = await router.execute(Command(id: "t1", device: "boiler-1", action: .write(["setpoint": .int(20)])))
        #expect(slow.status == .timeout)
        // The answer came while the device was still busy (the gate is shut), not when it finished.
        #expect(adapter.log.withLock { $0 } == ["start boiler-1 setpoint=20"])
        // The write is still running at the device: the next command must not interleave with it.
        let next = router.submit(Command(id: "t2", device: "boiler-1", action: .write(["setpoint": .int(21)])))
        // Time for a router without lanes to start it now (it would show as a second start).
        try? await Task.sleep(for: .milliseconds(100))
        gate.open()
        _ = await next.value
        let log = adapter.log.withLock { $0 }
        #expect(log.prefix(2) == ["start boiler-1 setpoint=20", "end boiler-1 setpoint=20"])
        #expect(log.count >= 3 && log[2] == "start boiler-1 setpoint=21")
    }

    @Test("a repeated command id is answered duplicate with the first result and never executed twice")
    func duplicates() async {
        let adapter = ScriptedAdapter(devices: [Self.device], delay: .milliseconds(50))
        let router = CommandRouter(adapters: [adapter], logger: logger)
        let command = Command(id: "d1", device: "boiler-1", action: .write(["setpoint": .int(20)]))
        async let a = router.execute(command)
        async let b = router.execute(command)
        let results = await [a, b]
        let again = await router.execute(command)
        #expect(results.map(\.status).sorted { $0.rawValue < $1.rawValue } == [.duplicate, .ok])
        #expect(again.status == .duplicate)
        #expect(again.values == ["setpoint": .int(20)])
        #expect(again.message.contains("already received"))
        #expect(adapter.log.withLock { $0 }.filter { $0.hasPrefix("start") }.count == 1)
        // A rejected id stays rejected: the repeat does not get a second chance to run.
        let bad = Command(id: "d2", device: "boiler-1", action: .write(["setpoint": .int(500)]))
        #expect(await router.execute(bad).status == .rejected)
        #expect(await router.execute(bad).status == .duplicate)
    }

    @Test("the duplicate window is bounded: the oldest ids are forgotten first")
    func boundedWindow() async {
        let adapter = ScriptedAdapter(devices: [Self.device])
        let router = CommandRouter(adapters: [adapter], rememberedCommands: 2, logger: logger)
        for id in ["a", "b", "c"] {
            _ = await router.execute(Command(id: id, device: "boiler-1", action: .write(["setpoint": .int(20)])))
        }
        #expect(await router.execute(Command(id: "c", device: "boiler-1", action: .write(["setpoint": .int(20)]))).status == .duplicate)
        #expect(await router.execute(Command(id: "a", device: "boiler-1", action: .write(["setpoint": .int(20)]))).status == .ok)
    }

    @Test("commands to one device run one after another, in arrival order")
    func perDeviceOrder() async {
        let adapter = ScriptedAdapter(devices: [Self.device], delay: .milliseconds(20))
        let router = CommandRouter(adapters: [adapter], logger: logger)
        // Arrival is the `submit` call: the five arrive in this order, one right after the
        // other, so that each would start while the one before still runs (20 ms) unless the
        // device's lane makes it wait. No pause decides the order.
        let tasks = (0..<5).map { i in
            router.submit(Command(id: "o\(i)", device: "boiler-1", action: .write(["setpoint": .int(Int64(10 + i))])))
        }
        for task in tasks { #expect(await task.value.status == .ok) }
        let log = adapter.log.withLock { $0 }
        #expect(log.count == 10)
        // Never two starts in a row: executions do not interleave.
        for i in stride(from: 0, to: log.count, by: 2) {
            #expect(log[i].hasPrefix("start") && log[i + 1].hasPrefix("end"))
            #expect(log[i].dropFirst(6) == log[i + 1].dropFirst(4))
        }
        let order = log.filter { $0.hasPrefix("start") }.map { $0.split(separator: "=").last! }
        #expect(order == ["10", "11", "12", "13", "14"])
    }

    @Test("submit takes the command's place in its device's queue at the call: 200 back-to-back submissions run in that order")
    func submitOrder() async {
        let adapter = ScriptedAdapter(devices: [Self.device, Self.valve])
        let router = CommandRouter(adapters: [adapter], logger: logger)
        // No pause between submissions: only the order of the calls can decide.
        var tasks: [Task<CommandResult, Never>] = []
        for i in 0..<200 {
            let n = Int64(i / 2)
            let command =
                i % 2 == 0
                ? Command(id: "s\(i)", device: "boiler-1", action: .write(["setpoint": .double(5 + Double(n) / 2)]))
                : Command(id: "s\(i)", device: "valve-3", action: .write(["position": .int(n)]))
            tasks.append(router.submit(command))
        }
        var statuses: [CommandStatus] = []
        for task in tasks { statuses.append(await task.value.status) }
        #expect(statuses == Array(repeating: .ok, count: 200))
        let starts = adapter.log.withLock { $0 }.filter { $0.hasPrefix("start") }
        let boiler = starts.filter { $0.contains("boiler-1") }.map { Double($0.split(separator: "=").last!)! }
        let valve = starts.filter { $0.contains("valve-3") }.map { Int($0.split(separator: "=").last!)! }
        #expect(boiler == (0..<100).map { 5 + Double($0) / 2 })
        #expect(valve == Array(0..<100))
    }

    @Test("a device's own command timeout replaces the router's default")
    func perDeviceTimeout() async {
        var quick = Self.device
        quick.commandTimeout = .milliseconds(50)
        let slowQuick = ScriptedAdapter(devices: [quick], delay: .seconds(2))
        let patient = ScriptedAdapter(devices: [Self.valve], delay: .milliseconds(300))
        // Default 10 s: the valve's 300 ms write finishes; the boiler's own 50 ms does not.
        let router = CommandRouter(adapters: [slowQuick, patient], logger: logger)
        async let boiler = router.execute(Command(id: "p1", device: "boiler-1", action: .write(["setpoint": .int(20)])))
        async let valve = router.execute(Command(id: "p2", device: "valve-3", action: .write(["position": .int(20)])))
        let (b, v) = await (boiler, valve)
        #expect(b.status == .timeout)
        #expect(b.message.contains("within 50ms"), "\(b.message)")
        #expect(v.status == .ok)
    }

    @Test("a command whose expiry passes while it waits behind a slow one is answered expired and never reaches the device")
    func expiresWhileQueued() async {
        let adapter = ScriptedAdapter(devices: [Self.device], delay: .milliseconds(400))
        let router = CommandRouter(adapters: [adapter], logger: logger)
        let slow = router.submit(Command(id: "q1", device: "boiler-1", action: .write(["setpoint": .int(20)])))
        let waiting = router.submit(
            Command(
                id: "q2", device: "boiler-1", action: .write(["setpoint": .int(21)]),
                expiresAt: Date().addingTimeInterval(0.1)))
        #expect(await slow.value.status == .ok)
        let late = await waiting.value
        #expect(late.status == .expired)
        #expect(late.message.contains("before it could run"))
        #expect(adapter.log.withLock { $0 } == ["start boiler-1 setpoint=20", "end boiler-1 setpoint=20"])
    }

    static let valve = DeviceDescriptor(
        id: "valve-3", protocolName: "test",
        points: [
            PointDescriptor(name: "position", kind: .integer, access: .readwrite, min: 0, max: 100, typeName: "uint16")
        ])

    /// The boiler with its setpoint limited to 50 instead of 90.
    static let limitedBoiler = DeviceDescriptor(
        id: "boiler-1", protocolName: "test",
        points: [
            PointDescriptor(name: "setpoint", kind: .number, access: .readwrite, min: 5, max: 50, typeName: "int16"),
            PointDescriptor(name: "temperature", kind: .number, access: .read, typeName: "int16"),
        ])

    @Test("after an update: a removed device is unknown, a changed one is checked against its new limits, an added one is reachable")
    func update() async {
        let adapter = ScriptedAdapter(devices: [Self.device, Self.valve])
        let router = CommandRouter(adapters: [adapter], logger: logger)
        #expect(await router.execute(Command(id: "u1", device: "boiler-1", action: .write(["setpoint": .int(80)]))).status == .ok)

        let pump = DeviceDescriptor(
            id: "pump-2", protocolName: "test",
            points: [
                PointDescriptor(name: "run", kind: .bool, access: .readwrite, typeName: "bool")
            ])
        adapter.setDevices([Self.limitedBoiler, pump])
        router.update(adapters: [adapter])
        #expect(router.devices.map(\.id) == ["boiler-1", "pump-2"])

        let tooHigh = await router.execute(Command(id: "u2", device: "boiler-1", action: .write(["setpoint": .int(80)])))
        #expect(tooHigh.status == .rejected)
        #expect(tooHigh.message.contains("maximum 50"), "\(tooHigh.message)")
        let gone = await router.execute(Command(id: "u3", device: "valve-3", action: .write(["position": .int(10)])))
        #expect(gone.status == .unknownDevice)
        #expect(gone.message.contains("known: boiler-1, pump-2"), "\(gone.message)")
        #expect(await router.execute(Command(id: "u4", device: "pump-2", action: .write(["run": .bool(true)]))).status == .ok)
        #expect(adapter.log.withLock { $0 }.filter { $0.hasPrefix("start") } == ["start boiler-1 setpoint=80", "start pump-2 run=true"])
    }

    @Test("an update keeps the lane of a device that stays: its next command still waits for the one running before")
    func updateKeepsLanes() async {
        // The first write runs until the gate opens: surely still running when the update comes.
        let gate = Gate()
        let adapter = ScriptedAdapter(devices: [Self.device], gate: gate)
        let router = CommandRouter(adapters: [adapter], executionTimeout: .milliseconds(50), logger: logger)
        let slow = await router.execute(Command(id: "l1", device: "boiler-1", action: .write(["setpoint": .int(20)])))
        #expect(slow.status == .timeout)
        // Still running at the device when the maps change.
        #expect(adapter.log.withLock { $0 } == ["start boiler-1 setpoint=20"])
        adapter.setDevices([Self.limitedBoiler])
        router.update(adapters: [adapter])
        let next = router.submit(Command(id: "l2", device: "boiler-1", action: .write(["setpoint": .int(21)])))
        // Time for a router that lost the lane to start it now (it would show as a second start).
        try? await Task.sleep(for: .milliseconds(100))
        gate.open()
        _ = await next.value
        let log = adapter.log.withLock { $0 }
        #expect(log.prefix(2) == ["start boiler-1 setpoint=20", "end boiler-1 setpoint=20"])
        #expect(log.count >= 3 && log[2] == "start boiler-1 setpoint=21")
    }

    @Test("a repeat that only the ledger remembers (from before a restart) is answered duplicate and not executed")
    func ledgerAcrossRestart() async {
        let ledger = DictionaryLedger()
        let adapter = ScriptedAdapter(devices: [Self.device])
        let before = CommandRouter(adapters: [adapter], ledger: ledger, logger: logger)
        #expect(await before.execute(Command(id: "r1", device: "boiler-1", action: .write(["setpoint": .int(20)]))).status == .ok)
        // A new router (the gateway restarted) with an empty memory, the same ledger.
        let after = CommandRouter(adapters: [adapter], ledger: ledger, logger: logger)
        let again = await after.execute(Command(id: "r1", device: "boiler-1", action: .write(["setpoint": .int(20)])))
        #expect(again.status == .duplicate)
        #expect(again.message.contains("already received (ok"), "\(again.message)")
        #expect(adapter.log.withLock { $0 }.filter { $0.hasPrefix("start") }.count == 1)
        #expect(await after.execute(Command(id: "r2", device: "boiler-1", action: .write(["setpoint": .int(21)]))).status == .ok)
    }
}

/// A ledger in a dictionary: the router's use of the protocol, without a file (the SQLite
/// ledger has its own tests).
final class DictionaryLedger: CommandLedger {
    private let results = Mutex<[String: CommandResult]>([:])
    func result(for id: String) -> CommandResult? { results.withLock { $0[id] } }
    func record(_ result: CommandResult) { results.withLock { $0[result.id] = $0[result.id] ?? result } }
}
