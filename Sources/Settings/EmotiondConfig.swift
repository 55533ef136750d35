import Foundation

/// The one configuration model of emotiond (Frigate's typed config): every section's settings,
/// defaults and ranges (`Limits`) are defined here once and handed as they are to the component
/// that uses them — the camera to `V4L2Camera`, `detector` to `CascadeDetector`, `tracking` to
/// `Tracker`, `outputs.mqtt` to `MQTTPublisher`. The YAML reader (module Config) and the command
/// line options (module emotiond) both fill this model. Every key is documented in
/// config/emotiond.yaml.
public struct EmotiondConfig: Equatable, Sendable {
    public struct Camera: Equatable, Sendable {
        public var name = "default"
        /// The V4L2 device (used when `source` is unset).
        public var device = Camera.defaultDevice
        public static let defaultDevice = "/dev/video0"
        /// A video file instead of a camera, paced at its native frame rate, or a network stream
        /// (rtsp, rtsps, http, https URL: see `SourceLocation`), reopened with backoff when lost.
        public var source: String? = nil
        public var width = 640
        public var height = 480
        public var fps = 30
        public var format = "auto"   // one of `formats`
        public static let formats = ["auto", "yuyv", "mjpeg", "grey"]
        public var buffers = 4
        public var timeout = 5.0     // seconds without a frame before a stall is reported
        /// Network sources: RTSP transport ("tcp" crosses NAT and loses no packets; "udp").
        public var rtspTransport = "tcp"
        /// Network sources: seconds allowed to connect and read the stream's header, and
        /// seconds without data before the stream counts as lost (OpenCV's FFmpeg timeouts).
        public var openTimeout = 10.0
        public var readTimeout = 5.0
        /// Network sources: the first wait before reopening a lost stream, doubled after each
        /// failed attempt up to the second.
        public var reconnectDelay = 1.0
        public var reconnectMaxDelay = 30.0
        public init() {}
    }
    public struct Model: Equatable, Sendable {
        /// Empty: the default model; several: an ensemble (probabilities averaged per face).
        public var paths: [String] = []
        /// Flip TTA on or off; nil: what the model declares (`tta` metadata).
        public var flipTTA: Bool? = nil
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
        /// Inline password, or (after the start checks) the contents of `passwordFile`.
        public var password: String? = nil
        /// File holding the password (read at start and on reload; trailing newlines stripped).
        public var passwordFile: String? = nil
        public var caFile: String? = nil
        public var certFile: String? = nil
        public var keyFile: String? = nil
        public var keepalive = 30
        public var queueSize = 1000
        /// Seconds between refreshes of the retained state while connected (0: only when it changes).
        public var stateInterval = 5.0
        /// Home Assistant MQTT discovery of each camera (sensors and a binary sensor).
        public var homeAssistant = true
        public var discoveryPrefix = "homeassistant"
        public init() {}

        /// Whether `other` can use the same connection: the keys only the MQTT sink reads (state
        /// refresh, discovery) do not need a new one, so a reload changing them keeps the
        /// connection, its queue and its retained "online".
        public func sameConnection(as other: MQTT) -> Bool {
            func connection(_ m: MQTT) -> MQTT {
                var m = m
                m.stateInterval = 0; m.homeAssistant = false; m.discoveryPrefix = ""
                return m
            }
            return connection(self) == connection(other)
        }
    }
    public struct Metrics: Equatable, Sendable {
        /// "HOST:PORT" as written; the start checks resolve it to a numeric "IPv4:PORT".
        public var listen: String? = nil
    }
    /// The HTTP server (web page, JSON API, live view, events; /metrics too). Off unless `listen`
    /// is set: no frame leaves the process otherwise.
    public struct HTTP: Equatable, Sendable {
        /// "HOST:PORT" as written; the start checks resolve it to a numeric "IPv4:PORT".
        public var listen: String? = nil
        /// When set, every request must carry it: `Authorization: Bearer TOKEN`, or basic auth
        /// with TOKEN as the password (what a browser's login prompt sends).
        public var token: String? = nil
        /// File holding the token (read at start; `$CREDENTIALS_DIRECTORY` as for the MQTT password).
        public var tokenFile: String? = nil
        /// Frame-rate cap of the MJPEG live view (frames encoded per second while someone watches).
        public var mjpegFPS = 5
        /// JPEG quality of the live view and snapshots.
        public var jpegQuality = 80
    }
    public var http = HTTP()
    /// Track events kept in SQLite for GET /api/events; off unless `path` is set.
    public struct History: Equatable, Sendable {
        public var path: String? = nil
        /// Events older than this are deleted (at start and once an hour).
        public var keepDays = 30
        /// The cap on the file (database and WAL, MiB): the oldest events go while over it; nil: no cap.
        public var maxMB: Int? = nil
    }
    public var history = History()
    /// A notice when a face has shown one of `labels` for `sustainedSeconds` (0: off), once per
    /// stretch: to SSE subscribers (`event: notice`) and MQTT (`<prefix>/<camera>/notices`).
    public struct Notices: Equatable, Sendable {
        public var sustainedSeconds = 0.0
        public var labels = ["angry", "fear", "sad"]
    }
    public var notices = Notices()
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
    /// Where each key was set: dotted key → line, for semantic errors found later.
    public var origin: [String: Int] = [:]
    /// Keys as the file wrote them, where they differ from this model's (a camera of the
    /// `cameras:` map: `camera.source` → `cameras.door.source`), so errors name the line to edit.
    public var writtenKeys: [String: String] = [:]
    public var file = ""

    /// A located error for a key of this configuration.
    public func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, key: writtenKeys[key] ?? key, line: origin[key] ?? 0, message: message)
    }

    /// The `cameras:` map (name → its settings), in file order; empty: the one `camera`.
    public var cameras: [CameraEntry] = []

    /// What one camera of a daemon may set for itself; the rest (model, MQTT connection, HTTP
    /// server, history) is shared by all. Each field starts as the top level's value.
    public struct CameraEntry: Equatable, Sendable {
        public var camera: Camera
        public var detector: DetectorConfig
        public var fullDetectEvery: Int
        public var tracking: TrackerConfig
        public var minConfidence: Double
        public var log: Log
        /// This entry's keys in the model's names (`camera.source`) → line, and → key as written.
        public var origin: [String: Int] = [:]
        public var writtenKeys: [String: String] = [:]

        public init(of c: EmotiondConfig) {
            camera = c.camera; detector = c.detector; fullDetectEvery = c.fullDetectEvery
            tracking = c.tracking; minConfidence = c.minConfidence; log = c.log
        }
    }

    /// One configuration per camera the daemon runs: the top level with each camera's own
    /// settings in place (`{camera}` in `outputs.log.path` replaced by its name). Without a
    /// `cameras:` map, the top level alone.
    public var cameraConfigs: [EmotiondConfig] {
        (cameras.isEmpty ? [CameraEntry(of: self)] : cameras).map(resolved)
    }

    /// `log.path` may name each camera's file: `/var/log/emotiond/{camera}.ndjson`.
    public static let cameraPlaceholder = "{camera}"

    func resolved(_ e: CameraEntry) -> EmotiondConfig {
        var c = self
        c.cameras = []
        c.camera = e.camera; c.detector = e.detector; c.fullDetectEvery = e.fullDetectEvery
        c.tracking = e.tracking; c.minConfidence = e.minConfidence; c.log = e.log
        c.log.path = e.log.path?.replacingOccurrences(of: Self.cameraPlaceholder, with: e.camera.name)
        c.origin.merge(e.origin) { $1 }
        c.writtenKeys.merge(e.writtenKeys) { $1 }
        return c
    }

    /// Equal settings, wherever they were written (line numbers and key spellings aside): a
    /// reload leaves a camera whose settings did not change alone.
    public func sameSettings(as other: EmotiondConfig) -> Bool {
        func bare(_ c: EmotiondConfig) -> EmotiondConfig {
            var c = c
            c.origin = [:]; c.writtenKeys = [:]; c.file = ""
            c.cameras = c.cameras.map { var e = $0; e.origin = [:]; e.writtenKeys = [:]; return e }
            return c
        }
        return bare(self) == bare(other)
    }

    public init() {}
}

/// A configuration problem, located by file, key and line.
public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    public let key: String
    public let line: Int
    public let message: String
    public var description: String {
        "\(file)\(line > 0 ? ":\(line)" : ""): \(key.isEmpty ? "" : "\(key): ")\(message)"
    }
    public init(file: String, key: String, line: Int, message: String) {
        self.file = file; self.key = key; self.line = line; self.message = message
    }
}

/// Every problem found in one configuration file, reported together (sorted by line).
public struct ConfigErrors: Error, CustomStringConvertible, Equatable, Sendable {
    public let errors: [ConfigError]
    public init(_ errors: [ConfigError]) {
        // By line; problems with no line (a default value, e.g. the absent /dev/video0) last.
        func key(_ e: ConfigError) -> Int { e.line > 0 ? e.line : Int.max }
        self.errors = errors.enumerated()
            .sorted { (key($0.element), $0.offset) < (key($1.element), $1.offset) }.map(\.element)
    }
    /// Problems listed in full; a file of thousands of bad keys is summarised after these.
    public static let shown = 50

    /// One problem: its line. Several: a count, then one located line each.
    public var description: String {
        if errors.count == 1 { return errors[0].description }
        let head = "\(errors.first?.file ?? "configuration"): \(errors.count) problems"
        let more = errors.count > Self.shown ? ["... and \(errors.count - Self.shown) more"] : []
        return ([head] + errors.prefix(Self.shown).map(\.description) + more).joined(separator: "\n")
    }
}
