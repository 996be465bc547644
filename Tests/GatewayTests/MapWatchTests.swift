import Foundation
import TestSupport
import Testing

@testable import Gateway

/// The parts of the device-map watcher that decide whether and when to reload, without timing.
@Suite("Device-map watching")
struct MapWatchTests {
    @Test("a change is the set of map files and their content: not a rewrite with the same content, not other files")
    func fileContent() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let folder = dir.file("maps")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try "devices: []\n".write(toFile: dir.file("maps/a.yaml"), atomically: true, encoding: .utf8)
        try "gateway: {}\n".write(toFile: dir.file("gateway.yaml"), atomically: true, encoding: .utf8)
        var files = MapFiles(paths: [folder], configurationFile: dir.file("gateway.yaml"))
        let first = files.mapContent
        #expect(Array(first.keys) == [dir.file("maps/a.yaml")])

        // Same bytes written again (a new modification time): no change.
        try "devices: []\n".write(toFile: dir.file("maps/a.yaml"), atomically: true, encoding: .utf8)
        // Not device maps: ignored like the loader ignores them.
        try "x".write(toFile: dir.file("maps/notes.txt"), atomically: true, encoding: .utf8)
        try "x".write(toFile: dir.file("maps/.a.yaml.swp"), atomically: true, encoding: .utf8)
        files.refresh()
        #expect(files.mapContent == first)

        try "devices: [] # edited\n".write(toFile: dir.file("maps/a.yaml"), atomically: true, encoding: .utf8)
        files.refresh()
        let edited = files.mapContent
        #expect(edited != first)

        try "devices: []\n".write(toFile: dir.file("maps/b.yml"), atomically: true, encoding: .utf8)
        files.refresh()
        #expect(files.mapContent.count == 2)
        try FileManager.default.removeItem(atPath: dir.file("maps/b.yml"))
        files.refresh()
        #expect(files.mapContent == edited)

        let configuration = files.configurationContent
        try "gateway: { id: gw-2 }\n".write(toFile: dir.file("gateway.yaml"), atomically: true, encoding: .utf8)
        files.refresh()
        #expect(files.configurationContent != configuration)
        #expect(files.mapContent == edited)
    }

    @Test("a change reloads once it looks the same on two checks; a save in two steps reloads once")
    func settling() {
        let v1 = ["a.yaml": UInt64(1)], half = ["a.yaml": UInt64(2)], v2 = ["a.yaml": UInt64(3)]
        var settling = SettledChange(applied: v1)
        func checks(_ contents: [[String: UInt64]]) -> [Bool] {
            contents.map { settling.isSettledChange($0) }
        }
        #expect(checks([v1]) == [false])
        // The editor truncated the file, then wrote it: each state seen on one check.
        #expect(checks([half, v2, v2]) == [false, false, true])
        settling.reloaded(v2)
        #expect(checks([v2]) == [false])
        // Changed and changed back before it settled: nothing to do.
        #expect(checks([half, v2, v2]) == [false, false, false])
    }
}
