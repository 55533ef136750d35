import EmotionCore
import Foundation

/// A summary of the event history over a time range (GET /api/report, `emotiond report`;
/// schemas/api-report.schema.json): how many faces, and how long each emotion was shown.
///
/// Time per emotion comes from the events alone: a track shows its event's label from that event
/// until its next event (or its `end`); a track still open at the end of the range counts until
/// then (`until`, or now). A track that began before `since` counts from its first event in range.
public struct EventReport: Codable, Sendable, Equatable {
    public var schema = "emotiond.api.report/1"
    public var camera: String?
    public var since: String?
    public var until: String?
    public var events: Int
    /// Tracks (faces) with an event in the range.
    public var faces: Int
    /// Seconds shown, per emotion (all seven, zero included), summed over faces.
    public var seconds: [String: Double]
    /// The emotion shown longest; null without faces.
    public var dominant: String?
    /// With `bucket` (seconds): the range cut into buckets aligned to the UTC epoch (1h on the hour,
    /// 1d at midnight UTC), oldest first; absent without one (the report as it always was).
    public var bucket: Int?
    public var buckets: [Bucket]?

    /// One bucket of a timeline: seconds per emotion in [start, start + bucket), and their shares
    /// (summing to 1, or all 0 when no face was shown in it).
    public struct Bucket: Codable, Sendable, Equatable {
        public var start: String
        public var seconds: [String: Double]
        public var shares: [String: Double]
    }

    /// At most this many buckets in one report: a year of 1 s buckets would be 31 million.
    public static let maxBuckets = 2000

    /// A bucket too small for the range (a 400 on the API, not a server error).
    public struct RangeError: Error, CustomStringConvertible { public let description: String }

    enum CodingKeys: String, CodingKey { case schema, camera, since, until, events, faces, seconds, dominant, bucket, buckets }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schema, forKey: .schema); try c.encode(camera, forKey: .camera); try c.encode(since, forKey: .since)
        try c.encode(until, forKey: .until); try c.encode(events, forKey: .events); try c.encode(faces, forKey: .faces)
        try c.encode(seconds, forKey: .seconds); try c.encode(dominant, forKey: .dominant)
        try c.encodeIfPresent(bucket, forKey: .bucket); try c.encodeIfPresent(buckets, forKey: .buckets)
    }

    /// A stretch of one track showing one label.
    struct Segment { var label: String; var from: Date; var to: Date }

    /// `events` oldest first, all within the range; `bucket` (seconds) adds the timeline.
    public static func make(_ events: [TrackEvent], camera: String?, since: String?, until: String?, now: Date,
                            bucket: Int? = nil) throws -> EventReport {
        let end = until.flatMap(date) ?? now
        let segments = self.segments(events, end: end)
        let seconds = totals(segments, from: .distantPast, to: .distantFuture)
        let shown = seconds.filter { $0.value > 0 }
        let dominant = shown.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
        var report = EventReport(camera: camera, since: since, until: until, events: events.count,
                                 faces: Set(events.map(\.id)).count, seconds: seconds.mapValues(rounded), dominant: dominant)
        if let bucket {
            let first = since.flatMap(date) ?? events.first.flatMap { date($0.timestamp) }
            report.bucket = bucket
            report.buckets = try first.map { try buckets(segments, from: $0, to: end, size: bucket) } ?? []
        }
        return report
    }

    /// Each track's stretches: from each of its events (but `end`) to its next event, or to `end`.
    static func segments(_ events: [TrackEvent], end: Date) -> [Segment] {
        var out: [Segment] = []
        for track in Dictionary(grouping: events, by: \.id).values {
            for (i, e) in track.enumerated() where e.type != .end {
                guard let from = date(e.timestamp) else { continue }
                let to = i + 1 < track.count ? date(track[i + 1].timestamp) ?? end : end
                if to > from { out.append(Segment(label: e.label, from: from, to: to)) }
            }
        }
        return out
    }

    /// Seconds per emotion (all seven, zero included) of the segments' overlap with [from, to).
    static func totals(_ segments: [Segment], from: Date, to: Date) -> [String: Double] {
        var seconds = Dictionary(uniqueKeysWithValues: Emotion.allCases.map { ($0.name, 0.0) })
        for s in segments {
            let overlap = min(s.to, to).timeIntervalSince(max(s.from, from))
            if overlap > 0 { seconds[s.label, default: 0] += overlap }
        }
        return seconds
    }

    /// Buckets of `size` seconds aligned to the epoch, from the one holding `from` to the one holding `to`.
    static func buckets(_ segments: [Segment], from: Date, to: Date, size: Int) throws -> [Bucket] {
        let b = Double(size), first = (from.timeIntervalSince1970 / b).rounded(.down) * b
        let count = max(0, Int(((to.timeIntervalSince1970 - first) / b).rounded(.up)))
        guard count <= maxBuckets else {
            throw RangeError(description: "bucket: \(count) buckets of \(size) s in the range, at most \(maxBuckets): use a larger bucket or a later since")
        }
        // Each segment adds to the buckets it overlaps: one pass, not buckets × segments.
        var per = Array(repeating: [String: Double](), count: count)
        for seg in segments {
            let from = max(seg.from.timeIntervalSince1970, first), to = min(seg.to.timeIntervalSince1970, first + Double(count) * b)
            var i = Int((from - first) / b)
            while i < count, first + Double(i) * b < to {
                let start = first + Double(i) * b
                per[i][seg.label, default: 0] += min(to, start + b) - max(from, start)
                i += 1
            }
        }
        let zero = Dictionary(uniqueKeysWithValues: Emotion.allCases.map { ($0.name, 0.0) })
        return per.enumerated().map { i, shown in
            let seconds = zero.merging(shown, uniquingKeysWith: +)
            let total = seconds.values.reduce(0, +)
            return Bucket(start: EventHistory.stamp(Date(timeIntervalSince1970: first + Double(i) * b)), seconds: seconds.mapValues(rounded),
                          shares: seconds.mapValues { total > 0 ? ($0 / total * 10000).rounded() / 10000 : 0 })
        }
    }

    static func rounded(_ s: Double) -> Double { (s * 1000).rounded() / 1000 }

    /// A fixed-format UTC timestamp (milliseconds, as events carry them), parsed by hand: no
    /// DateFormatter, whose ICU data would cost the daemon ~4.7 MiB resident.
    static func date(_ s: String) -> Date? {
        let f = s.split(whereSeparator: { "-T:.Z".contains($0) }).compactMap { Int($0) }
        guard f.count >= 6, s.hasSuffix("Z") else { return nil }
        var t = tm()
        t.tm_year = Int32(f[0] - 1900); t.tm_mon = Int32(f[1] - 1); t.tm_mday = Int32(f[2])
        t.tm_hour = Int32(f[3]); t.tm_min = Int32(f[4]); t.tm_sec = Int32(f[5])
        let ms = f.count > 6 ? Double(f[6]) / 1000 : 0
        return Date(timeIntervalSince1970: Double(timegm(&t)) + ms)
    }
}

extension EventHistory {
    /// The report over the events `q` selects (its `limit` is ignored: every event in range counts).
    public func report(_ q: Query, now: Date = Date()) throws -> EventReport {
        var all = q
        all.limit = Int.max
        let events = try self.events(all).reversed().map { try JSONDecoder().decode(TrackEvent.self, from: Data($0.utf8)) }
        return try EventReport.make(events, camera: q.camera, since: q.since, until: q.until, now: now, bucket: q.bucket)
    }
}
