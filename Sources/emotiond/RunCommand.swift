import ArgumentParser
import Capture
import Config
import Detection
import EmotionCore
import Foundation
import Inference
import Pipeline
import Sinks

/// Flags set from signal handlers (dispatch sources), read by the frame loop.
final class SignalFlags: @unchecked Sendable {
    private let lock = NSLock()
    private var _stop = false, _reload = false
    var stop: Bool { lock.lock(); defer { lock.unlock() }; return _stop }
    func requestStop() { lock.lock(); _stop = true; lock.unlock() }
    func takeReload() -> Bool { lock.lock(); defer { _reload = false; lock.unlock() }; return _reload }
    func requestReload() { lock.lock(); _reload = true; lock.unlock() }
    private var sources: [DispatchSourceSignal] = []

    func install() {
        for (sig, action) in [(SIGTERM, requestStop), (SIGINT, requestStop), (SIGHUP, requestReload)] as [(Int32, () -> Void)] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler(handler: action)
            s.resume()
            sources.append(s)
        }
    }
}

/// Everything built from one configuration; rebuilt on SIGHUP.
final class Runtime {
    let config: EmotiondConfig
    let processor: FrameProcessor
    let log: RotatingLog?
    let mqtt: MQTTPublisher?

    init(_ c: EmotiondConfig) throws {
        config = c
        let (classifier, det) = try RunCommand.loadModelAndDetector(c)
        processor = FrameProcessor(detector: det, classifier: classifier, tracking: c.tracking, cropMargin: c.model.cropMargin, fullDetectEvery: c.fullDetectEvery)
        do { try processor.configureForCamera() } catch { throw c.error("detector", "\(error)") }
        if let p = c.log.path {
            do { log = try RotatingLog(path: p, maxBytes: c.log.maxBytes, keep: c.log.keep, flushEvery: c.log.flushEvery) } catch {
                throw c.error("outputs.log.path", "\(error)")
            }
        } else { log = nil }
        if c.mqtt.enabled {
            var s = MQTTSettings()
            s.host = c.mqtt.host; s.port = c.mqtt.port; s.clientID = c.mqtt.clientID; s.qos = c.mqtt.qos
            s.keepalive = c.mqtt.keepalive; s.queueSize = c.mqtt.queueSize; s.username = c.mqtt.username
            s.password = c.mqtt.password; s.caFile = c.mqtt.caFile; s.certFile = c.mqtt.certFile; s.keyFile = c.mqtt.keyFile
            s.topicPrefix = c.mqtt.topicPrefix
            do { mqtt = try MQTTPublisher(settings: s) } catch { throw c.error("outputs.mqtt", "\(error)") }
        } else { mqtt = nil }
    }
}

/// `emotiond run`: the headless daemon (systemd service).
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run headless: camera or video source → NDJSON log, MQTT events, sd_notify.")
    @Option(help: "Configuration file (default: /etc/emotiond/emotiond.yaml if present, else built-in defaults).") var config: String?
    @Option(help: "Use this video file as the camera, paced at its native frame rate.") var source: String?
    @Flag(help: "Restart the source file when it ends (demos).") var loop = false

    static let defaultConfig = "/etc/emotiond/emotiond.yaml"

    /// The configuration, through the same checks as `check-config` (Preflight).
    func loadConfig() throws -> EmotiondConfig {
        let path = config ?? (FileManager.default.fileExists(atPath: Self.defaultConfig) ? Self.defaultConfig : nil)
        return try Preflight.load(path: path, source: source)
    }

    /// Loads the model and the cascade (or takes those the start check just loaded for `c`);
    /// errors are reported against the key that set them.
    static func loadModelAndDetector(_ c: EmotiondConfig) throws -> (EmotionClassifier, CascadeDetector) {
        if let loaded = Preloaded.shared.take(for: c) { return loaded }
        return (try loadModel(c), try loadDetector(c))
    }

    static func loadModel(_ c: EmotiondConfig) throws -> EmotionClassifier {
        let modelPath: String
        do { modelPath = try Paths.model(c.model.path) } catch { throw c.error("model.path", "\(error)") }
        do { return try EmotionClassifier(path: modelPath, flipTTA: c.model.flipTTA) } catch { throw c.error("model.path", "\(error)") }
    }

    static func loadDetector(_ c: EmotiondConfig) throws -> CascadeDetector {
        do { return try CascadeDetector(config: c.detector, searchRoots: Paths.dataRoots) } catch {
            throw c.error(c.detector.cascade != nil ? "detector.cascade" : "detector.kind", "\(error)")
        }
    }

    func openSource(_ c: EmotiondConfig) throws -> FrameSource {
        if let s = c.camera.source {
            do { return try VideoFile(path: s) } catch { throw c.error("camera.source", "\(error)") }
        }
        let dev = c.camera.device ?? "/dev/video0"
        guard FileManager.default.fileExists(atPath: dev) else { throw c.error("camera.device", "\(dev) does not exist (no camera connected?)") }
        var s = CameraSettings()
        s.device = dev; s.width = c.camera.width; s.height = c.camera.height; s.fps = c.camera.fps
        s.format = c.camera.format; s.buffers = c.camera.buffers; s.timeout = c.camera.timeout
        do { return try V4L2Camera(settings: s) } catch { throw c.error("camera.device", "\(error)") }
    }

    func run() throws {
        let flags = SignalFlags()
        flags.install()
        let notifier = SystemdNotifier()
        var rt: Runtime
        var src: FrameSource
        do {
            let c = try loadConfig()
            rt = try Runtime(c)
            src = try openSource(c)
        } catch let e as ConfigError { throw RunError("\(e)") } catch let e as ConfigErrors { throw RunError("\(e)") }
        if let cam = src as? V4L2Camera {
            cam.onEvent = { warn("emotiond: \($0)") }
            cam.shouldStop = { flags.stop }
            warn("emotiond: camera \(cam.name): \(cam.width)x\(cam.height) \(cam.formatName) @ \(String(format: "%g", cam.fps)) fps, \(rt.config.camera.buffers) buffers")
        }
        var droppedSeen = 0
        // Metrics endpoint (off unless configured; loopback address in the example config).
        let metrics = DaemonMetrics()
        var metricsServer: MetricsServer? = nil
        if let listen = rt.config.metrics.listen {
            do { metricsServer = try MetricsServer(listen: listen, metrics: metrics) } catch { throw RunError("\(rt.config.error("outputs.metrics.listen", "\(error)"))") }
        }
        defer { _ = metricsServer }
        warn("emotiond: running camera '\(rt.config.camera.name)' from \(src.name); \(BLASRuntime.summary)")
        notifier.ready(status: "starting: \(src.name)")
        let watchdog = notifier.watchdogInterval
        var lastPing = Date.distantPast, lastStatus = Date()
        var framesSinceStatus = 0, faces = 0
        var start = Date(), offset = 0.0, lastMedia = 0.0
        let camera = rt.config.camera.name
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var exitError: Error? = nil

        while !flags.stop {
            if flags.takeReload() {
                // SIGHUP: a new configuration replaces the old one only if it is valid.
                do {
                    let c = try loadConfig()
                    let newRT = try Runtime(c)
                    try? rt.log?.flush()
                    rt.mqtt?.shutdown()
                    rt = newRT
                    warn("emotiond: configuration reloaded")
                } catch {
                    warn("emotiond: configuration reload rejected, keeping the running one: \(error)")
                }
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let next: Frame?
            do { next = try src.next() } catch { exitError = error; break }
            guard let frame = next else {
                if loop, let s = rt.config.camera.source, let again = try? VideoFile(path: s) {
                    offset += lastMedia + (src.fps > 0 ? 1 / src.fps : 0); src = again; continue
                }
                break
            }
            let decode = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            lastMedia = frame.mediaTime
            // Pace a file source at its native rate (a camera paces itself).
            let due = src is V4L2Camera ? Date() : start.addingTimeInterval(offset + frame.mediaTime)
            let wait = due.timeIntervalSinceNow
            if wait > 0 { usleep(UInt32(min(wait, 1) * 1e6)) } else if wait < -2 { start = Date().addingTimeInterval(-(offset + frame.mediaTime)) }
            do {
                let (r, events) = try rt.processor.process(frame, source: src.name, decodeMs: decode)
                faces = r.faces.count
                metrics.record(r)
                if let cam = src as? V4L2Camera { metrics.recordDropped(cam.stats.dropped - droppedSeen); droppedSeen = cam.stats.dropped }
                do { try rt.log?.write(r) } catch { warn("emotiond: \(error)") }
                if let dir = rt.config.snapshotDir, events.contains(where: { $0.type != .end }) {
                    // Only when configured: the annotated frame, named by frame and track.
                    var snap = frame
                    do {
                        try Annotator(scoreBars: true).draw(r, on: &snap)
                        try snap.writePNG("\(dir)/\(camera)-\(frame.index)-track\(events[0].track)-\(events[0].type.rawValue).png")
                    } catch { warn("emotiond: snapshot: \(error)") }
                }
                if let mqtt = rt.mqtt {
                    for e in events where e.type == .end || Double(e.confidence) >= rt.config.minConfidence {
                        mqtt.publish("\(rt.config.mqtt.topicPrefix)/\(camera)/events", try enc.encode(e))
                    }
                    if !events.isEmpty {
                        let state: [String: Any] = ["camera": camera, "timestamp": r.timestamp, "faces": r.faces.count,
                                                    "tracks": r.faces.map { ["track": $0.track, "label": $0.label, "confidence": Double($0.confidence)] }]
                        mqtt.publish("\(rt.config.mqtt.topicPrefix)/\(camera)/state", try JSONSerialization.data(withJSONObject: state, options: [.sortedKeys]), retain: true)
                    }
                }
            } catch {
                // A frame that cannot be processed is skipped, not fatal.
                metrics.recordError()
                warn("emotiond: frame \(frame.index): \(error)")
            }
            framesSinceStatus += 1
            // WATCHDOG=1 from the frame loop: a stuck pipeline stops the pings and systemd restarts us.
            if let w = watchdog, Date().timeIntervalSince(lastPing) >= w / 3 { notifier.watchdog(); lastPing = Date() }
            let el = Date().timeIntervalSince(lastStatus)
            if el >= 1 {
                let mq = rt.mqtt.map { $0.isConnected ? "mqtt connected" : "mqtt reconnecting (\($0.queued) queued, \($0.dropped) dropped)" } ?? "mqtt off"
                notifier.status(String(format: "%.1f fps, %d faces, %@", Double(framesSinceStatus) / el, faces, mq))
                metrics.setFPS(Double(framesSinceStatus) / el)
                if let m = rt.mqtt { metrics.mqtt(queue: m.queued, reconnects: m.reconnects, dropped: m.dropped, connected: m.isConnected) }
                framesSinceStatus = 0; lastStatus = Date()
            }
        }
        // Graceful stop: end tracks, flush the log, publish offline, release the source.
        notifier.stopping()
        if let mqtt = rt.mqtt {
            for e in rt.processor.finish(mediaTime: lastMedia, source: src.name) {
                mqtt.publish("\(rt.config.mqtt.topicPrefix)/\(camera)/events", (try? enc.encode(e)) ?? Data())
            }
            mqtt.shutdown()
        }
        try? rt.log?.flush()
        if let e = exitError { throw RunError("\(src.name): \(e)") }
        warn("emotiond: stopped")
    }
}
