import Foundation
import History

/// The query string of GET /api/events, checked: an unknown parameter or a malformed value is a
/// 400 naming it, never an empty answer that looks like "no events".
public enum EventsQuery {
    struct Problem: Error, CustomStringConvertible { let description: String }

    static let labels: Set = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    static let types: Set = ["new", "change", "end"]
    static let stamp = try! NSRegularExpression(pattern: "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?Z$")
    static let camera = try! NSRegularExpression(pattern: "^[A-Za-z0-9_-]{1,64}$")

    public static let all = ["camera", "type", "label", "since", "until", "limit"]
    /// What GET /api/report (and `emotiond report`) takes.
    public static let report = ["camera", "since", "until", "bucket"]
    static let bucketForm = try! NSRegularExpression(pattern: "^([1-9][0-9]{0,6})([smhd]?)$")
    /// 1 s to 30 days.
    static let bucketRange = 1...(30 * 86400)

    /// `allowed`: the parameters this endpoint takes (the report takes no type, label or limit).
    public static func parse(_ query: String, allowed: [String] = all) throws -> EventHistory.Query {
        var q = EventHistory.Query()
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let key = kv[0], value = (kv.count > 1 ? kv[1] : "").removingPercentEncoding ?? ""
            guard allowed.contains(key) else {
                throw Problem(description: "unknown parameter '\(key)' (known: \(allowed.joined(separator: ", ")))")
            }
            switch key {
            case "camera": q.camera = try check(value, key, matches(camera, value), "a camera name")
            case "type": q.type = try check(value, key, types.contains(value), "new, change or end")
            case "label": q.label = try check(value, key, labels.contains(value), labels.sorted().joined(separator: ", "))
            case "since": q.since = normal(try check(value, key, matches(stamp, value), "a UTC time such as 2026-01-31T12:00:00Z"))
            case "until": q.until = normal(try check(value, key, matches(stamp, value), "a UTC time such as 2026-01-31T12:00:00Z"))
            case "bucket": q.bucket = try bucket(value)
            case "limit":
                guard let n = Int(value), (1...1000).contains(n) else { throw Problem(description: "limit: must be 1-1000, got '\(value)'") }
                q.limit = n
            default: break
            }
        }
        return q
    }

    /// A bucket size: a number with a unit, s (the default), m, h or d ("300", "5m", "1h", "1d"), in seconds.
    public static func bucket(_ value: String) throws -> Int {
        let ns = value as NSString
        guard let m = bucketForm.firstMatch(in: value, range: NSRange(location: 0, length: ns.length)),
              let n = Int(ns.substring(with: m.range(at: 1))) else {
            throw Problem(description: "bucket: must be a number of seconds or a number with s, m, h or d (5m, 1h, 1d), got '\(value)'")
        }
        let unit = ["": 1, "s": 1, "m": 60, "h": 3600, "d": 86400][ns.substring(with: m.range(at: 2))] ?? 1
        guard bucketRange.contains(n * unit) else {
            throw Problem(description: "bucket: must be 1 s to 30 d, got '\(value)'")
        }
        return n * unit
    }

    /// Milliseconds, as stored timestamps have them, so that they compare as text.
    static func normal(_ stamp: String) -> String {
        let parts = stamp.dropLast().split(separator: ".", maxSplits: 1).map(String.init)
        let frac = ((parts.count > 1 ? parts[1] : "") + "000").prefix(3)
        return "\(parts[0]).\(frac)Z"
    }

    static func check(_ value: String, _ key: String, _ ok: Bool, _ allowed: String) throws -> String {
        guard ok else { throw Problem(description: "\(key): must be \(allowed), got '\(value)'") }
        return value
    }

    static func matches(_ re: NSRegularExpression, _ s: String) -> Bool {
        re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }
}
