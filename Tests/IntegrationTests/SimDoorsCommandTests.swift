import DevTools
import DoorSimAdapter
import Foundation
import Logging
import MQTTClient
import Synchronization
import TestSupport
import Testing

/// Every message a subscription delivers, in arrival order.
final class Subscription: Sendable {
    let connection: MQTTConnection
    private let received = Mutex<[MQTTMessage]>([])
    private let reader = Mutex<Task<Void, Never>?>(nil)

    private init(connection: MQTTConnection) {
        self.connection = connection
    }

    static func start(_ options: MQTTOptions, filter: String) async throws -> Subscription {
        let connection = try await MQTTConnection.connect(options, logger: Logger(label: "test-subscriber"))
        let subscription = Subscription(connection: connection)
        subscription.reader.withLock {
            $0 = Task { for await message in connection.messages { subscription.received.withLock { $0.append(message) } } }
        }
        try await connection.subscribe(filter, qos: 1)
        return subscription
    }

    var messages: [MQTTMessage] { received.withLock { $0 } }

    func on(_ topic: String) -> [MQTTMessage] { messages.filter { $0.topic == topic } }

    /// Waits until the messages satisfy `condition`.
    func wait(_ what: String, timeout: Duration = .seconds(30), until condition: ([MQTTMessage]) -> Bool) async throws {
        _ = try await waitFor(what, timeout: timeout) { condition(messages) ? true : nil }
    }

    func stop() async {
        await connection.disconnect()
        reader.withLock { $0?.cancel() }
    }
}

/// A zigbee2mqtt contact sensor's state message, with the types zigbee2mqtt gives its keys.
struct ContactSensorMessage: Decodable, Equatable {
    var battery: Int
    var battery_low: Bool
    var contact: Bool
    var linkquality: Int
    var tamper: Bool
    var voltage: Int
}

/// Runs `body` with a device broker and a temporary folder, and removes both afterwards,
/// also when `body` fails.
func withDeviceBroker(_ body: (TestSiteBroker, TemporaryDirectory) async throws -> Void) async throws {
    let broker = try await TestSiteBroker.start(tls: true)
    let dir = try TemporaryDirectory()
    do {
        try await body(broker, dir)
    } catch {
        Issue.record(error)
    }
    await broker.stop()
    dir.remove()
}

@Suite("edgegate sim doors", .serialized, .timeLimit(.minutes(2)))
struct SimDoorsCommandTests {
    @Test("starting the door-sensor simulator twice starts one set of doors; after stop nothing publishes any more")
    func startTwiceThenStop() async throws {
        try await withDeviceBroker { broker, _ in
            let watcher = try await Subscription.start(broker.options(clientID: "watcher"), filter: "zigbee2mqtt/+")
            let sensors = DoorSensorSimulator(
                options: broker.options(clientID: "doors"), doors: ["front"], seed: 7, speed: 2_000,
                reportEvery: .seconds(60), logger: Logger(label: "doors"))
            try await sensors.start()
            try await sensors.start()
            try await watcher.wait("a few state messages") { $0.count >= 5 }
            await sensors.stop()
            // A second set of door tasks, or one left running, would keep publishing.
            try await Task.sleep(for: .milliseconds(300))
            let afterStop = watcher.messages.count
            try await Task.sleep(for: .seconds(1))
            #expect(watcher.messages.count == afterStop)
            // Once stopped, start() does nothing either.
            try await sensors.start()
            try await Task.sleep(for: .milliseconds(500))
            #expect(watcher.messages.count == afterStop)
            await watcher.stop()
        }
    }

    static let parameters = DoorParameters(openEvery: .seconds(60), openFor: .seconds(10), battery: 30, batteryDrain: 2000, tamperRate: 0.3)
    static let scheduleArguments = [
        "--open-every", "60s", "--open-for", "10s", "--battery", "30", "--battery-drain", "2000",
        "--tamper-rate", "0.3",
    ]

    /// The states a door goes through: its initial state, then the state after each event.
    static func expectedStates(seed: UInt64, door: String, count: Int) -> [DoorState] {
        let schedule = DoorSchedule(seed: seed, door: door, parameters: parameters)
        var state = schedule.initialState
        var states = [state]
        for event in schedule.prefix(count) {
            state.apply(event)
            states.append(state)
        }
        return states
    }

    @Test("publishes zigbee2mqtt's contact-sensor messages in the schedule's order, retained availability online, offline after SIGINT")
    func publishesLikeZigbee2MQTT() async throws {
        try await withDeviceBroker { broker, dir in
            let watcher = try await Subscription.start(broker.options(clientID: "watcher"), filter: "zigbee2mqtt/#")
            let sim = try TestProcess.spawn(
                try edgegateExecutable(),
                [
                    "sim", "doors", "--broker", "mqtt://127.0.0.1:\(broker.port)", "--insecure",
                    "--names", "front,back", "--seed", "7", "--speed", "600", "--report-every", "1h",
                ]
                    + Self.scheduleArguments,
                stdout: .file(dir.file("sim.txt")), stderr: .file(dir.file("sim.err")))
            try await watcher.wait("40 states of each door") { messages in
                ["front", "back"].allSatisfy { door in messages.filter { $0.topic == "zigbee2mqtt/\(door)" }.count >= 40 }
            }

            // A subscriber that comes later finds the retained online states.
            let late = try await Subscription.start(broker.options(clientID: "late"), filter: "zigbee2mqtt/+/availability")
            try await late.wait("retained availability") { $0.count >= 2 }
            #expect(Set(late.messages.map(\.topic)) == ["zigbee2mqtt/front/availability", "zigbee2mqtt/back/availability"])
            #expect(late.messages.allSatisfy { $0.retain && String(decoding: $0.payload, as: UTF8.self) == #"{"state":"online"}"# })
            await late.stop()

            sim.signal(SIGINT)
            #expect(try await withTimeout(.seconds(15), "sim stop") { await sim.wait() } == 0)
            let output = (try? String(contentsOfFile: dir.file("sim.txt"), encoding: .utf8)) ?? ""
            #expect(
                output.contains("Door sensors front, back publishing to mqtt://127.0.0.1:\(broker.port) under zigbee2mqtt/ (seed 7, speed 600)"), "\(output)")
            let offline = #"{"state":"offline"}"#
            try await watcher.wait("offline states") { messages in
                ["zigbee2mqtt/front/availability", "zigbee2mqtt/back/availability", "zigbee2mqtt/bridge/state"].allSatisfy { topic in
                    messages.last { $0.topic == topic }.map { String(decoding: $0.payload, as: UTF8.self) } == offline
                }
            }
            let messages = watcher.messages
            #expect(
                Set(messages.map(\.topic)) == [
                    "zigbee2mqtt/bridge/state", "zigbee2mqtt/front", "zigbee2mqtt/front/availability",
                    "zigbee2mqtt/back", "zigbee2mqtt/back/availability",
                ])
            // Online first, before any state; offline last, after every state.
            let availability = messages.filter { $0.topic.hasSuffix("/availability") || $0.topic.hasSuffix("/bridge/state") }
            #expect(
                availability.map { String(decoding: $0.payload, as: UTF8.self) } == Array(repeating: #"{"state":"online"}"#, count: 3)
                    + Array(repeating: offline, count: 3))
            let firstState = messages.firstIndex { $0.topic == "zigbee2mqtt/front" || $0.topic == "zigbee2mqtt/back" }!
            #expect(messages.prefix(firstState).count == 3)
            #expect(messages.suffix(3).allSatisfy { String(decoding: $0.payload, as: UTF8.self) == offline })

            for door in ["front", "back"] {
                let states = watcher.on("zigbee2mqtt/\(door)")
                // Exactly zigbee2mqtt's keys, with its types.
                for message in states {
                    let object = try #require(try JSONSerialization.jsonObject(with: Data(message.payload)) as? [String: Any])
                    #expect(Set(object.keys) == ["battery", "battery_low", "contact", "linkquality", "tamper", "voltage"])
                    #expect(!message.retain && message.qos == 1)
                }
                let decoded = try states.map { try JSONDecoder().decode(ContactSensorMessage.self, from: Data($0.payload)) }
                #expect(Set(decoded.map(\.linkquality)).count == 1)
                // The states follow the door's schedule, each once (a periodic report would repeat one).
                var distinct: [ContactSensorMessage] = []
                for message in decoded where distinct.last != message { distinct.append(message) }
                let expected = Self.expectedStates(seed: 7, door: door, count: distinct.count + 10).map { state in
                    ContactSensorMessage(
                        battery: state.battery, battery_low: state.battery <= 20, contact: !state.open,
                        linkquality: decoded[0].linkquality, tamper: state.tamper, voltage: 2500 + 6 * state.battery)
                }
                var expectedDistinct: [ContactSensorMessage] = []
                for message in expected where expectedDistinct.last != message { expectedDistinct.append(message) }
                #expect(Array(expectedDistinct.prefix(distinct.count)) == distinct, "\(door)")
                #expect(decoded.contains { !$0.contact } && decoded.contains { $0.tamper } && decoded.contains { $0.battery_low }, "\(door)")
            }

            // The retained states a newcomer finds after the simulator stopped.
            let after = try await Subscription.start(broker.options(clientID: "after"), filter: "zigbee2mqtt/#")
            try await after.wait("retained offline states") { $0.count >= 3 }
            #expect(after.messages.allSatisfy { $0.retain && String(decoding: $0.payload, as: UTF8.self) == offline })
            await after.stop()
            await watcher.stop()
        }
    }

    @Test("over mutual TLS with --ca, --cert and --key; SIGTERM stops it with exit 0")
    func publishesOverTLS() async throws {
        try await withDeviceBroker { broker, dir in
            let pki = try #require(broker.pki)
            let tlsPort = try #require(broker.tlsPort)
            let tls = MQTTOptions(
                host: "127.0.0.1", port: tlsPort, clientID: "tls-watcher",
                tls: MQTTTLS(caFile: pki.caCert, certFile: pki.operatorCert, keyFile: pki.operatorKey))
            let watcher = try await Subscription.start(tls, filter: "site/#")
            let sim = try TestProcess.spawn(
                try edgegateExecutable(),
                [
                    "sim", "doors", "--broker", "mqtts://127.0.0.1:\(tlsPort)", "--doors", "2", "--prefix", "site",
                    "--ca", pki.caCert, "--cert", pki.gatewayCert, "--key", pki.gatewayKey, "--speed", "600",
                ]
                    + Self.scheduleArguments,
                stdout: .file(dir.file("sim.txt")), stderr: .file(dir.file("sim.err")))
            try await watcher.wait("states of door-1 and door-2") { messages in
                ["site/door-1", "site/door-2"].allSatisfy { topic in messages.contains { $0.topic == topic } }
            }
            sim.signal(SIGTERM)
            #expect(try await withTimeout(.seconds(15), "sim stop") { await sim.wait() } == 0)
            let states = watcher.on("site/door-1").map { try? JSONDecoder().decode(ContactSensorMessage.self, from: Data($0.payload)) }
            #expect(states.first??.contact == true && states.first??.battery == 30)
            await watcher.stop()
        }
    }

    @Test("usage errors exit 2: plain mqtt:// without --insecure, mqtts:// without --ca, --doors with --names, impossible parameters")
    func usageErrors() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cases: [([String], String)] = [
            (["--broker", "mqtt://127.0.0.1:1883"], "add --insecure to allow it"),
            (["--broker", "mqtts://127.0.0.1:8883"], "give --ca"),
            (["--broker", "mqtt://127.0.0.1:1883", "--insecure", "--doors", "2", "--names", "a,b"], "give --doors or --names, not both"),
            (["--broker", "mqtt://127.0.0.1:1883", "--insecure", "--names", "a,b/c"], "door name 'b/c' cannot be one MQTT topic level"),
            (
                ["--broker", "mqtt://127.0.0.1:1883", "--insecure", "--open-every", "10s", "--open-for", "20s"],
                "--open-every (10s) must be longer than --open-for (20s)"
            ),
            (["--broker", "http://127.0.0.1"], "--broker: url scheme 'http' is not supported; use mqtts://host[:port], or mqtt://host[:port] with --insecure"),
        ]
        for (arguments, message) in cases {
            let (status, output) = try await runEdgegate(["sim", "doors"] + arguments, in: dir)
            #expect(status == 2, "\(arguments)")
            #expect(output.contains(message), "\(arguments): \(output)")
        }
        // A broker that is not there: the operation failed, exit 1, saying where.
        let port = try freeLoopbackPort()
        let (status, output) = try await runEdgegate(["sim", "doors", "--broker", "mqtt://127.0.0.1:\(port)", "--insecure"], in: dir)
        #expect(status == 1)
        #expect(output.contains("127.0.0.1:\(port)"), "\(output)")
    }

    @Test("help: sim lists doors; sim doors names its topics, payload keys, availability and the TLS options")
    func help() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        func help(_ arguments: [String]) async throws -> String { try await helpText(arguments, in: dir) }
        #expect(try await help(["sim"]).contains("doors Publish simulated door sensors as zigbee2mqtt does"))
        let doors = try await help(["sim", "doors"])
        for part in [
            "<prefix>/<door>", "contact, battery, tamper", #"{"state":"online"}"#, "<prefix>/<door>/availability",
            "--broker <url>", "--names <a,b,c>", "--seed", "--speed", "--ca <file>", "--cert <file>", "--key <file>",
            "--insecure", "--open-every", "--tamper-rate", "protocol: door-sim",
        ] {
            #expect(doors.contains(part), "\(part) in: \(doors)")
        }
    }

    @Test("an independent implementation of the schedule (Peers/door_schedule.py) gives the same 500 events for several seeds and doors")
    func independentImplementationAgrees() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        for (seed, door, p) in [(7 as UInt64, "front", Self.parameters), (0, "door-1", .standard), (123_456_789, "Küche", Self.parameters)] {
            let out = dir.file("\(seed).txt")
            let ms = { (d: Duration) in "\(d.components.seconds * 1000)" }
            let peer = try TestProcess.spawn(
                try peerPython(),
                [
                    peerScript("door_schedule.py"), "\(seed)", door, ms(p.openEvery), ms(p.openFor), "\(p.battery)",
                    "\(p.batteryDrain)", "\(p.tamperRate)", "500",
                ],
                stdout: .file(out), stderr: .file(dir.file("err.txt")))
            #expect(try await withTimeout(.seconds(30), "door_schedule.py") { await peer.wait() } == 0)
            let theirs = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init)
            let ours = DoorSchedule(seed: seed, door: door, parameters: p).prefix(500).map(\.description)
            #expect(theirs == ours, "seed \(seed), door \(door)")
        }
    }
}
