import Detection
import Foundation
import Settings
import Yams

/// Every key of the configuration file: where it goes and what it accepts.
enum Schema {
    typealias Setter = (Reader, Node, String, inout EmotiondConfig) throws -> Void
    enum Entry { case value(Setter), section([Field]) }
    struct Field {
        let name: String
        let entry: Entry
        init(_ name: String, _ entry: Entry) { self.name = name; self.entry = entry }
    }

    static let cameraName = StringForm(pattern: "^[A-Za-z0-9_-]{1,64}$", maxBytes: 64,
                                       allowed: "1-64 letters, digits, '_' or '-'")
    /// MQTT topics are at most 65,535 bytes: the prefix plus "/<camera>/events" must fit.
    static let topicPrefix = StringForm(pattern: "^[^#+]+$", maxBytes: 65000,
                                        allowed: "1-65000 bytes without '#', '+' or control characters")
    /// Home Assistant's discovery prefix: one or more topic levels, far below the topic limit.
    static let discoveryPrefix = StringForm(pattern: "^[^#+]+$", maxBytes: 1000,
                                            allowed: "1-1000 bytes without '#', '+' or control characters")
    static let mqttHost = StringForm(maxBytes: 253, allowed: "a hostname, an IPv4 address or an IPv6 address (no brackets)",
                                     accept: { HostPort.validHost($0, bracketsForIPv6: false) })
    static let listen = StringForm(maxBytes: 300, allowed: "HOST:PORT with PORT in 1...65535 and HOST an IPv4 address "
                                   + "(127.0.0.1), an IPv6 address in brackets ([::1]) or a hostname (localhost)",
                                   accept: { HostPort(listen: $0) != nil })

    /// Sent in an Authorization header: printable ASCII without spaces or ':' (basic auth splits on it).
    static let httpToken = StringForm(pattern: "^[!-9;-~]{8,256}$", maxBytes: 256,
                                      allowed: "8-256 printable ASCII characters without spaces or ':'")

    static let labelList = StringForm(
        pattern: "^(angry|disgust|fear|happy|sad|surprise|neutral)(,(angry|disgust|fear|happy|sad|surprise|neutral))*$",
        maxBytes: 200, allowed: "comma-separated labels (angry, disgust, fear, happy, sad, surprise, neutral), no spaces")

    static let source = StringForm(allowed: "a file path or an rtsp, rtsps, http, https or file URL "
                                   + "(at most 4095 bytes, no control characters)")

    static let root: [Field] = [
        Field("camera", .section([
            Field("name", .value { r, n, p, c in c.camera.name = try r.string(n, p, cameraName) }),
        ] + cameraFields)),
        // Read by ConfigLoader.cameras after the rest (each entry starts from the top level's values).
        Field("cameras", .value { _, _, _, _ in }),
        Field("detector", .section(detectorFields)),
        Field("model", .section([
            // A string, or a list of paths: an ensemble.
            Field("path", .value { r, n, p, c in c.model.paths = try r.pathList(n, p) }),
            Field("tta", .value { r, n, p, c in
                let v = try r.choice(n, p, ["model", "none", "flip"])
                c.model.flipTTA = v == "model" ? nil : v == "flip"
            }),
            // Older name: true is `tta: flip`, false is `tta: none`.
            Field("flip_tta", .value { r, n, p, c in c.model.flipTTA = try r.bool(n, p) }),
            Field("crop_margin", .value { r, n, p, c in
                c.model.cropMargin = r.isNull(n) ? nil : try r.double(n, p, Limits.cropMargin)
            }),
        ])),
        Field("tracking", .section(trackingFields)),
        Field("thresholds", .section(thresholdFields)),
        Field("outputs", .section([
            Field("log", .section(log)),
            Field("mqtt", .section(mqtt)),
            Field("metrics", .section([
                Field("listen", .value { r, n, p, c in c.metrics.listen = try r.optionalString(n, p, listen) }),
            ])),
        ])),
        Field("http", .section([
            Field("listen", .value { r, n, p, c in c.http.listen = try r.optionalString(n, p, listen) }),
            Field("token", .value { r, n, p, c in c.http.token = try r.optionalString(n, p, httpToken) }),
            Field("token_file", .value { r, n, p, c in c.http.tokenFile = try r.optionalString(n, p) }),
            Field("mjpeg_fps", .value { r, n, p, c in c.http.mjpegFPS = try r.int(n, p, Limits.mjpegFPS) }),
            Field("jpeg_quality", .value { r, n, p, c in c.http.jpegQuality = try r.int(n, p, Limits.jpegQuality) }),
        ])),
        Field("history", .section([
            Field("path", .value { r, n, p, c in c.history.path = try r.optionalString(n, p) }),
            Field("keep_days", .value { r, n, p, c in c.history.keepDays = try r.int(n, p, Limits.historyKeepDays) }),
            Field("max_mb", .value { r, n, p, c in c.history.maxMB = try r.optionalInt(n, p, Limits.historyMaxMB, null: "no cap") }),
        ])),
        Field("notices", .section([
            Field("sustained_seconds", .value { r, n, p, c in c.notices.sustainedSeconds = try r.double(n, p, Limits.sustainedSeconds) }),
            Field("labels", .value { r, n, p, c in
                c.notices.labels = try r.string(n, p, labelList).split(separator: ",").map(String.init)
            }),
        ])),
        Field("privacy", .section([
            Field("snapshot_dir", .value { r, n, p, c in c.snapshotDir = try r.optionalString(n, p) }),
        ])),
    ]

    /// The `camera` keys a camera of the `cameras:` map sets directly (its name is its key).
    static let cameraFields: [Field] = [
        Field("device", .value { r, n, p, c in c.camera.device = try r.optionalString(n, p) ?? EmotiondConfig.Camera.defaultDevice }),
        Field("source", .value { r, n, p, c in c.camera.source = try r.optionalString(n, p, source) }),
        Field("width", .value { r, n, p, c in c.camera.width = try r.int(n, p, Limits.width) }),
        Field("height", .value { r, n, p, c in c.camera.height = try r.int(n, p, Limits.height) }),
        Field("fps", .value { r, n, p, c in c.camera.fps = try r.int(n, p, Limits.fps) }),
        Field("format", .value { r, n, p, c in c.camera.format = try r.choice(n, p, EmotiondConfig.Camera.formats) }),
        Field("buffers", .value { r, n, p, c in c.camera.buffers = try r.int(n, p, Limits.buffers) }),
        Field("timeout", .value { r, n, p, c in c.camera.timeout = try r.double(n, p, Limits.cameraTimeout) }),
        Field("rtsp_transport", .value { r, n, p, c in c.camera.rtspTransport = try r.choice(n, p, Limits.rtspTransports) }),
        Field("open_timeout", .value { r, n, p, c in c.camera.openTimeout = try r.double(n, p, Limits.streamTimeout) }),
        Field("read_timeout", .value { r, n, p, c in c.camera.readTimeout = try r.double(n, p, Limits.streamTimeout) }),
        Field("reconnect_delay", .value { r, n, p, c in c.camera.reconnectDelay = try r.double(n, p, Limits.reconnectDelay) }),
        Field("reconnect_max_delay", .value { r, n, p, c in
            c.camera.reconnectMaxDelay = try r.double(n, p, Limits.reconnectDelay)
        }),
    ]

    static let detectorFields: [Field] = [
        Field("kind", .value { r, n, p, c in c.detector.kind = .init(rawValue: try r.choice(n, p, ["haar", "lbp"]))! }),
        Field("cascade", .value { r, n, p, c in c.detector.cascade = try r.optionalString(n, p) }),
        Field("scale", .value { r, n, p, c in c.detector.scale = try r.double(n, p, Limits.detectScale) }),
        Field("scale_factor", .value { r, n, p, c in c.detector.scaleFactor = try r.double(n, p, Limits.scaleFactor) }),
        Field("min_neighbors", .value { r, n, p, c in c.detector.minNeighbors = try r.int(n, p, Limits.minNeighbors) }),
        Field("min_size", .value { r, n, p, c in c.detector.minSize = try r.int(n, p, Limits.minSize) }),
        Field("max_size", .value { r, n, p, c in c.detector.maxSize = try r.int(n, p, Limits.maxSize) }),
        Field("profile", .value { r, n, p, c in c.detector.profile = try r.bool(n, p) }),
        Field("full_detect_every", .value { r, n, p, c in c.fullDetectEvery = try r.int(n, p, Limits.fullDetectEvery) }),
    ]

    static let trackingFields: [Field] = [
        Field("iou_threshold", .value { r, n, p, c in
            c.tracking.iouThreshold = try r.double(n, p, Limits.iouThreshold)
        }),
        Field("max_age", .value { r, n, p, c in c.tracking.maxAge = try r.int(n, p, Limits.maxAge) }),
        Field("ema_alpha", .value { r, n, p, c in c.tracking.emaAlpha = try r.double(n, p, Limits.emaAlpha) }),
        Field("change_margin", .value { r, n, p, c in c.tracking.changeMargin = try r.double(n, p, Limits.changeMargin) }),
        Field("change_dwell", .value { r, n, p, c in c.tracking.changeDwell = try r.double(n, p, Limits.changeDwell) }),
        Field("debounce", .value { r, n, p, c in c.tracking.debounce = try r.int(n, p, Limits.debounce) }),
        Field("min_hits", .value { r, n, p, c in c.tracking.minHits = try r.int(n, p, Limits.minHits) }),
    ]

    static let thresholdFields: [Field] = [
        Field("min_confidence", .value { r, n, p, c in c.minConfidence = try r.double(n, p, Limits.minConfidence) }),
    ]

    /// One camera of the `cameras:` map: its source or device and the settings a camera may
    /// have of its own (detector, tracking, thresholds, its NDJSON log).
    static let cameraEntry: [Field] = cameraFields + [
        Field("detector", .section(detectorFields)),
        Field("tracking", .section(trackingFields)),
        Field("thresholds", .section(thresholdFields)),
        Field("outputs", .section([Field("log", .section(log))])),
    ]

    static let log: [Field] = [
        Field("path", .value { r, n, p, c in c.log.path = try r.optionalString(n, p) }),
        Field("max_bytes", .value { r, n, p, c in c.log.maxBytes = try r.int(n, p, Limits.logMaxBytes) }),
        Field("keep", .value { r, n, p, c in c.log.keep = try r.int(n, p, Limits.logKeep) }),
        Field("flush_every", .value { r, n, p, c in c.log.flushEvery = try r.int(n, p, Limits.flushEvery) }),
    ]

    static let mqtt: [Field] = [
        Field("enabled", .value { r, n, p, c in c.mqtt.enabled = try r.bool(n, p) }),
        Field("host", .value { r, n, p, c in c.mqtt.host = try r.string(n, p, mqttHost) }),
        Field("port", .value { r, n, p, c in c.mqtt.port = try r.int(n, p, Limits.port) }),
        Field("topic_prefix", .value { r, n, p, c in c.mqtt.topicPrefix = try r.string(n, p, topicPrefix) }),
        Field("client_id", .value { r, n, p, c in c.mqtt.clientID = try r.string(n, p, .text) }),
        Field("qos", .value { r, n, p, c in c.mqtt.qos = try r.int(n, p, Limits.qos) }),
        Field("username", .value { r, n, p, c in c.mqtt.username = try r.optionalString(n, p, .text) }),
        Field("password", .value { r, n, p, c in c.mqtt.password = try r.optionalString(n, p, .text) }),
        Field("password_file", .value { r, n, p, c in c.mqtt.passwordFile = try r.optionalString(n, p) }),
        Field("ca_file", .value { r, n, p, c in c.mqtt.caFile = try r.optionalString(n, p) }),
        Field("cert_file", .value { r, n, p, c in c.mqtt.certFile = try r.optionalString(n, p) }),
        Field("key_file", .value { r, n, p, c in c.mqtt.keyFile = try r.optionalString(n, p) }),
        Field("keepalive", .value { r, n, p, c in c.mqtt.keepalive = try r.int(n, p, Limits.keepalive) }),
        Field("queue_size", .value { r, n, p, c in c.mqtt.queueSize = try r.int(n, p, Limits.queueSize) }),
        Field("state_interval", .value { r, n, p, c in c.mqtt.stateInterval = try r.double(n, p, Limits.stateInterval) }),
        Field("homeassistant", .value { r, n, p, c in c.mqtt.homeAssistant = try r.bool(n, p) }),
        Field("discovery_prefix", .value { r, n, p, c in c.mqtt.discoveryPrefix = try r.string(n, p, discoveryPrefix) }),
    ]

    /// Every dotted key path, for "it belongs under ..." hints.
    static let allPaths: [String] = {
        func paths(_ es: [Field], _ prefix: String) -> [String] {
            es.flatMap { f -> [String] in
                let p = prefix.isEmpty ? f.name : "\(prefix).\(f.name)"
                if case let .section(sub) = f.entry { return [p] + paths(sub, p) }
                return [p]
            }
        }
        return paths(root, "")
    }()

    /// "unknown key" plus the likeliest intended key: a near spelling here, the same name in
    /// another section, or else the list of keys allowed here.
    static func unknownKeyMessage(_ name: String, in path: String, _ entries: [Field]) -> String {
        let here = entries.map(\.name)
        if let s = closest(name, here) { return "unknown key (did you mean '\(s)'?)" }
        let norm = normalized(name)
        if let other = allPaths.first(where: { normalized(String($0.split(separator: ".").last!)) == norm }) {
            return "unknown key here (did you mean '\(other)'?)"
        }
        return "unknown key (allowed\(path.isEmpty ? "" : " in \(path)"): \(here.joined(separator: ", ")))"
    }

    static func normalized(_ s: String) -> String { s.lowercased().replacingOccurrences(of: "-", with: "_") }

    /// The candidate within a small edit distance (about one typo per three letters).
    static func closest(_ name: String, _ candidates: [String]) -> String? {
        let n = Array(normalized(name).unicodeScalars)
        guard n.count <= 64 else { return nil }
        let limit = max(1, n.count / 3)
        let scored = candidates.map { ($0, editDistance(n, Array($0.unicodeScalars))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= limit else { return nil }
        return best.0
    }

    /// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
    /// two adjacent letters ("fsp" → "fps" is one edit).
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count]
    }
}

/// A "HOST:PORT" endpoint: IPv4 (127.0.0.1:9464), bracketed IPv6 ([::1]:9464) or a hostname.
public struct HostPort: Equatable, Sendable {
    public enum Kind: Sendable { case ipv4, ipv6, hostname }
    public let host: String
    public let port: Int
    public let kind: Kind

    public init?(listen s: String) {
        let hostPart: Substring, portPart: Substring
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]"), s[s.index(after: close)...].hasPrefix(":") else { return nil }
            hostPart = s[s.index(after: s.startIndex)..<close]
            portPart = s[s.index(close, offsetBy: 2)...]
            guard Self.isIPv6(String(hostPart)) else { return nil }
            kind = .ipv6
        } else {
            guard let colon = s.lastIndex(of: ":") else { return nil }
            hostPart = s[..<colon]; portPart = s[s.index(after: colon)...]
            guard Self.validHost(String(hostPart), bracketsForIPv6: true) else { return nil }
            kind = Self.isIPv4(String(hostPart)) ? .ipv4 : .hostname
        }
        guard portPart.allSatisfy(\.isASCII), let p = Int(portPart), Limits.port.contains(p) else { return nil }
        host = String(hostPart); port = p
    }

    static func isIPv4(_ s: String) -> Bool { var a = in_addr(); return inet_pton(AF_INET, s, &a) == 1 }
    static func isIPv6(_ s: String) -> Bool { var a = in6_addr(); return inet_pton(AF_INET6, s, &a) == 1 }

    /// A hostname (RFC 1123 labels) or an IP address. Dotted all-digit names must be real IPv4
    /// addresses (999.1.1.1 is not); an IPv6 address appears bare only where no port follows.
    static func validHost(_ s: String, bracketsForIPv6: Bool) -> Bool {
        if s.contains(":") { return !bracketsForIPv6 && isIPv6(s) }
        let labels = s.split(separator: ".", omittingEmptySubsequences: false)
        if labels.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) { return isIPv4(s) }
        let label = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
        return s.utf8.count <= 253 && s.range(of: "^\(label)(\\.\(label))*\\.?$", options: .regularExpression) != nil
    }
}
