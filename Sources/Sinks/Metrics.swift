import EmotionCore
import Foundation
import Glibc
import Prometheus

/// Daemon metrics in the Prometheus text format (swift-prometheus registry).
public final class DaemonMetrics: @unchecked Sendable {
    public let registry = PrometheusCollectorRegistry()
    let frames: Counter, dropped: Counter, errors: Counter, logErrors: Counter, logDropped: Counter
    let sourceReconnects: Counter, sourceOpenFailures: Counter, sourceConnected: Gauge
    let fps: Gauge, faces: Gauge, mqttQueue: Gauge, mqttReconnects: Gauge, mqttDropped: Gauge, mqttConnected: Gauge
    let stages: [String: ValueHistogram]

    public init() {
        frames = registry.makeCounter(name: "emotiond_frames_processed_total", help: "Frames run through the pipeline.")
        dropped = registry.makeCounter(name: "emotiond_frames_dropped_total", help: "Frames the source delivered that were not processed (capture overrun or skipped).")
        errors = registry.makeCounter(name: "emotiond_frame_errors_total", help: "Frames skipped because processing failed.")
        logErrors = registry.makeCounter(name: "emotiond_log_write_errors_total",
                                         help: "Writes to the NDJSON log that failed (disk full, I/O error).")
        logDropped = registry.makeCounter(name: "emotiond_log_lines_dropped_total",
                                          help: "NDJSON log lines lost because their write failed.")
        sourceReconnects = registry.makeCounter(name: "emotiond_source_reconnects_total",
                                                help: "Times a lost network source delivered frames again.")
        sourceOpenFailures = registry.makeCounter(name: "emotiond_source_open_failures_total",
                                                  help: "Failed attempts to open (or reopen) a network source.")
        sourceConnected = registry.makeGauge(name: "emotiond_source_connected",
                                             help: "0 while a network source is lost or not yet reached, else 1.")
        sourceConnected.set(1.0)
        fps = registry.makeGauge(name: "emotiond_fps", help: "Processed frames per second over the last second.")
        faces = registry.makeGauge(name: "emotiond_faces", help: "Faces in the last processed frame.")
        mqttQueue = registry.makeGauge(name: "emotiond_mqtt_queue_length", help: "MQTT messages waiting for the broker.")
        mqttReconnects = registry.makeGauge(name: "emotiond_mqtt_reconnects", help: "MQTT reconnections since start.")
        mqttDropped = registry.makeGauge(name: "emotiond_mqtt_dropped", help: "MQTT messages dropped from the full queue (oldest first).")
        mqttConnected = registry.makeGauge(name: "emotiond_mqtt_connected", help: "1 when connected to the broker.")
        let buckets: [Double] = [0.5, 1, 2, 5, 10, 20, 33, 50, 100, 250, 1000]
        var st: [String: ValueHistogram] = [:]
        for s in ["decode", "detect", "preprocess", "infer", "track", "total"] {
            st[s] = registry.makeValueHistogram(name: "emotiond_stage_latency_ms", labels: [("stage", s)], buckets: buckets,
                                                help: "Per-frame latency of each pipeline stage, milliseconds.")
        }
        stages = st
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

    /// One failed MQTT connection attempt; `reason` is one of a few fixed words (see MQTTFailure).
    public func recordMQTTConnectFailure(reason: String) {
        registry.makeCounter(name: "emotiond_mqtt_connect_failures_total", labels: [("reason", reason)],
                             help: "Failed MQTT connection attempts, by reason.").increment()
    }

    /// The publisher whose state the MQTT gauges show, read at each scrape (so they stay current
    /// even while the frame loop waits for a stalled source); replaced on reload.
    public func watch(_ publisher: MQTTPublisher?) { lock.lock(); watched = publisher; lock.unlock() }
    private let lock = NSLock()
    private var watched: MQTTPublisher?

    /// The exposition text, with the MQTT gauges refreshed.
    public func render() -> [UInt8] {
        lock.lock(); let p = watched; lock.unlock()
        if let p { mqtt(queue: p.queued, reconnects: p.reconnects, dropped: p.dropped, connected: p.isConnected) }
        return registry.emitToBuffer()
    }

    public func mqtt(queue: Int, reconnects: Int, dropped d: Int, connected: Bool) {
        mqttQueue.set(Double(queue)); mqttReconnects.set(Double(reconnects)); mqttDropped.set(Double(d)); mqttConnected.set(Double(connected ? 1 : 0))
    }
}

/// Serves GET /metrics on one TCP address.
///
/// Hand-written on purpose: a single read-only endpoint on loopback does not justify
/// pulling an HTTP server stack (SwiftNIO) into the daemon's build and start-up. It
/// answers one request per connection and closes it; anything else gets 404/405.
/// Each connection is served on its own thread with a deadline, so idle or slow clients
/// never hold up a scrape; at most `maxConnections` at once (more get 503 at once).
public final class MetricsServer: @unchecked Sendable {
    private let fd: Int32
    private let metrics: DaemonMetrics
    public let address: String
    public static let maxConnections = 64
    /// How long a client has to send its request line and headers.
    public static let requestTimeout = 2.0
    private let lock = NSLock()
    private var active = 0, stopped = false
    private let exited = DispatchSemaphore(value: 0)

    public init(listen: String, metrics: DaemonMetrics) throws {
        self.metrics = metrics
        address = listen
        let parts = listen.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else {
            throw SinkError.cannotCreate(path: listen, reason: "expected HOST:PORT")
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, String(parts[0]), &addr.sin_addr) == 1 else {
            throw SinkError.cannotCreate(path: listen, reason: "invalid IPv4 address")
        }
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0, Glibc.listen(fd, 64) == 0 else {
            let why = String(cString: strerror(errno)); close(fd)
            throw SinkError.cannotCreate(path: "metrics endpoint \(listen)", reason: why)
        }
        Thread.detachNewThread { [self] in self.serve() }
    }

    /// Stops listening and frees the address (for a reload that moves the endpoint); returns once
    /// the port is closed. Connections being answered finish on their own threads.
    public func stop() {
        lock.lock(); let was = stopped; stopped = true; lock.unlock()
        if was { return }
        shutdown(fd, Int32(SHUT_RDWR))   // wakes accept(2)
        _ = exited.wait(timeout: .now() + 2)
    }

    private func serve() {
        while true {
            let c = accept(fd, nil, nil)
            lock.lock(); let stop = stopped; lock.unlock()
            if stop { if c >= 0 { close(c) }; break }
            // Out of descriptors and the like: back off instead of giving up the endpoint.
            if c < 0 { if errno != EINTR { usleep(50_000) }; continue }
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            lock.lock()
            let admit = active < Self.maxConnections
            if admit { active += 1 }
            lock.unlock()
            guard admit else {
                respond(c, "503 Service Unavailable", "text/plain", Array("too many connections\n".utf8)); close(c)
                continue
            }
            Thread.detachNewThread { [self] in
                self.handle(c)
                close(c)
                self.lock.lock(); self.active -= 1; self.lock.unlock()
            }
        }
        close(fd)
        exited.signal()
    }

    private func handle(_ c: Int32) {
        var tv = timeval(tv_sec: 2, tv_usec: 0)   // a client that stops reading cannot hold the thread
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let line = requestLine(c)
        if line.hasPrefix("GET /metrics ") || line == "GET /metrics" {
            respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics.render())
        } else if line.hasPrefix("GET ") {
            respond(c, "404 Not Found", "text/plain", Array("see /metrics\n".utf8))
        } else if !line.isEmpty {
            respond(c, "405 Method Not Allowed", "text/plain", Array("GET only\n".utf8))
        }
    }

    /// Reads until the end of the headers (or 8 KiB, or the deadline); the first line, "" if none came.
    private func requestLine(_ c: Int32) -> String {
        let deadline = Date().addingTimeInterval(Self.requestTimeout)
        var req: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 2048)
        while req.count < 8192 {
            let left = Int32(deadline.timeIntervalSinceNow * 1000)
            var p = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&p, 1, left) == 1 else { break }
            let n = recv(c, &buf, buf.count, 0)
            if n <= 0 { break }
            req += buf[0..<n]
            if req.count >= 4, req.suffix(4) == [13, 10, 13, 10] { break }
        }
        let text = String(decoding: req, as: UTF8.self)
        return text.split(separator: "\r\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
    }

    private func respond(_ c: Int32, _ status: String, _ type: String, _ body: [UInt8]) {
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\n"
            + "Connection: close\r\n\r\n"
        for part in [Array(head.utf8), body] {
            var off = 0
            while off < part.count {
                let n = part[off...].withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return }
                off += n
            }
        }
    }
}
