import Foundation

/// The Python of `.venv-tests` (pymodbus, paho-mqtt, PyYAML). Missing means the README's test
/// command was not used: fail with the way out rather than skip.
public func peerPython() throws -> String {
    let python = DocumentationSamples.repositoryRoot + "/.venv-tests/bin/python"
    guard FileManager.default.isExecutableFile(atPath: python) else {
        throw TestHubError(description: "\(python) is missing: run scripts/test (or scripts/install-deps --test-peers) to install the test peers")
    }
    return python
}

/// The path of a peer script in `Tests/IntegrationTests/Peers/`.
public func peerScript(_ name: String) -> String {
    DocumentationSamples.repositoryRoot + "/Tests/IntegrationTests/Peers/\(name)"
}
