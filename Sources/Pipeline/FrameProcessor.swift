import Detection
import EmotionCore
import Foundation
import Imaging
import Inference

/// frame → faces → 48×48 crops → emotions (one batch) → tracks → FrameResult + events.
public final class FrameProcessor {
    public let detector: CascadeDetector
    public let classifier: EmotionClassifier
    public let tracker: Tracker
    /// Extra margin around the detector box per side, as a fraction of its size
    /// (default: the model's `crop_margin` metadata, matched to its training framing).
    public let cropMargin: Double

    /// Full-frame detection every N frames; in between only regions around live tracks are
    /// searched, for faces near the track's size (1 = always full frame).
    public var fullDetectEvery: Int
    /// Smallest pyramid step for the search around tracks (CascadeDetector.detect(_:near:)).
    public var roiScaleFactor = 1.2
    private var framesSinceFull = Int.max

    /// Live/daemon mode: full-frame detection runs on its own thread (with its own detector
    /// instance) and its faces join at the first frame after it finishes, so a frame never
    /// waits for the 40–80 ms full-frame pass; every frame still gets the cheap search around
    /// live tracks. Batch mode keeps it synchronous (deterministic, frame-exact results).
    public private(set) var asyncDetection = false
    private var worker: CascadeDetector?
    private let workerQueue = DispatchQueue(label: "emotiond.full-detect", qos: .userInitiated)
    private let workerLock = NSLock()
    private var workerBusy = false
    private var workerResult: Result<[FaceBox], Error>?
    /// Full-frame passes finished by the worker (for benchmarks and tests).
    public var asyncPasses: Int { workerLock.lock(); defer { workerLock.unlock() }; return finishedPasses }
    private var finishedPasses = 0

    /// Moves full-frame detection to a worker thread (see `asyncDetection`).
    public func enableAsyncDetection() throws {
        guard worker == nil else { return }
        worker = try detector.clone()
        asyncDetection = true
    }

    /// Batch mode with the second core: while faces are tracked, each periodic full-frame pass
    /// runs on the worker and its result joins exactly `lookBehind` frames later, waiting for it
    /// if need be, so the output depends only on the input (repeatable, frame by frame) while the
    /// frame loop goes on with the searches around the tracks. A face the pass found joins only
    /// if a search around it finds it again in the current frame (the pass saw an older frame);
    /// a track the cheap search misses gets a wider search in the same frame. With nothing
    /// tracked every frame still gets a synchronous full pass. WolfgangLanger_Pexels.mp4,
    /// `bench pipeline`: 195 → 265 frames/s; the clip's labels as in the synchronous loop.
    public private(set) var pipelinedDetection = false
    public private(set) var lookBehind = 24
    private var frameCounter = 0
    /// The frame the running pass was started on (its result is signalled on `workerDone`).
    private var pendingPassFrame: Int?

    public func enablePipelinedDetection(lookBehind: Int) throws {
        guard worker == nil else { return }
        // The frame loop and the worker already keep both cores busy; OpenBLAS's own threads (it
        // only runs the fully connected layers here) spin against them: with OPENBLAS_CORETYPE=Haswell
        // set, `bench pipeline` used 205 % CPU for 355 frames/s, and one thread gave 389–405.
        BLAS.threads = 1
        worker = try detector.clone()
        self.lookBehind = max(1, lookBehind)
        pipelinedDetection = true
    }

    /// Camera set-up (live window, daemon, capture benchmarks): asynchronous full-frame
    /// detection, and OpenCV and OpenBLAS each on one thread. Their default pools (one
    /// thread per core) spin between calls and, on a 2-core machine, burned a whole extra
    /// core (131 % → see README) while competing with capture for the same cores.
    public func configureForCamera() throws {
        OpenCV.setThreads(1)
        BLAS.threads = 1
        try enableAsyncDetection()
    }

    public init(detector: CascadeDetector, classifier: EmotionClassifier, tracking: TrackerConfig, cropMargin: Double? = nil, fullDetectEvery: Int = 25) {
        self.detector = detector
        self.fullDetectEvery = max(1, fullDetectEvery)
        self.classifier = classifier
        self.tracker = Tracker(config: tracking)
        self.cropMargin = cropMargin ?? Double(classifier.model.metadata.cropMargin ?? 0.1)
    }

    /// 48×48 gray crops of the boxes (square, margin, clamped at the borders, INTER_AREA).
    public func crops(_ frame: Frame, boxes: [FaceBox]) throws -> [[UInt8]] {
        try frame.faceCrops(boxes, margin: cropMargin, size: classifier.inputWidth)
    }

    /// Wall-clock time as RFC 3339 UTC with milliseconds ("2026-11-23T03:25:01.123Z").
    ///
    /// Formatted by hand from clock_gettime/gmtime_r: Foundation's ISO8601DateFormatter goes through
    /// ICU, whose locale and time-zone data it pages in on first use (+4.7 MiB resident, measured in
    /// `emotiond batch`), for a fixed-format UTC string.
    public static func now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return iso8601(seconds: ts.tv_sec, milliseconds: Int(ts.tv_nsec / 1_000_000))
    }

    static func iso8601(seconds: time_t, milliseconds: Int) -> String {
        var t = seconds
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ n: Int) -> String {
            let s = String(v)
            return s.count >= n ? s : String(repeating: "0", count: n - s.count) + s
        }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(milliseconds), 3))Z"
    }

    @inline(__always) static func ms(_ since: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - since) / 1e6 }

    /// Runs one frame through the pipeline.
    public func process(_ frame: Frame, source: String, decodeMs: Double = 0) throws -> (FrameResult, [TrackEvent]) {
        var lat = StageLatency()
        lat.decode = decodeMs
        var t = DispatchTime.now().uptimeNanoseconds
        let boxes = try detectFaces(frame)
        lat.detect = Self.ms(t); t = DispatchTime.now().uptimeNanoseconds
        let faces = try crops(frame, boxes: boxes)
        lat.preprocess = Self.ms(t); t = DispatchTime.now().uptimeNanoseconds
        let scores = try classifier.classify(faces)
        lat.infer = Self.ms(t); t = DispatchTime.now().uptimeNanoseconds
        let (ids, smoothed, evs) = tracker.update(boxes: boxes, scores: scores, mediaTime: frame.mediaTime)
        lat.track = Self.ms(t)
        lat.total = lat.decode + lat.detect + lat.preprocess + lat.infer + lat.track
        let stamp = Self.now()
        // Only confirmed tracks are reported; tentative ones may be false positives.
        let tracked = boxes.indices.filter { tracker.isConfirmed(ids[$0]) }.map { TrackedFace(track: ids[$0], box: boxes[$0], raw: scores[$0], smoothed: smoothed[$0]) }
        let result = FrameResult(timestamp: stamp, mediaTime: frame.mediaTime, frame: frame.index, source: source,
                                 width: frame.width, height: frame.height, faces: tracked, latencyMs: lat)
        return (result, evs.map { Self.event($0, mediaTime: frame.mediaTime, stamp: stamp, source: source) })
    }

    /// Full-frame detection periodically or when nothing is tracked; otherwise a search
    /// limited to each track's neighbourhood and size range (much cheaper: detection
    /// dominates the frame budget).
    func detectFaces(_ frame: Frame) throws -> [FaceBox] {
        if asyncDetection { return try detectFacesAsync(frame) }
        if pipelinedDetection { return try detectFacesPipelined(frame) }
        let live = tracker.tracks.filter { $0.missed == 0 }
        framesSinceFull = framesSinceFull == Int.max ? Int.max : framesSinceFull + 1
        if live.isEmpty || framesSinceFull >= fullDetectEvery || live.count < tracker.tracks.count {
            framesSinceFull = 0
            return try detector.detect(frame)
        }
        let found = try searchAroundTracks(frame, live)
        // A track lost in its region: look at the whole frame right away.
        if found.count < live.count {
            framesSinceFull = 0
            return try detector.detect(frame)
        }
        return found.sorted { $0.x < $1.x }
    }

    /// Faces near live tracks in this frame, plus whatever the last finished full-frame pass
    /// found elsewhere; starts a new full-frame pass when one is due and none is running.
    func detectFacesAsync(_ frame: Frame) throws -> [FaceBox] {
        let live = tracker.tracks.filter { $0.missed == 0 }
        workerLock.lock()
        let finished = workerResult; workerResult = nil
        let busy = workerBusy
        workerLock.unlock()
        framesSinceFull = framesSinceFull == Int.max ? Int.max : framesSinceFull + 1
        var found = try searchAroundTracks(frame, live)
        let lost = found.count < live.count || live.count < tracker.tracks.count
        // With nothing (or not everything) tracked, look again every few frames rather than
        // back to back: keeps an empty scene at ~10 full-frame passes/s instead of a full core.
        if !busy && framesSinceFull >= (live.isEmpty || lost ? 3 : fullDetectEvery) {
            framesSinceFull = 0
            startFullPass(frame)
        }
        if case let .failure(e)? = finished { throw e }
        if case let .success(boxes)? = finished {
            for b in boxes where !found.contains(where: { $0.iou(b) > 0.3 }) { found.append(b) }
        }
        return found.sorted { $0.x < $1.x }
    }

    /// See `pipelinedDetection`.
    func detectFacesPipelined(_ frame: Frame) throws -> [FaceBox] {
        frameCounter += 1
        framesSinceFull = framesSinceFull == Int.max ? Int.max : framesSinceFull + 1
        if tracker.tracks.isEmpty {
            // Nothing tracked: a pass still running is superseded by this frame's own, which runs
            // on the worker too (waited for), so only the worker's detector ever holds full-frame
            // buffers (at 1280×720 a second set cost 12 MiB resident).
            _ = try? takePendingPass()
            startPipelinedPass(frame)
            return try takePendingPass()
        }
        let live = tracker.tracks.filter { $0.missed == 0 }
        var found = try searchAroundTracks(frame, live)
        // A track the cheap search missed (this frame or before): search a wider neighbourhood
        // with the full pass's settings now, rather than wait `lookBehind` frames for a pass.
        var lost = false
        for t in tracker.tracks where !found.contains(where: { $0.iou(t.box) > 0.1 }) {
            let again = try calibrated(frame, around: t.box, pad: 0.5).filter { c in !found.contains { $0.iou(c) > 0.3 } }
            found += again
            lost = lost || again.isEmpty
        }
        if let started = pendingPassFrame, frameCounter - started >= lookBehind {
            // Faces the pass found away from the tracks: it saw a frame `lookBehind` frames old,
            // so each must be found again here.
            for b in try takePendingPass() where !found.contains(where: { $0.iou(b) > 0.1 }) {
                for c in try calibrated(frame, around: b) where !found.contains(where: { $0.iou(c) > 0.3 }) { found.append(c) }
            }
        }
        if pendingPassFrame == nil && framesSinceFull >= (lost ? 3 : fullDetectEvery) { startPipelinedPass(frame) }
        return found.sorted { $0.x < $1.x }
    }

    private func startPipelinedPass(_ frame: Frame) {
        framesSinceFull = 0
        startFullPass(frame)
        pendingPassFrame = frameCounter
    }

    /// Waits for the pending pass, if any, and returns its faces (rethrows its error).
    private func takePendingPass() throws -> [FaceBox] {
        guard pendingPassFrame != nil else { return [] }
        pendingPassFrame = nil
        workerDone.wait()
        workerLock.lock()
        let r = workerResult; workerResult = nil
        workerLock.unlock()
        return try r?.get() ?? []
    }

    private let workerDone = DispatchSemaphore(value: 0)

    private func startFullPass(_ frame: Frame) {
        guard let worker else { return }
        workerLock.lock(); workerBusy = true; workerLock.unlock()
        workerQueue.async { [weak self] in
            let r = Result { try worker.detect(frame) }
            guard let self else { return }
            self.workerLock.lock()
            self.workerResult = r; self.workerBusy = false; self.finishedPasses += 1
            self.workerLock.unlock()
            // Only the pipelined (batch) mode waits for a pass; the live mode polls workerResult.
            if self.pipelinedDetection { self.workerDone.signal() }
        }
    }

    private func searchAroundTracks(_ frame: Frame, _ live: [Tracker.Track]) throws -> [FaceBox] {
        var found: [FaceBox] = []
        for t in live {
            for b in try detector.detect(frame, near: t.box, minScaleFactor: roiScaleFactor) where !found.contains(where: { $0.iou(b) > 0.5 }) { found.append(b) }
        }
        return found
    }

    /// Faces near `box` (border `pad` × its side), found with the full-frame pass's settings. Runs
    /// on the worker's detector when there is one (its lock serialises it with a running pass):
    /// these regions are nearly frame-sized, and a second detector sizing its buffers for them
    /// cost 12 MiB resident at 1280×720; the frame loop's own detector only sees track regions.
    private func calibrated(_ frame: Frame, around box: FaceBox, pad padFraction: Double = 0.35) throws -> [FaceBox] {
        try (worker ?? detector).detect(frame, region: box.grown(by: padFraction))
    }

    /// End events for every live track (end of stream).
    public func finish(mediaTime: Double, source: String) -> [TrackEvent] {
        _ = try? takePendingPass()
        framesSinceFull = .max
        let stamp = Self.now()
        return tracker.finish().map { Self.event($0, mediaTime: mediaTime, stamp: stamp, source: source) }
    }

    static func event(_ e: (TrackEvent.Kind, Tracker.Track, before: Emotion?), mediaTime: Double, stamp: String, source: String) -> TrackEvent {
        let (kind, tr, before) = e
        let s = EmotionScores(tr.smoothed)
        return TrackEvent(type: kind, track: tr.id, before: kind == .change ? before?.name : (kind == .end ? tr.label.name : nil),
                          after: kind == .end ? nil : tr.label.name, label: tr.label.name, confidence: s[tr.label],
                          scores: Dictionary(uniqueKeysWithValues: Emotion.allCases.map { ($0.name, s[$0]) }),
                          mediaTime: mediaTime, timestamp: stamp, source: source)
    }
}
