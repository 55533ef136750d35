import CVBridge
import EmotionCore

/// Still images decoded by OpenCV's imgcodecs (PNG, JPEG, BMP, ...).
public enum ImageFile {
    /// Decodes `path` into a frame (gray8 or bgr8).
    public static func load(_ path: String, format: PixelFormat = .bgr8) throws -> Frame {
        var img = cvb_image()
        try cvCall("cannot read image \(path)") { cvb_imread(path, Int32(format.channels), &img, $0) }
        defer { cvb_image_free(&img) }
        return Frame(image: img, format: format)
    }

    public static var openCVVersion: String { String(cString: cvb_version()) }
    public static func setOpenCVThreads(_ n: Int) { cvb_set_num_threads(Int32(n)) }
}

extension Frame {
    /// Copies a bridge image into a Swift-owned frame.
    public init(image img: cvb_image, format: PixelFormat, index: Int = 0, mediaTime: Double = 0) {
        let n = Int(img.stride) * Int(img.height)
        let pixels = Array(UnsafeBufferPointer(start: img.data, count: n))
        self.init(width: Int(img.width), height: Int(img.height), format: format, pixels: pixels, index: index, mediaTime: mediaTime)
    }

    /// Runs `body` with a borrowed, read-only bridge view of the pixels (no copy), optionally
    /// of a region (clamped to the frame; the view shares the frame's row stride).
    public func withBridgeImage<R>(region: FaceBox? = nil, _ body: (UnsafePointer<cvb_image>) throws -> R) rethrows -> R {
        try pixels.withUnsafeBufferPointer { bp in
            let ch = format.channels, stride = width * ch
            var x0 = 0, y0 = 0, w = width, h = height
            if let r = region {
                x0 = max(0, min(r.x, width)); y0 = max(0, min(r.y, height))
                w = max(0, min(r.x + r.width, width) - x0); h = max(0, min(r.y + r.height, height) - y0)
            }
            let base = UnsafeMutablePointer(mutating: bp.baseAddress).map { $0 + y0 * stride + x0 * ch }
            var img = cvb_image(width: Int32(w), height: Int32(h), channels: Int32(ch), stride: stride, data: base)
            return try body(&img)
        }
    }
}

extension Frame {
    /// Resized copy (INTER_AREA when shrinking).
    public func resized(width w: Int, height h: Int) throws -> Frame {
        var out = cvb_image()
        try withBridgeImage { src in
            try cvCall("resize to \(w)×\(h)") { cvb_resize(src, Int32(w), Int32(h), &out, $0) }
        }
        defer { cvb_image_free(&out) }
        return Frame(image: out, format: format, index: index, mediaTime: mediaTime)
    }
}
