import Foundation
import TestSupport

/// Paths into the repository.
enum Repo {
    static func path(_ relative: String) -> String { DocumentationSamples.repositoryRoot + "/" + relative }
}
