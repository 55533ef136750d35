import ArgumentParser
import Capture
import EmotionCore
import Foundation
import Pipeline
import Sinks

/// `emotiond image`: faces and emotions in still images, one NDJSON line (frame schema) per image.
struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "image", abstract: "Detect faces and emotions in images (one JSON line per image).")
    @OptionGroup var pipeline: PipelineOptions
    @Option(help: ArgumentHelp("Largest image decoded, in pixels (width × height; default 67108864 = 64 Mpx, "
                               + "or EMOTIOND_MAX_PIXELS). Checked from the header, before decoding."))
    var maxPixels: Int?
    @Option(help: "Write each image with its boxes and labels drawn (format from the extension; {name} with several images).")
    var annotate: String?
    @Argument(help: "Image files.") var images: [String]

    func validate() throws {
        if let m = maxPixels, m < 1 { throw ValidationError("--max-pixels must be ≥ 1") }
        if let a = annotate, images.count > 1, !a.contains("{name}") {
            throw ValidationError("--annotate needs a {name} placeholder when several images are given")
        }
    }

    func outPath(_ image: String) -> String? {
        annotate?.replacingOccurrences(of: "{name}", with: URL(fileURLWithPath: image).deletingPathExtension().lastPathComponent)
    }

    /// Before any work: an annotated output never overwrites an input image (links resolved by device
    /// and inode) or another image's output.
    func checkOutputs() throws {
        guard annotate != nil else { return }
        let inputs = images.compactMap { i in PathIdentity.inode(i).map { ($0, i) } }
        var seen: [String: String] = [:]
        for image in images {
            let out = outPath(image)!
            if PathIdentity.isDirectory(out) { throw RunError("--annotate \(out): is a directory") }
            if let node = PathIdentity.inode(out), let hit = inputs.first(where: { $0.0 == node }) {
                throw RunError("--annotate \(out) is the input image \(hit.1): refusing to overwrite an input")
            }
            if let prev = seen[PathIdentity.target(out)] {
                throw RunError("--annotate gives the same file \(out) for \(prev) and \(image): rename one of them")
            }
            seen[PathIdentity.target(out)] = image
        }
    }

    func run() throws {
        if let maxPixels { ImageFile.maxPixels = maxPixels }
        try checkOutputs()
        let proc = try pipeline.makeProcessor(PipelineOptions.still)
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var failed = 0
        for path in images {
            do {
                let t0 = DispatchTime.now().uptimeNanoseconds
                var frame = try ImageFile.load(path)
                let decode = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                // Each image is its own scene: fresh tracks, reported at once.
                var tc = proc.tracker.config
                tc.minHits = 1
                let (r, _) = try FrameProcessor(detector: proc.detector, classifier: proc.classifier, tracking: tc, cropMargin: proc.cropMargin)
                    .process(frame, source: path, decodeMs: decode)
                print(String(decoding: try enc.encode(r), as: UTF8.self))
                if let out = outPath(path) {
                    try Annotator(scoreBars: true).draw(r, on: &frame)
                    try frame.writeImage(out)
                }
            } catch {
                warn("emotiond: \(error)")
                failed += 1
            }
        }
        if failed > 0 { throw ExitCode(1) }
    }
}
