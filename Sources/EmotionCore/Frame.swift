/// An axis-aligned face box in frame pixel coordinates.
public struct FaceBox: Equatable, Codable, Sendable {
    public var x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }
    public var area: Int { max(0, width) * max(0, height) }

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
    public var format: PixelFormat
    public var pixels: [UInt8]
    /// Index of the frame in its source (0-based).
    public var index: Int
    /// Media time in seconds from the start of the source.
    public var mediaTime: Double

    public init(width: Int, height: Int, format: PixelFormat, pixels: [UInt8], index: Int = 0, mediaTime: Double = 0) {
        self.width = width; self.height = height; self.format = format
        self.pixels = pixels; self.index = index; self.mediaTime = mediaTime
    }
}

/// The result of emotion inference on one face.
public struct FaceResult: Codable, Sendable {
    public var box: FaceBox
    public var scores: EmotionScores
    public init(box: FaceBox, scores: EmotionScores) { self.box = box; self.scores = scores }
}

/// Everything the pipeline knows about one frame.
public struct FrameResult: Codable, Sendable {
    public var frameIndex: Int
    public var mediaTime: Double
    public var faces: [FaceResult]
    public init(frameIndex: Int, mediaTime: Double, faces: [FaceResult]) {
        self.frameIndex = frameIndex; self.mediaTime = mediaTime; self.faces = faces
    }
}
