import Foundation

/// Wall-clock timestamps of results and events.
public enum WallClock {
    /// Now as RFC 3339 UTC with milliseconds ("2026-11-23T03:25:01.123Z").
    ///
    /// Formatted by hand from clock_gettime/gmtime_r: Foundation's ISO8601DateFormatter goes
    /// through ICU, whose locale and time-zone data it pages in on first use (+4.7 MiB resident,
    /// measured in `emotiond batch`), for a fixed-format UTC string.
    public static func rfc3339() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return rfc3339(seconds: ts.tv_sec, milliseconds: Int(ts.tv_nsec / 1_000_000))
    }

    public static func rfc3339(seconds: time_t, milliseconds: Int) -> String {
        var t = seconds
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ n: Int) -> String {
            let s = String(v)
            return s.count >= n ? s : String(repeating: "0", count: n - s.count) + s
        }
        let date = "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))"
        let time = "\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(milliseconds), 3))"
        return "\(date)T\(time)Z"
    }
}
