import EmotionCore
import Foundation
import Logging

/// The per-frame NDJSON log of `batch` (schema: schemas/frame.schema.json), written atomically.
public final class FrameLogSink: FrameSink {
    let writer: NDJSONWriter
    public init(path: String) throws { writer = try NDJSONWriter(path: path) }
    public func write(_ out: FrameOutput) throws { try writer.write(out.result) }
    public func close() throws { try writer.commit() }
    public func abort() { writer.abort() }
}

/// Track events as NDJSON (schema: schemas/event.schema.json), including the `end` events of the
/// tracks still open when a source ends.
public final class EventFileSink: FrameSink {
    let writer: NDJSONWriter
    public init(path: String) throws { writer = try NDJSONWriter(path: path) }
    public func write(_ out: FrameOutput) throws { for e in out.events { try writer.write(e) } }
    public func end(_ source: SourceInfo, events: [TrackEvent]) throws { for e in events { try writer.write(e) } }
    public func close() throws { try writer.commit() }
    public func abort() { writer.abort() }
}

extension CSVWriter: FrameSink {
    public func write(_ out: FrameOutput) throws { try write(out.result) }
    public func close() throws { try commit() }
}

/// The annotated video of each source (boxes, labels), one file per source named by `path`.
public final class AnnotatedVideoSink: FrameSink {
    let path: (String) -> String
    let h264: Bool
    /// The source's frames are subsampled by this factor (`batch --every`): the video's rate.
    let frameStep: Int
    let log: Logger
    private var writer: AnnotatedVideoWriter?

    public init(path: @escaping (String) -> String, h264: Bool, frameStep: Int, log: Logger) {
        self.path = path; self.h264 = h264; self.frameStep = max(1, frameStep); self.log = log
    }

    public func begin(_ source: SourceInfo) throws {
        let w = try AnnotatedVideoWriter(path: path(source.name), fps: source.fps / Double(frameStep),
                                         width: source.width, height: source.height, h264: h264)
        if h264, w.codec != "h264" {
            log.warning("annotated video: this FFmpeg build has no H.264 encoder; writing MPEG-4 Part 2 (mp4v), which browsers do not play")
        }
        writer = w
    }

    public func write(_ out: FrameOutput) throws {
        guard let writer else { return }
        var frame = out.frame
        try Annotator(labels: out.labels).draw(out.result, on: &frame)
        try writer.write(frame)
    }

    /// Each source's file is complete when the source ends.
    public func end(_ source: SourceInfo, events: [TrackEvent]) throws {
        defer { writer = nil }
        try writer?.commit()
    }

    public func abort() { writer?.abort(); writer = nil }
}

/// Per-track summaries of each source (`batch --summary`, `--summary-json`) and the timeline
/// plot (`--plot`), made when the source ends.
public final class SummarySink: FrameSink {
    let plotPath: ((String) -> String)?
    private var current: RunSummary?
    public private(set) var reports: [RunSummary.Report] = []

    public init(plotPath: ((String) -> String)?) { self.plotPath = plotPath }

    public func begin(_ source: SourceInfo) throws { current = RunSummary(source: source.name) }
    public func write(_ out: FrameOutput) throws { current?.add(out.result, labels: out.labels) }

    public func end(_ source: SourceInfo, events: [TrackEvent]) throws {
        guard let sum = current else { return }
        current = nil
        if let plotPath { try sum.plot(to: plotPath(source.name)) }
        reports.append(sum.report(frames: source.framesRead, mediaSeconds: source.mediaSeconds,
                                  wallSeconds: Date().timeIntervalSince(source.started)))
    }
}

/// Each still with its boxes, labels and score bars drawn (`image --annotate`), in the format its
/// extension names, written atomically.
public final class AnnotatedImageSink: FrameSink {
    let path: (String) -> String
    public init(path: @escaping (String) -> String) { self.path = path }

    public func write(_ out: FrameOutput) throws {
        var frame = out.frame
        try Annotator(scoreBars: true, labels: out.labels).draw(out.result, on: &frame)
        try frame.writeImage(path(out.result.source))
    }
}
