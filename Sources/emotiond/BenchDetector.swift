import ArgumentParser
import Capture
import Detection
import EmotionCore
import Foundation
import Imaging
import Settings

/// `emotiond bench detector`: emotiond's SIMD Haar evaluator against OpenCV's CascadeClassifier on
/// the frames of a clip, interleaved frame by frame: the full-frame pass and the search around each
/// face the frame loop runs, median ms per call, and whether the two returned the same boxes.
struct BenchDetector: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detector",
        abstract: "Face detection per call: emotiond's SIMD Haar evaluator vs OpenCV's, same frames, same settings.")
    @Option(help: "Cascade settings: detect scale.") var detectScale = 0.5
    @Option(help: "Use every Nth frame.") var every = 4
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "Video file (default: media/WolfgangLanger_Pexels.mp4).") var video = "media/WolfgangLanger_Pexels.mp4"

    func run() throws {
        OpenCV.setThreads(1)
        var c = DetectorConfig()
        c.scale = detectScale
        let ours: CascadeDetector, cv: CascadeDetector
        do {
            ours = try CascadeDetector(config: c, searchRoots: Paths.dataRoots)
            cv = try CascadeDetector(config: c, searchRoots: Paths.dataRoots, openCVOnly: true)
        } catch { throw RunError("\(error)") }
        guard ours.usesSIMD else { throw RunError("only OpenCV's evaluator runs here (no AVX2, or EMOTIOND_CASCADE_ENGINE=opencv)") }
        let src: VideoFile
        do { src = try VideoFile(path: video) } catch { throw RunError("\(video): \(error)") }
        var full: [String: [Double]] = [:], search: [String: [Double]] = [:]
        var frames = 0, same = 0, calls = 0, faces = 0
        func timed(_ d: CascadeDetector, _ body: (CascadeDetector) throws -> [FaceBox]) rethrows -> ([FaceBox], Double) {
            let t = DispatchTime.now().uptimeNanoseconds
            let r = try body(d)
            return (r, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
        }
        func canonical(_ b: [FaceBox]) -> [FaceBox] { b.sorted { ($0.x, $0.y) < ($1.x, $1.y) } }
        var n = 0
        while let f = try src.next() {
            n += 1
            if n % max(1, every) != 0 { continue }
            frames += 1
            // Alternate which engine runs first, so neither always gets the warmer cache.
            let order = frames % 2 == 0 ? [ours, cv] : [cv, ours]
            var boxes: [[FaceBox]] = []
            for d in order {
                let (b, ms) = try timed(d) { try $0.detect(f) }
                full[d === ours ? "ours" : "opencv", default: []].append(ms)
                boxes.append(canonical(b))
            }
            calls += 1; if boxes[0] == boxes[1] { same += 1 }
            faces += boxes[0].count
            for b in boxes[0] {
                var found: [[FaceBox]] = []
                for d in order {
                    let (r, ms) = try timed(d) { try $0.detect(f, near: b) }   // the frame loop's search
                    search[d === ours ? "ours" : "opencv", default: []].append(ms)
                    found.append(canonical(r))
                }
                calls += 1; if found[0] == found[1] { same += 1 }
            }
        }
        guard frames > 0 else { throw RunError("\(video): no frames") }
        let fo = median(full["ours"] ?? []), fc = median(full["opencv"] ?? []), so = median(search["ours"] ?? []), scv = median(search["opencv"] ?? [])
        if json {
            let obj: [String: Any] = ["video": video, "frames": frames, "faces": faces, "calls": calls, "identical_calls": same,
                                      "full_frame_ms": ["ours": fo, "opencv": fc], "track_search_ms": ["ours": so, "opencv": scv],
                                      "machine": Machine.summary, "opencv": OpenCV.version, "engine": ours.engine]
            print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print("video     \(video): \(frames) frames (every \(every)th), \(faces) faces; Haar frontalface_default, scaleFactor 1.1, minNeighbors 5, detect scale \(detectScale)")
            print("machine   \(Machine.summary); OpenCV \(OpenCV.version); one thread")
            print("ours      \(ours.engine)")
            print(String(format: "full-frame pass   ours %.2f ms   OpenCV %.2f ms   (%.1f×)", fo, fc, fo > 0 ? fc / fo : 0))
            print(String(format: "search at a face  ours %.3f ms  OpenCV %.3f ms  (%.1f×)", so, scv, so > 0 ? scv / so : 0))
            print("identical boxes in \(same) of \(calls) calls")
        }
        if same != calls { throw RunError("the two evaluators disagreed in \(calls - same) of \(calls) calls") }
    }
}
