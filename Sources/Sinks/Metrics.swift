import EmotionCore
import Foundation
import Prometheus

/// One camera's metrics, each labelled `camera="<name>"` in the daemon's registry: a daemon with
/// a `cameras:` map reports every camera apart, and one scrape shows them all.
public final class CameraMetrics: @unchecked Sendable {
    public let camera: String
    let registry: PrometheusCollectorRegistry
    let frames: Counter, dropped: Counter, errors: Counter, logErrors: Counter, logDropped: Counter
    let sourceReconnects: Counter, sourceOpenFailures: Counter, sourceConnected: Gauge
    let fps: Gauge, faces: Gauge
    let stages: [String: ValueHistogram]

    /// Registering the same camera again (a reload) returns its existing series: counters go on.
    public init(camera: String, in daemon: DaemonMetrics) {
        self.camera = camera
        let registry = daemon.registry
        self.registry = registry
        let l = [("camera", camera)]
        func counter(_ name: String, _ help: String) -> Counter { registry.makeCounter(descriptor: metric(name, help), labels: l) }
        func gauge(_ name: String, _ help: String) -> Gauge { registry.makeGauge(descriptor: metric(name, help), labels: l) }
        frames = counter("emotiond_frames_processed_total", "Frames run through the pipeline.")
        dropped = counter("emotiond_frames_dropped_total", "Frames the source delivered that were not processed (capture overrun or skipped).")
        errors = counter("emotiond_frame_errors_total", "Frames skipped because processing failed.")
        logErrors = counter("emotiond_log_write_errors_total", "Writes to the NDJSON log that failed (disk full, I/O error).")
        logDropped = counter("emotiond_log_lines_dropped_total", "NDJSON log lines lost because their write failed.")
        sourceReconnects = counter("emotiond_source_reconnects_total", "Times a lost network source delivered frames again.")
        sourceOpenFailures = counter("emotiond_source_open_failures_total", "Failed attempts to open (or reopen) a network source.")
        sourceConnected = gauge("emotiond_source_connected", "0 while a network source is lost or not yet reached, else 1.")
        sourceConnected.set(1.0)
        fps = gauge("emotiond_fps", "Processed frames per second over the last second.")
        faces = gauge("emotiond_faces", "Faces in the last processed frame.")
        let buckets: [Double] = [0.5, 1, 2, 5, 10, 20, 33, 50, 100, 250, 1000]
        var st: [String: ValueHistogram] = [:]
        for s in ["decode", "detect", "preprocess", "infer", "track", "total"] {
            st[s] = registry.makeValueHistogram(
                descriptor: metric("emotiond_stage_latency_ms", "Per-frame latency of each pipeline stage, milliseconds."),
                labels: [("stage", s)] + l, buckets: buckets)
        }
        stages = st
    }

    /// A camera removed by a reload: its series leave the scrape (a stale fps would mislead).
    public func unregister() {
        for c in [frames, dropped, errors, logErrors, logDropped, sourceReconnects, sourceOpenFailures] { registry.unregisterCounter(c) }
        for g in [sourceConnected, fps, faces] { registry.unregisterGauge(g) }
        for h in stages.values { registry.unregisterValueHistogram(h) }
    }

    public func record(_ r: FrameResult) {
        frames.increment()
        faces.set(Double(r.faces.count))
        let l = r.latencyMs
        stages["decode"]?.record(l.decode); stages["detect"]?.record(l.detect); stages["preprocess"]?.record(l.preprocess)
        stages["infer"]?.record(l.infer); stages["track"]?.record(l.track); stages["total"]?.record(l.total)
    }
    public func recordError() { errors.increment() }
    /// The network source was lost (or not reached yet at start): false; frames again: true.
    public func setSourceConnected(_ up: Bool) { sourceConnected.set(up ? 1.0 : 0.0) }
    public func recordSourceReconnect() { sourceReconnects.increment() }
    public func recordSourceOpenFailure() { sourceOpenFailures.increment() }
    public func recordDropped(_ n: Int) { if n > 0 { dropped.increment(by: Int64(n)) } }
    public func setFPS(_ v: Double) { fps.set(v) }
    /// A failed write of the log that lost `lines` lines.
    public func recordLogWriteFailure(lines: Int) {
        logErrors.increment()
        if lines > 0 { logDropped.increment(by: Int64(lines)) }
    }
}

/// The daemon's Prometheus registry (swift-prometheus) and what all its cameras share: the MQTT
/// connection and the HTTP server. Per-camera series: `CameraMetrics`.
public final class DaemonMetrics: @unchecked Sendable {
    public let registry = PrometheusCollectorRegistry()
    let mqttQueue: Gauge, mqttReconnects: Gauge, mqttDropped: Gauge, mqttConnected: Gauge
    let httpFramesEncoded: Counter, httpViewers: Gauge, httpEventClients: Gauge

    public init() {
        mqttQueue = registry.makeGauge(descriptor: metric("emotiond_mqtt_queue_length", "MQTT messages waiting for the broker."))
        mqttReconnects = registry.makeGauge(descriptor: metric("emotiond_mqtt_reconnects", "MQTT reconnections since start."))
        mqttDropped = registry.makeGauge(descriptor: metric("emotiond_mqtt_dropped", "MQTT messages dropped from the full queue (oldest first)."))
        mqttConnected = registry.makeGauge(descriptor: metric("emotiond_mqtt_connected", "1 when connected to the broker."))
        httpFramesEncoded = registry.makeCounter(descriptor: metric("emotiond_http_frames_encoded_total",
            "Annotated frames JPEG-encoded for live views and snapshots (none without a viewer)."))
        httpViewers = registry.makeGauge(descriptor: metric("emotiond_http_viewers", "Open MJPEG live views."))
        httpEventClients = registry.makeGauge(descriptor: metric("emotiond_http_event_clients", "Open Server-Sent Events streams."))
    }

    /// One failed MQTT connection attempt; `reason` is one of a few fixed words (see MQTTFailure).
    public func recordMQTTConnectFailure(reason: String) {
        registry.makeCounter(descriptor: metric("emotiond_mqtt_connect_failures_total", "Failed MQTT connection attempts, by reason."),
                             labels: [("reason", reason)]).increment()
    }

    /// The publisher whose state the MQTT gauges show, read at each scrape (so they stay current
    /// even while the frame loop waits for a stalled source); replaced on reload.
    public func watch(_ publisher: MQTTPublisher?) { lock.lock(); watched = publisher; lock.unlock() }
    /// The HTTP server's clients (live views, event streams), read at each scrape.
    public func watchHTTP(_ clients: @escaping () -> (viewers: Int, events: Int)) { lock.lock(); httpClients = clients; lock.unlock() }
    private var httpClients: (() -> (viewers: Int, events: Int))?
    public func recordEncodedFrame() { httpFramesEncoded.increment() }
    private let lock = NSLock()
    private var watched: MQTTPublisher?

    /// The exposition text, with the MQTT gauges refreshed.
    public func render() -> [UInt8] {
        lock.lock(); let p = watched, http = httpClients; lock.unlock()
        if let http { let c = http(); httpViewers.set(Double(c.viewers)); httpEventClients.set(Double(c.events)) }
        if let p { mqtt(queue: p.queued, reconnects: p.reconnects, dropped: p.dropped, connected: p.isConnected) }
        return registry.emitToBuffer()
    }

    public func mqtt(queue: Int, reconnects: Int, dropped d: Int, connected: Bool) {
        mqttQueue.set(Double(queue)); mqttReconnects.set(Double(reconnects)); mqttDropped.set(Double(d)); mqttConnected.set(Double(connected ? 1 : 0))
    }
}

/// A metric's full name (unit suffix included, e.g. `_total`) and help text: swift-prometheus
/// joins namespace, subsystem, name and unit, and leaves out the empty ones.
private func metric(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
}
