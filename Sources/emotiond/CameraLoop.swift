import Capture
import EmotionCore
import Foundation
import Imaging
import Pipeline
import Settings
import Sinks
import Web

/// Lets the daemon change its cameras (a reload, a removal) while none of them is inside a turn
/// of its frame loop. A turn takes one frame (or ≤ 0.1 s of waiting for one), so the daemon
/// waits at most that long; the cameras run in parallel otherwise.
final class CommitGate: @unchecked Sendable {
    private let cond = NSCondition()
    private var active = 0, closed = false

    func enter() { cond.lock(); while closed { cond.wait() }; active += 1; cond.unlock() }
    func leave() { cond.lock(); active -= 1; if active == 0 { cond.broadcast() }; cond.unlock() }

    /// Runs `body` with every camera between two turns (the daemon's thread only).
    func exclusive<T>(_ body: () throws -> T) rethrows -> T {
        cond.lock(); closed = true
        while active > 0 { cond.wait() }
        cond.unlock()
        defer { cond.lock(); closed = false; cond.broadcast(); cond.unlock() }
        return try body()
    }
}

/// One camera of the daemon: its source, its runtime (detector, tracker, sinks) and its frame
/// loop on a thread of its own. The daemon (`Daemon`) starts, reloads and stops it; the model,
/// the MQTT connection, the metrics registry and the HTTP server are shared.
final class CameraLoop: @unchecked Sendable {
    /// Read and replaced only inside a turn or under the gate.
    private(set) var rt: Runtime
    /// The camera's name (a reload may rename the one camera of a daemon without a map).
    var name: String { rt.config.camera.name }
    private(set) var metrics: CameraMetrics
    let web: WebHub?
    private let flags: SignalFlags, gate: CommitGate, loopFiles: Bool
    /// nil while a network source is down (`link` reopens it).
    private var reader: SourceReader?
    /// A network source's reconnection (nil for files, FIFOs and cameras).
    private var link: SourceLink?
    // Media time runs on across a reopened, looped or replaced source (a reconnection, --loop, a
    // reload): outputs only ever see it grow, and the tracker's dwell times stay valid. A frame's
    // own time counts from its source's start; `mediaBase` is added. `start`: the pacing origin
    // of a file source at its native rate.
    private var start = Date(), mediaBase = 0.0, lastMedia = 0.0, framesSeen = false
    private var droppedSeen = 0
    private var lastStatus = Date(), framesSinceStatus = 0, faces = 0
    private let lock = NSLock()
    private var _status = "starting", _alive = Date(), removed = false
    private let done = DispatchSemaphore(value: 0)
    /// Why the loop ended with an error (nil: the source ended, or a stop).
    private(set) var failure: Error?

    init(rt: Runtime, metrics: CameraMetrics, web: WebHub?, flags: SignalFlags, gate: CommitGate, loopFiles: Bool) {
        self.rt = rt; self.metrics = metrics; self.web = web
        self.flags = flags; self.gate = gate; self.loopFiles = loopFiles
    }

    /// "12.0 fps, 1 faces" or a network source's state: the camera's part of the status line.
    var status: String { lock.lock(); defer { lock.unlock() }; return _status }
    /// When the loop last processed a frame or tried to reopen its network source (the daemon
    /// pings the watchdog only while every camera's is recent).
    var alive: Date { lock.lock(); defer { lock.unlock() }; return _alive }
    private var stopping: Bool { flags.stop || { lock.lock(); defer { lock.unlock() }; return removed }() }

    // MARK: start and end

    /// Opens the source: a file, FIFO or V4L2 camera now; a network stream is connected to by the
    /// loop (an unreachable camera is retried as after a loss). False: stopped meanwhile.
    func open() throws -> Bool {
        let shown: String
        if case let .network(url)? = try? rt.config.camera.source.map(SourceLocation.parse) {
            link = SourceLink(url: url, settings: rt.config.camera, metrics: metrics)
            shown = link!.shown
        } else {
            guard let src = try openLocalSource() else { return false }
            reader = SourceReader(src)
            shown = src.name
        }
        logger.notice("emotiond: running camera '\(name)' from \(shown); model \(rt.processor.classifier.name); \(BLASRuntime.summary)")
        return true
    }

    func startThread() {
        Thread.detachNewThread { [self] in
            failure = loop()
            gate.enter(); finish(); gate.leave()
            done.signal()
        }
    }

    /// Waits for the loop to end (after a stop or a removal).
    func wait() { done.wait(); done.signal() }
    func hasEnded() -> Bool { guard done.wait(timeout: .now()) == .success else { return false }; done.signal(); return true }

    /// A camera a reload removed, ended now under the gate with the runtime it ran (its `end`
    /// events and emptied state go out before anything shared changes); its thread then leaves.
    func remove() {
        lock.lock(); removed = true; lock.unlock()
        finish()
    }

    /// A camera a rejected reload had opened: its reader thread ends and lets the source go
    /// (a V4L2 device is free for the next try); nothing was published.
    func discard() { reader?.close(); reader = nil; link = nil }

    private var finished = false
    /// The `end` events of the open tracks, the emptied state; the sinks closed, the source let go.
    private func finish() {
        guard !finished else { return }
        finished = true
        endTracks()
        try? rt.sinks.close()
        reader?.close(); reader = nil
    }

    /// A file, FIFO or V4L2 camera, opened before the loop starts (nil: stopped meanwhile).
    private func openLocalSource() throws -> FrameSource? {
        let src: FrameSource
        do {
            let c = rt.config
            guard let s = try interruptible(stop: { [flags] in flags.stop }, { try RunCommand.openSource(c) }) else { return nil }
            src = s
        } catch let e as ConfigError { throw RunError("\(e)") } catch let e as ConfigErrors { throw RunError("\(e)") }
        if let cam = src as? V4L2Camera {
            cam.onEvent = { logger.notice("emotiond: \($0)") }
            cam.shouldStop = { [flags] in flags.stop }
            cam.colour = Self.needsColour(rt)
            let mode = "\(cam.width)x\(cam.height) \(cam.formatName) @ \(String(format: "%g", cam.fps)) fps"
            let pixels = cam.colour ? "BGR and gray plane" : "gray plane only"
            logger.notice("emotiond: camera \(cam.name): \(mode), \(rt.config.camera.buffers) buffers, \(pixels)")
        }
        return src
    }

    // MARK: the frame loop

    /// Frames until the end of the source, an error (returned), a stop or a removal. A network
    /// source that breaks or ends is reopened instead (see `SourceLink`).
    private func loop() -> Error? {
        while true {
            gate.enter()
            defer { gate.leave() }
            if stopping { return nil }
            switch turn() {
            case .next: continue
            case .ended: return nil
            case let .failed(e): return RunError("\(reader?.source.name ?? sourceName): \(e)")
            }
        }
    }

    private enum Turn { case next, ended, failed(Error) }

    private func turn() -> Turn {
        guard let reader else { markAlive(); reconnect(); heartbeat(); return .next }
        // Short waits: a stalled source must not hide a signal.
        guard let outcome = reader.next(within: 0.1) else { heartbeat(); return .next }
        switch outcome {
        case let .failed(e):
            if link != nil { sourceLost((e as? CVError)?.message ?? "\(e)"); return .next }
            return .failed(e)
        case .end:
            if link != nil, !Self.recordingEnded(reader.source) { sourceLost("the stream ended"); return .next }
            if loopFiles, let again = reopenForLoop() {
                continueMedia(after: reader.source.fps > 0 ? 1 / reader.source.fps : 0)
                reader.close(); self.reader = SourceReader(again)
                return .next
            }
            return .ended
        case let .frame(raw, decode):
            var frame = raw
            frame.mediaTime += mediaBase
            framesSeen = true
            link?.frameArrived()
            pace(frame)
            process(frame, decodeMs: decode)
            framesSinceStatus += 1
            markAlive()
            heartbeat()
            return .next
        }
    }

    /// A frame went through, or a lost network source is being reopened (waiting on purpose).
    /// Not while a source stalls: the watchdog pings stop and systemd restarts the service.
    private func markAlive() { lock.lock(); _alive = Date(); lock.unlock() }

    /// The file (or the recording played over HTTP) again, for --loop.
    private func reopenForLoop() -> FrameSource? {
        guard let s = rt.config.camera.source else { return nil }
        let settings = rt.config.camera
        return try? interruptible(stop: { [flags] in flags.stop }, { try VideoFile.open(source: s, settings: settings) })
    }

    /// Whether a network source that ended played a recording to its end (an HTTP file: it ends
    /// as a file does) rather than losing a live stream or being cut short.
    static func recordingEnded(_ source: FrameSource) -> Bool {
        guard let v = source as? VideoFile, !v.isLive else { return false }
        return !v.endedEarly(frames: v.framesRead)
    }

    /// The network source broke or ended: its tracks end (their `end` events, the emptied MQTT
    /// state), so that tracks after the reconnection are new ones; the sinks stay.
    private func sourceLost(_ reason: String) {
        if link?.isDown == false { endTracks() }   // a reopened stream that broke before a frame has none
        reader?.close(); reader = nil
        link?.lost(reason)
    }

    /// One turn while the network source is down: an attempt to reopen it progresses (≤ 0.1 s).
    private func reconnect() {
        guard let src = link?.poll() else { return }
        reader = SourceReader(src)
        // The outage counts: media time resumes as far after the last frame as the wall clock moved.
        continueMedia(after: Date().timeIntervalSince(link?.downSince ?? Date()))
    }

    /// The next source's first frame comes `gap` seconds of media time after the last one.
    private func continueMedia(after gap: Double) {
        mediaBase = framesSeen ? lastMedia + gap : 0
        start = Date().addingTimeInterval(-mediaBase)
    }

    /// Paces a file source at its native rate, in steps that watch for a stop.
    private func pace(_ frame: Frame) {
        lastMedia = frame.mediaTime
        // A camera paces itself, and so does a live network stream (frames arrive in real time).
        guard let source = reader?.source, !(source is V4L2Camera), (source as? VideoFile)?.isLive != true else { return }
        let due = start.addingTimeInterval(frame.mediaTime)
        if due.timeIntervalSinceNow < -2 { start = Date().addingTimeInterval(-frame.mediaTime); return }
        // One clock read per step: reading it twice could give a negative sleep, and UInt32(-x) traps.
        while !stopping {
            let left = due.timeIntervalSinceNow
            if left <= 0 { break }
            usleep(UInt32(min(left, 0.05) * 1e6))
        }
    }

    private func process(_ frame: Frame, decodeMs: Double) {
        do {
            let (r, events) = try rt.processor.process(frame, source: sourceName, decodeMs: decodeMs)
            faces = r.faces.count
            if let cam = reader?.source as? V4L2Camera {
                metrics.recordDropped(cam.stats.dropped - droppedSeen); droppedSeen = cam.stats.dropped
            }
            try rt.sinks.write(FrameOutput(frame: frame, result: r, events: events, labels: rt.processor.classifier.labels))
        } catch {
            // A frame that cannot be processed is skipped, not fatal.
            metrics.recordError()
            logger.warning("emotiond: camera '\(name)': frame \(frame.index): \(error)")
        }
    }

    /// The name outputs carry: the path or device, or the URL with its credentials redacted.
    private var sourceName: String { reader?.source.name ?? link?.shown ?? "" }

    /// Whether a camera must deliver BGR: when snapshots draw on frames, or when the model takes
    /// colour crops (an RGB/BGR model fed the gray plane would see gray in three channels).
    /// Otherwise the camera hands over the gray plane alone (YUYV: no BGR conversion per frame;
    /// see `bench capture`).
    static func needsColour(_ rt: Runtime) -> Bool {
        rt.config.snapshotDir != nil || rt.processor.classifier.contract.color != .gray
    }

    /// What runs on a clock, after every frame and every 0.1 s while the source stalls: the sinks'
    /// `tick` (the MQTT state refresh) and the status.
    private func heartbeat() {
        try? rt.sinks.tick()
        // A camera delivers colour only while it is drawn on: snapshots, or someone watching the live view.
        (reader?.source as? V4L2Camera)?.colour = Self.needsColour(rt) || web?.wantsFrame == true
        let el = Date().timeIntervalSince(lastStatus)
        guard el >= 1 else { return }
        let fps = Double(framesSinceStatus) / el
        let text = link?.status ?? String(format: "%.1f fps, %d faces", fps, faces)
        lock.lock(); _status = text; lock.unlock()
        metrics.setFPS(fps)
        framesSinceStatus = 0; lastStatus = Date()
    }

    /// The `end` events of the open tracks, to the sinks (nothing while a network source is down:
    /// its tracks ended when it was lost).
    private func endTracks() {
        guard let src = reader?.source else { return }
        let ended = rt.processor.finish(mediaTime: lastMedia, source: src.name)
        try? rt.sinks.end(SourceInfo(name: src.name, fps: src.fps, width: src.width, height: src.height), events: ended)
    }

    // MARK: reload (under the gate)

    /// What a reload does to the source: keeps it, switches to a file opened here, or to a network
    /// stream the loop connects to (an unreachable camera does not reject a reload, as it does not
    /// stop a start). nil: stopped while opening.
    enum SourceChange { case keep, file(FrameSource), network(String) }

    /// The source change for `c`, opened before anything changes (a file that fails rejects the reload).
    func sourceChange(_ c: EmotiondConfig) throws -> SourceChange? {
        if let key = Self.restartOnlyKey(old: rt.config.camera, new: c.camera) {
            throw c.error(key, "a V4L2 camera cannot be changed by a reload; restart the daemon (systemctl restart emotiond)")
        }
        guard let s = c.camera.source, Self.sourceChanged(old: rt.config.camera, new: c.camera) else { return .keep }
        do {
            if case let .network(url) = try SourceLocation.parse(s) { return .network(url) }
            let settings = c.camera
            guard let opened = try interruptible(stop: { [flags] in flags.stop }, { try VideoFile.open(source: s, settings: settings) })
            else { return nil }
            return .file(opened)
        } catch { throw c.error("camera.source", "\(error)") }
    }

    /// Puts the new runtime (and source) in charge; what it changed, for the log ("" for nothing).
    func apply(_ newRT: Runtime, source: SourceChange, metrics newMetrics: CameraMetrics) -> String {
        try? rt.logSink?.close()
        rt = newRT
        metrics = newMetrics
        link?.metrics = newMetrics
        (reader?.source as? V4L2Camera)?.colour = Self.needsColour(newRT)
        switch source {
        case .keep: return ""
        case let .file(src):
            reader?.close(); reader = SourceReader(src); link = nil
            metrics.setSourceConnected(true)
        case let .network(url):
            reader?.close(); reader = nil
            link = SourceLink(url: url, settings: newRT.config.camera, metrics: metrics)
        }
        continueMedia(after: 0)
        return "source now \(sourceName)"
    }

    /// Whether a reload reopens the source: another source, or new settings for a network stream.
    static func sourceChanged(old: EmotiondConfig.Camera, new: EmotiondConfig.Camera) -> Bool {
        guard old.source == new.source else { return true }
        guard let s = new.source, SourceLocation.isURL(s) else { return false }
        func stream(_ c: EmotiondConfig.Camera) -> [AnyHashable] {
            [c.rtspTransport, c.openTimeout, c.readTimeout, c.reconnectDelay, c.reconnectMaxDelay]
        }
        return stream(old) != stream(new)
    }

    /// The first camera key whose change a reload cannot apply: any change involving a V4L2 camera
    /// (the running loop holds the device; reopening it with other settings could leave us with
    /// none). Between video files only `camera.source` matters, and it is applied.
    static func restartOnlyKey(old: EmotiondConfig.Camera, new: EmotiondConfig.Camera) -> String? {
        if old.source != nil && new.source != nil { return nil }
        let keys: [(String, (EmotiondConfig.Camera) -> AnyHashable?)] = [
            ("camera.source", { $0.source }), ("camera.device", { $0.device }), ("camera.width", { $0.width }),
            ("camera.height", { $0.height }), ("camera.fps", { $0.fps }), ("camera.format", { $0.format }),
            ("camera.buffers", { $0.buffers }), ("camera.timeout", { $0.timeout }),
        ]
        return keys.first { $0.1(old) != $0.1(new) }?.0
    }
}
