import Detection
import EmotionCore
import Foundation

/// What the schedulers need from a face detector. `CascadeDetector` is the real one; tests use
/// scripted doubles, so the scheduling is tested without OpenCV or video.
public protocol FaceDetecting: AnyObject {
    /// Every face in the frame (the full-frame pass, 40–80 ms at 1280×720).
    func faces(in frame: Frame) throws -> [FaceBox]
    /// Faces near a tracked face, of about its size (the cheap search between full passes).
    func faces(in frame: Frame, near box: FaceBox, minScaleFactor: Double) throws -> [FaceBox]
    /// Faces in a region, with the full pass's settings.
    func faces(in frame: Frame, region: FaceBox) throws -> [FaceBox]
    /// A second detector on the same cascade, for a worker thread (one instance serialises callers).
    func copy() throws -> FaceDetecting
}

extension CascadeDetector: FaceDetecting {
    public func faces(in frame: Frame) throws -> [FaceBox] { try detect(frame) }
    public func faces(in frame: Frame, near box: FaceBox, minScaleFactor: Double) throws -> [FaceBox] {
        try detect(frame, near: box, minScaleFactor: minScaleFactor)
    }
    public func faces(in frame: Frame, region: FaceBox) throws -> [FaceBox] { try detect(frame, region: region) }
    public func copy() throws -> FaceDetecting { try clone() }
}

/// Decides, frame by frame, where faces are looked for: the whole frame (expensive) or only around
/// the live tracks. Detection dominates the frame budget, so this is where the frame rate is made.
public protocol DetectionScheduler: AnyObject {
    /// The faces of `frame`, given the tracker's tracks before this frame.
    func faces(in frame: Frame, tracks: [Tracker.Track]) throws -> [FaceBox]
    /// The source ended: wait for or drop pending work; the next frame starts a new scene.
    func reset()
    /// Full-frame passes finished (benchmarks report it).
    var fullPasses: Int { get }
}

/// The searches every scheduler shares.
struct TrackSearch {
    let detector: FaceDetecting
    /// Smallest pyramid step around tracks: the face size is known, a coarse pyramid finds it.
    let roiScaleFactor = 1.2

    /// Faces around each live track, without duplicates.
    func aroundTracks(_ frame: Frame, _ live: [Tracker.Track]) throws -> [FaceBox] {
        var found: [FaceBox] = []
        for t in live {
            for b in try detector.faces(in: frame, near: t.box, minScaleFactor: roiScaleFactor)
            where !found.contains(where: { $0.iou(b) > 0.5 }) { found.append(b) }
        }
        return found
    }
}

/// Counts frames since the last full pass (`Int.max` until the first one).
struct FullPassClock {
    private(set) var sinceFull = Int.max
    mutating func tick() { sinceFull = sinceFull == Int.max ? Int.max : sinceFull + 1 }
    mutating func restart() { sinceFull = 0 }
    mutating func forget() { sinceFull = Int.max }
}

/// Everything in the frame loop (batch with `--look-behind 0`, `bench`): a full pass every
/// `fullEvery` frames or as soon as a track is lost, else the search around tracks. Deterministic.
public final class InLoopScheduler: DetectionScheduler {
    let search: TrackSearch
    let fullEvery: Int
    private var clock = FullPassClock()
    public private(set) var fullPasses = 0

    public init(detector: FaceDetecting, fullEvery: Int) {
        search = TrackSearch(detector: detector)
        self.fullEvery = max(1, fullEvery)
    }

    public func faces(in frame: Frame, tracks: [Tracker.Track]) throws -> [FaceBox] {
        let live = tracks.filter { $0.missed == 0 }
        clock.tick()
        if live.isEmpty || clock.sinceFull >= fullEvery || live.count < tracks.count { return try fullPass(frame) }
        let found = try search.aroundTracks(frame, live)
        // A track lost in its region: look at the whole frame right away.
        if found.count < live.count { return try fullPass(frame) }
        return found.sorted { $0.x < $1.x }
    }

    private func fullPass(_ frame: Frame) throws -> [FaceBox] {
        clock.restart()
        fullPasses += 1
        return try search.detector.faces(in: frame)
    }

    public func reset() { clock.forget() }
}

/// A detector on a worker thread running one full-frame pass at a time.
final class FullPassWorker: @unchecked Sendable {
    let detector: FaceDetecting
    private let queue = DispatchQueue(label: "emotiond.full-detect", qos: .userInitiated)
    private let lock = NSLock()
    private var busy = false, result: Result<[FaceBox], Error>?, finished = 0
    private let done = DispatchSemaphore(value: 0)

    init(_ detector: FaceDetecting) { self.detector = detector }

    var isBusy: Bool { lock.lock(); defer { lock.unlock() }; return busy }
    var passes: Int { lock.lock(); defer { lock.unlock() }; return finished }

    func start(_ frame: Frame) {
        lock.lock(); busy = true; lock.unlock()
        queue.async { [self] in
            let r = Result { try detector.faces(in: frame) }
            lock.lock(); result = r; busy = false; finished += 1; lock.unlock()
            done.signal()
        }
    }

    /// The finished pass's result, if one finished since the last take (never waits).
    func poll() -> Result<[FaceBox], Error>? {
        guard done.wait(timeout: .now()) == .success else { return nil }
        lock.lock(); defer { result = nil; lock.unlock() }
        return result
    }

    /// Waits for the running pass and returns its result.
    func wait() -> Result<[FaceBox], Error>? {
        done.wait()
        lock.lock(); defer { result = nil; lock.unlock() }
        return result
    }
}

/// Live window and daemon: the full-frame pass runs on a worker thread and its faces join at the
/// first frame after it finishes, so a frame never waits for the 40–80 ms pass; every frame still
/// gets the cheap search around live tracks. Not frame-exact (depends on timing).
public final class BackgroundScheduler: DetectionScheduler {
    let search: TrackSearch
    let worker: FullPassWorker
    let fullEvery: Int
    private var clock = FullPassClock()
    public var fullPasses: Int { worker.passes }

    public init(detector: FaceDetecting, fullEvery: Int) throws {
        search = TrackSearch(detector: detector)
        worker = FullPassWorker(try detector.copy())
        self.fullEvery = max(1, fullEvery)
    }

    /// Faces near live tracks in this frame, plus whatever the last finished full pass found
    /// elsewhere; starts a new full pass when one is due and none is running.
    public func faces(in frame: Frame, tracks: [Tracker.Track]) throws -> [FaceBox] {
        let live = tracks.filter { $0.missed == 0 }
        let finished = worker.poll()
        let busy = worker.isBusy
        clock.tick()
        var found = try search.aroundTracks(frame, live)
        let lost = found.count < live.count || live.count < tracks.count
        // With nothing (or not everything) tracked, look again every few frames rather than
        // back to back: keeps an empty scene at ~10 full-frame passes/s instead of a full core.
        if !busy && clock.sinceFull >= (live.isEmpty || lost ? 3 : fullEvery) {
            clock.restart()
            worker.start(frame)
        }
        if case let .failure(e)? = finished { throw e }
        if case let .success(boxes)? = finished {
            for b in boxes where !found.contains(where: { $0.iou(b) > 0.3 }) { found.append(b) }
        }
        return found.sorted { $0.x < $1.x }
    }

    /// Also waits for a full pass still running, so nothing is left inside OpenCV at shutdown.
    public func reset() {
        if worker.isBusy { _ = worker.wait() }
        clock.forget()
    }
}

/// Batch with the second core: while faces are tracked, each periodic full-frame pass runs on the
/// worker and its result joins exactly `lookBehind` frames later, waiting for it if need be, so
/// the output depends only on the input (repeatable, frame by frame) while the frame loop goes on
/// with the searches around the tracks. A face the pass found joins only if a search around it
/// finds it again in the current frame (the pass saw an older frame); a track the cheap search
/// misses gets a wider search in the same frame. With nothing tracked every frame still gets a
/// full pass. WolfgangLanger_Pexels.mp4, `bench pipeline`: 195 → 265 frames/s; the clip's labels
/// as in the in-loop scheduler.
public final class PipelinedScheduler: DetectionScheduler {
    let search: TrackSearch
    let worker: FullPassWorker
    let fullEvery: Int, lookBehind: Int
    private var clock = FullPassClock()
    private var frameCounter = 0
    /// The frame the running pass was started on.
    private var pendingPassFrame: Int?
    public var fullPasses: Int { worker.passes }

    public init(detector: FaceDetecting, fullEvery: Int, lookBehind: Int) throws {
        search = TrackSearch(detector: detector)
        worker = FullPassWorker(try detector.copy())
        self.fullEvery = max(1, fullEvery)
        self.lookBehind = max(1, lookBehind)
    }

    public func faces(in frame: Frame, tracks: [Tracker.Track]) throws -> [FaceBox] {
        frameCounter += 1
        clock.tick()
        // Nothing tracked: a pass still running is superseded by this frame's own, which runs on
        // the worker too (waited for), so only the worker's detector ever holds full-frame buffers
        // (at 1280×720 a second set cost 12 MiB resident).
        if tracks.isEmpty {
            _ = try? takePendingPass()
            startPass(frame)
            return try takePendingPass()
        }
        var (found, lost) = try trackedFaces(frame, tracks)
        if let started = pendingPassFrame, frameCounter - started >= lookBehind {
            found += try confirmed(try takePendingPass(), in: frame, besides: found)
        }
        if pendingPassFrame == nil && clock.sinceFull >= (lost ? 3 : fullEvery) { startPass(frame) }
        return found.sorted { $0.x < $1.x }
    }

    /// The searches around the tracks; a track the cheap search missed (this frame or before) is
    /// searched more widely with the full pass's settings now, rather than `lookBehind` frames later.
    private func trackedFaces(_ frame: Frame, _ tracks: [Tracker.Track]) throws -> ([FaceBox], lost: Bool) {
        var found = try search.aroundTracks(frame, tracks.filter { $0.missed == 0 })
        var lost = false
        for t in tracks where !found.contains(where: { $0.iou(t.box) > 0.1 }) {
            let again = try calibrated(frame, around: t.box, pad: 0.5).filter { c in !found.contains { $0.iou(c) > 0.3 } }
            found += again
            lost = lost || again.isEmpty
        }
        return (found, lost)
    }

    /// Faces the pass found away from the tracks: it saw a frame `lookBehind` frames old, so each
    /// must be found again in this one.
    private func confirmed(_ pass: [FaceBox], in frame: Frame, besides tracked: [FaceBox]) throws -> [FaceBox] {
        var found = tracked
        for b in pass where !found.contains(where: { $0.iou(b) > 0.1 }) {
            for c in try calibrated(frame, around: b) where !found.contains(where: { $0.iou(c) > 0.3 }) { found.append(c) }
        }
        return Array(found.dropFirst(tracked.count))
    }

    /// Faces near `box`, with the full pass's settings, on the worker's detector (its lock
    /// serialises it with a running pass): these regions are nearly frame-sized, and a second
    /// detector sizing its buffers for them cost 12 MiB resident at 1280×720.
    private func calibrated(_ frame: Frame, around box: FaceBox, pad: Double = 0.35) throws -> [FaceBox] {
        try worker.detector.faces(in: frame, region: box.grown(by: pad))
    }

    private func startPass(_ frame: Frame) {
        clock.restart()
        worker.start(frame)
        pendingPassFrame = frameCounter
    }

    /// Waits for the pending pass, if any, and returns its faces (rethrows its error).
    private func takePendingPass() throws -> [FaceBox] {
        guard pendingPassFrame != nil else { return [] }
        pendingPassFrame = nil
        return try worker.wait()?.get() ?? []
    }

    public func reset() {
        _ = try? takePendingPass()
        clock.forget()
    }
}
