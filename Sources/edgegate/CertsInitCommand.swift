import ArgumentParser
import CommandSupport
import DevTools

/// `edgegate certs init`: CA, hub server, gateway and operator certificates.
struct CertsInitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a development PKI: CA, hub server (localhost, 127.0.0.1), gateway and operator client certificates.",
        discussion:
            "Keys are written with mode 0600. Existing files are kept unless --force is given. For development only: production PKIs belong to the site's own CA."
    )

    @Option(help: "Folder for the files.")
    var dir: String = "certs"

    @Option(help: "The gateway id: the common name of the gateway's client certificate.")
    var gatewayID: String = "gw-1"

    @Option(help: "The operator's identity: the common name of the operator's client certificate.")
    var operatorID: String = "operator"

    @Flag(help: "Replace existing files.")
    var force = false

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.makeLogger("edgegate.certs")
        let files: DevPKIFiles
        do {
            files = try await DevPKI.create(in: dir, gatewayID: gatewayID, operatorID: operatorID, force: force, logger: logger)
        } catch {
            throw failOperation("error: \(error)")
        }
        print(files.created ? "created a development PKI in \(dir):" : "kept the existing PKI in \(dir) (--force replaces it):")
        for file in files.all { print("  \(file)") }
    }
}
