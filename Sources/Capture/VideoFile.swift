import CVBridge
import EmotionCore
import Foundation

/// Anything that yields frames: video files, still images, V4L2 cameras.
public protocol FrameSource: AnyObject {
    /// Human-readable source name (path or device) used in logs.
    var name: String { get }
    /// Nominal frames per second (0 if unknown).
    var fps: Double { get }
    /// Frame count if known in advance.
    var frameCount: Int? { get }
    var width: Int { get }
    var height: Int { get }
    /// The next frame, nil at the end of the stream.
    func next() throws -> Frame?
    /// Skips the next frame cheaply (no full decode); false at the end.
    func skip() throws -> Bool
}

/// A recorded video decoded by OpenCV/FFmpeg, streamed frame by frame (never loaded whole).
/// Audio streams are ignored.
public final class VideoFile: FrameSource {
    public let name: String
    public let fps: Double
    public let frameCount: Int?
    public let width: Int, height: Int
    private var handle: OpaquePointer?
    private var index = 0

    public init(path: String) throws {
        var attrsDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &attrsDir), !attrsDir.boolValue else {
            throw CVError(operation: "cannot open video \(path)", message: attrsDir.boolValue ? "is a directory" : "no such file")
        }
        guard FileManager.default.isReadableFile(atPath: path) else { throw CVError(operation: "cannot open video \(path)", message: "permission denied") }
        var info = cvb_video_info()
        var err = cvb_error()
        guard let h = cvb_video_open(path, &info, &err) else { throw CVError("cannot open video \(path)", err) }
        handle = h
        name = path
        fps = info.fps.isFinite && info.fps > 0 ? info.fps : 0
        frameCount = info.frame_count > 0 ? Int(info.frame_count) : nil
        width = Int(info.width); height = Int(info.height)
    }

    deinit { if let handle { cvb_video_close(handle) } }

    public func next() throws -> Frame? {
        guard let handle else { return nil }
        var img = cvb_image(), pos = 0.0, err = cvb_error()
        let r = cvb_video_read(handle, &img, &pos, &err)
        if r < 0 { throw CVError("cannot decode frame \(index) of \(name)", err) }
        if r == 0 { return nil }
        let t = fps > 0 ? Double(index) / fps : pos / 1000
        // Bridge buffer is reused by the next read: copy into the frame.
        let f = Frame(image: img, format: .bgr8, index: index, mediaTime: t)
        index += 1
        return f
    }

    public func skip() throws -> Bool {
        guard let handle else { return false }
        var err = cvb_error()
        let ok = cvb_video_skip(handle, &err) == 1
        if ok { index += 1 }
        return ok
    }
}

extension CVError {
    init(operation: String, message: String) {
        self.operation = operation
        self.message = message
    }
}
