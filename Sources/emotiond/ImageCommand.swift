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
        var sinks: [FrameSink] = [try FrameLogSink(path: "-")]
        if let annotate { sinks.append(AnnotatedImageSink(path: { OutputPaths.expand(annotate, for: $0) })) }
        let outputs = SinkDispatcher(sinks)
        var failed = 0
        for path in images {
            do { try process(path, proc, outputs) } catch {
                logger.error("emotiond: \(error)")
                failed += 1
            }
        }
        try outputs.close()
        if failed > 0 { throw ExitCode(1) }
    }

    /// One image: its own scene (fresh tracks, reported at once), one line of the frame schema.
    func process(_ path: String, _ proc: FrameProcessor, _ outputs: SinkDispatcher) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let frame = try ImageFile.load(path)
        let decode = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        var tc = proc.tracker.config
        tc.minHits = 1
        let still = FrameProcessor(detector: proc.detector, classifier: proc.classifier, tracking: tc, cropMargin: proc.cropMargin)
        let (r, _) = try still.process(frame, source: path, decodeMs: decode)
        try outputs.write(FrameOutput(frame: frame, result: r, events: [], labels: proc.classifier.labels))
    }
}
