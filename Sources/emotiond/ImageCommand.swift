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
        try OutputPaths.requireName("--annotate", annotate, inputs: images.count, kind: "images")
    }

    func run() throws {
        if let maxPixels { ImageFile.maxPixels = maxPixels }
        try OutputPaths.check(OutputPaths.perInput("--annotate", annotate, inputs: images),
                              inputs: images.map { ("input image", $0) })
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
                if let a = annotate {
                    let out = OutputPaths.expand(a, for: path)
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
