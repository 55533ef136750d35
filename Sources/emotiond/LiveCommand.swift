import ArgumentParser
import Capture
import EmotionCore
import Foundation
import Imaging
import Pipeline
import Settings
import Sinks

/// Latest-value slot shared between threads: writers replace, readers take (drop, don't queue).
final class Latest<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T?
    private var version = 0
    func put(_ v: T) { lock.lock(); value = v; version += 1; lock.unlock() }
    func get() -> (T?, Int) { lock.lock(); defer { lock.unlock() }; return (value, version) }
}

/// `emotiond live`: camera (or file) → window with boxes, labels, scores, HUD.
/// Three threads: capture keeps only the newest frame, a worker runs detection/inference
/// on the newest frame it finds, and the UI shows the newest processed frame; nothing queues.
struct LiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "live", abstract: "Live overlay window: boxes, labels, scores, fps (keys: q/Esc quit, space pause, s snapshot, d score bars).")
    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup var camera: CameraOptions
    @Option(help: "Use this video file (paced at its native frame rate) or network stream (rtsp://, http(s):// URL; reopened with backoff when lost) instead of the camera.") var source: String?
    @Option(help: "Also write the per-frame NDJSON log here.") var log: String?
    @Flag(help: "Start with per-face score bars shown.") var bars = false

    func run() throws {
        // Without a display OpenCV's GUI aborts the whole process: refuse cleanly instead.
        let env = ProcessInfo.processInfo.environment
        if (env["DISPLAY"] ?? "").isEmpty && (env["WAYLAND_DISPLAY"] ?? "").isEmpty {
            throw RunError("no display: DISPLAY is not set, so the live window cannot open. Run headless with `emotiond run --config FILE` (NDJSON log, MQTT), or start an X server (e.g. Xvfb) and set DISPLAY.")
        }
        let proc = try pipeline.makeProcessor()
        do { try PipelineOptions.configureForCamera(proc) } catch { throw RunError("\(error)") }
        // A network stream is connected to by the capture thread, retried until it answers.
        let link = try networkLink()
        let src: FrameSource?
        do {
            if let source { src = link == nil ? try VideoFile.open(source: source, settings: CameraSettings()) : nil }
            else { src = try V4L2Camera(settings: camera.settings) }
        } catch { throw RunError("\(error)") }
        let name = src?.name ?? link?.shown ?? ""
        let stop = SignalFlags()
        stop.install()
        if let cam = src as? V4L2Camera { cam.onEvent = { logger.notice("emotiond: \($0)") }; cam.shouldStop = { stop.stop } }

        let frames = Latest<Frame>()
        let results = Latest<(Frame, FrameResult)>()
        let outputs = try liveSinks(window: results)
        // Each thread signals when it has left its loop: the exit waits for both, so no thread is
        // inside OpenCV or writing the log while they are torn down (a detached thread still
        // decoding at exit crashed the process after `q`: signal 11 in libopencv_imgproc).
        let threadsDone = DispatchSemaphore(value: 0)
        // Capture thread.
        Thread.detachNewThread {
            defer { threadsDone.signal() }
            Self.capture(src, link: link, stop: stop, into: frames)
        }
        // Worker thread: always the newest frame.
        Thread.detachNewThread {
            defer { threadsDone.signal() }
            var seen = 0
            while !stop.stop {
                let (f, v) = frames.get()
                guard let f, v != seen else { Thread.sleep(forTimeInterval: 0.002); continue }
                seen = v
                if let (r, events) = try? proc.process(f, source: name) {
                    try? outputs.write(FrameOutput(frame: f, result: r, events: events, labels: proc.classifier.labels))
                }
            }
        }
        // UI (main thread).
        let title = "emotiond"
        let window = try HighGUIWindow(title: title)
        var annot = Annotator(scoreBars: bars, labels: proc.classifier.labels)
        var shown = 0, paused = false
        var fpsCount = 0, fpsValue = 0.0, fpsT = Date()
        var last: (Frame, FrameResult)? = nil
        while !stop.stop {
            let (r, v) = results.get()
            if !paused, let r, v != shown {
                shown = v
                last = r
                var f = r.0
                fpsCount += 1
                if Date().timeIntervalSince(fpsT) >= 1 { fpsValue = Double(fpsCount) / Date().timeIntervalSince(fpsT); fpsCount = 0; fpsT = Date() }
                let hud = String(format: "%.1f fps  %.1f ms/frame  %d face(s)%@", fpsValue, r.1.latencyMs.total, r.1.faces.count, paused ? "  [paused]" : "")
                try? annot.draw(r.1, on: &f, hud: hud)
                try window.show(f)
            }
            let key = window.waitKey(10) & 0xFF
            switch key {
            case Int32(UInt8(ascii: "q")), 27: stop.requestStop()
            case Int32(UInt8(ascii: " ")): paused.toggle()
            case Int32(UInt8(ascii: "d")): annot.scoreBars.toggle()
            case Int32(UInt8(ascii: "s")):
                if let (f0, r0) = last {
                    var f = f0
                    try? annot.draw(r0, on: &f)
                    let name = "emotiond-snapshot-\(Int(Date().timeIntervalSince1970 * 1000)).png"
                    do { try f.writePNG(name); logger.notice("emotiond: snapshot \(name)") } catch { logger.error("emotiond: snapshot: \(error)") }
                }
            default: break
            }
        }
        window.close()
        stop.requestStop()
        for _ in 0..<2 { _ = threadsDone.wait(timeout: .now() + 5) }
        _ = proc.finish(mediaTime: 0, source: name)   // waits for a full-frame pass still running
        try? outputs.close()
        if let cam = src as? V4L2Camera { cam.closeDevice() }
    }

    /// A network `--source`: its reconnection when the stream is lost (nil for files and cameras).
    func networkLink() throws -> SourceLink? {
        guard let source, case let .network(url) = try SourceLocation.parse(source) else { return nil }
        return SourceLink(url: url, settings: CameraSettings(), metrics: nil)
    }

    /// Frames into `frames` until the source ends (or a stop). A network stream that breaks or
    /// ends is reopened with backoff, as `run` does; the window keeps its last frame meanwhile.
    static func capture(_ first: FrameSource?, link: SourceLink?, stop: SignalFlags, into frames: Latest<Frame>) {
        var src: FrameSource? = first
        let start = Date()
        while !stop.stop {
            guard let current = src else {
                guard let link else { break }
                src = link.poll()   // waits ≤ 0.1 s
                continue
            }
            let f: Frame?
            do { f = try current.next() } catch {
                guard let link else { logger.error("emotiond: \(current.name): \(error)"); break }
                link.lost((error as? CVError)?.message ?? "\(error)"); src = nil; continue
            }
            guard let f else {
                guard let link, !CameraLoop.recordingEnded(current) else { break }
                link.lost("the stream ended"); src = nil; continue
            }
            link?.frameArrived()
            if let v = current as? VideoFile, !v.isLive {
                let wait = start.addingTimeInterval(f.mediaTime).timeIntervalSinceNow
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
            }
            frames.put(f)
        }
        stop.requestStop()
    }

    /// The window (fed the newest result) and, with --log, the NDJSON log.
    func liveSinks(window: Latest<(Frame, FrameResult)>) throws -> SinkDispatcher {
        var sinks: [FrameSink] = [WindowFeed(window)]
        if let log {
            let file = try RotatingLog(path: log, maxBytes: 1 << 30, keep: 1, flushEvery: 1)
            sinks.append(RotatingLogSink(log: file, metrics: nil, logger: logger))
        }
        return SinkDispatcher(sinks, policy: .isolate(report: { logger.warning("emotiond: \($0)") }))
    }
}

/// Hands each processed frame to the UI thread (newest wins: the window never queues).
final class WindowFeed: FrameSink {
    let slot: Latest<(Frame, FrameResult)>
    init(_ slot: Latest<(Frame, FrameResult)>) { self.slot = slot }
    func write(_ out: FrameOutput) throws { slot.put((out.frame, out.result)) }
}
