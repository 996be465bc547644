import Foundation
import GatewayCore
import Testing

@Suite("Report filter")
struct ReportFilterTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func reading(_ point: String, _ value: Value?, at seconds: Double, quality: Quality = .good) -> Reading {
        Reading(device: "d", point: point, value: value, unit: nil, quality: quality, timestamp: t0.addingTimeInterval(seconds))
    }

    /// The values of the readings that pass, fed one at a time.
    func passed(_ filter: ReportFilter, _ readings: [Reading]) -> [Value?] {
        readings.flatMap { filter.filter([$0]) }.map(\.value)
    }

    @Test("an absolute deadband compares with the last reported value, so slow drift is reported once it adds up")
    func absolute() {
        let filter = ReportFilter(policies: ["d": ["t": ReportPolicy(deadband: .absolute(0.5))]])
        let values = [20.0, 20.2, 20.4, 20.6, 20.7, 21.2, 19.0]
        let out = passed(filter, values.enumerated().map { reading("t", .double($1), at: Double($0)) })
        #expect(out == [.double(20), .double(20.6), .double(21.2), .double(19)])
    }

    @Test("a percent deadband scales with the last reported value; from zero any change counts")
    func percent() {
        let filter = ReportFilter(policies: ["d": ["p": ReportPolicy(deadband: .percent(10))]])
        let values: [Int64] = [100, 109, 111, 122, 123, 0, 1]
        let out = passed(filter, values.enumerated().map { reading("p", .int($1), at: Double($0)) })
        #expect(out == [.int(100), .int(111), .int(123), .int(0), .int(1)])
    }

    @Test("max_interval re-sends an unchanged value; quality changes always pass")
    func intervalAndQuality() {
        let filter = ReportFilter(policies: ["d": ["t": ReportPolicy(deadband: .absolute(1), maxInterval: .seconds(10))]])
        let input = [
            reading("t", .int(5), at: 0),
            reading("t", .int(5), at: 5),
            reading("t", .int(5), at: 10),
            reading("t", nil, at: 11, quality: .bad("timeout")),
            reading("t", nil, at: 12, quality: .bad("timeout")),
            reading("t", nil, at: 13, quality: .bad("connection refused")),
            reading("t", .int(5), at: 14),
        ]
        let out = input.flatMap { filter.filter([$0]) }
        #expect(out.map(\.timestamp) == [0, 10, 11, 13, 14].map { t0.addingTimeInterval($0) })
    }

    @Test("without a deadband every change passes and repeats do not; points without a policy always pass")
    func changesOnly() {
        let filter = ReportFilter(policies: ["d": ["s": ReportPolicy()]])
        let out = passed(
            filter,
            [
                reading("s", .string("a"), at: 0), reading("s", .string("a"), at: 1),
                reading("s", .string("b"), at: 2), reading("free", .int(1), at: 3), reading("free", .int(1), at: 4),
            ])
        #expect(out == [.string("a"), .string("b"), .int(1), .int(1)])
    }

    @Test("a batch keeps its order and loses only the filtered readings; update replaces the policies")
    func batchAndUpdate() {
        let filter = ReportFilter(policies: ["d": ["a": ReportPolicy(deadband: .absolute(10))]])
        _ = filter.filter([reading("a", .int(0), at: 0)])
        let batch = filter.filter([reading("b", .int(1), at: 1), reading("a", .int(5), at: 1), reading("c", .int(2), at: 1)])
        #expect(batch.map(\.point) == ["b", "c"])
        filter.update(policies: [:])
        #expect(filter.filter([reading("a", .int(5), at: 2)]).count == 1)
    }
}
