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

    enum CodingKeys: String, CodingKey { case schema, camera, since, until, events, faces, seconds, dominant }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schema, forKey: .schema); try c.encode(camera, forKey: .camera); try c.encode(since, forKey: .since)
        try c.encode(until, forKey: .until); try c.encode(events, forKey: .events); try c.encode(faces, forKey: .faces)
        try c.encode(seconds, forKey: .seconds); try c.encode(dominant, forKey: .dominant)
    }

    /// `events` oldest first, all within the range.
    public static func make(_ events: [TrackEvent], camera: String?, since: String?, until: String?, now: Date) -> EventReport {
        let end = until.flatMap(date) ?? now
        var seconds = Dictionary(uniqueKeysWithValues: Emotion.allCases.map { ($0.name, 0.0) })
        for track in Dictionary(grouping: events, by: \.id).values {
            for (i, e) in track.enumerated() where e.type != .end {
                guard let from = date(e.timestamp) else { continue }
                let to = i + 1 < track.count ? date(track[i + 1].timestamp) ?? end : end
                seconds[e.label, default: 0] += max(0, to.timeIntervalSince(from))
            }
        }
        let shown = seconds.filter { $0.value > 0 }
        let dominant = shown.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
        return EventReport(camera: camera, since: since, until: until, events: events.count,
                           faces: Set(events.map(\.id)).count, seconds: seconds.mapValues { ($0 * 1000).rounded() / 1000 },
                           dominant: dominant)
    }

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
        return EventReport.make(events, camera: q.camera, since: q.since, until: q.until, now: now)
    }
}
