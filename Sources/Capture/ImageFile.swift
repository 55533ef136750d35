import CVBridge
import EmotionCore
import Foundation
import Imaging

/// Still images decoded by OpenCV's imgcodecs (PNG, JPEG, BMP, ...).
public enum ImageFile {
    /// Largest image decoded, in pixels (width × height): 64 Mpx, or EMOTIOND_MAX_PIXELS.
    /// A 400 KB PNG can declare 20000×20000 (2.6 GB decoded). OpenCV's own limit
    /// (OPENCV_IO_MAX_IMAGE_PIXELS, 2^30) is read once when the library loads, so it cannot be
    /// set from here; the header is read by `ImageHeader` instead, before anything is decoded.
    nonisolated(unsafe) public static var maxPixels: Int = {
        ProcessInfo.processInfo.environment["EMOTIOND_MAX_PIXELS"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
            ?? 64 << 20
    }()

    /// Decodes `path` into a frame (gray8 or bgr8) with its gray plane.
    public static func load(_ path: String, format: PixelFormat = .bgr8) throws -> Frame {
        let op = "cannot read image \(path)"
        let fd = try InputFile.open(path, operation: op)
        let size = ImageHeader.size(fd: fd)
        close(fd)
        if let (w, h) = size, w.multipliedReportingOverflow(by: h).overflow || w * h > maxPixels {
            throw CVError(operation: op, message: "image is \(w)×\(h) pixels, above the limit of \(maxPixels) "
                + "(--max-pixels or EMOTIOND_MAX_PIXELS)")
        }
        var img = cvb_image()
        try cvCall("cannot read image \(path)") { cvb_imread(path, Int32(format.channels), &img, $0) }
        defer { cvb_image_free(&img) }
        return try Frame(image: img, format: format).addingGrayPlane()
    }
}

/// Checks that a path names a readable regular file before a decoder opens it: open(2) on a FIFO
/// blocks until a writer appears and a device such as /dev/zero never ends.
public enum InputFile {
    /// Opens `path` read-only without blocking (a FIFO without a writer would) and refuses anything
    /// that is not a regular file. The caller closes the descriptor.
    public static func open(_ path: String, operation: String) throws -> Int32 {
        let fd = Foundation.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw CVError(operation: operation, message: reason(errno)) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw CVError(operation: operation, message: reason(e))
        }
        if let why = FileKind(mode: st.st_mode).notRegularReason { close(fd); throw CVError(operation: operation, message: why) }
        return fd
    }

    /// Same check without keeping the file open (for decoders that open the path themselves).
    public static func check(_ path: String, operation: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw CVError(operation: operation, message: reason(errno)) }
        if let why = FileKind(mode: st.st_mode).notRegularReason { throw CVError(operation: operation, message: why) }
        guard access(path, R_OK) == 0 else { throw CVError(operation: operation, message: reason(errno)) }
    }

    static func reason(_ e: Int32) -> String {
        switch e {
        case ENOENT: return "no such file"
        case EACCES: return "permission denied"
        default: return String(cString: strerror(e))
        }
    }

}

/// Image dimensions read from the file header alone (nothing decoded), for the formats OpenCV
/// reads that carry them at a fixed or easily found place: PNG, JPEG, BMP, WebP, TIFF, PNM/PFM and
/// Sun raster. Other formats (JPEG 2000, OpenEXR, Radiance HDR) return nil and are left to
/// OpenCV's own limit.
enum ImageHeader {
    struct Reader {
        let fd: Int32
        func bytes(_ offset: Int, _ count: Int) -> [UInt8]? {
            var b = [UInt8](repeating: 0, count: count)
            return pread(fd, &b, count, off_t(offset)) == count ? b : nil
        }
        func prefix(_ count: Int) -> [UInt8] {
            var b = [UInt8](repeating: 0, count: count)
            let n = pread(fd, &b, count, 0)
            return Array(b.prefix(max(0, n)))
        }
        func be(_ o: Int, _ n: Int) -> Int? { bytes(o, n).map { $0.reduce(0) { $0 << 8 | Int($1) } } }
        func le(_ o: Int, _ n: Int) -> Int? { bytes(o, n).map { $0.reversed().reduce(0) { $0 << 8 | Int($1) } } }
    }

    static func size(fd: Int32) -> (Int, Int)? {
        let r = Reader(fd: fd)
        guard let m = r.bytes(0, 4) else { return nil }
        switch m {
        case [0x89, 0x50, 0x4E, 0x47]: return pair(r.be(16, 4), r.be(20, 4))
        case [0x59, 0xA6, 0x6A, 0x95]: return pair(r.be(4, 4), r.be(8, 4))
        case [0x49, 0x49, 0x2A, 0x00]: return tiff(r, bigEndian: false)
        case [0x4D, 0x4D, 0x00, 0x2A]: return tiff(r, bigEndian: true)
        default: break
        }
        if m[0] == 0xFF && m[1] == 0xD8 { return jpeg(r) }
        if m[0] == 0x42 && m[1] == 0x4D { return bmp(r) }
        if m == Array("RIFF".utf8) { return webp(r) }
        if m[0] == 0x50, (0x31...0x36).contains(m[1]) || m[1] == 0x46 || m[1] == 0x66 { return pnm(r) }
        return nil
    }

    static func pair(_ w: Int?, _ h: Int?) -> (Int, Int)? {
        guard let w, let h else { return nil }
        return (w, h)
    }

    /// Walks the marker segments to the first SOFn (which may follow large EXIF/ICC segments).
    static func jpeg(_ r: Reader) -> (Int, Int)? {
        var pos = 2
        for _ in 0..<4096 {
            guard let b = r.bytes(pos, 2), b[0] == 0xFF else { return nil }
            let marker = b[1]
            if marker == 0xFF { pos += 1; continue }  // fill byte
            if marker == 0x01 || (0xD0...0xD7).contains(marker) { pos += 2; continue }
            if marker == 0xD9 || marker == 0xDA { return nil }  // no frame header before the scan
            guard let len = r.be(pos + 2, 2), len >= 2 else { return nil }
            if (0xC0...0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker) {
                return pair(r.be(pos + 7, 2), r.be(pos + 5, 2))
            }
            pos += 2 + len
        }
        return nil
    }

    static func bmp(_ r: Reader) -> (Int, Int)? {
        guard let dib = r.le(14, 4) else { return nil }
        if dib == 12 { return pair(r.le(18, 2), r.le(20, 2)) }
        guard let w = r.le(18, 4), let h = r.le(22, 4) else { return nil }
        // Negative height means top-down rows; the size is its magnitude.
        return (abs(Int(Int32(truncatingIfNeeded: w))), abs(Int(Int32(truncatingIfNeeded: h))))
    }

    static func webp(_ r: Reader) -> (Int, Int)? {
        guard r.bytes(8, 4) == Array("WEBP".utf8), let chunk = r.bytes(12, 4) else { return nil }
        switch String(decoding: chunk, as: UTF8.self) {
        case "VP8 ": return pair(r.le(26, 2).map { $0 & 0x3FFF }, r.le(28, 2).map { $0 & 0x3FFF })
        case "VP8L": return r.le(21, 4).map { (($0 & 0x3FFF) + 1, (($0 >> 14) & 0x3FFF) + 1) }
        case "VP8X": return pair(r.le(24, 3).map { $0 + 1 }, r.le(27, 3).map { $0 + 1 })
        default: return nil
        }
    }

    /// ImageWidth (256) and ImageLength (257) of the first IFD.
    static func tiff(_ r: Reader, bigEndian: Bool) -> (Int, Int)? {
        let num: (Int, Int) -> Int? = { bigEndian ? r.be($0, $1) : r.le($0, $1) }
        guard let ifd = num(4, 4), let n = num(ifd, 2), n < 4096 else { return nil }
        var w: Int?, h: Int?
        for i in 0..<n {
            let e = ifd + 2 + 12 * i
            guard let tag = num(e, 2), let type = num(e + 2, 2) else { return nil }
            let value = type == 3 ? num(e + 8, 2) : num(e + 8, 4)
            if tag == 256 { w = value } else if tag == 257 { h = value }
        }
        return pair(w, h)
    }

    /// "P1".."P6", "PF"/"Pf": magic, then width and height as decimal tokens (# comments allowed).
    static func pnm(_ r: Reader) -> (Int, Int)? {
        let head = r.prefix(512)
        var tokens: [Int] = [], cur = "", comment = false
        for c in head.dropFirst(2).map({ Character(UnicodeScalar($0)) }) {
            if comment { comment = c != "\n"; continue }
            if c == "#" { comment = true; continue }
            if c.isNumber { cur.append(c); continue }
            if !cur.isEmpty { guard let v = Int(cur) else { return nil }; tokens.append(v); cur = "" }
            if tokens.count == 2 { return (tokens[0], tokens[1]) }
            if !c.isWhitespace { return nil }
        }
        return nil
    }
}
