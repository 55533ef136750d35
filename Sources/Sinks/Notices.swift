import EmotionCore
import Foundation

/// A face has shown one label for a while (schemas/notice.schema.json).
public struct Notice: Codable, Equatable, Sendable {
    public var schema = "emotiond.notice/1"
    public var camera: String
    /// The track's event id and number.
    public var id: String
    public var track: Int
    public var label: String
    /// How long the label has held (at least the configured threshold), and since when.
    public var seconds: Double
    public var since: String
    public var timestamp: String
}

/// Sustained-emotion notices from the track events: a track's label stretch starts at its `new` or
/// `change` event and ends at the next one or its `end`; once a stretch of a watched label lasts
/// `seconds` (wall clock), one notice goes to `emit`. Checked per frame and on `tick`, so a
/// stalled source does not delay one.
public final class NoticeSink: FrameSink {
    struct Stretch { var id: String; var label: String; var since: Date; var stamp: String; var noticed: Bool }
    let seconds: Double, labels: Set<String>, camera: String
    let emit: (Notice) -> Void
    private var stretches: [Int: Stretch] = [:]

    public init(seconds: Double, labels: [String], camera: String, emit: @escaping (Notice) -> Void) {
        self.seconds = seconds; self.labels = Set(labels); self.camera = camera; self.emit = emit
    }

    public func write(_ out: FrameOutput) throws {
        apply(out.events, now: Date())
        check(now: Date())
    }
    public func tick(now: Date) throws { check(now: now) }
    public func end(_ source: SourceInfo, events: [TrackEvent]) throws { stretches = [:] }

    func apply(_ events: [TrackEvent], now: Date) {
        for e in events {
            if e.type == .end { stretches[e.track] = nil; continue }
            if e.type == .change || stretches[e.track]?.label != e.label {
                stretches[e.track] = Stretch(id: e.id, label: e.label, since: now, stamp: e.timestamp, noticed: false)
            }
        }
    }

    func check(now: Date) {
        for (track, s) in stretches where !s.noticed && labels.contains(s.label) {
            let held = now.timeIntervalSince(s.since)
            guard held >= seconds else { continue }
            stretches[track]?.noticed = true
            emit(Notice(camera: camera, id: s.id, track: track, label: s.label, seconds: (held * 10).rounded() / 10,
                        since: s.stamp, timestamp: WallClock.rfc3339()))
        }
    }
}
