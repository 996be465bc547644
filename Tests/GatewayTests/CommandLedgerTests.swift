import Foundation
import Gateway
import GatewayCore
import Logging
import TestSupport
import Testing

@Suite("Command ledger (SQLite)")
struct CommandLedgerTests {
    func result(_ id: String, _ status: CommandStatus = .ok) -> CommandResult {
        CommandResult(
            id: id, status: status, message: "wrote boiler-1.setpoint=21.5", values: ["setpoint": .double(21.5)],
            timestamp: Date(timeIntervalSince1970: 1_800_000_000.25))
    }

    @Test("a recorded result comes back whole after reopening; the first result of an id stays")
    func roundTrip() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("commands.sqlite")
        do {
            let ledger = try SQLiteCommandLedger(path: path, logger: Logger(label: "test"))
            ledger.record(result("c1"))
            ledger.record(CommandResult(id: "c1", status: .failed, message: "second", timestamp: Date()))
            #expect(ledger.result(for: "c2") == nil)
        }
        let reopened = try SQLiteCommandLedger(path: path, logger: Logger(label: "test"))
        #expect(reopened.result(for: "c1") == result("c1"))
    }

    @Test("ids beyond the capacity and older than the window are forgotten")
    func bounds() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.file("commands.sqlite")
        do {
            let ledger = try SQLiteCommandLedger(path: path, capacity: 3, logger: Logger(label: "test"))
            for i in 1...5 { ledger.record(result("c\(i)")) }
        }
        // Pruned when opened: the three newest stay.
        let capped = try SQLiteCommandLedger(path: path, capacity: 3, logger: Logger(label: "test"))
        #expect((1...5).map { capped.result(for: "c\($0)") != nil } == [false, false, true, true, true])
        let short = try SQLiteCommandLedger(path: path, window: .milliseconds(50), logger: Logger(label: "test"))
        try await Task.sleep(for: .milliseconds(120))
        #expect(short.result(for: "c5") == nil)
    }

    @Test("a ledger that cannot be created is an error that names its file")
    func unopenable() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // A file where the ledger's folder should be.
        try "".write(toFile: dir.file("blocked"), atomically: true, encoding: .utf8)
        do {
            _ = try SQLiteCommandLedger(path: dir.file("blocked/commands.sqlite"), logger: Logger(label: "test"))
            Issue.record("opened a ledger below a file")
        } catch {
            #expect("\(error)".contains("blocked"), "\(error)")
        }
    }
}
