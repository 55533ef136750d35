import CVBridge
import EmotionCore

extension Frame {
    /// The emotion model's inputs: a square gray `size`×`size` crop per box (side max(w, h) ×
    /// (1 + 2 × `margin`) around the box centre, clamped at the frame's borders, INTER_AREA), read
    /// from the gray plane. Before, the bridge converted the whole BGR frame to gray for this on
    /// every frame with a face.
    public func faceCrops(_ boxes: [FaceBox], margin: Double, size: Int) throws -> [[UInt8]] {
        if boxes.isEmpty { return [] }
        let n = size * size
        let rects = boxes.map { cvb_rect(x: Int32($0.x), y: Int32($0.y), width: Int32($0.width), height: Int32($0.height)) }
        let out = try withBridgeGray { img in
            try bridgeBuffer(boxes.count * n, "crop faces") {
                cvb_crop_faces(img, rects, Int32(rects.count), margin, Int32(size), $0, $1)
            }
        }
        return (0..<boxes.count).map { Array(out[($0 * n)..<(($0 + 1) * n)]) }
    }
}
