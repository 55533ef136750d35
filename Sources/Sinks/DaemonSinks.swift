import EmotionCore
import Foundation
import Imaging
import Logging

/// The daemon's rotating NDJSON log. A failing log (disk full) never stops the frame loop: each
/// failed write is counted in the metrics, and reported once when it starts failing and once when
/// it recovers, not per line.
public final class RotatingLogSink: FrameSink {
    public let log: RotatingLog
    let metrics: CameraMetrics?
    let logger: Logger
    private var failing = false, lostWhileFailing = 0

    public init(log: RotatingLog, metrics: CameraMetrics?, logger: Logger) {
        self.log = log; self.metrics = metrics; self.logger = logger
    }

    public func write(_ out: FrameOutput) throws { guarded { try $0.write(out.result) } }
    /// Flushes at the end and when a reload replaces this sink.
    public func close() throws { guarded { try $0.flush() } }

    private func guarded(_ body: (RotatingLog) throws -> Void) {
        let before = log.droppedLines
        do {
            try body(log)
            if failing && log.droppedLines == before {
                logger.notice("emotiond: \(log.path): writing again (\(lostWhileFailing) lines lost)")
                failing = false; lostWhileFailing = 0
            }
        } catch {
            let lost = log.droppedLines - before
            metrics?.recordLogWriteFailure(lines: lost)
            lostWhileFailing += lost
            if !failing {
                logger.error("emotiond: \(error); lines are lost until it works again (emotiond_log_lines_dropped_total)")
            }
            failing = true
        }
    }
}

/// Frame counts, faces and stage latencies into the Prometheus registry.
public final class MetricsSink: FrameSink {
    let metrics: CameraMetrics
    public init(_ metrics: CameraMetrics) { self.metrics = metrics }
    public func write(_ out: FrameOutput) throws { metrics.record(out.result) }
}

/// The annotated frame as PNG whenever a track appears or changes label, named by camera, frame
/// and track; only when configured (`outputs.snapshots.dir`).
public final class SnapshotSink: FrameSink {
    let dir: String, camera: String
    public init(dir: String, camera: String) { self.dir = dir; self.camera = camera }

    public func write(_ out: FrameOutput) throws {
        guard let first = out.events.first, out.events.contains(where: { $0.type != .end }) else { return }
        do {
            // A camera frame captured before a reload turned snapshots on has no colour: drawn on its gray.
            var snap = try out.frame.withBGRPixels()
            try Annotator(scoreBars: true, labels: out.labels).draw(out.result, on: &snap)
            try snap.writePNG("\(dir)/\(camera)-\(out.frame.index)-track\(first.track)-\(first.type.rawValue).png")
        } catch { throw SnapshotError(underlying: error) }
    }

    struct SnapshotError: Error, CustomStringConvertible {
        let underlying: Error
        var description: String { "snapshot: \(underlying)" }
    }
}
