import EmotionCore
import Settings

/// Associates detections across frames (greedy IoU, then centroid distance), keeps an
/// EMA of each track's scores and emits debounced new / change / end events.
public final class Tracker {
    public struct Track {
        public let id: Int
        public var box: FaceBox
        public var smoothed: [Float]
        public var label: EmotionLabel          // current (debounced) label
        public var pending: EmotionLabel? = nil // candidate new label
        public var pendingCount = 0
        public var pendingSince = 0.0      // media time the candidate first led by the margin
        public var missed = 0
        public var hits = 1
        public var confirmed = false
        public var firstSeen: Double
        public var lastSeen: Double
    }

    /// A track appeared, changed label (from `before`) or ended.
    public typealias Event = (TrackEvent.Kind, Track, before: EmotionLabel?)
    public let config: TrackerConfig
    public private(set) var tracks: [Track] = []
    private var nextID = 1

    public init(config: TrackerConfig) { self.config = config }

    /// Whether the track with this id is confirmed (reported).
    public func isConfirmed(_ id: Int) -> Bool { tracks.first { $0.id == id }?.confirmed ?? false }

    /// Updates tracks with this frame's faces. Returns the track id of each face (same order) and the events.
    public func update(boxes: [FaceBox], scores: [EmotionScores], mediaTime: Double)
        -> (ids: [Int], smoothed: [EmotionScores], events: [Event]) {
        var events: [Event] = []
        var assigned = [Int?](repeating: nil, count: boxes.count) // detection → track index
        var usedTracks = Set<Int>()
        // Greedy association by descending IoU.
        var pairs: [(Double, Int, Int)] = []
        for (d, b) in boxes.enumerated() {
            for (t, tr) in tracks.enumerated() {
                let iou = b.iou(tr.box)
                if iou >= config.iouThreshold { pairs.append((iou, d, t)); continue }
                // Fast motion: centroid within half the face size counts as the same face.
                let dx = Double((b.x + b.width / 2) - (tr.box.x + tr.box.width / 2))
                let dy = Double((b.y + b.height / 2) - (tr.box.y + tr.box.height / 2))
                let r = 0.5 * Double(max(tr.box.width, tr.box.height))
                if dx * dx + dy * dy <= r * r { pairs.append((0.01, d, t)) }
            }
        }
        for (_, d, t) in pairs.sorted(by: { $0.0 > $1.0 }) where assigned[d] == nil && !usedTracks.contains(t) {
            assigned[d] = t; usedTracks.insert(t)
        }
        var ids = [Int](repeating: 0, count: boxes.count)
        var smoothedOut = [EmotionScores]()
        let a = Float(config.emaAlpha)
        for (d, b) in boxes.enumerated() {
            if let t = assigned[d] {
                var tr = tracks[t]
                // A gap (frames without this face) or a clock that went back (a looped file) restarts
                // the dwell: the lead must be seen continuously.
                if tr.missed > 0 || mediaTime < tr.pendingSince { tr.pending = nil; tr.pendingCount = 0 }
                tr.box = b; tr.missed = 0; tr.hits += 1; tr.lastSeen = mediaTime
                for k in tr.smoothed.indices { tr.smoothed[k] = a * scores[d].values[k] + (1 - a) * tr.smoothed[k] }
                let top = EmotionScores(tr.smoothed, labels: scores[d].labels).top.label
                updatePending(&tr, top: top, mediaTime: mediaTime)
                if !tr.confirmed && tr.hits >= config.minHits {
                    // Confirmed now: the label so far is the smoothed one.
                    tr.confirmed = true
                    tr.label = top; tr.pending = nil; tr.pendingCount = 0
                    events.append((.new, tr, nil))
                }
                if tr.confirmed, let p = tr.pending, tr.pendingCount >= max(1, config.debounce),
                   mediaTime - tr.pendingSince >= config.changeDwell {
                    let before = tr.label
                    tr.label = p; tr.pending = nil; tr.pendingCount = 0
                    events.append((.change, tr, before))
                }
                tracks[t] = tr
                ids[d] = tr.id
                smoothedOut.append(EmotionScores(tr.smoothed, labels: scores[d].labels))
            } else {
                var tr = Track(id: nextID, box: b, smoothed: scores[d].values, label: scores[d].top.label,
                               firstSeen: mediaTime, lastSeen: mediaTime)
                if config.minHits <= 1 { tr.confirmed = true; events.append((.new, tr, nil)) }
                nextID += 1
                tracks.append(tr)
                usedTracks.insert(tracks.count - 1)
                ids[d] = tr.id
                smoothedOut.append(scores[d])
            }
        }
        // Age unmatched tracks; end the stale ones.
        var kept: [Track] = []
        for (t, var tr) in tracks.enumerated() {
            if !usedTracks.contains(t) { tr.missed += 1 }
            if tr.missed > config.maxAge {
                if tr.confirmed { events.append((.end, tr, nil)) }
            } else { kept.append(tr) }
        }
        tracks = kept
        return (ids, smoothedOut, events)
    }

    /// Hysteresis: a candidate label counts only while it leads the current label by
    /// `changeMargin`; losing the lead (or the top place) restarts its dwell clock.
    private func updatePending(_ tr: inout Track, top: EmotionLabel, mediaTime: Double) {
        let lead = Double(tr.smoothed[top.index] - tr.smoothed[tr.label.index])
        guard top != tr.label, lead >= config.changeMargin else {
            tr.pending = nil; tr.pendingCount = 0
            return
        }
        if top == tr.pending {
            tr.pendingCount += 1
        } else {
            tr.pending = top; tr.pendingCount = 1; tr.pendingSince = mediaTime
        }
    }

    /// Ends every live track (end of stream or shutdown).
    public func finish() -> [Event] {
        defer { tracks = [] }
        return tracks.filter(\.confirmed).map { (.end, $0, nil) }
    }
}
