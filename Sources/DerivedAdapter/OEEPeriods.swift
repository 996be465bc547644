import Foundation

/// How an OEE computation cuts time into periods, each computed from zero.
enum OEEPeriod: Sendable, Hashable, Codable {
    /// Tumbling periods of this length aligned to the Unix epoch: `3600` starts one at every full UTC hour.
    case every(seconds: Double)
    /// Shifts starting at these minutes of the day (`6 * 60` is 06:00), as wall time in the time zone
    /// `timeZone` (an identifier such as `Europe/Berlin`); a shift runs until the next shift's start,
    /// across midnight. An unknown identifier is taken as UTC: the map loader validates it.
    case shifts(minutesOfDay: [Int], timeZone: String)

    /// The period that contains `t`: its start is at or before `t`, its end after it.
    func span(containing t: Date) -> OEESpan {
        switch self {
        case .every(let seconds):
            let length = seconds > 0 ? seconds : 1
            var index = (t.timeIntervalSince1970 / length).rounded(.down)
            // Division of a large time by a fractional length can land one period off.
            if index * length > t.timeIntervalSince1970 { index -= 1 }
            if (index + 1) * length <= t.timeIntervalSince1970 { index += 1 }
            return OEESpan(start: Date(timeIntervalSince1970: index * length), end: Date(timeIntervalSince1970: (index + 1) * length))
        case .shifts(let minutesOfDay, let identifier):
            return Self.shift(containing: t, minutesOfDay: minutesOfDay, timeZone: TimeZone(identifier: identifier) ?? TimeZone(secondsFromGMT: 0)!)
        }
    }

    /// Wall times go through Calendar in the zone, so a shift spanning a daylight-saving change is an
    /// hour shorter or longer. A start inside the skipped hour begins when the clock has jumped (02:30
    /// becomes 03:30); a start inside the repeated hour takes its first occurrence.
    private static func shift(containing t: Date, minutesOfDay: [Int], timeZone: TimeZone) -> OEESpan {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let minutes = Set(minutesOfDay.map { ($0 % 1440 + 1440) % 1440 }).sorted()
        let starts = minutes.isEmpty ? [0] : minutes
        let today = calendar.startOfDay(for: t)
        var candidates: [Date] = []
        // Two days either side: the shift containing t starts at most a day before it and ends at most a day after.
        for offset in -2...2 {
            guard let midnight = calendar.date(byAdding: .day, value: offset, to: today) else { continue }
            let day = calendar.dateComponents([.year, .month, .day], from: midnight)
            for minute in starts {
                var wall = day
                wall.hour = minute / 60
                wall.minute = minute % 60
                if let date = calendar.date(from: wall) { candidates.append(date) }
            }
        }
        candidates.sort()
        let start = candidates.last { $0 <= t } ?? t.addingTimeInterval(-86_400)
        let end = candidates.first { $0 > t } ?? t.addingTimeInterval(86_400)
        return OEESpan(start: start, end: end)
    }
}

/// One period, from its start (included) to its end (excluded).
struct OEESpan: Sendable, Hashable, Codable {
    var start: Date
    var end: Date
}
