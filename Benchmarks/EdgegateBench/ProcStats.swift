import Foundation
import GatewayCore

#if canImport(Glibc)
import Glibc
#endif

/// CPU time and memory of a process, from /proc (Linux only).
struct ProcessSample: Sendable {
    /// utime + stime, in seconds.
    var cpuSeconds: Double
    /// VmHWM: peak resident set size so far, in KiB.
    var peakRSSKiB: Int
    /// VmRSS: current resident set size, in KiB.
    var rssKiB: Int
    /// Threads of the process.
    var threads: Int
    var at: ContinuousClock.Instant

    /// Reads /proc/PID/stat and /proc/PID/status; nil when the process is gone.
    static func read(pid: pid_t) -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        else { return nil }
        // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After ')': field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
        guard fields.count > 12, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        func kib(_ key: String) -> Int {
            for line in status.split(separator: "\n") where line.hasPrefix(key + ":") {
                return Int(line.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") ?? 0
            }
            return 0
        }
        return ProcessSample(
            cpuSeconds: (utime + stime) / ticks, peakRSSKiB: kib("VmHWM"), rssKiB: kib("VmRSS"),
            threads: kib("Threads"), at: .now)
    }

    /// CPU use between two samples, in percent of one core.
    static func cpuPercent(from a: ProcessSample, to b: ProcessSample) -> Double {
        let wall = (b.at - a.at).seconds
        return wall > 0 ? (b.cpuSeconds - a.cpuSeconds) / wall * 100 : 0
    }
}

/// Facts about the machine the figures were taken on.
enum Machine {
    static var cores: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    static var cpuModel: String {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in info.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return "unknown"
    }

    static var kernel: String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static var memoryTotal: String {
        guard let info = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
            let line = info.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
            let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return "unknown" }
        return String(format: "%.1f GiB", kib / 1_048_576)
    }

    /// The 1, 5 and 15 minute load averages: other work on the machine skews every figure.
    static var loadAverage: String {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    static var buildConfiguration: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }
}
