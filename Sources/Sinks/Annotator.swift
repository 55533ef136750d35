import CVBridge
import Capture
import EmotionCore
import Foundation

/// Colours (BGR) per emotion, shared by the overlay, annotated videos and plots.
public enum EmotionColors {
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
    public init(scoreBars: Bool = false) { self.scoreBars = scoreBars }

    public func draw(_ result: FrameResult, on frame: inout Frame, hud: String? = nil) throws {
        precondition(frame.format == .bgr8)
        let w = frame.width, h = frame.height
        try frame.pixels.withUnsafeMutableBufferPointer { bp in
            var img = cvb_image(width: Int32(w), height: Int32(h), channels: 3, stride: w * 3, data: bp.baseAddress)
            for f in result.faces {
                let e = Emotion(name: f.label) ?? .neutral
                let (b, g, r) = EmotionColors.bgr(e)
                let rect = cvb_rect(x: Int32(f.box.x), y: Int32(f.box.y), width: Int32(f.box.width), height: Int32(f.box.height))
                try cvCall("draw") { cvb_draw_box(&img, rect, b, g, r, Int32(max(2, f.box.width / 60)), $0) }
                let text = String(format: "#%d %@ %.0f%%", f.track, f.label, f.confidence * 100)
                try cvCall("draw") { cvb_draw_label(&img, Int32(f.box.x), Int32(f.box.y), text, b, g, r, 0.6, $0) }
                if scoreBars {
                    // One bar per class under the box, length ∝ smoothed probability.
                    let x0 = f.box.x, y0 = f.box.y + f.box.height + 4
                    for (i, em) in Emotion.allCases.enumerated() {
                        let p = f.smoothed[em.name] ?? 0
                        let (cb, cg, cr) = EmotionColors.bgr(em)
                        let y = y0 + i * 14
                        try cvCall("draw") { cvb_fill_rect(&img, cvb_rect(x: Int32(x0 + 64), y: Int32(y), width: Int32(max(1, Double(f.box.width) * Double(p))), height: 10), cb, cg, cr, $0) }
                        try cvCall("draw") { cvb_draw_text(&img, Int32(x0), Int32(y + 10), em.name, cb, cg, cr, 0.4, $0) }
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
public final class AnnotatedVideoWriter {
    private let file: AtomicFile
    private var writer: OpaquePointer?
    public private(set) var framesWritten = 0

    public init(path: String, fps: Double, width: Int, height: Int) throws {
        file = try AtomicFile(path: path, suffix: ".mp4")
        file.closeHandle()
        var err = cvb_error()
        guard let w = cvb_writer_open(file.tempPath, fps, Int32(width), Int32(height), &err) else {
            file.abort()
            throw SinkError.cannotCreate(path: path, reason: CVError("video writer", err).message)
        }
        writer = w
    }

    public func write(_ frame: Frame) throws {
        guard let writer else { return }
        try frame.withBridgeImage { img in try cvCall("write video frame \(frame.index)") { cvb_writer_write(writer, img, $0) } }
        framesWritten += 1
    }

    public func commit() throws {
        if let writer { cvb_writer_close(writer) }
        writer = nil
        try file.commit()
    }

    public func abort() {
        if let writer { cvb_writer_close(writer) }
        writer = nil
        file.abort()
    }

    deinit { abort() }
}

extension Frame {
    /// Writes the frame as PNG (atomically).
    public func writePNG(_ path: String) throws {
        let file = try AtomicFile(path: path, suffix: ".png")
        file.closeHandle()
        do { try withBridgeImage { img in try cvCall("write \(path)") { cvb_imwrite(file.tempPath, img, $0) } } } catch { file.abort(); throw error }
        try file.commit()
    }
}
