import EmotionCore
import Foundation

/// Turns the tracker's transitions into `TrackEvent`s. It names each track when its `new` event
/// is made and remembers, per open track, that name and what its last event reported: so every
/// event of a track carries the same `id`, and `before` is exactly the previous event's `after`
/// (Frigate's model), whatever the consumer missed in between.
public final class TrackEventBuilder {
    private var open: [Int: (id: String, last: TrackEvent.Snapshot)] = [:]
    private let makeID: () -> String

    /// `makeID`: names a new track (tests pass a counter; the default is `frigateID`).
    public init(makeID: @escaping () -> String = TrackEventBuilder.frigateID) { self.makeID = makeID }

    public func events(_ transitions: [Tracker.Event], mediaTime: Double, timestamp: String, source: String) -> [TrackEvent] {
        transitions.map { event($0, mediaTime: mediaTime, timestamp: timestamp, source: source) }
    }

    private func event(_ e: Tracker.Event, mediaTime: Double, timestamp: String, source: String) -> TrackEvent {
        let (kind, tr, _) = e
        let now = TrackEvent.Snapshot(tr, mediaTime: mediaTime, timestamp: timestamp)
        let known = open[tr.id]
        let id = known?.id ?? makeID()
        open[tr.id] = kind == .end ? nil : (id, now)
        // Only a `new` opens a track, so `known` is there for every change and end; `now` stands in
        // should a tracker ever skip the `new` (the schema requires `before` on both).
        let before = kind == .new ? nil : (known?.last ?? now)
        return TrackEvent(id: id, type: kind, track: tr.id, before: before, after: now,
                          mediaTime: mediaTime, timestamp: timestamp, source: source)
    }

    private static let idAlphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")

    /// "<unix time with microseconds>-<6 random [a-z0-9]>", as Frigate names its events: sortable by
    /// start, and unique across restarts and across daemons sharing a broker (36⁶ suffixes per µs).
    /// Formatted by hand, like `WallClock`: no Foundation formatter (ICU) in the frame loop.
    public static func frigateID() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let micros = String(ts.tv_nsec / 1000)
        var rng = SystemRandomNumberGenerator()
        let suffix = String((0..<6).map { _ in idAlphabet.randomElement(using: &rng)! })
        return "\(ts.tv_sec).\(String(repeating: "0", count: 6 - micros.count))\(micros)-\(suffix)"
    }
}

extension TrackEvent.Snapshot {
    /// The track as an event reports it: its (hysteresis) label and the smoothed scores.
    init(_ tr: Tracker.Track, mediaTime: Double, timestamp: String) {
        let s = EmotionScores(tr.smoothed, labels: tr.label.labels)
        self.init(label: tr.label.name, confidence: s[tr.label.index], scores: s.byName,
                  box: tr.box, firstSeen: tr.firstSeen, lastSeen: tr.lastSeen, mediaTime: mediaTime, timestamp: timestamp)
    }
}
