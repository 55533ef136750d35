import ArgumentParser
import Capture
import Config
import Detection
import EmotionCore
import Foundation
import Inference
import Pipeline
import Settings
import History
import Sinks
import Web

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

/// What every camera of the daemon shares: one model instance, one MQTT connection, the metrics
/// registry, the event history. Replaced as a whole by a reload that changes one of them.
struct SharedParts {
    let classifier: EmotionClassifier
    /// Created unstarted: it connects once the runtimes using it are put in charge (Daemon.commit).
    let mqtt: MQTTPublisher?
    let metrics: DaemonMetrics?
    let history: EventHistory?
}

/// Everything one camera runs, built from its configuration; rebuilt on SIGHUP when it changed.
final class Runtime {
    let config: EmotiondConfig
    let processor: FrameProcessor
    let logSink: RotatingLogSink?
    /// The daemon's one publisher (shared by its cameras); nil: MQTT off.
    let mqtt: MQTTPublisher?
    /// Home Assistant discovery of the camera (nil: MQTT or discovery off); a reload compares it.
    let discovery: HomeAssistantDiscovery?
    /// Where every processed frame goes: log, metrics, snapshots, MQTT. One sink's failure is
    /// reported and never keeps the frame from the others.
    let sinks: SinkDispatcher

    /// `web`: the HTTP server's view of the camera (nil: the server is off, no web sink).
    /// `cameraMetrics`: this camera's series (nil in tests without a registry).
    init(_ c: EmotiondConfig, shared: SharedParts, cameraMetrics: CameraMetrics? = nil, web: WebHub? = nil) throws {
        config = c
        let classifier = shared.classifier
        let det = try Preloaded.shared.takeDetector(for: c.detector) ?? RunCommand.loadDetector(c)
        processor = FrameProcessor(detector: det, classifier: classifier, tracking: c.tracking,
                                   cropMargin: c.model.cropMargin, fullDetectEvery: c.fullDetectEvery)
        do { try PipelineOptions.configureForCamera(processor) } catch { throw c.error("detector", "\(error)") }
        logSink = try Self.logSink(c, metrics: cameraMetrics)
        mqtt = shared.mqtt
        discovery = mqtt != nil && c.mqtt.homeAssistant
            ? HomeAssistantDiscovery(prefix: c.mqtt.discoveryPrefix, topics: Self.topics(c), version: Emotiond.version,
                                     labels: classifier.labels) : nil
        let parts = Self.sinks(c, log: logSink, mqtt: mqtt, discovery: discovery, metrics: cameraMetrics, daemonMetrics: shared.metrics,
                               web: web, history: shared.history)
        sinks = SinkDispatcher(parts, policy: .isolate(report: { logger.warning("emotiond: \($0)") }))
    }

    static func topics(_ c: EmotiondConfig) -> MQTTTopics { MQTTTopics(prefix: c.mqtt.topicPrefix, camera: c.camera.name) }

    static func sinks(_ c: EmotiondConfig, log: RotatingLogSink?, mqtt: MQTTPublisher?, discovery: HomeAssistantDiscovery?,
                      metrics: CameraMetrics?, daemonMetrics: DaemonMetrics?, web: WebHub? = nil,
                      history: EventHistory? = nil) -> [FrameSink] {
        var sinks: [FrameSink] = []
        if let metrics { sinks.append(MetricsSink(metrics)) }
        if let log { sinks.append(log) }
        if let dir = c.snapshotDir { sinks.append(SnapshotSink(dir: dir, camera: c.camera.name)) }
        if let mqtt {
            sinks.append(MQTTSink(publisher: mqtt, topics: topics(c), minConfidence: c.minConfidence,
                                  stateInterval: c.mqtt.stateInterval, discovery: discovery, log: logger))
        }
        if let history { sinks.append(EventHistorySink(history: history, camera: c.camera.name)) }
        if c.notices.sustainedSeconds > 0 {
            let topic = topics(c).notices
            let encoder = JSONEncoder(); encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            sinks.append(NoticeSink(seconds: c.notices.sustainedSeconds, labels: c.notices.labels, camera: c.camera.name) { n in
                logger.notice("emotiond: track \(n.track) has looked \(n.label) for \(n.seconds) s")
                web?.notice(n)
                if let mqtt, let data = try? encoder.encode(n) { mqtt.publish(topic, data) }
            })
        }
        if let web {
            sinks.append(WebStateSink(hub: web))
            sinks.append(LiveViewSink(hub: web, fps: c.http.mjpegFPS, quality: c.http.jpegQuality, metrics: daemonMetrics))
        }
        return sinks
    }

    static func logSink(_ c: EmotiondConfig, metrics: CameraMetrics?) throws -> RotatingLogSink? {
        guard let p = c.log.path else { return nil }
        do {
            let log = try RotatingLog(path: p, maxBytes: c.log.maxBytes, keep: c.log.keep, flushEvery: c.log.flushEvery)
            return RotatingLogSink(log: log, metrics: metrics, logger: logger)
        } catch { throw c.error("outputs.log.path", "\(error)") }
    }

    static func publisher(_ c: EmotiondConfig, previous: MQTTPublisher?, metrics: DaemonMetrics?) throws -> MQTTPublisher? {
        guard c.mqtt.enabled else { return nil }
        let s = c.mqtt
        if let previous, previous.settings.sameConnection(as: s) { return previous }
        do {
            return try MQTTPublisher(settings: s, onLog: { logger.warning("emotiond: \($0)") },
                                     onFailure: { metrics?.recordMQTTConnectFailure(reason: $0.label) }, start: false)
        } catch { throw c.error("outputs.mqtt", "\(error)") }
    }
}

/// `emotiond run`: the headless daemon (systemd service).
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run headless: camera or video source → NDJSON log, MQTT events, sd_notify.")
    @Option(help: "Configuration file (default: /etc/emotiond/emotiond.yaml if present, else built-in defaults).") var config: String?
    @Option(help: "Use this video file (paced at its native frame rate) or network stream (rtsp://, rtsps://, http(s):// URL; reconnected when lost) as the camera.") var source: String?
    @Flag(help: "Restart the source file when it ends (demos).") var loop = false

    static let defaultConfig = "/etc/emotiond/emotiond.yaml"

    /// The configuration, through the same checks as `check-config` (Preflight).
    func loadConfig() throws -> EmotiondConfig {
        let path = config ?? (FileManager.default.fileExists(atPath: Self.defaultConfig) ? Self.defaultConfig : nil)
        return try Preflight.load(path: path, source: source)
    }

    /// The model for `c` (the one the start check just loaded, if it was for these settings);
    /// errors are reported against the key that set it.
    static func sharedModel(_ c: EmotiondConfig) throws -> EmotionClassifier {
        try Preloaded.shared.takeModel(for: c.model) ?? loadModel(c)
    }

    static func loadModel(_ c: EmotiondConfig) throws -> EmotionClassifier {
        let paths: [String]
        do { paths = try Paths.models(c.model.paths) } catch { throw c.error("model.path", "\(error)") }
        do { return try EmotionClassifier(paths: paths, flipTTA: c.model.flipTTA) } catch { throw c.error("model.path", "\(error)") }
    }

    static func loadDetector(_ c: EmotiondConfig) throws -> CascadeDetector {
        do { return try CascadeDetector(config: c.detector, searchRoots: Paths.dataRoots) } catch {
            throw c.error(c.detector.cascade != nil ? "detector.cascade" : "detector.kind", "\(error)")
        }
    }

    static func openSource(_ c: EmotiondConfig) throws -> FrameSource {
        if let s = c.camera.source {
            do { return try VideoFile.open(source: s, settings: c.camera) } catch { throw c.error("camera.source", "\(error)") }
        }
        let dev = c.camera.device
        guard FileManager.default.fileExists(atPath: dev) else { throw c.error("camera.device", "\(dev) does not exist (no camera connected?)") }
        do { return try V4L2Camera(settings: c.camera) } catch { throw c.error("camera.device", "\(error)") }
    }

    func run() throws {
        let flags = SignalFlags()
        flags.install()
        try Daemon(command: self, flags: flags).run()
    }
}
