import CVBridge
import EmotionCore
import Foundation
import Imaging
import Settings

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
    /// The next frame, with its gray plane (`Frame.gray`); nil at the end of the stream.
    func next() throws -> Frame?
    /// Skips the next frame cheaply (no full decode); false at the end.
    func skip() throws -> Bool
}

/// A recorded video decoded by OpenCV/FFmpeg, streamed frame by frame (never loaded whole), or a
/// network stream (RTSP, HTTP) through the same backend. Audio streams are ignored.
public final class VideoFile: FrameSource {
    /// The path, or the URL with its credentials redacted (this is what logs and outputs show).
    public let name: String
    /// An rtsp/rtsps/http/https source (`init(url:settings:)`): opening and reads are bounded by
    /// timeouts, and its loss is something to reconnect from rather than the end of the run.
    public let isNetwork: Bool
    public let fps: Double
    public let frameCount: Int?
    public let width: Int, height: Int
    private var handle: OpaquePointer?
    private var index = 0
    /// Frames read so far.
    public var framesRead: Int { index }
    /// A network stream with no known length (a camera): it never ends on its own, is not paced
    /// (frames arrive in real time) and its end means it was lost. An HTTP recording is not live.
    public var isLive: Bool { isNetwork && frameCount == nil }

    /// Latest container timestamp of a frame read or skipped, in seconds. The maximum, because
    /// OpenCV 4.6 reports 0 for the frames the decoder still holds at the end (B-frame delay).
    public private(set) var lastPosition = 0.0

    /// Refuses what is not a readable regular file (FFmpeg would block on a FIFO or read a device forever).
    public static func checkInput(_ path: String) throws {
        try InputFile.check(path, operation: "cannot open video \(path)")
    }

    /// `stream`: a FIFO or character device is a legitimate live stream (the daemon and `live` read
    /// it on a thread they can abandon, so a stalled writer cannot hang them); batch and the
    /// benchmarks, which would block on one, keep refusing everything but regular files.
    public init(path: String, stream: Bool = false) throws {
        if !(stream && Self.isStream(path)) { try Self.checkInput(path) }
        var info = cvb_video_info()
        var err = cvb_error()
        guard let h = cvb_video_open(path, &info, &err) else { throw CVError("cannot open video \(path)", err) }
        (handle, name, isNetwork) = (h, path, false)
        (fps, frameCount, width, height) = Self.describe(info)
    }

    /// A network stream (rtsp, rtsps, http, https), with `settings`' open/read timeouts and RTSP
    /// transport. Errors name the URL with its credentials redacted.
    public init(url: String, settings: CameraSettings) throws {
        let shown = Credentials.redactURL(url)
        var info = cvb_video_info(), err = cvb_error()
        let ffmpeg = "rtsp_transport;\(settings.rtspTransport)"
        let h = ffmpeg.withCString { opts -> OpaquePointer? in
            var o = cvb_stream_options(open_timeout_ms: Self.ms(settings.openTimeout),
                                       read_timeout_ms: Self.ms(settings.readTimeout), ffmpeg_options: opts)
            return cvb_video_open_stream(url, &o, &info, &err)
        }
        guard let h else { throw Self.redacted(CVError("cannot open stream \(shown)", err)) }
        (handle, name, isNetwork) = (h, shown, true)
        (fps, frameCount, width, height) = Self.describe(info)
    }

    /// A file path, `file://` URL or network URL, as `camera.source` and `--source` take it.
    /// `stream`: FIFOs and character devices are accepted as streams (see `init(path:stream:)`).
    public static func open(source: String, settings: CameraSettings, stream: Bool = true) throws -> VideoFile {
        let location: SourceLocation
        do { location = try SourceLocation.parse(source) } catch {
            throw CVError(operation: "cannot open video", message: "\(error)")
        }
        switch location {
        case let .path(p): return try VideoFile(path: p, stream: stream)
        case let .network(u): return try VideoFile(url: u, settings: settings)
        }
    }

    static func describe(_ info: cvb_video_info) -> (Double, Int?, Int, Int) {
        (info.fps.isFinite && info.fps > 0 ? info.fps : 0, info.frame_count > 0 ? Int(info.frame_count) : nil,
         Int(info.width), Int(info.height))
    }

    static func ms(_ seconds: Double) -> Int32 { Int32(min(max(seconds * 1000, 1), Double(Int32.max)).rounded()) }

    /// FFmpeg's reasons may quote a URL: they pass through the redaction too.
    static func redacted(_ e: CVError) -> CVError {
        CVError(operation: e.operation, message: Credentials.redact(e.message))
    }

    /// A FIFO or character device (a URL or regular file is not).
    public static func isStream(_ path: String) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        return st.st_mode & S_IFMT == S_IFIFO || st.st_mode & S_IFMT == S_IFCHR
    }

    deinit { if let handle { cvb_video_close(handle) } }

    public func next() throws -> Frame? {
        guard let handle else { return nil }
        var img = cvb_image(), pos = 0.0, err = cvb_error()
        let r = cvb_video_read(handle, &img, &pos, &err)
        if r < 0 {
            let e = CVError(isNetwork ? "\(name) broke after \(index) frames" : "cannot decode frame \(index) of \(name)", err)
            throw Self.redacted(e)
        }
        if r == 0 { return nil }
        let t = fps > 0 ? Double(index) / fps : pos / 1000
        lastPosition = max(lastPosition, pos / 1000)
        // Bridge buffer is reused by the next read: copy into the frame. Its gray plane is made here,
        // once, for detection and the crops (each converted the BGR frame or region before).
        let f = try Frame(image: img, format: .bgr8, index: index, mediaTime: t).addingGrayPlane()
        index += 1
        return f
    }

    public func skip() throws -> Bool {
        guard let handle else { return false }
        var err = cvb_error()
        let ok = cvb_video_skip(handle, &err) == 1
        if ok { index += 1; lastPosition = max(lastPosition, cvb_video_position_ms(handle) / 1000) }
        return ok
    }

    /// Whether a stream that ended after `frames` frames stopped well short of the container's length.
    /// Without a stored count (MKV, WebM) the container's figure is duration × nominal fps, which a
    /// variable-frame-rate file never reaches; its timestamps do reach the duration, a cut file's do not.
    public func endedEarly(frames: Int) -> Bool {
        guard let expected = frameCount, frames < expected * 9 / 10 else { return false }
        guard fps > 0, lastPosition > 0 else { return true }
        let duration = Double(expected) / fps
        return lastPosition + 1 / fps < duration * 0.9
    }
}
