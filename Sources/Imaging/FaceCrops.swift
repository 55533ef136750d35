import CVBridge
import EmotionCore

extension Frame {
    /// The emotion model's inputs, one crop per box, resized once from the frame straight to the
    /// model's `width`×`height` (INTER_AREA): a square of side max(w, h) × (1 + 2 × `margin`) around
    /// the box centre, widened to the model's aspect, clamped at the frame's borders.
    /// `colour` false: gray, read from the gray plane (before, the bridge converted the whole BGR
    /// frame on every frame with a face). `colour` true: interleaved BGR from `pixels` (a gray8
    /// frame, whose source had no colour, is expanded: the model then sees gray in three channels).
    public func faceCrops(_ boxes: [FaceBox], margin: Double, width: Int, height: Int, colour: Bool) throws -> [[UInt8]] {
        if boxes.isEmpty { return [] }
        let channels = colour ? 3 : 1, n = width * height * channels
        let rects = boxes.map { cvb_rect(x: Int32($0.x), y: Int32($0.y), width: Int32($0.width), height: Int32($0.height)) }
        let crop = { (img: UnsafePointer<cvb_image>) in
            try bridgeBuffer(boxes.count * n, "crop faces") {
                cvb_crop_faces(img, rects, Int32(rects.count), margin, Int32(width), Int32(height), Int32(channels), $0, $1)
            }
        }
        let out = colour ? try withBridgeImage(crop) : try withBridgeGray(crop)
        return (0..<boxes.count).map { Array(out[($0 * n)..<(($0 + 1) * n)]) }
    }

    /// Square gray crops (`size`×`size`), what FER2013-style models take.
    public func faceCrops(_ boxes: [FaceBox], margin: Double, size: Int) throws -> [[UInt8]] {
        try faceCrops(boxes, margin: margin, width: size, height: size, colour: false)
    }
}
