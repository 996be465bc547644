public import DeviceMaps
import GatewayCore

extension ProtocolPlugin {
    /// Points computed in the gateway from other devices' readings: expressions, time windows, OEE.
    public static let derived = ProtocolPlugin(
        syntax: DerivedSyntax.self, adapter: DerivedAdapter.self, title: "derived",
        template: MapTemplate(
            header: [
                "# A derived device computes its points from other devices' readings as they flow through the",
                "# gateway: docs/analytics.md. It names them as device.point, so check it together with the",
                "# maps of those devices: edgegate map validate devicemaps/ (press-1 here is a Modbus press).",
            ],
            device: [
                "    # no connection: nothing to connect to"
            ],
            body: [
                "    points:",
                #"      power_kw:      { expr: "press-1.voltage * press-1.current / 1000", unit: kW }"#,
                #"      over_temp:     { expr: "press-1.temperature > 85 && press-1.state == 1" }"#,
                #"      temp_avg_5m:   { window: { of: press-1.temperature, agg: avg, size: 5m, every: 10s }, unit: "°C" }"#,
                "      parts_per_min: { window: { of: press-1.part_count, agg: rate, size: 1m } }   # per second, over 1-minute windows",
                "      line:",
                "        oee:",
                "          state: press-1.state            # a point whose value is the machine state",
                "          running: [1]                    # states that count as run time",
                "          planned_stop: [3, 4]            # states outside planned production time",
                "          total_count: press-1.part_count",
                "          good_count: press-1.good_count  # or reject_count:",
                "          ideal_cycle: 2s",
                "          period: 1h                      # or shifts: [\"06:00\", \"14:00\", \"22:00\"] with time_zone:",
            ]),
        abilities: [DerivedRequestSummary()])
}

/// `map plan`: nothing goes over a network.
struct DerivedRequestSummary: RequestSummarizing {
    func requestSummary(of device: DeviceDefinition, among devices: [DeviceDefinition]) -> String {
        let inputs = Set(
            device.points.compactMap { $0.address as? DerivedPoint }.flatMap(\.expressions).flatMap { source -> [String] in
                guard case .success(let e) = Expression.parse(source.text) else { return [] }
                return e.references.map { ($0.device ?? device.id) + "." + $0.point }
            })
        return "no requests: computed in the gateway from \(inputs.count) point\(inputs.count == 1 ? "" : "s") as their readings arrive"
    }
}
