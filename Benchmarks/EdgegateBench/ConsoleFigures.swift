import Foundation

/// The rows of the report about the web console: its event stream as independent readers
/// received it, the devices page's load timing, and the page under test at the window's end.
enum ConsoleFigures {
    static func readers(_ windows: [EventStreamReader.Figures], window: Double, into r: inout Report) {
        guard let first = windows.first else { return }
        r.row(
            "event stream (GET /api/v1/events), independent reader, in the window",
            "\(kBps(Double(first.streamBytes) / window)) (\(kBps(Double(first.wireBytes) / window)) with the chunk framing); "
                + "\(Report.f(Double(first.readingsEvents) / window, 1)) readings events/s carrying \(Report.f(Double(first.readings) / window, 0)) readings/s "
                + "(\(first.readings > 0 ? Report.f(Double(first.streamBytes) / Double(first.readings), 0) : "–") bytes a reading); "
                + "\(first.laggedEvents) lagged events (\(first.dropped) events dropped)"
                + (first.failure.map { "; failed: \($0)" } ?? ""))
        if windows.count > 1 {
            r.row(
                "all \(windows.count) readers: readings/s each, lagged events",
                windows.map { "\(Report.f(Double($0.readings) / window, 0)) / \($0.laggedEvents)" }.joined(separator: ", "))
        }
    }

    static func loads(_ loads: ConsoleBrowser.Ready, into r: inout Report) {
        r.row("devices page, cold load (fresh browser profile)", timing(loads.cold))
        guard !loads.warm.isEmpty else { return }
        func median(_ key: KeyPath<ConsoleBrowser.LoadTiming, Double?>) -> Double? {
            percentile(loads.warm.compactMap { $0[keyPath: key] }.sorted(), 50)
        }
        let typical = ConsoleBrowser.LoadTiming(
            firstPaintMs: median(\.firstPaintMs), firstContentfulPaintMs: median(\.firstContentfulPaintMs),
            domContentLoadedMs: median(\.domContentLoadedMs), loadMs: median(\.loadMs), responseEndMs: median(\.responseEndMs),
            transferBytes: median(\.transferBytes), rowsInDomMs: median(\.rowsInDomMs),
            largestContentfulPaintMs: median(\.largestContentfulPaintMs))
        r.row("devices page, reloaded (median of \(loads.warm.count))", timing(typical))
    }

    static func page(_ report: ConsoleBrowser.WindowReport, into r: inout Report) {
        let p = report.page
        func age(_ ms: Double?) -> String { ms.map { Report.f((p.nowMs - $0) / 1000, 1) + " s" } ?? "–" }
        r.row(
            "the page at the end of the window (#/\(p.page ?? "?"))",
            "\(p.rows) rows; age of the newest value shown \(age(p.newestMs)), median \(age(p.medianMs)), oldest \(age(p.oldestMs)); "
                + "stream \(p.connection ?? "?")" + (p.errorBanner.map { "; error banner: \($0)" } ?? "")
                + (p.jsHeapBytes.map { "; JS heap " + Report.mib(Int($0 / 1024)) } ?? ""))
        if let events = p.readingsEvents {
            r.row(
                "the page's event stream, whole visit",
                "\(events) readings events, \(Report.f(Double(p.readingsChars ?? 0) / 1_000_000, 1)) M characters of data; \(p.laggedEvents ?? 0) lagged events "
                    + "(\(p.dropped ?? 0) events dropped)")
        }
        if let cpu = report.cpuSeconds, let wall = report.wallSeconds, wall > 0 {
            r.row("browser CPU in the window (chromium's processes)", "\(Report.f(cpu / wall * 100, 1)) % of one core")
        }
    }

    private static func timing(_ t: ConsoleBrowser.LoadTiming) -> String {
        func ms(_ x: Double?) -> String { x.map { Report.f($0, 0) + " ms" } ?? "–" }
        return "first paint \(ms(t.firstPaintMs)), first contentful paint \(ms(t.firstContentfulPaintMs)), "
            + "DOMContentLoaded \(ms(t.domContentLoadedMs)), rows in the DOM \(ms(t.rowsInDomMs)), "
            + "largest contentful paint \(ms(t.largestContentfulPaintMs)), load \(ms(t.loadMs))"
    }

    private static func kBps(_ bytesPerSecond: Double) -> String {
        bytesPerSecond >= 1_000_000 ? Report.f(bytesPerSecond / 1_000_000, 2) + " MB/s" : Report.f(bytesPerSecond / 1000, 1) + " kB/s"
    }
}
