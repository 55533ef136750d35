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

/// The `run` daemon: one `CameraLoop` per configured camera (the `cameras:` map, or the one
/// `camera`), each on a thread of its own, sharing one model instance, one MQTT connection, the
/// metrics registry, the HTTP server and the event history. This thread answers signals: SIGTERM
/// and SIGINT stop every camera gracefully, SIGHUP reloads the configuration (cameras added,
/// removed or changed; the unchanged ones keep running untouched). It also pings the systemd
/// watchdog while every camera's loop is alive, and sets the status line.
final class Daemon {
    let command: RunCommand
    let flags: SignalFlags
    let notifier = SystemdNotifier()
    let metrics = DaemonMetrics()
    let gate = CommitGate()
    var config: EmotiondConfig
    var shared: SharedParts
    var cameras: [CameraLoop] = []
    var metricsServer: WebServer?
    /// The HTTP server (`http.listen`) and its view of each camera (a hub per camera); nil when off.
    var httpServer: WebServer?
    var web: WebCameras?
    var lastPing = Date.distantPast, lastStatus = Date()

    init(command: RunCommand, flags: SignalFlags) throws {
        self.command = command
        self.flags = flags
        do {
            let c = try command.loadConfig()
            config = c
            shared = try Self.sharedParts(c, previous: nil, metrics: metrics, history: Self.openHistory(c))
            if c.http.listen != nil { web = WebCameras() }
            cameras = try c.cameraConfigs.map { try makeCamera($0) }
        } catch let e as ConfigError { throw RunError("\(e)") } catch let e as ConfigErrors { throw RunError("\(e)") }
        try startServers()
    }

    static func openHistory(_ c: EmotiondConfig) throws -> EventHistory? {
        guard let p = c.history.path else { return nil }
        do { return try EventHistory(path: p, keepDays: c.history.keepDays, maxBytes: c.history.maxMB.map { $0 << 20 }) } catch {
            throw c.error("history.path", "\(error)")
        }
    }

    /// The parts for `c`: those of `previous` where their settings did not change (the model, the
    /// MQTT connection with its queue), new ones otherwise (a new publisher is created unstarted).
    static func sharedParts(_ c: EmotiondConfig, previous: (EmotiondConfig, SharedParts)?, metrics: DaemonMetrics,
                            history: EventHistory?) throws -> SharedParts {
        let model = previous.flatMap { $0.0.model == c.model ? $0.1.classifier : nil }
        return SharedParts(classifier: try model ?? RunCommand.sharedModel(c),
                           mqtt: try Runtime.publisher(c, previous: previous?.1.mqtt, metrics: metrics),
                           metrics: metrics, history: history)
    }

    /// A camera's loop (not started), its metric series and its hub on the HTTP server; when its
    /// runtime cannot be built, the series and hub go again (no phantom camera in a scrape or the page).
    func makeCamera(_ c: EmotiondConfig, _ parts: SharedParts? = nil) throws -> CameraLoop {
        let m = CameraMetrics(camera: c.camera.name, in: metrics)
        let hub = web?.add(c.camera.name)
        do {
            let rt = try Runtime(c, shared: parts ?? shared, cameraMetrics: m, web: hub)
            return CameraLoop(rt: rt, metrics: m, web: hub, flags: flags, gate: gate, loopFiles: command.loop)
        } catch {
            m.unregister(); web?.remove(c.camera.name)
            throw error
        }
    }

    private func startServers() throws {
        if let listen = config.metrics.listen {
            do { metricsServer = try Self.metricsServer(listen, metrics) } catch {
                throw RunError("\(config.error("outputs.metrics.listen", "\(error)"))")
            }
        }
        guard let listen = config.http.listen else { return }
        if let web { metrics.watchHTTP { [web] in let s = web.subscribers; return (s.frames, s.events) } }
        let routes = WebRoutes(metrics: { [metrics] in metrics.render() }, cameras: web, token: config.http.token,
                               history: shared.history)
        do { httpServer = try WebServer(listen: listen, routes: routes) } catch {
            throw RunError("\(config.error("http.listen", "\(error)"))")
        }
        logger.notice("emotiond: web page and HTTP API on http://\(listen)/\(config.http.token == nil ? "" : " (token required)")")
    }

    /// `outputs.metrics.listen`: /metrics alone (no page, API or frames).
    static func metricsServer(_ listen: String, _ metrics: DaemonMetrics) throws -> WebServer {
        try WebServer(listen: listen, routes: WebRoutes(metrics: { [metrics] in metrics.render() }), what: "metrics endpoint")
    }

    func run() throws {
        for cam in cameras {
            guard try cam.open() else { logger.notice("emotiond: stopped while opening the source"); return }
        }
        shared.mqtt?.start()
        metrics.watch(shared.mqtt)
        notifier.ready(status: "starting: \(cameras.count) camera\(cameras.count == 1 ? "" : "s")")
        for cam in cameras { cam.startThread() }
        let failure = supervise()
        stop()
        if let failure { throw failure }
        logger.notice("emotiond: stopped")
    }

    /// Until a stop signal, every camera's end, or a camera's error (which stops them all: systemd
    /// restarts the service, as for a single camera).
    private func supervise() -> Error? {
        while !flags.stop {
            if flags.takeReload() { reload() }
            let ended = cameras.filter { $0.hasEnded() }
            if let failed = ended.first(where: { $0.failure != nil }) { return failed.failure }
            if !ended.isEmpty { forget(ended) }
            if cameras.isEmpty { return nil }
            pingWatchdog()
            status()
            usleep(50_000)
        }
        return nil
    }

    /// Cameras whose source ended (not looped): their series and live view leave.
    private func forget(_ ended: [CameraLoop]) {
        for cam in ended { cam.metrics.unregister(); web?.remove(cam.name) }
        cameras.removeAll { cam in ended.contains { $0 === cam } }
    }

    /// WATCHDOG=1 while every camera's loop turns: one stuck pipeline stops the pings and systemd
    /// restarts us. A loop waiting for a network source to come back turns (every 0.1 s).
    private func pingWatchdog() {
        guard let w = notifier.watchdogInterval, Date().timeIntervalSince(lastPing) >= w / 3 else { return }
        guard cameras.allSatisfy({ Date().timeIntervalSince($0.alive) < w / 2 }) else { return }
        notifier.watchdog(); lastPing = Date()
    }

    /// systemd status line, once a second: each camera's fps and faces (or its network state), MQTT.
    private func status() {
        guard Date().timeIntervalSince(lastStatus) >= 1 else { return }
        lastStatus = Date()
        let mq = shared.mqtt.map {
            $0.isConnected ? "mqtt connected" : "mqtt reconnecting (\($0.queued) queued, \($0.dropped) dropped)"
        } ?? "mqtt off"
        let cams = config.cameras.isEmpty ? cameras.map(\.status) : cameras.map { "\($0.name): \($0.status)" }
        notifier.status((cams + [mq]).joined(separator: cameras.count > 1 ? "; " : ", "))
    }

    /// Graceful stop: every camera ends its tracks (their `end` events, the emptied MQTT state) and
    /// flushes its log; then the MQTT connection says offline, and the servers close. A source read
    /// blocked in a stalled FIFO is abandoned with the process.
    private func stop() {
        notifier.stopping()
        flags.requestStop()
        for cam in cameras { cam.wait() }
        shutdownMQTT(shared.mqtt, why: "the daemon stops")
        // After the sinks: SSE clients got the `end` events; then every stream is closed.
        httpServer?.stop()
        metricsServer?.stop()
    }

    private func shutdownMQTT(_ p: MQTTPublisher?, why: String) {
        let unsent = p?.shutdown() ?? 0
        if unsent > 0 { logger.warning("emotiond: mqtt: \(unsent) queued messages were never delivered (\(why); broker unreachable)") }
    }

    // MARK: SIGHUP

    /// What a reload does to one camera.
    enum Step {
        case keep(CameraLoop)
        case change(CameraLoop, Runtime, CameraLoop.SourceChange, CameraMetrics)
        case add(CameraLoop)
    }

    /// A new configuration replaces the running one only if all of it can be applied: every new
    /// runtime is built and every new source opened first; otherwise the reload is rejected with
    /// the key at fault and everything keeps running as it was.
    private func reload() {
        do {
            let c = try command.loadConfig()
            for (key, changed) in [("http", c.http != config.http), ("history", c.history != config.history)] where changed {
                throw c.error(key, "these settings cannot be changed by a reload; restart the daemon (systemctl restart emotiond)")
            }
            let parts = try Self.sharedParts(c, previous: (config, shared), metrics: metrics, history: shared.history)
            var steps: [Step] = []
            let moved: Bool
            do {
                guard try plan(c, parts, into: &steps) else { discard(steps); return }   // stopped while opening
                moved = try moveMetrics(to: c)
            } catch { discard(steps); throw error }
            let removed = cameras.filter { cam in !steps.contains { $0.camera === cam } }
            let applied = commit(c, parts, steps, removed: removed)
            var what = applied
            if moved { what.append("metrics endpoint now \(c.metrics.listen ?? "off")") }
            logger.notice("emotiond: configuration reloaded\(what.isEmpty ? "" : " (\(what.joined(separator: "; ")))")")
        } catch {
            logger.warning("emotiond: configuration reload rejected, keeping the running one: \(error)")
        }
    }

    /// One step per camera of `c` into `steps`; a camera is rebuilt only when its settings or a
    /// shared part changed. False: stopped while opening a source.
    private func plan(_ c: EmotiondConfig, _ parts: SharedParts, into steps: inout [Step]) throws -> Bool {
        let sharedSame = parts.classifier === shared.classifier && parts.mqtt === shared.mqtt
        for cc in c.cameraConfigs {
            guard let cam = cameras.first(where: { $0.name == cc.camera.name }) ?? renamedSingle(c) else {
                let new = try makeCamera(cc, parts)
                guard try new.open() else { return false }
                steps.append(.add(new)); continue
            }
            if sharedSame, cc.sameSettings(as: cam.rt.config) { steps.append(.keep(cam)); continue }
            guard let change = try cam.sourceChange(cc) else { return false }
            // A renamed camera (no cameras: map) gets series under its new name.
            let m = cc.camera.name == cam.name ? cam.metrics : CameraMetrics(camera: cc.camera.name, in: metrics)
            do { steps.append(.change(cam, try Runtime(cc, shared: parts, cameraMetrics: m, web: cam.web), change, m)) } catch {
                if m !== cam.metrics { m.unregister() }
                throw error
            }
        }
        return true
    }

    /// A rejected reload undoes what it prepared: the new cameras' sources are let go and their
    /// series and hubs removed, a renamed camera's new series too (the files a change would have
    /// switched to close with their last reference, here).
    private func discard(_ steps: [Step]) {
        for step in steps {
            switch step {
            case let .add(cam): cam.discard(); cam.metrics.unregister(); web?.remove(cam.name)
            case let .change(cam, _, _, m) where m !== cam.metrics: m.unregister()
            default: break
            }
        }
    }

    /// Without a `cameras:` map before and after, the one camera stays the same loop when renamed.
    private func renamedSingle(_ c: EmotiondConfig) -> CameraLoop? {
        config.cameras.isEmpty && c.cameras.isEmpty ? cameras.first : nil
    }

    /// Under the gate (no camera inside a frame): removed cameras end, changed ones take their new
    /// runtime, the shared parts are swapped; new cameras start after it.
    private func commit(_ c: EmotiondConfig, _ parts: SharedParts, _ steps: [Step], removed: [CameraLoop]) -> [String] {
        var applied: [String] = []
        gate.exclusive {
            for cam in removed { cam.remove(); applied.append("camera '\(cam.name)' removed") }
            withdrawDiscovery(old: cameras.map(\.rt), new: steps.map(\.runtime))
            if let old = shared.mqtt, old !== parts.mqtt {
                parts.mqtt?.adopt(old)
                shutdownMQTT(old, why: "replaced by the reload")
            }
            for step in steps {
                guard case let .change(cam, rt, change, m) = step else { continue }
                if m !== cam.metrics { cam.metrics.unregister(); web?.rename(cam.name, to: rt.config.camera.name) }
                let what = cam.apply(rt, source: change, metrics: m)
                if !what.isEmpty { applied.append(c.cameras.isEmpty ? what : "camera '\(cam.name)': \(what)") }
            }
            if parts.mqtt !== shared.mqtt { parts.mqtt?.start() }
            shared = parts; config = c
            cameras = steps.map(\.camera)
        }
        for cam in removed { cam.metrics.unregister(); web?.remove(cam.name) }
        for case let .add(cam) in steps { cam.startThread(); applied.append("camera '\(cam.name)' added") }
        metrics.watch(shared.mqtt)
        return applied
    }

    /// Removes from Home Assistant the entities the new configuration no longer announces
    /// (discovery turned off, a camera removed or renamed, a prefix changed): an empty retained
    /// payload on a config topic deletes the entity. Sent before the old publisher (if replaced) goes.
    private func withdrawDiscovery(old: [Runtime], new: [Runtime]) {
        guard let via = shared.mqtt else { return }
        let kept = Set(new.flatMap { $0.discovery?.configTopics ?? [] })
        for t in old.flatMap({ $0.discovery?.configTopics ?? [] }) where !kept.contains(t) {
            via.publish(t, Data(), retain: true)
        }
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
}

extension Daemon.Step {
    var camera: CameraLoop {
        switch self { case let .keep(c), let .change(c, _, _, _), let .add(c): return c }
    }
    /// The runtime the camera runs after the reload.
    var runtime: Runtime {
        switch self { case let .keep(c), let .add(c): return c.rt; case let .change(_, rt, _, _): return rt }
    }
}
