import Foundation
import GatewayCore
import Logging
import Synchronization
import Testing

/// A scripted adapter: the router's unit tests need to control timing and failures, which a
/// real device cannot do on demand. The real path is covered by the integration tests.
final class ScriptedAdapter: DeviceAdapter {
    let devices: [DeviceDescriptor]
    let delay: Duration
    let failure: WriteError?
    let log = Mutex<[String]>([])

    init(devices: [DeviceDescriptor], delay: Duration = .zero, failure: WriteError? = nil) {
        self.devices = devices
        self.delay = delay
        self.failure = failure
    }

    func run(sink: ReadingSink) async throws {}

    func write(device: String, values: [String: Value]) async throws(WriteError) -> [String: Value] {
        let key = values.keys.sorted().map { "\($0)=\(values[$0]!)" }.joined(separator: ",")
        log.withLock { $0.append("start \(device) \(key)") }
        try? await Task.sleep(for: delay)
        log.withLock { $0.append("end \(device) \(key)") }
        if let failure { throw failure }
        return values
    }
}

@Suite("Command router")
struct CommandRouterTests {
    static let device = DeviceDescriptor(id: "boiler-1", protocolName: "test", points: [
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
        let result = await router.execute(Command(id: "c6", device: "boiler-1", action: .write(["setpoint": .int(20)]),
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
        let router = CommandRouter(adapters: [ScriptedAdapter(devices: [Self.device], delay: .seconds(2))],
                                   executionTimeout: .milliseconds(50), logger: logger)
        let result = await router.execute(Command(id: "c8", device: "boiler-1", action: .write(["setpoint": .int(20)])))
        #expect(result.status == .timeout)
    }

    @Test("commands to one device run one after another, in arrival order")
    func perDeviceOrder() async {
        let adapter = ScriptedAdapter(devices: [Self.device], delay: .milliseconds(20))
        let router = CommandRouter(adapters: [adapter], logger: logger)
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<5 {
                group.addTask {
                    _ = await router.execute(Command(id: "o\(i)", device: "boiler-1", action: .write(["setpoint": .int(Int64(10 + i))])))
                }
                // Arrival order is what the lane promises to keep; give each command time to arrive.
                try? await Task.sleep(for: .milliseconds(2))
            }
        }
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
}
