import DeviceMaps

/// One read request: a contiguous run of registers or bits of one table and the points in it.
struct ReadBlock: Sendable, Hashable {
    var table: ModbusTable
    var start: Int
    var count: Int
    var points: [PointDefinition]

    /// Where a point's registers (or its bit) sit inside the block's response.
    func slice(of point: PointDefinition) -> Range<Int> {
        let first = point.modbus.offset - start
        return first ..< first + ReadPlan.width(of: point)
    }
}

/// Groups the readable points of a device into as few requests as the protocol allows.
enum ReadPlan {
    /// The largest request the protocol allows (FC 3/4: 125 registers; FC 1/2: 2000 bits).
    static func limit(for table: ModbusTable) -> Int {
        table.isBitTable ? 2000 : 125
    }

    /// How many registers (or bits) a point occupies in its table.
    static func width(of point: PointDefinition) -> Int {
        point.modbus.registerCount
    }

    /// Merges points whose addresses touch or overlap into one request per run, split where a
    /// run would exceed the request limit. Gaps are not bridged: reading addresses that no
    /// point names can hit registers the device refuses (illegal data address).
    /// Write-only points are not polled.
    static func blocks(for points: [PointDefinition]) -> [ReadBlock] {
        var blocks: [ReadBlock] = []
        for table in ModbusTable.allCases {
            let members = points
                .filter { $0.modbus.table == table && $0.access.isReadable }
                .sorted { ($0.modbus.offset, width(of: $0)) < ($1.modbus.offset, width(of: $1)) }
            var current: ReadBlock?
            for point in members {
                let start = point.modbus.offset
                let end = start + width(of: point)
                if var block = current {
                    let blockEnd = block.start + block.count
                    let mergedEnd = Swift.max(blockEnd, end)
                    if start <= blockEnd, mergedEnd - block.start <= limit(for: table) {
                        block.count = mergedEnd - block.start
                        block.points.append(point)
                        current = block
                        continue
                    }
                    blocks.append(block)
                }
                current = ReadBlock(table: table, start: start, count: end - start, points: [point])
            }
            if let block = current { blocks.append(block) }
        }
        return blocks
    }
}
