import CVBridge
import EmotionCore

/// A camera buffer (V4L2 pixel formats) as frame planes: the gray plane straight from the
/// format, BGR only when asked for. Rows are packed (YUYV: width × 2 bytes).
public enum CameraPixels {
    /// YUYV's gray plane: its Y bytes, mapped from video range to full range as OpenCV's YUV → BGR
    /// does (cvb_yuyv_to_gray), instead of YUYV → BGR → gray: ~0.1 ms per 640×480 frame for ~0.45.
    public static func yuyvGray(_ src: UnsafePointer<UInt8>, width: Int, height: Int) throws -> [UInt8] {
        try bridgeBuffer(width * height, "decode") {
            cvb_yuyv_to_gray(src, Int32(width), Int32(height), width * 2, $0, $1)
        }
    }

    public static func yuyvBGR(_ src: UnsafePointer<UInt8>, width: Int, height: Int) throws -> [UInt8] {
        try bridgeBuffer(width * height * 3, "decode") {
            cvb_yuyv_to_bgr(src, Int32(width), Int32(height), width * 2, $0, $1)
        }
    }

    public static func grayBGR(_ src: UnsafePointer<UInt8>, width: Int, height: Int) throws -> [UInt8] {
        try bridgeBuffer(width * height * 3, "decode") {
            cvb_gray_to_bgr(src, Int32(width), Int32(height), width, $0, $1)
        }
    }

    /// An MJPEG frame that must be width × height, as `format` (gray8 skips decoding chroma).
    /// Throws on corrupt data ("corrupt JPEG frame (...)").
    public static func decodeJPEG(_ src: UnsafePointer<UInt8>, count: Int, width: Int, height: Int,
                                  format: PixelFormat) throws -> [UInt8] {
        try bridgeBuffer(width * height * format.channels, "decode") {
            cvb_decode_jpeg(src, count, Int32(width), Int32(height), Int32(format.channels), $0, $1)
        }
    }
}
