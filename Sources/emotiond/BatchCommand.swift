import ArgumentParser
import Capture
import Config
import EmotionCore
import Foundation
import Pipeline
import Settings
import Sinks

/// `emotiond batch`: recorded videos → NDJSON log, annotated video, summary, timeline plot.
struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "batch", abstract: "Process recorded video files faster than real time.")
    @OptionGroup var pipeline: PipelineOptions
    @Option(help: "NDJSON per-frame log ('-' for stdout).") var log: String?
    @Option(help: "Annotated MP4 output (use {name} with several videos).") var annotate: String?
    @Flag(help: "Print a per-track summary.") var summary = false
    @Option(help: "Write the summary as JSON to this file ('-' for stdout).") var summaryJson: String?
    @Option(help: "NDJSON track events (new / change / end) ('-' for stdout).") var events: String?
    @Option(help: "Annotated video codec: h264 (plays in browsers) or mpeg4 (MPEG-4 Part 2: ~60 MiB less memory).")
    var videoCodec: VideoCodec = .h264
    @Option(help: "CSV, one row per face per frame: time, track, box, label, confidence, every score.") var csv: String?
    @Option(help: "Timeline plot PNG of smoothed scores per track (use {name} with several videos).") var plot: String?
    @Option(help: "Process every Nth frame.") var every: Int = 1
    @Option(help: "Process at most this many frames per second of video.") var maxFps: Double?
    @Flag(help: "Never show the progress bar.") var quiet = false
    @Argument(help: "Video files.") var videos: [String]

    func validate() throws {
        // Batch reads recorded files (it seeks, skips and checks a file's length); a stream has none of that.
        if let url = videos.first(where: SourceLocation.isURL) {
            throw ValidationError("\(Credentials.redactURL(url)) is a URL: batch reads recorded video files; for a network "
                                  + "camera or stream use `emotiond run --source URL` (or download the file first)")
        }
        guard every >= 1 else { throw ValidationError("--every must be ≥ 1") }
        if let m = maxFps, let e = Limits.check("--max-fps", m, Limits.maxFPS) { throw ValidationError(e) }
        try OutputPaths.requireName("--annotate", annotate, inputs: videos.count, kind: "videos")
        try OutputPaths.requireName("--plot", plot, inputs: videos.count, kind: "videos")
    }

    func run() throws {
        // Everything that can be refused is refused before any output (or temporary file) exists.
        try checkOutputs()
        for video in videos {
            do { try VideoFile.checkInput(video) } catch { throw RunError("\(error)") }
        }
        let proc = try pipeline.makeBatchProcessor()
        TempFiles.removeOnSignals()
        let summaries = SummarySink(plotPath: plot.map { p in { OutputPaths.expand(p, for: $0) } })
        let sinks: SinkDispatcher
        do { sinks = SinkDispatcher(try makeSinks(summaries, labels: proc.classifier.labels)) } catch { throw RunError("\(error)") }
        do {
            for video in videos { try process(video, proc: proc, sinks: sinks) }
            try sinks.close()
        } catch {
            sinks.abort()
            logger.error("emotiond: \(error)")
            throw ExitCode(1)
        }
        try report(summaries.reports)
    }

    /// The outputs asked for, in the order each frame reaches them.
    func makeSinks(_ summaries: SummarySink, labels: LabelSet) throws -> [FrameSink] {
        var sinks: [FrameSink] = []
        if let log { sinks.append(try FrameLogSink(path: log)) }
        if let csv { sinks.append(try CSVWriter(path: csv, labels: labels)) }
        if let events { sinks.append(try EventFileSink(path: events)) }
        sinks.append(summaries)
        if let annotate {
            sinks.append(AnnotatedVideoSink(path: { OutputPaths.expand(annotate, for: $0) },
                                            h264: videoCodec == .h264, frameStep: every, log: logger))
        }
        return sinks
    }

    /// `--summary` (stdout, or stderr when stdout carries data) and `--summary-json`.
    func report(_ reports: [RunSummary.Report]) throws {
        let toStdout = [log, events, csv, summaryJson].contains("-")
        if summary {
            let text = reports.map(RunSummary.text).joined()
            if toStdout { printToStderr(text) } else { print(text, terminator: "") }
        }
        if let sj = summaryJson {
            let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            let f = try NDJSONWriter(path: sj)
            try f.file.write(try enc.encode(reports) + Data("\n".utf8))
            try f.commit()
        }
    }

    /// Every output file, `{name}` expanded; stdout ('-') excluded.
    func outputs() -> [OutputPaths.Output] {
        let single = [("--log", log), ("--events", events), ("--csv", csv), ("--summary-json", summaryJson)]
            .compactMap { f, p in p.flatMap { $0 == "-" ? nil : OutputPaths.Output(flag: f, path: $0) } }
        return single + OutputPaths.perInput("--annotate", annotate, inputs: videos)
            + OutputPaths.perInput("--plot", plot, inputs: videos)
    }

    /// Refuses, before any output exists, an output over an input (video, model, cascade) or over
    /// another output, and outputs that are directories.
    func checkOutputs() throws {
        var inputs: [(what: String, path: String)] = videos.map { ("input video", $0) }
        for m in (try? Paths.models(pipeline.model)) ?? [] { inputs.append(("model", m)) }
        if let c = pipeline.cascade { inputs.append(("cascade", c)) }
        try OutputPaths.check(outputs(), inputs: inputs)
    }

    func process(_ video: String, proc: FrameProcessor, sinks: SinkDispatcher) throws {
        let src = try VideoFile(path: video)
        var info = SourceInfo(name: video, fps: src.fps, width: src.width, height: src.height)
        try sinks.begin(info)
        let progress = ProgressBar(total: src.frameCount, enabled: !quiet && isatty(2) == 1,
                                   name: URL(fileURLWithPath: video).lastPathComponent)
        defer { progress.finish() }
        var index = 0, lastTime = 0.0, nextDue = 0.0
        while true {
            // Subsampling: --every N keeps every Nth frame, --max-fps drops frames due earlier than 1/max-fps.
            if index % every != 0 {
                guard try src.skip() else { break }
                index += 1
                continue
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            guard let frame = try src.next() else { break }
            index += 1
            lastTime = frame.mediaTime
            if let m = maxFps {
                if frame.mediaTime + 1e-6 < nextDue { continue }
                nextDue = frame.mediaTime + 1 / m
            }
            let decode = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            let (r, evs) = try proc.process(frame, source: video, decodeMs: decode)
            try sinks.write(FrameOutput(frame: frame, result: r, events: evs, labels: proc.classifier.labels))
            progress.update(index)
        }
        try checkComplete(src, video: video, frames: index)
        info.framesRead = index
        info.mediaSeconds = src.fps > 0 ? Double(index) / src.fps : lastTime
        try sinks.end(info, events: proc.finish(mediaTime: lastTime, source: video))
    }

    /// A file that yields no frame, or fewer than its header promised, is an error, not a result.
    func checkComplete(_ src: VideoFile, video: String, frames: Int) throws {
        if frames == 0 { throw RunError("\(video): no decodable video frames") }
        if src.endedEarly(frames: frames), let expected = src.frameCount {
            let when = src.fps > 0
                ? String(format: ", at %.1f s of %.1f s", src.lastPosition, Double(expected) / src.fps) : ""
            throw RunError("\(video): stream ended after \(frames) of \(expected) frames\(when) "
                + "(truncated or corrupt file)")
        }
    }
}

enum VideoCodec: String, ExpressibleByArgument, CaseIterable { case h264, mpeg4 }

/// Progress bar with ETA on stderr, only when stderr is a terminal.
final class ProgressBar {
    let total: Int?, enabled: Bool, name: String
    let start = Date()
    var last = Date.distantPast
    init(total: Int?, enabled: Bool, name: String) { self.total = total; self.enabled = enabled; self.name = name }

    func update(_ n: Int) {
        guard enabled, Date().timeIntervalSince(last) > 0.1 else { return }
        last = Date()
        let el = Date().timeIntervalSince(start)
        let rate = Double(n) / max(el, 1e-3)
        var line = "\(name) \(n)"
        if let total, total > 0 {
            let f = min(1, Double(n) / Double(total))
            let bar = String(repeating: "█", count: Int(f * 30)) + String(repeating: "·", count: 30 - Int(f * 30))
            let eta = rate > 0 ? Double(total - n) / rate : 0
            line = "\(name) [\(bar)] \(n)/\(total) \(String(format: "%.0f fps, ETA %.0fs", rate, eta))"
        }
        FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
