import CVBridge
import EmotionCore
import Foundation
import Imaging
import Sinks

/// Keeps the hub's state (faces, tracks, fps, source status) and hands events to SSE
/// subscribers. Per frame without a client: one copy of the result under a lock.
public final class WebStateSink: FrameSink {
    let hub: WebHub
    public init(hub: WebHub) { self.hub = hub }
    public func begin(_ source: SourceInfo) throws { hub.started(source) }
    public func write(_ out: FrameOutput) throws { hub.record(out) }
    public func end(_ source: SourceInfo, events: [TrackEvent]) throws { hub.ended(events) }
}

/// Draws and JPEG-encodes the annotated frame, only while a live view or a snapshot request
/// waits for one, at most `fps` times a second. Without a viewer the frame is not touched.
public final class LiveViewSink: FrameSink {
    let hub: WebHub
    let interval: Double
    let quality: Int
    let metrics: DaemonMetrics?
    private var last = Date.distantPast

    public init(hub: WebHub, fps: Int, quality: Int, metrics: DaemonMetrics? = nil) {
        self.hub = hub; interval = 1 / Double(max(fps, 1)); self.quality = quality; self.metrics = metrics
    }

    public func write(_ out: FrameOutput) throws {
        guard hub.wantsFrame else { return }
        let now = Date()
        guard now.timeIntervalSince(last) >= interval else { return }
        last = now
        var frame = try out.frame.withBGRPixels()
        try Annotator(scoreBars: true).draw(out.result, on: &frame)
        hub.publish(jpeg: try frame.jpeg(quality: quality))
        metrics?.recordEncodedFrame()
    }
}

extension Frame {
    /// The frame as JPEG bytes (OpenCV's encoder).
    public func jpeg(quality: Int) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var len = 0
        try withBridgeImage { img in
            try cvCall("encode JPEG") { cvb_encode_jpeg(img, Int32(quality), &out, &len, $0) }
        }
        defer { free(out) }
        return out.map { Array(UnsafeBufferPointer(start: $0, count: len)) } ?? []
    }
}
