import DeviceMaps
import Foundation
import Gateway
import ModbusAdapter

/// Paths into the repository, found from this file so tests need no resource declarations.
enum Repo {
    /// Tests/DeviceMapsTests
    static let testsFolder: String = (#filePath as NSString).deletingLastPathComponent
    /// The repository root.
    static let root: String = ((testsFolder as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
    /// Tests/DeviceMapsTests/Cases
    static let cases: String = testsFolder + "/Cases"

    static func path(_ relative: String) -> String { root + "/" + relative }
}

/// A temporary folder, removed by `remove()`.
struct TemporaryFolder {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "devicemaps-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = path + "/" + name
        try FileManager.default.createDirectory(
            atPath: (file as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

extension DeviceMapLoader {
    /// Every protocol of the gateway: the example maps and the saved cases of other protocols
    /// than Modbus use them.
    static var examples: DeviceMapLoader { .standard }
}
