import ArgumentParser
import CommandSupport
import DeviceMaps
import Foundation
import Gateway
import TestSupport
import Testing

@Suite("what the commands share")
struct CommandSupportTests {
    @Test("a duration argument takes a number with ms, s, m or h, and nothing else")
    func durations() {
        let accepted: [(String, Duration)] = [
            ("500ms", .milliseconds(500)), ("5s", .seconds(5)), ("1.5s", .milliseconds(1500)),
            ("2m", .seconds(120)), ("1h", .seconds(3600)), ("0s", .zero),
        ]
        for (text, duration) in accepted {
            #expect(DurationArgument(argument: text)?.duration == duration, "\(text)")
        }
        for text in ["5", "-1s", "1d", "s", "ms", "five s", "1e12h", ""] {
            #expect(DurationArgument(argument: text) == nil, "\(text)")
        }
        // --help shows defaults as maps write them.
        #expect(DurationArgument(.seconds(30)).defaultValueDescription == "30s")
        #expect(DurationArgument(.seconds(120)).defaultValueDescription == "2m")
    }

    @Test("device maps load with the loader the executable binds; without one a map fails to load, as an input error")
    func loaderContext() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try """
        devices:
          - id: door-1
            protocol: door-sim
            connection: { seed: 3 }
            points:
              closed: { field: contact }
        """.write(toFile: dir.file("doors.yaml"), atomically: true, encoding: .utf8)
        let map = try CommandLineContext.$loader.withValue(ProtocolRegistry.standard.loader) {
            try loadDeviceMaps([dir.file("doors.yaml")])
        }
        #expect(map.devices.map(\.id) == ["door-1"])
        #expect(throws: ExitCode(2)) { try loadDeviceMaps([dir.file("doors.yaml")]) }
    }
}
