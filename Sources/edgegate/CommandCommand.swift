import ArgumentParser

/// `edgegate command ...`: the remote command CLI, talking to gateways through the hub.
struct CommandCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "command",
        abstract: "Send commands to gateways, list their devices and watch them, through the hub.",
        discussion: """
            Connects as the operator with mutual TLS. Settings come from flags, else the environment \
            (EDGEGATE_HUB=mqtts://host:port, EDGEGATE_CERTS, EDGEGATE_IDENTITY, EDGEGATE_GATEWAY, \
            EDGEGATE_PREFIX), else ~/.config/edgegate/cli.yaml ($XDG_CONFIG_HOME/edgegate/cli.yaml when \
            set; keys hub, certs, identity, gateway, prefix), else the defaults of the development hub.
            """,
        subcommands: [CommandSendCommand.self, CommandDevicesCommand.self, CommandWatchCommand.self])
}
