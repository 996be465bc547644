import ArgumentParser
import CommandSupport
import DeviceMaps
import Foundation
import GatewayCore
import MQTTClient

/// `edgegate sim doors`: zigbee2mqtt-style door sensors publishing to an MQTT broker.
struct SimDoorsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doors",
        abstract: "Publish simulated door sensors as zigbee2mqtt does (<prefix>/<door>, JSON with contact, battery, tamper), on a seeded schedule.",
        discussion: """
            Each door publishes its whole state on <prefix>/<door> at every event and every \
            --report-every, and keeps a retained {"state":"online"} on <prefix>/<door>/availability \
            and <prefix>/bridge/state ({"state":"offline"} on Ctrl-C, and as the connection's last \
            will for the bridge). The same --seed, door name and schedule options give the same \
            events as a `protocol: door-sim` device with that seed, `door` and parameters. \
            mqtts:// needs --ca (and --cert/--key for a broker that wants a client certificate); \
            plain mqtt:// only with --insecure.
            """)

    @Option(help: ArgumentHelp("The broker: mqtts://host[:port], or mqtt://host[:port] with --insecure.", valueName: "url"))
    var broker: String

    @Option(help: "How many doors, named door-1, door-2, ...")
    var doors: Int?

    @Option(help: ArgumentHelp("Door names, comma-separated (instead of --doors).", valueName: "a,b,c"))
    var names: String?

    @Option(help: "Seed of the schedules.")
    var seed: UInt64 = 1

    @Option(help: "Simulated time per real time: 60 plays a simulated minute per second.")
    var speed: Double = 1

    @Option(help: "Topic prefix, as zigbee2mqtt's base_topic.")
    var prefix: String = "zigbee2mqtt"

    @Option(help: "Mean time from one opening to the next (simulated).")
    var openEvery: DurationArgument = DurationArgument(DoorParameters.standard.openEvery)

    @Option(help: "Mean time a door stays open (simulated).")
    var openFor: DurationArgument = DurationArgument(DoorParameters.standard.openFor)

    @Option(help: "Battery level at the start, in %.")
    var battery: Int = DoorParameters.standard.battery

    @Option(help: "Battery lost per simulated day, in %.")
    var batteryDrain: Double = DoorParameters.standard.batteryDrain

    @Option(help: "Probability that an opening sets off the tamper switch.")
    var tamperRate: Double = DoorParameters.standard.tamperRate

    @Option(help: "Real time between two reports of an unchanged state.")
    var reportEvery: DurationArgument = DurationArgument(.seconds(60))

    @Option(help: ArgumentHelp("CA certificate (PEM) the broker's certificate must chain to (mqtts://).", valueName: "file"))
    var ca: String?

    @Option(help: ArgumentHelp("Client certificate (PEM), for a broker that requires one.", valueName: "file"))
    var cert: String?

    @Option(help: ArgumentHelp("The client certificate's private key (PEM).", valueName: "file"))
    var key: String?

    @Flag(help: "Allow plain, unencrypted mqtt://.")
    var insecure = false

    @Option(help: "MQTT client id (default: edgegate-sim-doors-<random>).")
    var clientId: String?

    @OptionGroup var logging: LoggingOptions

    /// The door names: --names, else door-1 … door-N (three by default).
    var doorNames: [String] {
        if let names { return names.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        return (1...(doors ?? 3)).map { "door-\($0)" }
    }

    var parameters: DoorParameters {
        DoorParameters(
            openEvery: openEvery.duration, openFor: openFor.duration, battery: battery, batteryDrain: batteryDrain,
            tamperRate: tamperRate)
    }

    func validate() throws {
        if doors != nil && names != nil { throw ValidationError("give --doors or --names, not both") }
        if let doors, !(1...1000).contains(doors) { throw ValidationError("--doors must be between 1 and 1000, found \(doors)") }
        let names = doorNames
        if let bad = names.first(where: { $0.isEmpty || $0.contains(where: { "/+#".contains($0) || $0.isWhitespace }) }) {
            throw ValidationError("door name '\(bad)' cannot be one MQTT topic level: it must not be empty or contain '/', '+', '#' or spaces")
        }
        if Set(names).count != names.count { throw ValidationError("--names lists a door twice") }
        if prefix.isEmpty || prefix.contains(where: { "+#".contains($0) || $0.isWhitespace }) {
            throw ValidationError("--prefix '\(prefix)' is not a topic prefix: no '+', '#' or spaces")
        }
        if let problem = parameters.problem {
            throw ValidationError(
                problem.replacingOccurrences(of: "'open_every'", with: "--open-every")
                    .replacingOccurrences(of: "'open_for'", with: "--open-for").replacingOccurrences(of: "'battery_drain'", with: "--battery-drain")
                    .replacingOccurrences(of: "'tamper_rate'", with: "--tamper-rate").replacingOccurrences(of: "'battery'", with: "--battery"))
        }
        if !(speed >= DoorSimSyntax.minSpeed && speed <= DoorSimSyntax.maxSpeed) {
            throw ValidationError("--speed must be between \(Value.format(DoorSimSyntax.minSpeed)) and \(Int(DoorSimSyntax.maxSpeed))")
        }
        if reportEvery.duration <= .zero { throw ValidationError("--report-every must be longer than zero") }
        _ = try options()
    }

    /// The connection options: TLS with verification for mqtts://, plain only with --insecure.
    func options() throws -> MQTTOptions {
        let url: MQTTURL
        switch MQTTURL.parse(broker) {
        case .success(let parsed): url = parsed
        case .failure(let error):
            throw ValidationError("--broker: \(error.message); use mqtts://host[:port], or mqtt://host[:port] with --insecure")
        }
        let id = clientId ?? "edgegate-sim-doors-\(UUID().uuidString.prefix(8).lowercased())"
        if url.useTLS {
            guard let ca else { throw ValidationError("--broker \(url) uses TLS: give --ca, the CA certificate the broker's certificate must chain to") }
            if (cert == nil) != (key == nil) { throw ValidationError("a client certificate needs both --cert and --key") }
            return MQTTOptions(
                host: url.host, port: url.port, clientID: id,
                tls: MQTTTLS(caFile: ca, certFile: cert, keyFile: key, verifyHostname: true))
        }
        guard insecure else {
            throw ValidationError("--broker \(url) is plain, unencrypted MQTT: add --insecure to allow it, or use mqtts:// with --ca")
        }
        if ca != nil || cert != nil || key != nil { throw ValidationError("--ca, --cert and --key need an mqtts:// broker") }
        return MQTTOptions(host: url.host, port: url.port, clientID: id)
    }

    func run() async throws {
        let logger = logging.makeLogger("edgegate.sim")
        if insecure && broker.lowercased().hasPrefix("mqtts://") {
            FileHandle.standardError.write(Data("warning: --insecure has no effect with mqtts://; TLS is always verified\n".utf8))
        }
        let simulator = DoorSensorSimulator(
            options: try options(), prefix: prefix, doors: doorNames, seed: seed,
            parameters: parameters, speed: speed, reportEvery: reportEvery.duration, logger: logger)
        try await runUntilSignalled(logger: logger) {
            do {
                try await simulator.start()
            } catch {
                throw failOperation("error: \(error)")
            }
            say(
                "Door sensors \(simulator.doors.joined(separator: ", ")) publishing to \(broker) under \(prefix)/ (seed \(seed), speed \(Value.format(speed))); Ctrl-C stops them"
            )
            return [ForegroundService { await simulator.stop() }]
        }
    }
}
