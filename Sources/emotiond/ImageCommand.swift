import ArgumentParser
import Capture
import EmotionCore
import Foundation
import Pipeline

/// `emotiond image`: faces and emotions in still images, one NDJSON line (frame schema) per image.
struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "image", abstract: "Detect faces and emotions in images (one JSON line per image).")
    @OptionGroup var pipeline: PipelineOptions
    @Option(help: ArgumentHelp("Largest image decoded, in pixels (width × height; default 67108864 = 64 Mpx, "
                               + "or EMOTIOND_MAX_PIXELS). Checked from the header, before decoding."))
    var maxPixels: Int?
    @Argument(help: "Image files.") var images: [String]

    func validate() throws {
        if let m = maxPixels, m < 1 { throw ValidationError("--max-pixels must be ≥ 1") }
    }

    func run() throws {
        if let maxPixels { ImageFile.maxPixels = maxPixels }
        let proc = try pipeline.makeProcessor()
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var failed = 0
        for path in images {
            do {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let frame = try ImageFile.load(path)
                let decode = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                // Each image is its own scene: fresh tracks, reported at once.
                var tc = proc.tracker.config
                tc.minHits = 1
                let (r, _) = try FrameProcessor(detector: proc.detector, classifier: proc.classifier, tracking: tc, cropMargin: proc.cropMargin)
                    .process(frame, source: path, decodeMs: decode)
                print(String(decoding: try enc.encode(r), as: UTF8.self))
            } catch {
                warn("emotiond: \(error)")
                failed += 1
            }
        }
        if failed > 0 { throw ExitCode(1) }
    }
}
