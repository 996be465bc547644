import ArgumentParser
import DeviceMaps
import Gateway
import MapReports

/// `edgegate map new`: a commented template that validates as printed.
struct MapNewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Print a commented device-map template that validates as printed.",
        discussion: """
            The template shows one example of each kind of key of its protocol (modbus: the \
            register types, a string with its length, a bit of a register, an enum with names, a \
            named command with an argument, report policies; mqtt, hue and door-sim: their point \
            keys and a named command). The device's id is --id, else <profile>-1 or <protocol>-1, so \
            templates saved into one folder do not collide. Redirect it into a file under \
            devicemaps/ and edit: edgegate map new --profile chiller > devicemaps/chiller.yaml
            """)

    @Option(help: "Protocol of the template: \(MapNewCommand.protocolList).")
    var `protocol`: String = "modbus"

    @Option(help: "Also write the points as a reusable profile with this name, and a device that uses it.")
    var profile: String?

    @Option(
        help: ArgumentHelp(
            "The device's id (letters, digits, '-', '_', '.'; a letter first).",
            discussion: "Default: <profile>-1 with --profile, else <protocol>-1."))
    var id: String?

    /// `modbus, mqtt, door-sim or hue`: the protocols of this build.
    static var protocolList: String {
        let names = ProtocolRegistry.standard.plugins.map(\.name)
        return names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
    }

    func validate() throws {
        guard ProtocolRegistry.standard.plugin(named: `protocol`) != nil else {
            let known = ProtocolRegistry.standard.plugins.map(\.name).joined(separator: ", ")
            throw ValidationError("protocol '\(`protocol`)' has no template yet; supported: \(known)")
        }
        if let profile, profile.isEmpty || profile.contains(where: { $0.isWhitespace || $0 == ":" }) {
            throw ValidationError("--profile needs a name without spaces or ':'")
        }
        if let id, !MapNew.isPlainID(id) {
            throw ValidationError("--id '\(id)': use letters, digits, '-', '_' and '.', starting with a letter")
        }
    }

    func run() throws {
        // `validate()` found the plugin.
        let plugin = ProtocolRegistry.standard.plugin(named: `protocol`)!
        print(
            MapNew.text(of: plugin, profile: profile, id: id ?? MapNew.defaultID(protocol: `protocol`, profile: profile)),
            terminator: "")
    }
}
