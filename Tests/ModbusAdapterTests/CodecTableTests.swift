import DevTools
import DeviceMaps
import Foundation
import GatewayCore
import ModbusAdapter
import TestSupport
import Testing

/// One row of Peers/codec_table.py: a value and the registers pymodbus (or struct) lays it out in.
private struct PeerRow: Decodable, CustomStringConvertible {
    var type: String
    var byteOrder: String
    var wordOrder: String
    var value: String
    var length: Int?
    var registers: [UInt16]
    /// False when edgegate is not expected to write these registers (space padding).
    var encode: Bool

    var description: String {
        "\(type)\(length.map { "[\($0)]" } ?? "") \(value.debugDescription) byte_order \(byteOrder) word_order \(wordOrder)"
    }

    func point() throws -> PointDefinition {
        guard let type = ModbusDataType(rawValue: type), let byteOrder = ByteOrder(rawValue: byteOrder),
            let wordOrder = ByteOrder(rawValue: wordOrder)
        else { throw ProbeError("unknown layout in \(self)") }
        return PointDefinition(
            name: "p",
            address: ModbusAddress(
                table: .holding, offset: 0, type: type, byteOrder: byteOrder,
                wordOrder: wordOrder, length: length ?? 0),
            access: .readwrite)
    }

    /// The value edgegate reads: integers as `.int`, except a uint64 beyond Int64 (`.double`),
    /// floats as `.double` (float32 ones are written in the script as the shortest decimal
    /// of their float, which is how edgegate reads them), text as `.string`.
    func expected() throws -> Value {
        switch type {
        case "string":
            return .string(value)
        case "float32", "float64":
            if let d = Double(value) { return .double(d) }
        case "uint64":
            if let i = Int64(value) { return .int(i) }
            if let u = UInt64(value) { return .double(Double(u)) }
        default:
            if let i = Int64(value) { return .int(i) }
        }
        throw ProbeError("cannot read the value of \(self)")
    }
}

/// The codec against an independent encoder: for every type, every byte and word order and
/// a set of edge values, pymodbus 3.7.4 (its BinaryPayloadBuilder and convert_to_registers)
/// and Python's struct module compute the registers, edgegate decodes them to the value and
/// encodes the value to them.
///
/// How the orders are named. pymodbus's BinaryPayloadBuilder takes `byteorder` and
/// `wordorder`, each `Endian.BIG` or `Endian.LITTLE`, which mean what edgegate's
/// `byte_order` and `word_order` mean (bytes swapped in each register; registers in reverse
/// order), so the script passes ours through. With the bytes of a 32-bit value A B C D (A
/// most significant), and of a 64-bit one A … H:
///
/// | byte_order | word_order | pymodbus (byteorder, wordorder) | 32-bit | 64-bit           |
/// |------------|------------|---------------------------------|--------|------------------|
/// | big        | big        | BIG, BIG                        | ABCD   | ABCDEFGH         |
/// | big        | little     | BIG, LITTLE                     | CDAB   | GHEFCDAB         |
/// | little     | big        | LITTLE, BIG                     | BADC   | BADCFEHG         |
/// | little     | little     | LITTLE, LITTLE                  | DCBA   | HGFEDCBA         |
///
/// BinaryPayloadBuilder's default byteorder is LITTLE (ours is big), so the script always
/// gives both. 3.7.4's `convert_to_registers` knows only ABCD (no word order argument; it
/// arrived in 3.8); the script checks it agrees with the builder there. For strings word
/// order does not apply (pymodbus's STRING has none either), and byte_order little puts the
/// first character of each register in its low byte.
@Suite("RegisterCodec against pymodbus's encoder", .timeLimit(.minutes(1)))
struct CodecTableTests {
    @Test("decodes what pymodbus lays out and encodes the same registers, for every type, order and edge value")
    func table() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let json = dir.file("codec-table.json")
        let (status, output) = try await TestProcess.run(try peerPython(), [peerScript("codec_table.py"), json])
        try #require(status == 0, "codec_table.py failed: \(output)")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let rows = try decoder.decode([PeerRow].self, from: Data(contentsOf: URL(fileURLWithPath: json)))

        // Every type in every order, so a script that lost rows cannot pass unnoticed.
        let layouts = Set(rows.map { "\($0.type) \($0.byteOrder) \($0.wordOrder)" })
        #expect(layouts.count == 4 * ModbusDataType.allCases.filter { $0 != .bool }.count, "\(layouts.sorted())")

        var encoded = 0
        for row in rows {
            let point = try row.point()
            let value = try row.expected()
            #expect(try RegisterCodec.decode(row.registers, for: point) == value, "decode \(row)")
            guard row.encode else { continue }
            if case .double(let d) = value, point.modbus.type == .uint64, UInt64(exactly: d) == nil {
                // 2^64 − 1 reads as the double 2^64, which no uint64 holds: a write of the
                // value read is refused rather than wrapped.
                #expect(throws: WriteError.self, "encode \(row)") { try RegisterCodec.encode(value, for: point, device: "d") }
                continue
            }
            #expect(try RegisterCodec.encode(value, for: point, device: "d") == .registers(row.registers), "encode \(row)")
            encoded += 1
        }
        #expect(rows.count > 200 && encoded > 180, "\(rows.count) rows, \(encoded) encoded")
    }
}
