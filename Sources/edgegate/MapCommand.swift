import ArgumentParser

/// `edgegate map ...`: device-map authoring.
struct MapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "Device-map authoring: validate, show, start from a template, read a device once.",
        subcommands: [MapValidateCommand.self, MapShowCommand.self, MapNewCommand.self, MapReadCommand.self, MapSchemaCommand.self, MapPlanCommand.self])
}
