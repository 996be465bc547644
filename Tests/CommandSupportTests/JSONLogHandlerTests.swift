import CommandSupport
import Foundation
import GatewayCore
import Logging
import Synchronization
import Testing

@Suite("the JSON log handler")
struct JSONLogHandlerTests {
    @Test("a line is one JSON object: fixed fields first, metadata as an object with nested values kept as JSON, text escaped")
    func line() throws {
        let date = Date(timeIntervalSince1970: 1_796_000_000.125)
        let bytes = JSONLogHandler.line(
            date: date, level: .warning, label: "edgegate", source: "Uplink", message: "say \"hi\"\nthen\tgo\u{1}",
            metadata: [
                "message": "a key that is also a fixed field", "count": "3", "list": .array(["a", "b"]),
                "nested": .dictionary(["inner": .stringConvertible(42)]),
            ])
        #expect(bytes.last == UInt8(ascii: "\n"))
        #expect(bytes.dropLast().contains(UInt8(ascii: "\n")) == false, "one line, the message's newline escaped")
        let value = try JSONValue(parsing: Array(bytes))
        let object = try #require(value.object)
        #expect(object.keys == ["ts", "level", "label", "source", "message", "metadata"])
        #expect(value["ts"]?.string == Timestamp.rfc3339(date))
        #expect(value["ts"]?.string?.hasSuffix(".125Z") == true)
        #expect(value["level"]?.string == "warning")
        #expect(value["label"]?.string == "edgegate")
        #expect(value["source"]?.string == "Uplink")
        #expect(value["message"]?.string == "say \"hi\"\nthen\tgo\u{1}")
        let metadata = try #require(value["metadata"]?.object)
        #expect(metadata.keys == ["count", "list", "message", "nested"], "sorted, as in the text format")
        #expect(metadata["message"]?.string == "a key that is also a fixed field")
        #expect(metadata["count"]?.string == "3")
        #expect(metadata["list"] == .array([.string("a"), .string("b")]))
        #expect(metadata["nested"]?["inner"]?.string == "42")
    }

    @Test("no metadata: no metadata field")
    func noMetadata() throws {
        let value = try JSONValue(parsing: JSONLogHandler.line(date: Date(), level: .info, label: "l", source: "s", message: "m", metadata: [:]))
        #expect(value.object?.keys == ["ts", "level", "label", "source", "message"])
    }

    @Test("the handler merges its own metadata, the event's and an error's, and honours its level")
    func handler() throws {
        let lines = Mutex<[[UInt8]]>([])
        var handler = JSONLogHandler(label: "edgegate.test", metadataProvider: nil) { line in lines.withLock { $0.append(line) } }
        handler.logLevel = .info
        handler[metadataKey: "gateway"] = "gw-1"
        var logger = Logger(label: "edgegate.test") { _ in handler }
        logger.logLevel = .info
        logger.debug("not written")
        logger.info("written", metadata: ["device": "boiler-1", "gateway": "gw-2"])
        let written = lines.withLock { $0 }
        #expect(written.count == 1)
        let value = try JSONValue(parsing: try #require(written.first))
        #expect(value["message"]?.string == "written")
        #expect(value["label"]?.string == "edgegate.test")
        #expect(value["source"]?.string == "CommandSupportTests")
        #expect(value["metadata"]?["device"]?.string == "boiler-1")
        #expect(value["metadata"]?["gateway"]?.string == "gw-2", "the event's value wins")
    }
}
