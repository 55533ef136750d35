import EmotionCore
import Foundation

/// What a sink knows about the source a run of frames comes from.
public struct SourceInfo: Sendable {
    public var name: String
    public var fps: Double
    public var width: Int
    public var height: Int
    /// Frames read from the source so far (processed or skipped); set by the loop before `end`.
    public var framesRead = 0
    /// Length of the media read, seconds; set by the loop before `end`.
    public var mediaSeconds = 0.0
    public let started = Date()

    public init(name: String, fps: Double, width: Int, height: Int) {
        self.name = name; self.fps = fps; self.width = width; self.height = height
    }
}

/// One processed frame as the sinks see it: the pixels (for sinks that draw), the per-frame result
/// (the NDJSON schema) and the track events it produced.
public struct FrameOutput {
    public var frame: Frame
    public var result: FrameResult
    public var events: [TrackEvent]
    /// The model's classes in output order: the keys of `result`'s scores, in the order outputs
    /// list them (CSV columns, score bars, plot legends).
    public var labels: LabelSet
    public init(frame: Frame, result: FrameResult, events: [TrackEvent], labels: LabelSet = .fer2013) {
        self.frame = frame; self.result = result; self.events = events; self.labels = labels
    }
}

/// An output of the frame loop (Frigate's Communicator): the NDJSON log, the events file, CSV,
/// MQTT, metrics, snapshots, the annotated video, the live window. `batch`, `run`, `image` and
/// `live` build a list of sinks from their configuration and fan every frame out to it through a
/// `SinkDispatcher`; a new output is a new sink, not a change in every command.
///
/// Lifetime: `begin` once per source, `write` per processed frame, `end` when the source ends
/// (with the `end` events of the tracks still open), then `close` once when the whole run ended
/// well (rename temporaries into place, flush, disconnect), or `abort` when it failed (an output
/// half written must not replace a good file). `tick` comes from the daemon's loop about every
/// 0.1 s, frames or not, for outputs that publish on a clock (a source that stalls must not
/// stop the MQTT state refresh).
public protocol FrameSink: AnyObject {
    func begin(_ source: SourceInfo) throws
    func write(_ out: FrameOutput) throws
    func tick(now: Date) throws
    func end(_ source: SourceInfo, events: [TrackEvent]) throws
    func close() throws
    func abort()
}

public extension FrameSink {
    func begin(_ source: SourceInfo) throws {}
    func tick(now: Date) throws {}
    func end(_ source: SourceInfo, events: [TrackEvent]) throws {}
    func close() throws {}
    func abort() {}
}

/// Fans each call out to every sink, in order.
///
/// `failFast` (batch, image): the first error stops the call and is thrown; the caller aborts.
/// `isolate` (the daemon, the live window): an error of one sink is handed to `report` and the
/// other sinks still get the frame — a full disk under the log must not stop MQTT.
public final class SinkDispatcher {
    public enum Policy {
        case failFast
        case isolate(report: (Error) -> Void)
    }
    public private(set) var sinks: [FrameSink]
    let policy: Policy

    public init(_ sinks: [FrameSink], policy: Policy = .failFast) {
        self.sinks = sinks
        self.policy = policy
    }

    public func begin(_ source: SourceInfo) throws { try each { try $0.begin(source) } }
    public func write(_ out: FrameOutput) throws { try each { try $0.write(out) } }
    public func tick(now: Date = Date()) throws { try each { try $0.tick(now: now) } }
    public func end(_ source: SourceInfo, events: [TrackEvent]) throws { try each { try $0.end(source, events: events) } }
    public func close() throws { try each { try $0.close() } }
    public func abort() { for s in sinks { s.abort() } }

    private func each(_ body: (FrameSink) throws -> Void) throws {
        for s in sinks {
            do { try body(s) } catch {
                guard case let .isolate(report) = policy else { throw error }
                report(error)
            }
        }
    }
}
