import ArgumentParser
import DeviceMaps
import Gateway

/// `edgegate map schema`: the JSON Schema of the format, for editors and tools.
struct MapSchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema (draft 2020-12) of the device-map format.",
        discussion: """
            Save it (edgegate map schema > devicemap.schema.json) and start a map with
            # yaml-language-server: $schema=./devicemap.schema.json
            for completion and checks in editors that use the YAML language server.
            """)

    func run() {
        print(DeviceMapSchema.json(protocols: ProtocolRegistry.standard.syntaxes))
    }
}
