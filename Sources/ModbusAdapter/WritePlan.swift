import DeviceMaps

/// One write request of a command, and the points it writes.
struct WriteStep: Sendable, Hashable {
    /// What goes on the wire.
    enum Request: Sendable, Hashable {
        /// FC 5: one coil.
        case coil(Int, Bool)
        /// FC 15: adjacent coils from the address, in one request.
        case coils(Int, [Bool])
        /// FC 6: one register.
        case register(Int, UInt16)
        /// FC 16: adjacent registers from the address, in one request.
        case registers(Int, [UInt16])
        /// FC 22 (mask write) of one bit of a holding register, wire-numbered; a read and
        /// FC 6 for devices without FC 22.
        case registerBit(Int, bit: Int, Bool)
    }

    /// Which register of a value written one register at a time (`write_multiple: false`).
    struct Part: Sendable, Hashable {
        /// 0-based.
        var index: Int
        /// Registers of the value.
        var count: Int
    }

    var request: Request
    /// The points the request writes (several when adjacent points were merged).
    var points: [PointDefinition]
    /// Set for one register of a multi-register value written with FC 6.
    var part: Part?

    /// The table, first address and count the request addresses, for messages.
    var span: Span {
        switch request {
        case .coil(let a, _): return Span(table: .coil, start: a, count: 1)
        case .coils(let a, let bits): return Span(table: .coil, start: a, count: bits.count)
        case .register(let a, _), .registerBit(let a, _, _): return Span(table: .holding, start: a, count: 1)
        case .registers(let a, let words): return Span(table: .holding, start: a, count: words.count)
        }
    }

    /// True when the step leaves its points fully written (the last part of a value, or not
    /// a part at all).
    var completesPoints: Bool {
        part.map { $0.index == $0.count - 1 } ?? true
    }
}

/// Turns the encoded points of one write command into requests, the function code each
/// point needs, in the command's order (the map's order of points):
///
/// - a coil: FC 5; a one-register value: FC 6; a multi-register value (32/64-bit, string):
///   FC 16, in one request so the device never holds half of it; a bit of a register: FC 22.
/// - Points that follow each other in the command and on the device (the next starts where
///   the previous ends, same table) share one request: FC 15 for coils, FC 16 for registers,
///   so they change together and cost one round trip. A request holds at most 1968 coils or
///   123 registers (the protocol's write limits), and no more than the connection's
///   `max_registers_per_request` (16 coils per register, as for reads).
/// - With `write_multiple: false` (devices that only take FC 5 and FC 6): every coil is an
///   FC 5 and every register an FC 6; a multi-register value is written register by
///   register, lowest address first, which is the order these devices expect (they latch
///   the value when its last register arrives). That is not atomic: between the writes the
///   device holds part of the new value, and if one fails, the message says how far it got.
enum WritePlan {
    /// FC 16's largest request.
    static let maxWriteRegisters = 123
    /// FC 15's largest request.
    static let maxWriteCoils = 1968

    static func steps(for items: [WriteItem], writeMultiple: Bool, maxRegistersPerRequest: Int = 125) -> [WriteStep] {
        let registerCap = Swift.min(maxWriteRegisters, Swift.max(1, maxRegistersPerRequest))
        let coilCap = Swift.min(maxWriteCoils, 16 * registerCap)
        var steps: [WriteStep] = []
        for item in items {
            let address = item.point.modbus.offset
            switch item.payload {
            case .bit(let value):
                if writeMultiple, let last = steps.last {
                    switch last.request {
                    case .coil(let start, let previous) where start + 1 == address && coilCap >= 2:
                        steps[steps.count - 1] = WriteStep(request: .coils(start, [previous, value]), points: last.points + [item.point])
                        continue
                    case .coils(let start, let bits) where start + bits.count == address && bits.count < coilCap:
                        steps[steps.count - 1] = WriteStep(request: .coils(start, bits + [value]), points: last.points + [item.point])
                        continue
                    default:
                        break
                    }
                }
                steps.append(WriteStep(request: .coil(address, value), points: [item.point]))
            case .registers(let words):
                if !writeMultiple {
                    for (index, word) in words.enumerated() {
                        let part = words.count > 1 ? WriteStep.Part(index: index, count: words.count) : nil
                        steps.append(WriteStep(request: .register(address + index, word), points: [item.point], part: part))
                    }
                    continue
                }
                if let last = steps.last, last.part == nil {
                    let merged: (Int, [UInt16])?
                    switch last.request {
                    case .register(let start, let previous) where start + 1 == address: merged = (start, [previous] + words)
                    case .registers(let start, let previous) where start + previous.count == address: merged = (start, previous + words)
                    default: merged = nil
                    }
                    if let (start, all) = merged, all.count <= registerCap {
                        steps[steps.count - 1] = WriteStep(request: .registers(start, all), points: last.points + [item.point])
                        continue
                    }
                }
                steps.append(
                    WriteStep(
                        request: words.count == 1 ? .register(address, words[0]) : .registers(address, words),
                        points: [item.point]))
            case .registerBit(let bit, let value):
                steps.append(WriteStep(request: .registerBit(address, bit: bit, value), points: [item.point]))
            }
        }
        return steps
    }
}
