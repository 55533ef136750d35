import EmotionCore
import Foundation
import Glibc
import Prometheus

/// Daemon metrics in the Prometheus text format (swift-prometheus registry).
public final class DaemonMetrics: @unchecked Sendable {
    public let registry = PrometheusCollectorRegistry()
    let frames: Counter, dropped: Counter, errors: Counter
    let fps: Gauge, faces: Gauge, mqttQueue: Gauge, mqttReconnects: Gauge, mqttDropped: Gauge, mqttConnected: Gauge
    let stages: [String: ValueHistogram]

    public init() {
        frames = registry.makeCounter(name: "emotiond_frames_processed_total", help: "Frames run through the pipeline.")
        dropped = registry.makeCounter(name: "emotiond_frames_dropped_total", help: "Frames the source delivered that were not processed (capture overrun or skipped).")
        errors = registry.makeCounter(name: "emotiond_frame_errors_total", help: "Frames skipped because processing failed.")
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
    public func recordDropped(_ n: Int) { if n > 0 { dropped.increment(by: Int64(n)) } }
    public func setFPS(_ v: Double) { fps.set(v) }
    public func mqtt(queue: Int, reconnects: Int, dropped d: Int, connected: Bool) {
        mqttQueue.set(Double(queue)); mqttReconnects.set(Double(reconnects)); mqttDropped.set(Double(d)); mqttConnected.set(Double(connected ? 1 : 0))
    }
}

/// Serves GET /metrics on one TCP address.
///
/// Hand-written on purpose: a single read-only endpoint on loopback does not justify
/// pulling an HTTP server stack (SwiftNIO) into the daemon's build and start-up. It
/// answers one request per connection and closes it; anything else gets 404/405.
public final class MetricsServer: @unchecked Sendable {
    private let fd: Int32
    private let metrics: DaemonMetrics
    public let address: String

    public init(listen: String, metrics: DaemonMetrics) throws {
        self.metrics = metrics
        address = listen
        let parts = listen.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else { throw SinkError.cannotCreate(path: listen, reason: "expected HOST:PORT") }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, String(parts[0]), &addr.sin_addr) == 1 else { throw SinkError.cannotCreate(path: listen, reason: "invalid IPv4 address") }
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0, Glibc.listen(fd, 16) == 0 else {
            let why = String(cString: strerror(errno)); close(fd)
            throw SinkError.cannotCreate(path: "metrics endpoint \(listen)", reason: why)
        }
        Thread.detachNewThread { [self] in self.serve() }
    }

    deinit { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }

    private func serve() {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { if errno == EINTR { continue }; return }
            var tv = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var buf = [UInt8](repeating: 0, count: 2048)
            let n = recv(c, &buf, buf.count, 0)
            let req = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : ""
            let line = req.split(separator: "\r\n").first.map(String.init) ?? ""
            let (status, type, body): (String, String, [UInt8])
            if line.hasPrefix("GET /metrics ") || line == "GET /metrics" {
                status = "200 OK"; type = "text/plain; version=0.0.4; charset=utf-8"; body = metrics.registry.emitToBuffer()
            } else if line.hasPrefix("GET ") {
                status = "404 Not Found"; type = "text/plain"; body = Array("see /metrics\n".utf8)
            } else {
                status = "405 Method Not Allowed"; type = "text/plain"; body = Array("GET only\n".utf8)
            }
            let head = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
            _ = Array(head.utf8).withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            _ = body.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            close(c)
        }
    }
}
