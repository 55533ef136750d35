/// Allowed ranges of the settings, shared by the YAML reader and the command-line options
/// (`--detect-scale` is `detector.scale`, and so on) so both accept exactly the same values.
public enum Limits {
    public static let width = 16...8192
    public static let height = 16...8192
    public static let fps = 1...240
    public static let buffers = 2...32
    public static let cameraTimeout = 0.1...600.0
    /// Network sources' open and read timeouts (OpenCV takes whole milliseconds).
    public static let streamTimeout = 0.1...600.0
    public static let reconnectDelay = 0.1...3600.0
    public static let rtspTransports = ["tcp", "udp"]
    public static let detectScale = 0.05...1.0
    public static let scaleFactor = 1.01...2.0
    public static let minNeighbors = 0...50
    public static let minSize = 0...4096
    public static let maxSize = 0...8192
    public static let fullDetectEvery = 1...1000
    /// Frames a batch full-frame pass may lag behind (at most one detection interval).
    public static let lookBehind = 0...1000
    public static let cropMargin = 0.0...1.0
    public static let iouThreshold = 0.01...1.0
    public static let maxAge = 0...10000
    public static let emaAlpha = 0.001...1.0
    public static let debounce = 1...1000
    /// Probability lead a new label needs for a `change`, and for how long (seconds of media time).
    public static let changeMargin = 0.0...1.0
    public static let changeDwell = 0.0...3600.0
    public static let minHits = 1...1000
    public static let minConfidence = 0.0...1.0
    public static let logMaxBytes = 4096...(1 << 40)
    public static let logKeep = 0...1000
    public static let flushEvery = 1...100_000
    public static let port = 1...65535
    public static let qos = 0...2
    public static let mjpegFPS = 1...30
    public static let historyKeepDays = 1...3650
    /// `history.max_mb`: 1 MiB to 1 TiB.
    public static let historyMaxMB = 1...1_048_576
    public static let sustainedSeconds = 0.0...86400.0
    public static let jpegQuality = 10...100
    public static let keepalive = 5...3600
    public static let queueSize = 1...1_000_000
    /// Seconds between refreshes of the retained MQTT state (0: only when it changes).
    public static let stateInterval = 0.0...86400.0
    /// `batch --max-fps` (frames per second of video kept).
    public static let maxFPS = 0.01...1000.0
    /// OpenCV worker threads (0: OpenCV's default). Far beyond any core count; 100000 crashed
    /// inside libtbbmalloc.
    public static let cvThreads = 0...256
    /// The largest configuration file and its deepest nesting, checked before YAML parsing:
    /// the YAML composer recurses once per level and a few thousand levels overflow the stack.
    public static let configBytes = 1 << 20
    public static let configDepth = 64

    /// "must be an integer in 1...240, got -3" (the range is the allowed form).
    public static func check(_ name: String, _ v: Int, _ r: ClosedRange<Int>) -> String? {
        r.contains(v) ? nil : "\(name) must be an integer in \(r.lowerBound)...\(r.upperBound), got \(v)"
    }

    public static func check(_ name: String, _ v: Double, _ r: ClosedRange<Double>) -> String? {
        r.contains(v) ? nil : "\(name) must be a number in \(fmt(r.lowerBound))...\(fmt(r.upperBound)), got \(v)"
    }

    public static func fmt(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : "\(d)"
    }
}
