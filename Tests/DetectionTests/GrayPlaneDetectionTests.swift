import Capture
import Detection
import Settings
import EmotionCore
import Foundation
import XCTest

/// Detection on a frame's gray plane finds exactly the boxes it found converting the colour frame
/// (full frame and region searches), also when frames with and without a plane alternate.
final class GrayPlaneDetectionTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testGrayPlaneGivesTheColourPathsBoxes() throws {
        let d = try CascadeDetector(config: DetectorConfig(), searchRoots: [Self.root.path])
        let src = try VideoFile(path: Self.root.appendingPathComponent("media/WolfgangLanger_Pexels.mp4").path)
        var faces = 0
        for _ in 0..<40 {
            guard let f = try src.next() else { break }
            var colourOnly = f
            colourOnly.gray = nil
            let full = try d.detect(f)
            XCTAssertEqual(full, try d.detect(colourOnly))
            for b in full {
                XCTAssertEqual(try d.detect(f, near: b), try d.detect(colourOnly, near: b))
                XCTAssertEqual(try d.detect(f, region: b.grown(by: 0.35)), try d.detect(colourOnly, region: b.grown(by: 0.35)))
            }
            faces += full.count
        }
        XCTAssertGreaterThan(faces, 20)
    }
}
