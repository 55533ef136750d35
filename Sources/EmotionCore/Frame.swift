/// An axis-aligned face box in frame pixel coordinates.
public struct FaceBox: Equatable, Codable, Sendable {
    public var x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }
    public var area: Int { max(0, width) * max(0, height) }

    /// This box with a border of `fraction` × its longer side on every side.
    public func grown(by fraction: Double) -> FaceBox {
        let pad = Int(Double(max(width, height)) * fraction)
        return FaceBox(x: x - pad, y: y - pad, width: width + 2 * pad, height: height + 2 * pad)
    }

    /// Whether the centre of `o` lies inside this box.
    public func contains(centreOf o: FaceBox) -> Bool {
        let cx = o.x + o.width / 2, cy = o.y + o.height / 2
        return cx >= x && cx < x + width && cy >= y && cy < y + height
    }

    /// Intersection over union with another box (0 when disjoint).
    public func iou(_ o: FaceBox) -> Double {
        let ix = max(0, min(x + width, o.x + o.width) - max(x, o.x))
        let iy = max(0, min(y + height, o.y + o.height) - max(y, o.y))
        let inter = ix * iy
        let union = area + o.area - inter
        return union > 0 ? Double(inter) / Double(union) : 0
    }
}

/// Pixel layout of a frame buffer.
public enum PixelFormat: String, Codable, Sendable {
    case gray8, bgr8
    public var channels: Int { self == .gray8 ? 1 : 3 }
}

/// One decoded video frame. Pixels are owned by the frame (tightly packed rows).
public struct Frame: Sendable {
    public var width: Int
    public var height: Int
    /// `pixels`' layout: bgr8 for what is shown, drawn or encoded; gray8 when the source produced
    /// no colour (a camera nothing asked colour of, a still decoded as gray).
    public var format: PixelFormat
    public var pixels: [UInt8]
    /// The gray plane (width × height bytes, rows packed): what detection and the face crops read.
    /// Frame sources (Capture) make it once, from what they have: a YUYV camera's Y bytes, a GREY
    /// camera's plane, one BGR → gray conversion for decoded files. Before, each consumer converted
    /// BGR again: the crops the whole frame, detection each region it searched. For a gray8 frame
    /// it is `pixels` (the same storage). nil when the frame was built without it (tests, tools);
    /// consumers then convert `pixels`, as before. Drawing on `pixels` leaves it as captured.
    public var gray: [UInt8]?
    /// Index of the frame in its source (0-based).
    public var index: Int
    /// Media time in seconds from the start of the source.
    public var mediaTime: Double

    public init(width: Int, height: Int, format: PixelFormat, pixels: [UInt8], gray: [UInt8]? = nil,
                index: Int = 0, mediaTime: Double = 0) {
        precondition(gray.map { $0.count == width * height } ?? true, "gray plane must be width × height bytes")
        self.width = width; self.height = height; self.format = format
        self.pixels = pixels; self.index = index; self.mediaTime = mediaTime
        self.gray = gray ?? (format == .gray8 ? pixels : nil)
    }
}

/// Per-stage latency of one frame, in milliseconds.
public struct StageLatency: Codable, Sendable, Equatable {
    public var decode: Double = 0
    public var detect: Double = 0
    public var preprocess: Double = 0
    public var infer: Double = 0
    public var track: Double = 0
    public var total: Double = 0
    public init() {}
}

/// One face in one frame, after tracking and smoothing.
public struct TrackedFace: Codable, Sendable {
    public var track: Int
    public var box: FaceBox
    /// Top class of the smoothed scores (what consumers act on) and its probability.
    public var label: String
    public var confidence: Float
    /// Top class of this frame's raw scores.
    public var rawLabel: String
    public var scores: [String: Float]
    public var smoothed: [String: Float]

    enum CodingKeys: String, CodingKey { case track, box, label, confidence, rawLabel = "raw_label", scores, smoothed }

    public init(track: Int, box: FaceBox, raw: EmotionScores, smoothed: EmotionScores) {
        self.track = track
        self.box = box
        let s = smoothed.top, r = raw.top
        label = s.label.name; confidence = s.confidence; rawLabel = r.label.name
        scores = raw.byName
        self.smoothed = smoothed.byName
    }
}

/// One line of the NDJSON log (schema: schemas/frame.schema.json), shared by every mode.
public struct FrameResult: Codable, Sendable {
    public var schema = FrameResult.schemaVersion
    /// Version 2: labels and score keys are the model's (version 1: always the seven FER2013 ones).
    public static let schemaVersion = "emotiond.frame/2"
    /// Wall-clock time the frame was processed, ISO 8601 UTC with milliseconds.
    public var timestamp: String
    /// Position in the source, seconds.
    public var mediaTime: Double
    public var frame: Int
    public var source: String
    public var width: Int
    public var height: Int
    public var faces: [TrackedFace]
    public var latencyMs: StageLatency

    enum CodingKeys: String, CodingKey { case schema, timestamp, mediaTime = "media_time", frame, source, width, height, faces, latencyMs = "latency_ms" }

    public init(timestamp: String, mediaTime: Double, frame: Int, source: String, width: Int, height: Int, faces: [TrackedFace], latencyMs: StageLatency) {
        self.timestamp = timestamp; self.mediaTime = mediaTime; self.frame = frame; self.source = source
        self.width = width; self.height = height; self.faces = faces; self.latencyMs = latencyMs
    }
}

/// A per-track emotion event (Frigate style; schema: schemas/event.schema.json): a face appeared
/// (`new`), its label changed (`change`), or it left (`end`). Every event of one track carries the
/// same `id`, unique across runs; `after` is the track as it is now and `before` the track as its
/// previous event reported it (absent on `new`), so a consumer can diff the two like Frigate's.
/// `label`, `confidence` and `scores` repeat `after`'s, as version 1 carried them at the top.
public struct TrackEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case new, change, end }

    /// A track at one moment: the `before` and `after` objects.
    public struct Snapshot: Codable, Sendable, Equatable {
        /// The track's label (hysteresis applied) and its smoothed probability.
        public var label: String
        public var confidence: Float
        /// Smoothed scores of the model's classes.
        public var scores: [String: Float]
        /// The face's last detected box.
        public var box: FaceBox
        /// Media time the face was first and last detected, seconds.
        public var firstSeen: Double
        public var lastSeen: Double
        /// Media and wall-clock time of this snapshot (the frame of the event that reported it).
        public var mediaTime: Double
        public var timestamp: String

        enum CodingKeys: String, CodingKey {
            case label, confidence, scores, box, firstSeen = "first_seen", lastSeen = "last_seen", mediaTime = "media_time", timestamp
        }

        public init(label: String, confidence: Float, scores: [String: Float], box: FaceBox, firstSeen: Double,
                    lastSeen: Double, mediaTime: Double, timestamp: String) {
            self.label = label; self.confidence = confidence; self.scores = scores; self.box = box
            self.firstSeen = firstSeen; self.lastSeen = lastSeen; self.mediaTime = mediaTime; self.timestamp = timestamp
        }
    }

    public var schema = TrackEvent.schemaVersion
    /// Version 3: labels and score keys are the model's (version 2: always the seven FER2013 ones).
    public static let schemaVersion = "emotiond.event/3"
    public var id: String
    public var type: Kind
    public var track: Int
    public var before: Snapshot?
    public var after: Snapshot
    public var label: String
    public var confidence: Float
    public var scores: [String: Float]
    public var mediaTime: Double
    public var timestamp: String
    public var source: String

    enum CodingKeys: String, CodingKey {
        case schema, id, type, track, before, after, label, confidence, scores, mediaTime = "media_time", timestamp, source
    }

    public init(id: String, type: Kind, track: Int, before: Snapshot?, after: Snapshot,
                mediaTime: Double, timestamp: String, source: String) {
        self.id = id; self.type = type; self.track = track; self.before = before; self.after = after
        label = after.label; confidence = after.confidence; scores = after.scores
        self.mediaTime = mediaTime; self.timestamp = timestamp; self.source = source
    }
}
