import ArgumentParser
import Capture
import Config
import Detection
import Foundation
import Imaging
import Inference
import Pipeline
import Settings

/// Options shared by every command that runs the vision pipeline. Their defaults and ranges are
/// the configuration model's (`DetectorConfig`, `TrackerConfig`, `Limits`): one definition each.
struct PipelineOptions: ParsableArguments {
    @Option(help: "ONNX emotion model (default: models/\(Paths.defaultModelName)); repeat for an ensemble (probabilities averaged per face).") var model: [String] = []
    @Option(help: "Face detector: haar or lbp.") var detector = DetectorConfig().kind
    @Option(help: "Cascade XML (default: the detector's frontal-face cascade from opencv-data).") var cascade: String?
    @Option(help: "Detect on the frame downscaled by this factor (0 < s ≤ 1; default 0.5 for video, 1 for image).")
    var detectScale: Double?
    @Option(help: "Cascade scaleFactor.") var scaleFactor = DetectorConfig().scaleFactor
    @Option(help: "Cascade minNeighbors.") var minNeighbors = DetectorConfig().minNeighbors
    @Option(help: "Smallest face side in pixels (default 48 for video, 24 for image).") var minFace: Int?
    @Flag(help: "Also find faces in profile, turned either way (opencv-data's profile cascade on the image and its mirror; ~3x the detection cost).")
    var profile = false
    @Option(help: "Full-frame detection every N frames (between them only around tracked faces).") var fullDetectEvery = EmotiondConfig().fullDetectEvery
    @Option(help: "Batch: full-frame passes run on a second thread and join N frames later (0: in the frame loop; default: full-detect-every − 1).") var lookBehind: Int?
    @Option(help: "Crop margin around the detector box (fraction per side; default from the model).") var cropMargin: Double?
    @Option(help: "EMA weight of the newest scores (1 = no smoothing).") var smoothing = TrackerConfig().emaAlpha
    @Option(help: "Frames a track may go unseen before it ends.") var maxAge = TrackerConfig().maxAge
    @Option(help: "A `change` event needs the new label to lead the old one by this probability...")
    var changeMargin: Double = TrackerConfig().changeMargin
    @Option(help: "...for this many seconds of media time.") var changeDwell: Double = TrackerConfig().changeDwell
    @Option(help: "Test-time augmentation: none or flip (default: what the model's metadata declares).")
    var tta: TTA?
    @Flag(help: "Same as --tta flip.") var flip = false

    /// nil: the model's declared TTA.
    var flipTTA: Bool? { flip ? true : tta.map(\.flips) }
    @Option(help: "OpenCV worker threads (0: OpenCV's default, one per core).") var cvThreads: Int = 0

    /// Every option in its allowed range (the same ranges as the configuration file's keys),
    /// all problems at once, before any work starts.
    func validate() throws {
        let problems = [
            detectScale.flatMap { Limits.check("--detect-scale", $0, Limits.detectScale) },
            Limits.check("--scale-factor", scaleFactor, Limits.scaleFactor),
            Limits.check("--min-neighbors", minNeighbors, Limits.minNeighbors),
            minFace.flatMap { Limits.check("--min-face", $0, Limits.minSize) },
            Limits.check("--full-detect-every", fullDetectEvery, Limits.fullDetectEvery),
            lookBehind.flatMap { Limits.check("--look-behind", $0, Limits.lookBehind) },
            cropMargin.flatMap { Limits.check("--crop-margin", $0, Limits.cropMargin) },
            Limits.check("--smoothing", smoothing, Limits.emaAlpha),
            Limits.check("--max-age", maxAge, Limits.maxAge),
            Limits.check("--change-margin", changeMargin, Limits.changeMargin),
            Limits.check("--change-dwell", changeDwell, Limits.changeDwell),
            Limits.check("--cv-threads", cvThreads, Limits.cvThreads),
        ].compactMap { $0 }
        if !problems.isEmpty { throw ValidationError(problems.joined(separator: "\n")) }
    }

    /// A processor for recorded video: full-frame passes pipelined on a worker (see `--look-behind`).
    func makeBatchProcessor() throws -> FrameProcessor {
        let behind = lookBehind ?? max(1, fullDetectEvery - 1)
        let proc = try makeProcessor()
        if behind > 0 {
            // The frame loop and the worker already keep both cores busy; OpenBLAS's own threads (it
            // only runs the fully connected layers here) spin against them: with
            // OPENBLAS_CORETYPE=Haswell set, `bench pipeline` used 205 % CPU for 355 frames/s, and
            // one thread gave 389–405.
            BLAS.threads = 1
            do { try proc.usePipelinedDetection(lookBehind: behind) } catch { throw RunError("detector: \(error)") }
        }
        return proc
    }

    /// Camera set-up (live window, daemon, capture benchmarks): full-frame detection in the
    /// background, and OpenCV and OpenBLAS each on one thread. Their default pools (one thread per
    /// core) spin between calls and, on a 2-core machine, burned a whole extra core (131 %, see
    /// README) while competing with capture for the same cores.
    static func configureForCamera(_ proc: FrameProcessor) throws {
        OpenCV.setThreads(1)
        BLAS.threads = 1
        try proc.useBackgroundDetection()
    }

    /// Video defaults: a face stays in view for many frames, so half-resolution detection with a
    /// 48 px minimum finds it soon enough at a quarter of the cost. A still is seen once: full
    /// resolution and 24 px (on group photos 19 → 39 of 43 faces in the issue's test).
    struct Defaults { var detectScale: Double; var minFace: Int }
    static let video = Defaults(detectScale: DetectorConfig().scale, minFace: DetectorConfig().minSize)
    static let still = Defaults(detectScale: 1, minFace: 24)

    func makeProcessor(_ defaults: Defaults = Self.video) throws -> FrameProcessor {
        if cvThreads > 0 { OpenCV.setThreads(cvThreads) }
        var d = DetectorConfig()
        d.kind = detector; d.cascade = cascade; d.scale = detectScale ?? defaults.detectScale
        d.scaleFactor = scaleFactor; d.minNeighbors = minNeighbors; d.minSize = minFace ?? defaults.minFace
        d.profile = profile
        var t = TrackerConfig()
        t.emaAlpha = smoothing; t.maxAge = maxAge; t.changeMargin = changeMargin; t.changeDwell = changeDwell
        let det: CascadeDetector
        do { det = try CascadeDetector(config: d, searchRoots: Paths.dataRoots) } catch let e as DetectorError { throw RunError("\(e)") }
        let paths = try Paths.models(model)
        let cls: EmotionClassifier
        do { cls = try EmotionClassifier(paths: paths, flipTTA: flipTTA) } catch let e as InferenceError {
            throw RunError("model \(paths.joined(separator: " + ")): \(e)")
        }
        return FrameProcessor(detector: det, classifier: cls, tracking: t, cropMargin: cropMargin, fullDetectEvery: fullDetectEvery)
    }
}

extension DetectorConfig.Kind: ExpressibleByArgument {}
extension TTA: ExpressibleByArgument {}

/// A fatal run error: message already names the file; exit status 1.
struct RunError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
