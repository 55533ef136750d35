import CVBridge
import EmotionCore
import Foundation
import Imaging

/// Per-track summary of a run: duration, emotion distribution, dominant emotion, and the
/// smoothed score timeline (for the plot).
public final class RunSummary {
    public struct TrackSummary: Encodable {
        public var track: Int
        public var firstSeen: Double
        public var lastSeen: Double
        public var frames: Int
        public var duration: Double { lastSeen - firstSeen }
        /// Fraction of the track's frames with each smoothed label.
        public var distribution: [String: Double]
        public var dominant: String
        enum CodingKeys: String, CodingKey { case track, firstSeen = "first_seen", lastSeen = "last_seen", frames, duration, distribution, dominant }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(track, forKey: .track); try c.encode(firstSeen, forKey: .firstSeen); try c.encode(lastSeen, forKey: .lastSeen)
            try c.encode(frames, forKey: .frames); try c.encode(duration, forKey: .duration)
            try c.encode(distribution, forKey: .distribution); try c.encode(dominant, forKey: .dominant)
        }
    }

    public struct Report: Encodable {
        public var source: String
        public var frames: Int
        public var processedFrames: Int
        public var framesWithFaces: Int
        public var mediaSeconds: Double
        public var wallSeconds: Double
        public var tracks: [TrackSummary]
        enum CodingKeys: String, CodingKey { case source, frames, processedFrames = "processed_frames", framesWithFaces = "frames_with_faces", mediaSeconds = "media_seconds", wallSeconds = "wall_seconds", tracks }
    }

    private struct Acc { var first: Double; var last: Double; var frames = 0; var counts: [Int]; var timeline: [(Double, [Float])] = [] }
    private var acc: [Int: Acc] = [:]
    public private(set) var processed = 0
    public private(set) var withFaces = 0
    public let source: String
    /// The model's classes (set by the frames added; one model per run).
    public private(set) var labels = LabelSet.fer2013

    public init(source: String) { self.source = source }

    public func add(_ r: FrameResult, labels: LabelSet = .fer2013) {
        self.labels = labels
        processed += 1
        if !r.faces.isEmpty { withFaces += 1 }
        for f in r.faces {
            var a = acc[f.track] ?? Acc(first: r.mediaTime, last: r.mediaTime, counts: [Int](repeating: 0, count: labels.count))
            a.last = r.mediaTime; a.frames += 1
            if let i = labels.index(of: f.label) { a.counts[i] += 1 }
            a.timeline.append((r.mediaTime, labels.names.map { f.smoothed[$0] ?? 0 }))
            acc[f.track] = a
        }
    }

    public func report(frames: Int, mediaSeconds: Double, wallSeconds: Double) -> Report {
        let tracks = acc.keys.sorted().map { id -> TrackSummary in
            let a = acc[id]!
            var dist: [String: Double] = [:]
            for (i, name) in labels.names.enumerated() { dist[name] = Double(a.counts[i]) / Double(max(1, a.frames)) }
            let dom = labels[a.counts.indices.max { a.counts[$0] < a.counts[$1] }!]
            return TrackSummary(track: id, firstSeen: a.first, lastSeen: a.last, frames: a.frames, distribution: dist, dominant: dom)
        }
        return Report(source: source, frames: frames, processedFrames: processed, framesWithFaces: withFaces,
                      mediaSeconds: mediaSeconds, wallSeconds: wallSeconds, tracks: tracks)
    }

    public static func text(_ r: Report) -> String {
        var s = "\(r.source): \(r.frames) frames (\(r.processedFrames) processed), \(String(format: "%.1f", r.mediaSeconds)) s of video in \(String(format: "%.1f", r.wallSeconds)) s"
        s += String(format: " (%.1f× real time); faces in %d frames (%.0f%%)\n", r.wallSeconds > 0 ? r.mediaSeconds / r.wallSeconds : 0, r.framesWithFaces, 100 * Double(r.framesWithFaces) / Double(max(1, r.processedFrames)))
        if r.tracks.isEmpty { s += "  no faces\n" }
        for t in r.tracks {
            let top = t.distribution.sorted { $0.value > $1.value }.prefix(3).filter { $0.value > 0 }
                .map { "\($0.key) \(String(format: "%.0f%%", $0.value * 100))" }.joined(separator: ", ")
            s += String(format: "  track %d: %.1f–%.1f s (%d frames), dominant %@; %@\n", t.track, t.firstSeen, t.lastSeen, t.frames, t.dominant, top)
        }
        return s
    }

    /// Timeline plot PNG: one panel per track (up to 6), smoothed scores over media time.
    public func plot(to path: String, width: Int = 1000) throws {
        // The six longest tracks, in id order.
        let ids = acc.keys.sorted { acc[$0]!.frames > acc[$1]!.frames }.prefix(6).sorted()
        let panelH = 180, top = 30, left = 60, right = 110
        let height = top + max(1, ids.count) * (panelH + 30)
        var img = cvb_image()
        try cvCall("plot") { cvb_image_new(Int32(width), Int32(height), 255, 255, 255, &img, $0) }
        defer { cvb_image_free(&img) }
        let tMax = max(0.001, acc.values.map(\.last).max() ?? 1)
        try cvCall("plot") { cvb_draw_text(&img, Int32(left), 20, "emotiond: smoothed scores per track over time (s) - \(URL(fileURLWithPath: source).lastPathComponent)", 0, 0, 0, 0.5, $0) }
        if ids.isEmpty { try cvCall("plot") { cvb_draw_text(&img, Int32(left), Int32(top + 40), "no faces", 0, 0, 0, 0.6, $0) } }
        for (pi, id) in ids.enumerated() {
            let a = acc[id]!
            let y0 = top + pi * (panelH + 30) + 10
            let pw = width - left - right
            try cvCall("plot") { cvb_draw_box(&img, cvb_rect(x: Int32(left), y: Int32(y0), width: Int32(pw), height: Int32(panelH)), 0, 0, 0, 1, $0) }
            try cvCall("plot") { cvb_draw_text(&img, 4, Int32(y0 + 14), "track \(id)", 0, 0, 0, 0.45, $0) }
            for tick in 0...4 {
                let tv = tMax * Double(tick) / 4
                let x = left + Int(Double(pw) * Double(tick) / 4)
                try cvCall("plot") { cvb_draw_text(&img, Int32(x - 10), Int32(y0 + panelH + 16), String(format: "%.1f", tv), 80, 80, 80, 0.4, $0) }
            }
            for (k, name) in labels.names.enumerated() {
                var pts: [Int32] = []
                for (t, v) in a.timeline {
                    pts.append(Int32(left + Int(Double(pw) * t / tMax)))
                    pts.append(Int32(y0 + panelH - Int(Double(panelH) * Double(v[k]))))
                }
                let (b, g, r) = EmotionColors.bgr(k, in: labels)
                if pts.count >= 4 { try cvCall("plot") { cvb_polyline(&img, pts, Int32(pts.count / 2), b, g, r, 2, $0) } }
                try cvCall("plot") { cvb_draw_text(&img, Int32(width - right + 8), Int32(y0 + 16 + k * 16), name, b, g, r, 0.45, $0) }
            }
        }
        let file = try AtomicFile(path: path, suffix: ".png")
        file.closeHandle()
        do { try cvCall("write plot \(path)") { cvb_imwrite(file.tempPath, &img, $0) } } catch { file.abort(); throw error }
        try file.commit()
    }
}
