import Foundation
import GatewayCore

/// What the outage phase measured.
struct OutageFigures {
    var seconds: Double
    /// The gateway at the outage's start, its end, its `online: true` and the catch-up.
    var before, during, online, after: ProcessSample?
    var restarted: ContinuousClock.Instant
    var drain: TelemetryCounter.Drain?
    var caughtUp: Bool
    var lastSeqBefore: UInt64?
    var outboxBytes: Int

    func report(into r: inout Report) {
        if let before, let during {
            r.row(
                "gateway during the \(Report.f(seconds, 0)) s outage",
                "CPU \(Report.f(ProcessSample.cpuPercent(from: before, to: during), 1)) % of one core, "
                    + "VmRSS \(Report.mib(during.rssKiB)) at its end (VmHWM \(Report.mib(during.peakRSSKiB)))")
        }
        r.row("outbox file at the hub's return", outboxBytes > 0 ? String(format: "%.1f MiB (file + WAL)", Double(outboxBytes) / 1_048_576) : "– (in memory)")
        guard let drain, let online = drain.online, drain.first != nil else {
            r.row("backlog drain", "the gateway did not come back online, or sent nothing")
            return
        }
        r.row(
            "gateway back online after the hub's return",
            "\(Report.f((online - restarted).seconds, 2)) s (its reconnect backoff); first seq resent "
                + "\(drain.firstSeq.map(String.init) ?? "–") (last received before the outage: \(lastSeqBefore.map(String.init) ?? "–"))")
        guard caughtUp, let end = drain.caughtUp else {
            r.row("backlog drain", "did not catch up within 180 s (\(drain.messages) messages so far)")
            return
        }
        let wall = ((drain.last ?? end) - online).seconds
        let mib = Double(drain.bytes) / 1_048_576
        r.row(
            "backlog drained",
            "\(drain.messages) messages, \(drain.readings) readings, \(String(format: "%.1f MiB", mib)) "
                + "in \(Report.f(wall, 2)) s: \(Report.f(Double(drain.messages) / wall, 0)) messages/s, \(Report.f(Double(drain.readings) / wall, 0)) readings/s, "
                + "\(Report.f(mib / wall, 1)) MiB/s (from the gateway's `online: true` to the last message older than 250 ms)")
        if let start = self.online, let after {
            let cpu = after.cpuSeconds - start.cpuSeconds
            r.row(
                "gateway during the drain",
                "\(Report.f(cpu, 2)) s of CPU over \(Report.f((after.at - start.at).seconds, 2)) s "
                    + "(\(Report.f(ProcessSample.cpuPercent(from: start, to: after), 0)) % of one core; \(mib > 0 ? Report.f(cpu * 1000 / mib, 1) : "–") ms per MiB), "
                    + "VmHWM \(Report.mib(after.peakRSSKiB)), VmRSS \(Report.mib(after.rssKiB)) after it")
        }
    }
}
