import Detection
import Foundation
import Pipeline
import Yams

/// The emotiond configuration (YAML). Every key is documented in config/emotiond.yaml.
public struct EmotiondConfig: Equatable, Sendable {
    public struct Camera: Equatable, Sendable {
        public var name = "default"
        public var device: String? = "/dev/video0"
        /// A video file instead of a camera, paced at its native frame rate.
        public var source: String? = nil
        public var width = 640
        public var height = 480
        public var fps = 30
        public var format = "auto"   // auto | yuyv | mjpeg | grey
        public var buffers = 4
        public var timeout = 5.0     // seconds without a frame before a stall is reported
    }
    public struct Model: Equatable, Sendable {
        public var path: String? = nil
        public var flipTTA = false
        public var cropMargin: Double? = nil
    }
    public struct Log: Equatable, Sendable {
        public var path: String? = nil
        public var maxBytes = 100 << 20
        public var keep = 5
        /// Flush after every line ("line") or every N lines (number).
        public var flushEvery = 1
    }
    public struct MQTT: Equatable, Sendable {
        public var enabled = false
        public var host = "127.0.0.1"
        public var port = 1883
        public var topicPrefix = "emotiond"
        public var clientID = "emotiond"
        public var qos = 1
        public var username: String? = nil
        public var password: String? = nil
        public var caFile: String? = nil
        public var certFile: String? = nil
        public var keyFile: String? = nil
        public var keepalive = 30
        public var queueSize = 1000
    }
    public struct Metrics: Equatable, Sendable {
        public var listen: String? = nil   // "127.0.0.1:9464"
    }
    public var camera = Camera()
    public var detector = DetectorConfig()
    public var fullDetectEvery = 25
    public var model = Model()
    public var tracking = TrackerConfig()
    /// Events (and state) below this smoothed confidence are not published.
    public var minConfidence = 0.0
    public var log = Log()
    public var mqtt = MQTT()
    public var metrics = Metrics()
    /// Directory for annotated snapshots on new/change events. nil (default): no frame or
    /// face image is ever written anywhere.
    public var snapshotDir: String? = nil
    /// Where each key was set: dotted key → (file, line), for semantic errors found later.
    public var origin: [String: Int] = [:]
    public var file = ""

    /// A located error for a key of this configuration.
    public func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, key: key, line: origin[key] ?? 0, message: message)
    }

    public init() {}
}

/// A configuration problem, located by file, key and line.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let key: String
    public let line: Int
    public let message: String
    public var description: String { "\(file)\(line > 0 ? ":\(line)" : ""): \(key.isEmpty ? "" : "\(key): ")\(message)" }
    public init(file: String, key: String, line: Int, message: String) {
        self.file = file; self.key = key; self.line = line; self.message = message
    }
}

/// Reads and validates the YAML configuration. Unknown keys are errors.
public enum ConfigLoader {
    public static func load(path: String) throws -> EmotiondConfig {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError(file: path, key: "", line: 0, message: FileManager.default.fileExists(atPath: path) ? "cannot read file (permission denied or not UTF-8)" : "no such file")
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws -> EmotiondConfig {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch let e as YamlError {
            throw ConfigError(file: file, key: "", line: yamlErrorLine(e), message: "YAML syntax error: \(yamlErrorSummary(e))")
        } catch {
            throw ConfigError(file: file, key: "", line: 0, message: "YAML syntax error: \(error)")
        }
        var c = EmotiondConfig()
        c.file = file
        guard let root = node else { return c }   // empty file: all defaults
        let r = Reader(file: file)
        defer { c.origin = r.lines }
        try r.mapping(root, "") { key, v, path in
            switch key {
            case "camera":
                try r.mapping(v, path) { k, v, p in
                    switch k {
                    case "name": c.camera.name = try r.string(v, p, pattern: "^[A-Za-z0-9_-]+$")
                    case "device": c.camera.device = try r.optionalString(v, p)
                    case "source": c.camera.source = try r.optionalString(v, p)
                    case "width": c.camera.width = try r.int(v, p, 16...8192)
                    case "height": c.camera.height = try r.int(v, p, 16...8192)
                    case "fps": c.camera.fps = try r.int(v, p, 1...240)
                    case "format": c.camera.format = try r.choice(v, p, ["auto", "yuyv", "mjpeg", "grey"])
                    case "buffers": c.camera.buffers = try r.int(v, p, 2...32)
                    case "timeout": c.camera.timeout = try r.double(v, p, 0.1...600)
                    default: throw r.unknown(v, p)
                    }
                }
            case "detector":
                try r.mapping(v, path) { k, v, p in
                    switch k {
                    case "kind": c.detector.kind = DetectorConfig.Kind(rawValue: try r.choice(v, p, ["haar", "lbp"]))!
                    case "cascade": c.detector.cascade = try r.optionalString(v, p)
                    case "scale": c.detector.scale = try r.double(v, p, 0.05...1)
                    case "scale_factor": c.detector.scaleFactor = try r.double(v, p, 1.01...2)
                    case "min_neighbors": c.detector.minNeighbors = try r.int(v, p, 0...50)
                    case "min_size": c.detector.minSize = try r.int(v, p, 0...4096)
                    case "max_size": c.detector.maxSize = try r.int(v, p, 0...8192)
                    case "full_detect_every": c.fullDetectEvery = try r.int(v, p, 1...1000)
                    default: throw r.unknown(v, p)
                    }
                }
            case "model":
                try r.mapping(v, path) { k, v, p in
                    switch k {
                    case "path": c.model.path = try r.optionalString(v, p)
                    case "flip_tta": c.model.flipTTA = try r.bool(v, p)
                    case "crop_margin": c.model.cropMargin = try r.isNull(v) ? nil : r.double(v, p, 0...1)
                    default: throw r.unknown(v, p)
                    }
                }
            case "tracking":
                try r.mapping(v, path) { k, v, p in
                    switch k {
                    case "iou_threshold": c.tracking.iouThreshold = try r.double(v, p, 0.01...1)
                    case "max_age": c.tracking.maxAge = try r.int(v, p, 0...10000)
                    case "ema_alpha": c.tracking.emaAlpha = try r.double(v, p, 0.001...1)
                    case "debounce": c.tracking.debounce = try r.int(v, p, 1...1000)
                    case "min_hits": c.tracking.minHits = try r.int(v, p, 1...1000)
                    default: throw r.unknown(v, p)
                    }
                }
            case "thresholds":
                try r.mapping(v, path) { k, v, p in
                    switch k {
                    case "min_confidence": c.minConfidence = try r.double(v, p, 0...1)
                    default: throw r.unknown(v, p)
                    }
                }
            case "outputs":
                try r.mapping(v, path) { k, v, p in
                    switch k {
                    case "log":
                        try r.mapping(v, p) { k, v, p in
                            switch k {
                            case "path": c.log.path = try r.optionalString(v, p)
                            case "max_bytes": c.log.maxBytes = try r.int(v, p, 4096...(1 << 40))
                            case "keep": c.log.keep = try r.int(v, p, 0...1000)
                            case "flush_every": c.log.flushEvery = try r.int(v, p, 1...100_000)
                            default: throw r.unknown(v, p)
                            }
                        }
                    case "mqtt":
                        try r.mapping(v, p) { k, v, p in
                            switch k {
                            case "enabled": c.mqtt.enabled = try r.bool(v, p)
                            case "host": c.mqtt.host = try r.string(v, p)
                            case "port": c.mqtt.port = try r.int(v, p, 1...65535)
                            case "topic_prefix": c.mqtt.topicPrefix = try r.string(v, p, pattern: "^[^#+]+$")
                            case "client_id": c.mqtt.clientID = try r.string(v, p)
                            case "qos": c.mqtt.qos = try r.int(v, p, 0...2)
                            case "username": c.mqtt.username = try r.optionalString(v, p)
                            case "password": c.mqtt.password = try r.optionalString(v, p)
                            case "ca_file": c.mqtt.caFile = try r.optionalString(v, p)
                            case "cert_file": c.mqtt.certFile = try r.optionalString(v, p)
                            case "key_file": c.mqtt.keyFile = try r.optionalString(v, p)
                            case "keepalive": c.mqtt.keepalive = try r.int(v, p, 5...3600)
                            case "queue_size": c.mqtt.queueSize = try r.int(v, p, 1...1_000_000)
                            default: throw r.unknown(v, p)
                            }
                        }
                    case "metrics":
                        try r.mapping(v, p) { k, v, p in
                            switch k {
                            case "listen": c.metrics.listen = try r.optionalString(v, p, pattern: "^[0-9.]+:[0-9]+$")
                            default: throw r.unknown(v, p)
                            }
                        }
                    default: throw r.unknown(v, p)
                    }
                }
            case "privacy":
                try r.mapping(v, path) { k, v, p in
                    switch k {
                    case "snapshot_dir": c.snapshotDir = try r.optionalString(v, p)
                    default: throw r.unknown(v, p)
                    }
                }
            default: throw r.unknown(v, path)
            }
        }
        c.origin = r.lines
        return c
    }

    static func yamlErrorLine(_ e: YamlError) -> Int {
        switch e {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _): return mark.line
        default: return 0
        }
    }

    static func yamlErrorSummary(_ e: YamlError) -> String {
        switch e {
        case let .scanner(_, problem, _, _), let .parser(_, problem, _, _), let .composer(_, problem, _, _): return problem
        default: return "\(e)"
        }
    }
}

/// Typed access to YAML nodes with located errors.
final class Reader {
    let file: String
    var lines: [String: Int] = [:]
    init(file: String) { self.file = file }

    func line(_ n: Node) -> Int { n.mark?.line ?? 0 }
    func err(_ n: Node, _ key: String, _ msg: String) -> ConfigError { ConfigError(file: file, key: key, line: line(n), message: msg) }
    func unknown(_ n: Node, _ key: String) -> ConfigError { err(n, key, "unknown key") }

    func mapping(_ n: Node, _ path: String, _ body: (String, Node, String) throws -> Void) throws {
        guard case let .mapping(m) = n else { throw err(n, path, "expected a mapping (key: value lines)") }
        var seen = Set<String>()
        for (k, v) in m {
            guard case let .scalar(s) = k else { throw err(k, path, "keys must be plain strings") }
            let p = path.isEmpty ? s.string : "\(path).\(s.string)"
            guard seen.insert(s.string).inserted else { throw err(k, p, "duplicate key") }
            lines[p] = line(k)
            do { try body(s.string, v, p) } catch var e as ConfigError where e.line == 0 {
                e = ConfigError(file: e.file, key: e.key, line: line(k), message: e.message); throw e
            }
        }
    }

    func isNull(_ n: Node) -> Bool {
        if case let .scalar(s) = n { return s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string) }
        return false
    }

    func scalar(_ n: Node, _ key: String) throws -> Node.Scalar {
        guard case let .scalar(s) = n else { throw err(n, key, "expected a single value") }
        return s
    }

    func string(_ n: Node, _ key: String, pattern: String? = nil) throws -> String {
        let s = try scalar(n, key)
        if isNull(n) { throw err(n, key, "must not be empty") }
        if let pattern, s.string.range(of: pattern, options: .regularExpression) == nil { throw err(n, key, "invalid value '\(s.string)'") }
        return s.string
    }

    func optionalString(_ n: Node, _ key: String, pattern: String? = nil) throws -> String? {
        isNull(n) ? nil : try string(n, key, pattern: pattern)
    }

    func int(_ n: Node, _ key: String, _ range: ClosedRange<Int>) throws -> Int {
        let s = try scalar(n, key)
        guard s.style == .plain, let v = Int(s.string.replacingOccurrences(of: "_", with: "")) else { throw err(n, key, "expected an integer, got '\(s.string)'") }
        guard range.contains(v) else { throw err(n, key, "\(v) is out of range \(range.lowerBound)...\(range.upperBound)") }
        return v
    }

    func double(_ n: Node, _ key: String, _ range: ClosedRange<Double>) throws -> Double {
        let s = try scalar(n, key)
        guard s.style == .plain, let v = Double(s.string), v.isFinite else { throw err(n, key, "expected a number, got '\(s.string)'") }
        guard range.contains(v) else { throw err(n, key, "\(v) is out of range \(range.lowerBound)...\(range.upperBound)") }
        return v
    }

    func bool(_ n: Node, _ key: String) throws -> Bool {
        let s = try scalar(n, key)
        switch s.string {
        case "true", "True", "TRUE", "yes", "on": return true
        case "false", "False", "FALSE", "no", "off": return false
        default: throw err(n, key, "expected true or false, got '\(s.string)'")
        }
    }

    func choice(_ n: Node, _ key: String, _ options: [String]) throws -> String {
        let v = try string(n, key)
        guard options.contains(v) else { throw err(n, key, "must be one of \(options.joined(separator: ", ")), got '\(v)'") }
        return v
    }
}
