import Detection
import EmotionCore
import Foundation
import Imaging
import Inference
import Settings

/// frame → faces (a `DetectionScheduler`) → crops → emotions (one batch) → tracks →
/// FrameResult + events. Where faces are looked for, the thread settings and the outputs are the
/// caller's choice; this class only runs the stages in order and times them.
public final class FrameProcessor {
    public let detector: CascadeDetector
    public let classifier: EmotionClassifier
    public let tracker: Tracker
    /// Extra margin around the detector box per side, as a fraction of its size
    /// (default: the model's `crop_margin` metadata, matched to its training framing).
    public let cropMargin: Double
    /// Full-frame detection every N frames; in between only regions around live tracks.
    public let fullDetectEvery: Int
    public private(set) var scheduler: DetectionScheduler
    /// Names tracks and keeps what their last events said (`before`).
    public let events: TrackEventBuilder

    public init(detector: CascadeDetector, classifier: EmotionClassifier, tracking: TrackerConfig,
                cropMargin: Double? = nil, fullDetectEvery: Int = 25, events: TrackEventBuilder = TrackEventBuilder()) {
        self.detector = detector
        self.events = events
        self.fullDetectEvery = max(1, fullDetectEvery)
        self.classifier = classifier
        self.tracker = Tracker(config: tracking)
        self.cropMargin = cropMargin ?? Double(classifier.model.metadata.cropMargin ?? 0.1)
        scheduler = InLoopScheduler(detector: detector, fullEvery: fullDetectEvery)
    }

    /// Full-frame passes on a worker thread, joining when they finish (live window, daemon).
    public func useBackgroundDetection() throws {
        scheduler = try BackgroundScheduler(detector: detector, fullEvery: fullDetectEvery)
    }

    /// Full-frame passes on a worker thread, joining `lookBehind` frames later (batch).
    public func usePipelinedDetection(lookBehind: Int) throws {
        scheduler = try PipelinedScheduler(detector: detector, fullEvery: fullDetectEvery, lookBehind: lookBehind)
    }

    /// Crops of the boxes in the model's input size and colour (margin, clamped at the borders,
    /// INTER_AREA).
    public func crops(_ frame: Frame, boxes: [FaceBox]) throws -> [[UInt8]] {
        let c = classifier.contract
        return try frame.faceCrops(boxes, margin: cropMargin, width: c.width, height: c.height, colour: c.color != .gray)
    }

    /// Runs one frame through the pipeline.
    public func process(_ frame: Frame, source: String, decodeMs: Double = 0) throws -> (FrameResult, [TrackEvent]) {
        var clock = StageClock(decodeMs: decodeMs)
        let boxes = try scheduler.faces(in: frame, tracks: tracker.tracks)
        clock.lap(\.detect)
        let faces = try crops(frame, boxes: boxes)
        clock.lap(\.preprocess)
        let scores = try classifier.classify(faces)
        clock.lap(\.infer)
        let (ids, smoothed, evs) = tracker.update(boxes: boxes, scores: scores, mediaTime: frame.mediaTime)
        clock.lap(\.track)
        let stamp = WallClock.rfc3339()
        // Only confirmed tracks are reported; tentative ones may be false positives.
        let tracked = boxes.indices.filter { tracker.isConfirmed(ids[$0]) }
            .map { TrackedFace(track: ids[$0], box: boxes[$0], raw: scores[$0], smoothed: smoothed[$0]) }
        let result = FrameResult(timestamp: stamp, mediaTime: frame.mediaTime, frame: frame.index, source: source,
                                 width: frame.width, height: frame.height, faces: tracked, latencyMs: clock.latency)
        return (result, events.events(evs, mediaTime: frame.mediaTime, timestamp: stamp, source: source))
    }

    /// End events for every live track (end of stream); the next frame starts a new scene.
    public func finish(mediaTime: Double, source: String) -> [TrackEvent] {
        scheduler.reset()
        let stamp = WallClock.rfc3339()
        return events.events(tracker.finish(), mediaTime: mediaTime, timestamp: stamp, source: source)
    }
}

/// Times the stages of one frame.
struct StageClock {
    private(set) var latency = StageLatency()
    private var mark = DispatchTime.now().uptimeNanoseconds

    init(decodeMs: Double) { latency.decode = decodeMs; latency.total = decodeMs }

    mutating func lap(_ stage: WritableKeyPath<StageLatency, Double>) {
        let now = DispatchTime.now().uptimeNanoseconds
        let ms = Double(now - mark) / 1e6
        latency[keyPath: stage] = ms
        latency.total += ms
        mark = now
    }
}
