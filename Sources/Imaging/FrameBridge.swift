import CVBridge
import EmotionCore

/// A new `count`-byte buffer written by a bridge call (no zero fill: the call writes every byte).
func bridgeBuffer(_ count: Int, _ operation: @autoclosure () -> String,
                  _ fill: (UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<cvb_error>) -> Int32) throws -> [UInt8] {
    guard count > 0 else { return [] }
    return try [UInt8](unsafeUninitializedCapacity: count) { bp, initialized in
        try cvCall(operation()) { fill(bp.baseAddress!, $0) }
        initialized = count
    }
}

extension Frame {
    /// Copies a bridge image into a Swift-owned frame (without a gray plane: see `addingGrayPlane`).
    public init(image img: cvb_image, format: PixelFormat, index: Int = 0, mediaTime: Double = 0) {
        let n = Int(img.stride) * Int(img.height)
        let pixels = Array(UnsafeBufferPointer(start: img.data, count: n))
        self.init(width: Int(img.width), height: Int(img.height), format: format, pixels: pixels, index: index, mediaTime: mediaTime)
    }

    /// Runs `body` with a borrowed, read-only bridge view of the pixels (no copy), optionally
    /// of a region (clamped to the frame; the view shares the frame's row stride).
    public func withBridgeImage<R>(region: FaceBox? = nil, _ body: (UnsafePointer<cvb_image>) throws -> R) rethrows -> R {
        try Self.view(pixels, width, height, channels: format.channels, region: region, body)
    }

    /// The same view of the gray plane (detection, face crops); of the colour pixels when the frame
    /// has none, which the bridge then converts, as it did for every frame before planes existed.
    public func withBridgeGray<R>(region: FaceBox? = nil, _ body: (UnsafePointer<cvb_image>) throws -> R) rethrows -> R {
        guard let gray else { return try withBridgeImage(region: region, body) }
        return try Self.view(gray, width, height, channels: 1, region: region, body)
    }

    private static func view<R>(_ buffer: [UInt8], _ width: Int, _ height: Int, channels ch: Int, region: FaceBox?,
                                _ body: (UnsafePointer<cvb_image>) throws -> R) rethrows -> R {
        try buffer.withUnsafeBufferPointer { bp in
            let stride = width * ch
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
    /// This frame with its gray plane: when it has none, one BGR → gray conversion (OpenCV's, the
    /// one detection and the crops each ran before, so decoded files give the same pixels).
    public func addingGrayPlane() throws -> Frame {
        guard gray == nil else { return self }
        var f = self
        f.gray = try withBridgeImage { img in try bridgeBuffer(width * height, "convert to gray") { cvb_to_gray(img, $0, $1) } }
        return f
    }

    /// This frame with BGR pixels: a gray8 frame (a camera nothing asked colour of) expanded, its
    /// gray plane kept; a bgr8 frame as it is. For drawing on a frame that may have no colour.
    public func withBGRPixels() throws -> Frame {
        guard format == .gray8 else { return self }
        var f = self
        f.pixels = try pixels.withUnsafeBufferPointer { src in
            try bridgeBuffer(width * height * 3, "convert gray to BGR") {
                cvb_gray_to_bgr(src.baseAddress, Int32(width), Int32(height), width, $0, $1)
            }
        }
        f.format = .bgr8
        return f
    }

    /// Resized copy (INTER_AREA when shrinking), with its gray plane made from the resized pixels.
    public func resized(width w: Int, height h: Int) throws -> Frame {
        var out = cvb_image()
        try withBridgeImage { src in
            try cvCall("resize to \(w)×\(h)") { cvb_resize(src, Int32(w), Int32(h), &out, $0) }
        }
        defer { cvb_image_free(&out) }
        return try Frame(image: out, format: format, index: index, mediaTime: mediaTime).addingGrayPlane()
    }
}
