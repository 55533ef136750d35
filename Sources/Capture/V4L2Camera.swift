import CV4L2
import EmotionCore
import Foundation
import Imaging
import Settings

/// The camera section of the one configuration model, as the camera takes it.
public typealias CameraSettings = EmotiondConfig.Camera

/// What a device offers (for `emotiond devices`).
public struct V4L2DeviceInfo: Sendable {
    public var path: String, driver: String, card: String, bus: String
    public var capabilities: [String]
    public struct Format: Sendable { public var fourcc: String; public var description: String; public var sizes: [(Int, Int, [Double])] }
    public var formats: [Format]
}

public enum V4L2Error: Error, CustomStringConvertible, Equatable {
    case open(String, String), notCapture(String), ioctl(String, String, String), noFormat(String, String)
    public var description: String {
        switch self {
        case let .open(d, why): return "cannot open camera \(d): \(why)"
        case let .notCapture(d): return "\(d) is not a video capture device with streaming I/O"
        case let .ioctl(d, op, why): return "\(d): \(op) failed: \(why)"
        case let .noFormat(d, want): return "\(d) offers none of the supported formats (\(want))"
        }
    }
}

/// Counters a capture session keeps (exported as metrics).
public struct CaptureStats: Sendable {
    public var frames = 0, dropped = 0, corrupt = 0, reconnects = 0, timeouts = 0
}

func fourcc(_ v: UInt32) -> String {
    String(decoding: [UInt8(v & 0xff), UInt8((v >> 8) & 0xff), UInt8((v >> 16) & 0xff), UInt8((v >> 24) & 0xff)], as: UTF8.self)
}

private func errstr(_ e: Int32) -> String { String(cString: strerror(e)) }

/// Our own V4L2 capture: ioctl + mmap streaming (through the CV4L2 shim for the macros),
/// format/size/fps negotiation with fallback, poll with timeout, newest-frame delivery with
/// drop counting, and recovery from unplug/EIO/timeouts by reopening with backoff.
public final class V4L2Camera: FrameSource {
    public let settings: CameraSettings
    public var name: String { settings.device }
    public private(set) var fps: Double = 0
    public var frameCount: Int? { nil }
    public private(set) var width = 0, height = 0
    public private(set) var pixelFormat: UInt32 = 0
    public var formatName: String { fourcc(pixelFormat) }
    /// Monotonic time (DispatchTime ns) the last returned frame was dequeued from the driver.
    public private(set) var lastDequeueNanos: UInt64 = 0
    public private(set) var stats = CaptureStats()
    /// Called with a human-readable message on faults that are handled (logged by the caller).
    public var onEvent: ((String) -> Void)?
    /// Polled between waits; when true `next()` returns nil promptly (shutdown).
    public var shouldStop: () -> Bool = { false }
    /// Whether frames carry BGR pixels (live window, annotated snapshots). When off they are gray8,
    /// only the gray plane that detection and the crops read: no YUYV → BGR conversion, no GREY
    /// expansion, no MJPEG chroma decoding. Takes effect from the next frame; any thread may set it.
    public var colour: Bool {
        get { colourLock.lock(); defer { colourLock.unlock() }; return wantsColour }
        set { colourLock.lock(); wantsColour = newValue; colourLock.unlock() }
    }
    private var wantsColour = true
    private let colourLock = NSLock()

    private var fd: Int32 = -1
    private var buffers: [(UnsafeMutableRawPointer, Int)] = []
    private var lastSequence: UInt32? = nil
    private var index = 0
    private let start = Date()

    public init(settings: CameraSettings) throws {
        self.settings = settings
        try openAndStream()
    }

    deinit { closeDevice() }

    // MARK: enumeration

    public static func describe(_ path: String) throws -> V4L2DeviceInfo {
        let fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { let e = errno; throw V4L2Error.open(path, e == EBUSY ? "device busy (another program is using it)" : errstr(e)) }
        defer { close(fd) }
        return try describe(fd: fd, path: path)
    }

    static func describe(fd: Int32, path: String) throws -> V4L2DeviceInfo {
        var cap = v4l2_capability()
        if emo_ioctl(fd, EMO_VIDIOC_QUERYCAP, &cap) != 0 { throw V4L2Error.notCapture(path) }
        func str<T>(_ t: T) -> String { withUnsafeBytes(of: t) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) } }
        let caps = (cap.capabilities & EMO_CAP_DEVICE_CAPS) != 0 ? cap.device_caps : cap.capabilities
        var names: [String] = []
        if caps & EMO_CAP_VIDEO_CAPTURE != 0 { names.append("video-capture") }
        if caps & EMO_CAP_STREAMING != 0 { names.append("streaming") }
        var formats: [V4L2DeviceInfo.Format] = []
        var fi: UInt32 = 0
        while true {
            var d = v4l2_fmtdesc(); d.index = fi; d.type = EMO_BUF_TYPE_VIDEO_CAPTURE
            if emo_ioctl(fd, EMO_VIDIOC_ENUM_FMT, &d) != 0 { break }
            var sizes: [(Int, Int, [Double])] = []
            var si: UInt32 = 0
            while true {
                var s = v4l2_frmsizeenum(); s.index = si; s.pixel_format = d.pixelformat
                if emo_ioctl(fd, EMO_VIDIOC_ENUM_FRAMESIZES, &s) != 0 || s.type != EMO_FRMSIZE_TYPE_DISCRETE { break }
                let w = s.discrete.width, h = s.discrete.height
                var rates: [Double] = []
                var ii: UInt32 = 0
                while true {
                    var iv = v4l2_frmivalenum(); iv.index = ii; iv.pixel_format = d.pixelformat; iv.width = w; iv.height = h
                    if emo_ioctl(fd, EMO_VIDIOC_ENUM_FRAMEINTERVALS, &iv) != 0 || iv.type != EMO_FRMIVAL_TYPE_DISCRETE { break }
                    if iv.discrete.numerator > 0 { rates.append(Double(iv.discrete.denominator) / Double(iv.discrete.numerator)) }
                    ii += 1
                }
                sizes.append((Int(w), Int(h), rates))
                si += 1
            }
            formats.append(.init(fourcc: fourcc(d.pixelformat), description: str(d.description), sizes: sizes))
            fi += 1
        }
        return V4L2DeviceInfo(path: path, driver: str(cap.driver), card: str(cap.card), bus: str(cap.bus_info), capabilities: names, formats: formats)
    }

    // MARK: session

    private func openAndStream() throws {
        let dev = settings.device
        fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            throw V4L2Error.open(dev, e == EBUSY ? "device busy (another program is using it)" : errstr(e))
        }
        do {
            let info = try Self.describe(fd: fd, path: dev)
            guard info.capabilities.contains("video-capture"), info.capabilities.contains("streaming") else { throw V4L2Error.notCapture(dev) }
            // Format preference: the configured one, else YUYV (no decode), MJPEG, GREY.
            let order: [UInt32]
            switch settings.format {
            case "yuyv": order = [EMO_PIX_FMT_YUYV]
            case "mjpeg": order = [EMO_PIX_FMT_MJPEG, EMO_PIX_FMT_JPEG]
            case "grey": order = [EMO_PIX_FMT_GREY]
            default: order = [EMO_PIX_FMT_YUYV, EMO_PIX_FMT_MJPEG, EMO_PIX_FMT_JPEG, EMO_PIX_FMT_GREY]
            }
            guard let chosen = order.first(where: { f in info.formats.contains { $0.fourcc == fourcc(f) } }),
                  let fmt = info.formats.first(where: { $0.fourcc == fourcc(chosen) }) else {
                throw V4L2Error.noFormat(dev, order.map(fourcc).joined(separator: ", "))
            }
            // Nearest offered size to the request (by pixel count), falling back to the request itself.
            let size = fmt.sizes.min { abs($0.0 * $0.1 - settings.width * settings.height) < abs($1.0 * $1.1 - settings.width * settings.height) }
            var f = v4l2_format(); f.type = EMO_BUF_TYPE_VIDEO_CAPTURE
            f.fmt.pix.width = UInt32(size?.0 ?? settings.width); f.fmt.pix.height = UInt32(size?.1 ?? settings.height)
            f.fmt.pix.pixelformat = chosen; f.fmt.pix.field = EMO_FIELD_NONE
            try check(emo_ioctl(fd, EMO_VIDIOC_S_FMT, &f), "VIDIOC_S_FMT")
            width = Int(f.fmt.pix.width); height = Int(f.fmt.pix.height); pixelFormat = f.fmt.pix.pixelformat
            var p = v4l2_streamparm(); p.type = EMO_BUF_TYPE_VIDEO_CAPTURE
            p.parm.capture.timeperframe.numerator = 1; p.parm.capture.timeperframe.denominator = UInt32(settings.fps)
            if emo_ioctl(fd, EMO_VIDIOC_S_PARM, &p) == 0, p.parm.capture.timeperframe.numerator > 0 {
                fps = Double(p.parm.capture.timeperframe.denominator) / Double(p.parm.capture.timeperframe.numerator)
            } else { fps = Double(settings.fps) }
            var req = v4l2_requestbuffers(); req.count = UInt32(settings.buffers); req.type = EMO_BUF_TYPE_VIDEO_CAPTURE; req.memory = EMO_MEMORY_MMAP
            try check(emo_ioctl(fd, EMO_VIDIOC_REQBUFS, &req), "VIDIOC_REQBUFS")
            guard req.count >= 2 else { throw V4L2Error.ioctl(dev, "VIDIOC_REQBUFS", "only \(req.count) buffer(s)") }
            for i in 0..<req.count {
                var b = v4l2_buffer(); b.index = i; b.type = EMO_BUF_TYPE_VIDEO_CAPTURE; b.memory = EMO_MEMORY_MMAP
                try check(emo_ioctl(fd, EMO_VIDIOC_QUERYBUF, &b), "VIDIOC_QUERYBUF")
                let ptr = mmap(nil, Int(b.length), PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(b.m.offset))
                guard let ptr, ptr != MAP_FAILED else { throw V4L2Error.ioctl(dev, "mmap", errstr(errno)) }
                buffers.append((ptr, Int(b.length)))
                try check(emo_ioctl(fd, EMO_VIDIOC_QBUF, &b), "VIDIOC_QBUF")
            }
            var type = Int32(bitPattern: EMO_BUF_TYPE_VIDEO_CAPTURE)
            try check(emo_ioctl(fd, EMO_VIDIOC_STREAMON, &type), "VIDIOC_STREAMON")
            lastSequence = nil
        } catch {
            closeDevice()
            throw error
        }
    }

    private func check(_ rc: Int32, _ op: String) throws {
        if rc != 0 { throw V4L2Error.ioctl(settings.device, op, errstr(-rc)) }
    }

    /// STREAMOFF, munmap every buffer, close. Safe to call twice.
    public func closeDevice() {
        guard fd >= 0 else { return }
        var type = Int32(bitPattern: EMO_BUF_TYPE_VIDEO_CAPTURE)
        _ = emo_ioctl(fd, EMO_VIDIOC_STREAMOFF, &type)
        for (p, n) in buffers { munmap(p, n) }
        buffers.removeAll()
        close(fd)
        fd = -1
    }

    /// Reopens after a fault, with backoff (0.5 s doubling to 5 s); never gives up, returns false on stop.
    private func reconnect(_ why: String) -> Bool {
        onEvent?("\(settings.device): \(why); reopening")
        closeDevice()
        var delay = 0.5
        while !shouldStop() {
            do {
                try openAndStream()
                stats.reconnects += 1
                onEvent?("\(settings.device): streaming again (\(width)x\(height) \(fourcc(pixelFormat)))")
                return true
            } catch {
                let step = 0.05
                var waited = 0.0
                while waited < delay && !shouldStop() { Thread.sleep(forTimeInterval: step); waited += step }
                delay = min(delay * 2, 5)
            }
        }
        return false
    }

    public func skip() throws -> Bool { try next() != nil }

    /// The newest available frame; older queued frames are dropped (and counted). Blocks
    /// until a frame arrives; handles timeouts, unplug, EIO, EINTR/EAGAIN and corrupt MJPEG.
    public func next() throws -> Frame? {
        var waitedSince = Date()
        while !shouldStop() {
            if fd < 0 { guard reconnect("device closed") else { return nil }; waitedSince = Date() }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, 200)
            if r < 0 { if errno == EINTR { continue }; guard reconnect("poll: \(errstr(errno))") else { return nil }; continue }
            if r == 0 {
                if Date().timeIntervalSince(waitedSince) >= settings.timeout {
                    stats.timeouts += 1
                    guard reconnect("no frame for \(settings.timeout) s") else { return nil }
                    waitedSince = Date()
                }
                continue
            }
            if pfd.revents & Int16(POLLERR | POLLHUP) != 0 { guard reconnect("device error (unplugged?)") else { return nil }; continue }
            // Drain: dequeue everything ready, keep the newest, requeue the rest.
            var newest: v4l2_buffer? = nil
            var fatal: Int32 = 0
            while true {
                var b = v4l2_buffer(); b.type = EMO_BUF_TYPE_VIDEO_CAPTURE; b.memory = EMO_MEMORY_MMAP
                let rc = emo_ioctl(fd, EMO_VIDIOC_DQBUF, &b)
                if rc == -EAGAIN { break }
                if rc != 0 { fatal = -rc; break }
                if let old = newest { var o = old; _ = emo_ioctl(fd, EMO_VIDIOC_QBUF, &o); stats.dropped += 1 }
                newest = b
            }
            if fatal == EIO || fatal == ENODEV || (fatal != 0 && newest == nil) {
                if var n = newest { _ = emo_ioctl(fd, EMO_VIDIOC_QBUF, &n) }
                if fatal == EIO { onEvent?("\(settings.device): EIO on dequeue") }
                guard reconnect("VIDIOC_DQBUF: \(errstr(fatal))") else { return nil }
                continue
            }
            guard var b = newest else { continue }
            lastDequeueNanos = DispatchTime.now().uptimeNanoseconds
            if let last = lastSequence, b.sequence > last + 1 { stats.dropped += Int(b.sequence - last - 1) }
            lastSequence = b.sequence
            defer { _ = emo_ioctl(fd, EMO_VIDIOC_QBUF, &b) }
            if b.flags & EMO_BUF_FLAG_ERROR != 0 { stats.corrupt += 1; continue }
            let src = buffers[Int(b.index)].0.assumingMemoryBound(to: UInt8.self)
            var f: Frame
            do { f = try frame(src, bytes: Int(b.bytesused), colour: colour) } catch let e as CVError {
                stats.corrupt += 1
                onEvent?("\(settings.device): frame \(b.sequence) skipped: \(e.message)")
                continue
            }
            stats.frames += 1
            f.index = index; f.mediaTime = Date().timeIntervalSince(start)
            index += 1
            return f
        }
        return nil
    }

    /// The frame in a driver buffer. Its gray plane comes straight from the format (YUYV's Y bytes,
    /// GREY's plane, MJPEG decoded); BGR only with `colour`. Before, every format became BGR here and
    /// detection and the crops converted it back to gray.
    private func frame(_ src: UnsafePointer<UInt8>, bytes: Int, colour: Bool) throws -> Frame {
        let w = width, h = height
        func make(_ pixels: [UInt8], gray: [UInt8]) -> Frame {
            Frame(width: w, height: h, format: colour ? .bgr8 : .gray8, pixels: colour ? pixels : gray, gray: gray)
        }
        switch pixelFormat {
        case EMO_PIX_FMT_YUYV:
            let gray = try CameraPixels.yuyvGray(src, width: w, height: h)
            return make(colour ? try CameraPixels.yuyvBGR(src, width: w, height: h) : [], gray: gray)
        case EMO_PIX_FMT_GREY:
            let gray = Array(UnsafeBufferPointer(start: src, count: w * h))
            return make(colour ? try CameraPixels.grayBGR(src, width: w, height: h) : [], gray: gray)
        default:
            let pixels = try CameraPixels.decodeJPEG(src, count: bytes, width: w, height: h, format: colour ? .bgr8 : .gray8)
            return colour ? try Frame(width: w, height: h, format: .bgr8, pixels: pixels).addingGrayPlane() : make([], gray: pixels)
        }
    }
}
