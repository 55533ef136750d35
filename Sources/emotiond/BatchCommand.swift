import ArgumentParser
import Capture
import Config
import EmotionCore
import Foundation
import Pipeline
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
        let logWriter: NDJSONWriter?
        let eventWriter: NDJSONWriter?
        let csvWriter: CSVWriter?
        do {
            logWriter = try log.map { try NDJSONWriter(path: $0) }
            eventWriter = try events.map { try NDJSONWriter(path: $0) }
            csvWriter = try csv.map { try CSVWriter(path: $0) }
        } catch { throw RunError("\(error)") }
        var reports: [RunSummary.Report] = []
        do {
            for video in videos {
                reports.append(try process(video, proc: proc, log: logWriter, events: eventWriter, csv: csvWriter))
            }
            try logWriter?.commit()
            try eventWriter?.commit()
            try csvWriter?.commit()
        } catch {
            logWriter?.abort()
            eventWriter?.abort()
            csvWriter?.abort()
            warn("emotiond: \(error)")
            throw ExitCode(1)
        }
        let toStdout = [log, events, csv, summaryJson].contains("-")
        if summary {
            let text = reports.map(RunSummary.text).joined()
            if toStdout { warn(text) } else { print(text, terminator: "") }
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
        if let m = try? Paths.model(pipeline.model) { inputs.append(("model", m)) }
        if let c = pipeline.cascade { inputs.append(("cascade", c)) }
        try OutputPaths.check(outputs(), inputs: inputs)
    }

    func process(_ video: String, proc: FrameProcessor, log: NDJSONWriter?, events: NDJSONWriter?,
                 csv: CSVWriter?) throws -> RunSummary.Report {
        let src = try VideoFile(path: video)
        let annotated = try annotate.map {
            try AnnotatedVideoWriter(path: OutputPaths.expand($0, for: video), fps: src.fps / Double(every), width: src.width,
                                     height: src.height, h264: videoCodec == .h264)
        }
        if let a = annotated, videoCodec == .h264, a.codec != "h264" {
            warn("annotated video: this FFmpeg build has no H.264 encoder; writing MPEG-4 Part 2 (mp4v), which browsers do not play")
        }
        let sum = RunSummary(source: video)
        let progress = ProgressBar(total: src.frameCount, enabled: !quiet && isatty(2) == 1, name: URL(fileURLWithPath: video).lastPathComponent)
        let start = Date()
        var index = 0, lastTime = 0.0, nextDue = 0.0
        do {
            while true {
                // Subsampling: --every N keeps every Nth frame, --max-fps drops frames due earlier than 1/max-fps.
                if index % every != 0 {
                    guard try src.skip() else { break }
                    index += 1
                    continue
                }
                let t0 = DispatchTime.now().uptimeNanoseconds
                guard var frame = try src.next() else { break }
                index += 1
                lastTime = frame.mediaTime
                if let m = maxFps {
                    if frame.mediaTime + 1e-6 < nextDue { continue }
                    nextDue = frame.mediaTime + 1 / m
                }
                let decode = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
                let (r, evs) = try proc.process(frame, source: video, decodeMs: decode)
                try log?.write(r)
                try csv?.write(r)
                for e in evs { try events?.write(e) }
                sum.add(r)
                if let annotated {
                    try Annotator().draw(r, on: &frame)
                    try annotated.write(frame)
                }
                progress.update(index)
            }
            progress.finish()
            if index == 0 { throw RunError("\(video): no decodable video frames") }
            if src.endedEarly(frames: index), let expected = src.frameCount {
                let when = src.fps > 0
                    ? String(format: ", at %.1f s of %.1f s", src.lastPosition, Double(expected) / src.fps) : ""
                throw RunError("\(video): stream ended after \(index) of \(expected) frames\(when) "
                    + "(truncated or corrupt file)")
            }
            for e in proc.finish(mediaTime: lastTime, source: video) { try events?.write(e) }
            try annotated?.commit()
            if let p = plot { try sum.plot(to: OutputPaths.expand(p, for: video)) }
        } catch {
            annotated?.abort()
            progress.finish()
            throw error
        }
        let media = src.fps > 0 ? Double(index) / src.fps : lastTime
        return sum.report(frames: index, mediaSeconds: media, wallSeconds: Date().timeIntervalSince(start))
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
