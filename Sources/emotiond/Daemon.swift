import Capture
import Config
import EmotionCore
import Foundation
import Imaging
import Pipeline
import Settings
import History
import Sinks
import Web

/// Runs `body` on a thread of its own and waits for it in short steps: nil when `stop()` turned
/// true first, abandoning the call where it blocks. Opening a FIFO waits for a writer, and
/// FFmpeg's probe then reads from it: neither may keep SIGTERM from stopping the daemon.
func interruptible<T>(stop: () -> Bool, _ body: @escaping () throws -> T) throws -> T? {
    let pending = Pending(body)
    while true {
        if let r = pending.poll(within: 0.1) { return try r.get() }
        if stop() { return nil }
    }
}

/// Reads frames on a thread of its own, one at a time on request (no read-ahead, so a camera's
/// drop accounting is unchanged), so that a source that blocks — a FIFO whose writer stalled, a
/// stream that hangs — never keeps the frame loop from seeing SIGTERM or SIGHUP.
final class SourceReader: @unchecked Sendable {
    enum Outcome { case frame(Frame, decodeMs: Double), end, failed(Error) }
    let source: FrameSource
    private let request = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
    private var outcome: Outcome = .end   // written by the reader before `done`, read after it
    private var reading = false           // the caller's thread only
    private let lock = NSLock()
    private var closed = false

    init(_ source: FrameSource) {
        self.source = source
        Thread.detachNewThread { [self] in self.serve() }
    }

    private func serve() {
        while true {
            request.wait()
            lock.lock(); let stop = closed; lock.unlock()
            if stop { return }
            let t0 = DispatchTime.now().uptimeNanoseconds
            do {
                if let f = try source.next() {
                    outcome = .frame(f, decodeMs: Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                } else { outcome = .end }
            } catch { outcome = .failed(error) }
            done.signal()
        }
    }

    /// The next frame (or the end, or the error), or nil when it did not come within `wait`
    /// seconds: the read goes on, ask again.
    func next(within wait: Double) -> Outcome? {
        if !reading { reading = true; request.signal() }
        guard done.wait(timeout: .now() + wait) == .success else { return nil }
        reading = false
        return outcome
    }

    /// Lets the reader thread end and release the source (after the read in progress, if any).
    func close() {
        lock.lock(); closed = true; lock.unlock()
        request.signal()
    }
}

/// The `run` loop: frames from the source through the pipeline to the log, MQTT and metrics;
/// SIGTERM/SIGINT stop it gracefully, SIGHUP reloads the configuration.
final class Daemon {
    let command: RunCommand
    let flags: SignalFlags
    let notifier = SystemdNotifier()
    let metrics = DaemonMetrics()
    var rt: Runtime
    var metricsServer: WebServer?
    /// The HTTP server (`http.listen`), its cameras and this camera's hub among them; nil when off.
    var httpServer: WebServer?
    var webCameras: WebCameras?
    var web: WebHub?
    /// The event store (`history.path`), kept across reloads; nil when off.
    var history: EventHistory?
    /// nil while a network source is down (`link` reopens it).
    var reader: SourceReader?
    /// A network source's reconnection (nil for files, FIFOs and cameras).
    var link: SourceLink?
    var camera: String
    // Media time runs on across a reopened, looped or replaced source (a reconnection, --loop, a
    // reload): outputs only ever see it grow, and the tracker's dwell times stay valid. A frame's
    // own time counts from its source's start; `mediaBase` is added. `start`: the pacing origin
    // of a file source at its native rate.
    var start = Date(), mediaBase = 0.0, lastMedia = 0.0, framesSeen = false
    var droppedSeen = 0
    var lastPing = Date.distantPast, lastStatus = Date(), framesSinceStatus = 0, faces = 0

    init(command: RunCommand, flags: SignalFlags) throws {
        self.command = command
        self.flags = flags
        do {
            let c = try command.loadConfig()
            if c.http.listen != nil { let cams = WebCameras(); webCameras = cams; web = cams.add(c.camera.name) }
            if let p = c.history.path {
                do { history = try EventHistory(path: p, keepDays: c.history.keepDays, maxBytes: c.history.maxMB.map { $0 << 20 }) } catch { throw c.error("history.path", "\(error)") }
            }
            rt = try Runtime(c, metrics: metrics, web: web, history: history)
        } catch let e as ConfigError { throw RunError("\(e)") } catch let e as ConfigErrors { throw RunError("\(e)") }
        camera = rt.config.camera.name
        if let listen = rt.config.metrics.listen {
            do { metricsServer = try Self.metricsServer(listen, metrics) } catch {
                throw RunError("\(rt.config.error("outputs.metrics.listen", "\(error)"))")
            }
        }
        if let listen = rt.config.http.listen {
            if let cams = webCameras { metrics.watchHTTP { [cams] in let s = cams.subscribers; return (s.frames, s.events) } }
            let routes = WebRoutes(metrics: { [metrics] in metrics.render() }, cameras: webCameras, token: rt.config.http.token,
                                   history: history)
            do { httpServer = try WebServer(listen: listen, routes: routes) } catch {
                throw RunError("\(rt.config.error("http.listen", "\(error)"))")
            }
            logger.notice("emotiond: web page and HTTP API on http://\(listen)/\(rt.config.http.token == nil ? "" : " (token required)")")
        }
    }

    /// `outputs.metrics.listen`: /metrics alone (no page, API or frames).
    static func metricsServer(_ listen: String, _ metrics: DaemonMetrics) throws -> WebServer {
        try WebServer(listen: listen, routes: WebRoutes(metrics: { [metrics] in metrics.render() }), what: "metrics endpoint")
    }

    func run() throws {
        let name: String
        if case let .network(url)? = try? rt.config.camera.source.map(SourceLocation.parse) {
            // Not opened here: an unreachable camera is retried by the loop, as after a loss.
            link = SourceLink(url: url, settings: rt.config.camera, metrics: metrics)
            name = link!.shown
        } else {
            guard let src = try openLocalSource() else {
                logger.notice("emotiond: stopped while opening the source")
                return
            }
            reader = SourceReader(src)
            name = src.name
        }
        rt.mqtt?.start()
        metrics.watch(rt.mqtt)
        logger.notice("emotiond: running camera '\(camera)' from \(name); model \(rt.processor.classifier.name); \(BLASRuntime.summary)")
        notifier.ready(status: "starting: \(name)")
        let exitError = loop()
        stop()
        if let e = exitError { throw RunError("\(reader?.source.name ?? name): \(e)") }
        logger.notice("emotiond: stopped")
    }

    /// A file, FIFO or V4L2 camera, opened before the loop starts (nil: stopped meanwhile).
    private func openLocalSource() throws -> FrameSource? {
        let src: FrameSource
        do {
            let open = { [rt, command] in try command.openSource(rt.config) }
            guard let s = try interruptible(stop: { self.flags.stop }, open) else { return nil }
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

    /// Frames until the end of the source, an error (returned), or a stop signal. A network
    /// source that breaks or ends is reopened instead (see `SourceLink`).
    private func loop() -> Error? {
        while !flags.stop {
            if flags.takeReload() { reload() }
            guard let reader else { reconnect(); heartbeat(); continue }
            // Short waits: a stalled source must not hide a signal.
            guard let outcome = reader.next(within: 0.1) else { heartbeat(); continue }
            switch outcome {
            case let .failed(e):
                if link != nil { sourceLost((e as? CVError)?.message ?? "\(e)"); continue }
                return e
            case .end:
                if link != nil, !recordingEnded(reader.source) { sourceLost("the stream ended"); continue }
                if command.loop, let again = reopenForLoop() {
                    continueMedia(after: reader.source.fps > 0 ? 1 / reader.source.fps : 0)
                    reader.close(); self.reader = SourceReader(again)
                    continue
                }
                return nil
            case let .frame(raw, decode):
                var frame = raw
                frame.mediaTime += mediaBase
                framesSeen = true
                link?.frameArrived()
                pace(frame)
                process(frame, decodeMs: decode)
                framesSinceStatus += 1
                pingWatchdog()
                heartbeat()
            }
        }
        return nil
    }

    /// WATCHDOG=1 from the frame loop: a stuck pipeline stops the pings and systemd restarts us.
    /// While a network source is being reopened the loop is alive and waiting on purpose: it pings.
    private func pingWatchdog() {
        if let w = notifier.watchdogInterval, Date().timeIntervalSince(lastPing) >= w / 3 {
            notifier.watchdog(); lastPing = Date()
        }
    }

    /// The file (or the recording played over HTTP) again, for --loop.
    private func reopenForLoop() -> FrameSource? {
        guard let s = rt.config.camera.source else { return nil }
        let settings = rt.config.camera
        return try? interruptible(stop: { self.flags.stop }, { try VideoFile.open(source: s, settings: settings) })
    }

    /// Whether a network source that ended played a recording to its end (an HTTP file: it ends
    /// as a file does) rather than losing a live stream or being cut short.
    private func recordingEnded(_ source: FrameSource) -> Bool {
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
        pingWatchdog()
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

    /// Paces a file source at its native rate (a camera paces itself), in steps that watch for a stop.
    private func pace(_ frame: Frame) {
        lastMedia = frame.mediaTime
        // A camera paces itself, and so does a live network stream (frames arrive in real time).
        guard let source = reader?.source, !(source is V4L2Camera), (source as? VideoFile)?.isLive != true else { return }
        let due = start.addingTimeInterval(frame.mediaTime)
        if due.timeIntervalSinceNow < -2 { start = Date().addingTimeInterval(-frame.mediaTime); return }
        // One clock read per step: reading it twice could give a negative sleep, and UInt32(-x) traps.
        while !flags.stop {
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
            logger.warning("emotiond: frame \(frame.index): \(error)")
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
    /// `tick` (the MQTT state refresh) and the status line.
    private func heartbeat() {
        try? rt.sinks.tick()
        // A camera delivers colour only while it is drawn on: snapshots, or someone watching the live view.
        (reader?.source as? V4L2Camera)?.colour = Self.needsColour(rt) || web?.wantsFrame == true
        status()
    }

    /// systemd status line and fps, once a second (also while the source stalls: fps drops to 0).
    private func status() {
        let el = Date().timeIntervalSince(lastStatus)
        guard el >= 1 else { return }
        let mq = rt.mqtt.map {
            $0.isConnected ? "mqtt connected" : "mqtt reconnecting (\($0.queued) queued, \($0.dropped) dropped)"
        } ?? "mqtt off"
        let frames = link?.status ?? String(format: "%.1f fps, %d faces", Double(framesSinceStatus) / el, faces)
        notifier.status("\(frames), \(mq)")
        metrics.setFPS(Double(framesSinceStatus) / el)
        framesSinceStatus = 0; lastStatus = Date()
    }

    /// Graceful stop: end tracks (their `end` events, the emptied MQTT state), publish offline,
    /// flush the log. The source is not waited for: a read blocked in a stalled FIFO is abandoned
    /// with the process.
    private func stop() {
        notifier.stopping()
        endTracks()
        try? rt.sinks.close()
        // After the sinks: SSE clients got the `end` events; then every stream is closed.
        httpServer?.stop()
        metricsServer?.stop()
    }

    /// The `end` events of the open tracks, to the sinks (nothing while a network source is down:
    /// its tracks ended when it was lost).
    private func endTracks() {
        guard let src = reader?.source else { return }
        let ended = rt.processor.finish(mediaTime: lastMedia, source: src.name)
        try? rt.sinks.end(SourceInfo(name: src.name, fps: src.fps, width: src.width, height: src.height), events: ended)
    }

    // MARK: SIGHUP

    /// Removes from Home Assistant the entities the new configuration no longer announces
    /// (discovery turned off, camera renamed, a prefix changed): an empty retained payload on a
    /// config topic deletes the entity. Sent before the old publisher (if replaced) goes.
    private func withdrawDiscovery(replacedBy newRT: Runtime) {
        guard let old = rt.discovery, let via = rt.mqtt else { return }
        let kept = Set(newRT.discovery?.configTopics ?? [])
        for t in old.configTopics where !kept.contains(t) { via.publish(t, Data(), retain: true) }
    }

    /// A new configuration replaces the running one only if all of it can be applied; otherwise
    /// the reload is rejected with the key at fault and everything keeps running as it was.
    private func reload() {
        do {
            let c = try command.loadConfig()
            if let key = Self.restartOnlyKey(old: rt.config.camera, new: c.camera) {
                throw c.error(key, "a V4L2 camera cannot be changed by a reload; "
                              + "restart the daemon (systemctl restart emotiond)")
            }
            for (key, changed) in [("http", c.http != rt.config.http), ("history", c.history != rt.config.history)] where changed {
                throw c.error(key, "these settings cannot be changed by a reload; restart the daemon (systemctl restart emotiond)")
            }
            let newRT = try Runtime(c, previous: rt, metrics: metrics, web: web, history: history)
            guard let change = try sourceChange(c) else { return }   // stopped while opening
            // Last, as it is the one step that changes something before it can fail (and undoes it).
            let moved = try moveMetrics(to: c)
            commit(newRT, source: change)
            var applied: [String] = []
            if case .keep = change {} else { applied.append("source now \(sourceName)") }
            if moved { applied.append("metrics endpoint now \(c.metrics.listen ?? "off")") }
            let what = applied.isEmpty ? "" : " (\(applied.joined(separator: "; ")))"
            logger.notice("emotiond: configuration reloaded\(what)")
        } catch {
            logger.warning("emotiond: configuration reload rejected, keeping the running one: \(error)")
        }
    }

    /// What a reload does to the source: keeps it, switches to a file opened here, or to a network
    /// stream the loop connects to (an unreachable camera does not reject a reload, as it does not
    /// stop a start). nil: stopped while opening.
    enum SourceChange { case keep, file(FrameSource), network(String) }

    private func sourceChange(_ c: EmotiondConfig) throws -> SourceChange? {
        guard let s = c.camera.source, Self.sourceChanged(old: rt.config.camera, new: c.camera) else { return .keep }
        do {
            if case let .network(url) = try SourceLocation.parse(s) { return .network(url) }
            let settings = c.camera
            guard let opened = try interruptible(stop: { self.flags.stop }, { try VideoFile.open(source: s, settings: settings) })
            else { return nil }
            return .file(opened)
        } catch { throw c.error("camera.source", "\(error)") }
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

    /// Moves the metrics endpoint to the new address (true when it moved). The old endpoint is
    /// closed first only if the new one cannot bind beside it (same port); when the new address
    /// fails, the old one is bound again and the reload is rejected.
    private func moveMetrics(to c: EmotiondConfig) throws -> Bool {
        let old = metricsServer
        guard c.metrics.listen != old?.address else { return false }
        guard let want = c.metrics.listen else { old?.stop(); metricsServer = nil; return true }
        if let s = try? Self.metricsServer(want, metrics) {
            old?.stop(); metricsServer = s; return true
        }
        old?.stop()
        do { metricsServer = try Self.metricsServer(want, metrics); return true } catch {
            if let old {
                metricsServer = try? Self.metricsServer(old.address, metrics)
                if metricsServer == nil { logger.warning("emotiond: metrics endpoint \(old.address) could not be reopened") }
            }
            throw c.error("outputs.metrics.listen", "\(error)")
        }
    }

    /// Puts the new runtime (and source) in charge. A changed MQTT publisher takes over the old
    /// one's queue and counters; the old one says "offline" before the new one says "online"
    /// (same broker and client id: the other order would leave "offline" retained).
    private func commit(_ newRT: Runtime, source: SourceChange) {
        try? rt.logSink?.close()
        withdrawDiscovery(replacedBy: newRT)
        if let old = rt.mqtt, old !== newRT.mqtt {
            newRT.mqtt?.adopt(old)
            let unsent = old.shutdown()
            if unsent > 0 { logger.warning("emotiond: mqtt disabled by the reload: \(unsent) queued messages discarded") }
        }
        if let m = newRT.mqtt, m !== rt.mqtt { m.start() }
        rt = newRT
        let oldName = camera
        camera = newRT.config.camera.name
        webCameras?.rename(oldName, to: camera)
        (reader?.source as? V4L2Camera)?.colour = Self.needsColour(newRT)
        metrics.watch(rt.mqtt)
        switch source {
        case .keep: return
        case let .file(src):
            reader?.close(); reader = SourceReader(src); link = nil
            metrics.setSourceConnected(true)
        case let .network(url):
            reader?.close(); reader = nil
            link = SourceLink(url: url, settings: newRT.config.camera, metrics: metrics)
        }
        continueMedia(after: 0)
    }
}
