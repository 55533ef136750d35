import Capture
import EmotionCore
import Foundation
import Imaging
import XCTest

/// Frames carry their gray plane: made once by the source, read by detection and the crops. These
/// tests hold it to the pixels the colour path gave (BGR → gray in each consumer, as before).
final class GrayPlaneTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func media(_ n: String) -> String { root.appendingPathComponent("media/\(n)").path }

    /// The frame as consumers saw it before: colour only, converted where it is read.
    func withoutGray(_ f: Frame) -> Frame { var c = f; c.gray = nil; return c }

    func testDecodedFilesCarryOpenCVsGray() throws {
        let photo = try ImageFile.load(Self.media("multi_face.jpg"))
        XCTAssertEqual(photo.gray, try withoutGray(photo).addingGrayPlane().gray)
        XCTAssertEqual(photo.gray?.count, photo.width * photo.height)
        let still = try ImageFile.load(Self.media("single_face.jpg"), format: .gray8)
        XCTAssertEqual(still.gray, still.pixels, "a gray8 frame's plane is its pixels")
        let clip = try VideoFile(path: Self.media("WolfgangLanger_Pexels.mp4"))
        let f = try XCTUnwrap(clip.next())
        XCTAssertEqual(f.gray, try withoutGray(f).addingGrayPlane().gray)
        let small = try f.resized(width: 320, height: 180)
        XCTAssertEqual(small.gray, try withoutGray(small).addingGrayPlane().gray, "a resized frame's plane is of its new pixels")
    }

    /// The crops from the gray plane are byte for byte those the bridge cut from BGR.
    func testFaceCropsFromGrayPlaneMatchColourPath() throws {
        let photo = try ImageFile.load(Self.media("multi_face.jpg"))
        let boxes = [FaceBox(x: 10, y: 20, width: 80, height: 90), FaceBox(x: -15, y: -10, width: 60, height: 60),
                     FaceBox(x: photo.width - 30, y: photo.height - 40, width: 70, height: 50)]
        let fromGray = try photo.faceCrops(boxes, margin: 0.1, size: 48)
        XCTAssertEqual(fromGray, try withoutGray(photo).faceCrops(boxes, margin: 0.1, size: 48))
        XCTAssertEqual(fromGray.map(\.count), [48 * 48, 48 * 48, 48 * 48])
        XCTAssertEqual(try photo.faceCrops([], margin: 0.1, size: 48), [])
    }

    func testGrayRegionViewIsClampedAndSharesTheRowStride() throws {
        let f = Frame(width: 8, height: 6, format: .gray8, pixels: (0..<48).map { UInt8($0) })
        f.withBridgeGray(region: FaceBox(x: 5, y: -2, width: 10, height: 4)) { img in
            XCTAssertEqual([img.pointee.width, img.pointee.height, img.pointee.channels], [3, 2, 1])
            XCTAssertEqual(img.pointee.stride, 8)
            XCTAssertEqual(img.pointee.data?[0], 5)
            XCTAssertEqual(img.pointee.data?[8], 13)
        }
        let colourOnly = Frame(width: 2, height: 1, format: .bgr8, pixels: [1, 2, 3, 4, 5, 6])
        colourOnly.withBridgeGray { XCTAssertEqual($0.pointee.channels, 3, "no plane: the colour view, converted by the bridge") }
    }

    /// YUYV's plane is its Y bytes through the range table: for neutral chroma exactly what
    /// YUYV → BGR → gray gave, for every Y.
    func testYUYVGrayIsTheColourPathsGrayForNeutralChroma() throws {
        let w = 256, h = 2
        let yuyv: [UInt8] = (0..<(w * h)).flatMap { [UInt8($0 % 256), 128] }
        let gray = try yuyv.withUnsafeBufferPointer { try CameraPixels.yuyvGray($0.baseAddress!, width: w, height: h) }
        let bgr = try yuyv.withUnsafeBufferPointer { try CameraPixels.yuyvBGR($0.baseAddress!, width: w, height: h) }
        XCTAssertEqual(gray, try Frame(width: w, height: h, format: .bgr8, pixels: bgr).addingGrayPlane().gray)
        XCTAssertEqual(gray[16], 0)
        XCTAssertEqual(gray[235], 255)
    }

    /// On camera-like frames (the clip as yuyv422, what the simulated camera serves) the plane stays
    /// within rounding of the colour path's gray; the bare Y plane would not (video range).
    func testYUYVGrayOnClipFramesIsCloseToColourPath() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("emotiond-yuyv-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let raw = dir.appendingPathComponent("f.yuyv").path, w = 640, h = 480
        let ff = Process()
        ff.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        ff.arguments = ["-v", "error", "-y", "-i", Self.media("WolfgangLanger_Pexels.mp4"), "-frames:v", "5",
                        "-vf", "scale=\(w):\(h)", "-pix_fmt", "yuyv422", "-f", "rawvideo", raw]
        try ff.run(); ff.waitUntilExit()
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: raw)))
        XCTAssertEqual(data.count, 5 * w * h * 2)
        for k in 0..<5 {
            let frame = Array(data[(k * w * h * 2)..<((k + 1) * w * h * 2)])
            let (gray, bgr) = try frame.withUnsafeBufferPointer {
                (try CameraPixels.yuyvGray($0.baseAddress!, width: w, height: h), try CameraPixels.yuyvBGR($0.baseAddress!, width: w, height: h))
            }
            let old = try XCTUnwrap(try Frame(width: w, height: h, format: .bgr8, pixels: bgr).addingGrayPlane().gray)
            let d = zip(gray, old).map { abs(Int($0) - Int($1)) }, bare = zip(stride(from: 0, to: frame.count, by: 2), old).map { abs(Int(frame[$0]) - Int($1)) }
            XCTAssertLessThan(Double(d.reduce(0, +)) / Double(d.count), 0.5, "frame \(k)")
            XCTAssertLessThanOrEqual(d.max() ?? 0, 8, "frame \(k)")
            XCTAssertGreaterThan(Double(bare.reduce(0, +)) / Double(bare.count), 5, "frame \(k): the bare Y plane is video range")
        }
    }

    /// MJPEG decoded straight to gray (no chroma) is within rounding of decode → BGR → gray.
    func testJPEGGrayDecodeIsCloseToColourPath() throws {
        let photo = try ImageFile.load(Self.media("single_face.jpg"))
        let jpeg = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.media("single_face.jpg"))))
        let (w, h) = (photo.width, photo.height)
        let gray = try jpeg.withUnsafeBufferPointer { try CameraPixels.decodeJPEG($0.baseAddress!, count: jpeg.count, width: w, height: h, format: .gray8) }
        let bgr = try jpeg.withUnsafeBufferPointer { try CameraPixels.decodeJPEG($0.baseAddress!, count: jpeg.count, width: w, height: h, format: .bgr8) }
        XCTAssertEqual(bgr, photo.pixels)
        let d = zip(gray, photo.gray!).map { abs(Int($0) - Int($1)) }
        XCTAssertLessThan(Double(d.reduce(0, +)) / Double(d.count), 1)
        XCTAssertThrowsError(try jpeg.withUnsafeBufferPointer {
            try CameraPixels.decodeJPEG($0.baseAddress!, count: jpeg.count / 2, width: w, height: h, format: .gray8)
        }) { XCTAssertTrue("\($0)".contains("corrupt JPEG frame"), "\($0)") }
    }

    func testGrayFrameGetsBGRPixelsForDrawing() throws {
        let f = Frame(width: 2, height: 1, format: .gray8, pixels: [7, 200])
        let c = try f.withBGRPixels()
        XCTAssertEqual(c.format, .bgr8)
        XCTAssertEqual(c.pixels, [7, 7, 7, 200, 200, 200])
        XCTAssertEqual(c.gray, [7, 200])
    }
}
