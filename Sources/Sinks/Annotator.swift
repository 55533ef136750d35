import CVBridge
import EmotionCore
import Foundation
import Imaging

/// Colours (BGR) per emotion, shared by the overlay, annotated videos and plots.
public enum EmotionColors {
    /// A class of a model: a well-known emotion keeps its colour whatever the model; the others
    /// get generated ones, distinct within the set (hues spaced by the golden angle).
    public static func bgr(_ index: Int, in labels: LabelSet) -> (UInt8, UInt8, UInt8) {
        if let e = labels.known[index] { return bgr(e) }
        let other = labels.known[..<index].filter { $0 == nil }.count
        return hsvToBGR(hue: (0.13 + Double(other) * 0.618034).truncatingRemainder(dividingBy: 1), s: 0.8, v: 0.9)
    }

    /// The colour of a label name as `labels` has it (a name outside the set: neutral's gray).
    public static func bgr(_ name: String, in labels: LabelSet) -> (UInt8, UInt8, UInt8) {
        labels.index(of: name).map { bgr($0, in: labels) } ?? bgr(.neutral)
    }

    static func hsvToBGR(hue: Double, s: Double, v: Double) -> (UInt8, UInt8, UInt8) {
        let h = hue * 6, i = Int(h) % 6, f = h - Double(Int(h))
        let p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
        let (r, g, b) = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
        let byte = { (x: Double) in UInt8(max(0, min(255, (x * 255).rounded()))) }
        return (byte(b), byte(g), byte(r))
    }

    public static func bgr(_ e: Emotion) -> (UInt8, UInt8, UInt8) {
        switch e {
        case .angry: return (40, 40, 230)
        case .disgust: return (40, 150, 40)
        case .fear: return (160, 50, 150)
        case .happy: return (0, 215, 255)
        case .sad: return (220, 110, 30)
        case .surprise: return (0, 140, 255)
        case .neutral: return (190, 190, 190)
        }
    }
}

/// Draws face boxes (coloured by emotion), labels and optional score bars onto BGR frames.
public struct Annotator {
    public var scoreBars = false
    /// The model's classes: colours and the order of the score bars.
    public var labels: LabelSet
    public init(scoreBars: Bool = false, labels: LabelSet = .fer2013) { self.scoreBars = scoreBars; self.labels = labels }

    public func draw(_ result: FrameResult, on frame: inout Frame, hud: String? = nil) throws {
        precondition(frame.format == .bgr8)
        let w = frame.width, h = frame.height
        try frame.pixels.withUnsafeMutableBufferPointer { bp in
            var img = cvb_image(width: Int32(w), height: Int32(h), channels: 3, stride: w * 3, data: bp.baseAddress)
            for f in result.faces {
                let (b, g, r) = EmotionColors.bgr(f.label, in: labels)
                let rect = cvb_rect(x: Int32(f.box.x), y: Int32(f.box.y), width: Int32(f.box.width), height: Int32(f.box.height))
                try cvCall("draw") { cvb_draw_box(&img, rect, b, g, r, Int32(max(2, f.box.width / 60)), $0) }
                let text = String(format: "#%d %@ %.0f%%", f.track, f.label, f.confidence * 100)
                try cvCall("draw") { cvb_draw_label(&img, Int32(f.box.x), Int32(f.box.y), text, b, g, r, 0.6, $0) }
                if scoreBars {
                    // One bar per class under the box, length ∝ smoothed probability.
                    let x0 = f.box.x, y0 = f.box.y + f.box.height + 4
                    for (i, name) in labels.names.enumerated() {
                        let p = f.smoothed[name] ?? 0
                        let (cb, cg, cr) = EmotionColors.bgr(i, in: labels)
                        let y = y0 + i * 14
                        try cvCall("draw") { cvb_fill_rect(&img, cvb_rect(x: Int32(x0 + 64), y: Int32(y), width: Int32(max(1, Double(f.box.width) * Double(p))), height: 10), cb, cg, cr, $0) }
                        try cvCall("draw") { cvb_draw_text(&img, Int32(x0), Int32(y + 10), name, cb, cg, cr, 0.4, $0) }
                    }
                }
            }
            if let hud {
                try cvCall("draw") { cvb_draw_label(&img, 8, 24, hud, 30, 30, 30, 0.55, $0) }
            }
        }
    }
}

/// MP4 writer that appears under its final name only when complete.
///
/// The encoder runs on its own thread behind a short queue (4 frames; `write` waits when it
/// is full, so no frame is dropped). Besides overlapping encoding with detection, this keeps
/// the encoder's allocations in that thread's malloc arena: interleaved with the frame
/// loop's on one heap they fragmented it, and RSS grew by ~350 KiB per frame (314 MiB after
/// the 472-frame test clip; VideoWriterMemoryTests and BatchModeTests check it stays flat).
public final class AnnotatedVideoWriter {
    private let file: AtomicFile
    private let encoder: EncoderThread
    public var framesWritten: Int { encoder.written }
    /// The codec written: "h264", or "mpeg4" (MPEG-4 Part 2) where FFmpeg has no H.264 encoder.
    public var codec: String { encoder.isH264 ? "h264" : "mpeg4" }

    /// `h264` false writes MPEG-4 Part 2 directly (less memory: no libx264 lookahead).
    public init(path: String, fps: Double, width: Int, height: Int, h264: Bool = true) throws {
        file = try AtomicFile(path: path, suffix: ".mp4")
        file.closeHandle()
        encoder = EncoderThread(path: file.tempPath, fps: fps, width: width, height: height, preferH264: h264)
        if let message = encoder.openError {
            file.abort()
            throw SinkError.cannotCreate(path: path, reason: message)
        }
    }

    /// Queues the frame; throws if an earlier frame failed to encode.
    public func write(_ frame: Frame) throws {
        try encoder.enqueue(frame)
    }

    /// Encodes what is queued, closes the file and moves it into place.
    public func commit() throws {
        if let e = encoder.finish() { file.abort(); throw e }
        try file.commit()
    }

    public func abort() {
        _ = encoder.finish()
        file.abort()
    }

    deinit { abort() }
}

/// Owns the OpenCV writer: opened, fed and closed on one dedicated thread.
final class EncoderThread: @unchecked Sendable {
    private let cond = NSCondition()
    private var queue: [Frame] = []
    private var closing = false, done = false
    private var failure: Error?
    private(set) var openError: String?
    /// Whether the file is H.264 (else the mp4v fallback); set before `init` returns.
    private(set) var isH264 = false
    private var _written = 0
    private let capacity = 4

    var written: Int { cond.lock(); defer { cond.unlock() }; return _written }

    init(path: String, fps: Double, width: Int, height: Int, preferH264: Bool) {
        let opened = DispatchSemaphore(value: 0)
        let t = Thread { [self] in
            var err = cvb_error()
            var h264: Int32 = preferH264 ? 1 : 0
            let writer = cvb_writer_open(path, fps, Int32(width), Int32(height), &h264, &err)
            isH264 = h264 != 0
            if writer == nil { openError = CVError("video writer", err).message }
            opened.signal()
            guard let writer else { cond.lock(); done = true; cond.broadcast(); cond.unlock(); return }
            while true {
                cond.lock()
                while queue.isEmpty && !closing { cond.wait() }
                if queue.isEmpty { cond.unlock(); break }
                let f = queue.removeFirst()
                cond.broadcast()
                cond.unlock()
                do {
                    try f.withBridgeImage { img in try cvCall("write video frame \(f.index)") { cvb_writer_write(writer, img, $0) } }
                    cond.lock(); _written += 1; cond.unlock()
                } catch {
                    cond.lock(); if failure == nil { failure = error }; queue.removeAll(); cond.broadcast(); cond.unlock()
                }
            }
            cvb_writer_close(writer)
            cond.lock(); done = true; cond.broadcast(); cond.unlock()
        }
        t.name = "emotiond.video-writer"
        t.start()
        opened.wait()
    }

    func enqueue(_ frame: Frame) throws {
        cond.lock(); defer { cond.unlock() }
        while queue.count >= capacity && failure == nil && !done { cond.wait() }
        if let failure { throw failure }
        guard !done, !closing else { return }
        queue.append(frame)
        cond.broadcast()
    }

    /// Drains the queue, closes the writer; returns the first encoding error, if any.
    func finish() -> Error? {
        cond.lock(); defer { cond.unlock() }
        closing = true
        cond.broadcast()
        while !done { cond.wait() }
        return failure
    }
}

extension Frame {
    /// Writes the frame as PNG (atomically).
    public func writePNG(_ path: String) throws { try writeImage(path, suffix: ".png") }

    /// Writes the frame (atomically) in the format its extension names (.png, .jpg, ...).
    public func writeImage(_ path: String) throws {
        let ext = URL(fileURLWithPath: path).pathExtension
        try writeImage(path, suffix: ext.isEmpty ? ".png" : ".\(ext)")
    }

    private func writeImage(_ path: String, suffix: String) throws {
        let file = try AtomicFile(path: path, suffix: suffix)
        file.closeHandle()
        do { try withBridgeImage { img in try cvCall("write \(path)") { cvb_imwrite(file.tempPath, img, $0) } } } catch { file.abort(); throw error }
        try file.commit()
    }
}
