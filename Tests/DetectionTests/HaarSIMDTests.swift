import Capture
import Detection
import EmotionCore
import Foundation
import Settings
import XCTest

/// emotiond's SIMD Haar evaluator (Sources/CVBridge/haar_simd.cpp), in both its AVX-512 and AVX2
/// forms, against OpenCV's CascadeClassifier on real photos and video frames: the same boxes, for
/// full-frame passes and for the region searches around tracks, raw candidates (min_neighbors 0) included.
final class HaarSIMDTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func media(_ n: String) -> String { root.appendingPathComponent("media/\(n)").path }
    static func cpuHas(_ flag: String) -> Bool {
        ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "").split(separator: "\n")
            .first { $0.hasPrefix("flags") }?.split(separator: " ").contains(Substring(flag)) ?? false
    }
    /// The SIMD forms this CPU runs (EMOTIOND_CASCADE_ENGINE values): both on an AVX-512 machine.
    static var forms: [String] { (cpuHas("avx512f") ? ["avx512"] : []) + (cpuHas("avx2") ? ["avx2"] : []) }

    /// A detector on the given SIMD form (the variable is read when the cascade loads) and an OpenCV one.
    func detectors(_ c: DetectorConfig, form: String = "avx512") throws -> (simd: CascadeDetector, cv: CascadeDetector) {
        let roots = [Self.root.path]
        setenv("EMOTIOND_CASCADE_ENGINE", form, 1)
        defer { unsetenv("EMOTIOND_CASCADE_ENGINE") }
        return (try CascadeDetector(config: c, searchRoots: roots), try CascadeDetector(config: c, searchRoots: roots, openCVOnly: true))
    }

    /// The widest form the CPU has is taken by default, AVX2 on request, never for LBP, not at all
    /// with EMOTIOND_CASCADE_ENGINE=opencv.
    func testEngineSelection() throws {
        var c = DetectorConfig()
        let best = try CascadeDetector(config: c, searchRoots: [Self.root.path])
        XCTAssertEqual(best.engine, Self.cpuHas("avx512f") ? "emotiond AVX-512 Haar evaluator (same results as OpenCV's)"
                       : Self.cpuHas("avx2") ? "emotiond AVX2 Haar evaluator (same results as OpenCV's)" : "OpenCV CascadeClassifier")
        if Self.cpuHas("avx2") { XCTAssertTrue(try detectors(c, form: "avx2").simd.engine.contains("AVX2")) }
        XCTAssertFalse(try detectors(c, form: "opencv").simd.usesSIMD)
        c.kind = .lbp
        XCTAssertFalse(try detectors(c).simd.usesSIMD)
    }

    /// A cascade the evaluator does not cover (two-node trees, not stumps) runs on OpenCV; a truncated one is
    /// an error naming the file, whichever loader sees it first.
    func testOtherAndBrokenCascades() throws {
        var c = DetectorConfig()
        c.cascade = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_alt2.xml"
        let tree = try CascadeDetector(config: c)
        XCTAssertFalse(tree.usesSIMD)
        XCTAssertFalse(try tree.detect(try ImageFile.load(Self.media("multi_face.jpg"))).isEmpty)

        let xml = try Data(contentsOf: URL(fileURLWithPath: "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"))
        let cut = FileManager.default.temporaryDirectory.appendingPathComponent("truncated-\(getpid()).xml")
        try xml.prefix(xml.count / 3).write(to: cut)
        defer { try? FileManager.default.removeItem(at: cut) }
        c.cascade = cut.path
        XCTAssertThrowsError(try CascadeDetector(config: c)) { e in
            guard case let DetectorError.cascadeInvalid(path, _)? = e as? DetectorError else { return XCTFail("\(e)") }
            XCTAssertEqual(path, cut.path)
        }
    }

    /// Runs `detect` on both detectors and asserts the same boxes; returns OpenCV's.
    @discardableResult
    func compare(_ d: (simd: CascadeDetector, cv: CascadeDetector), what: String,
                 _ detect: (CascadeDetector) throws -> [FaceBox]) throws -> [FaceBox] {
        let a = try detect(d.simd), b = try detect(d.cv)
        let key = { (v: [FaceBox]) in v.map { [$0.x, $0.y, $0.width, $0.height] }.sorted { $0.lexicographicallyPrecedes($1) } }
        XCTAssertEqual(key(a), key(b), what)
        return b
    }

    /// Photos with 0, 1 and several faces, at the default settings, at full resolution with raw
    /// candidates, and with other pyramid steps.
    func testPhotosMatchOpenCV() throws {
        guard !Self.forms.isEmpty else { return XCTAssertFalse(try detectors(DetectorConfig()).simd.usesSIMD) }
        var faces = 0
        for form in Self.forms { for (settings, c) in Self.settings() {
            let d = try detectors(c, form: form)
            XCTAssertTrue(d.simd.usesSIMD, "\(form) \(settings)")
            for name in ["multi_face.jpg", "single_face.jpg", "BWPictureHuman.jpg", "free-mountain-vector-01.jpg", "0-f1-su-ph.jpg", "45-m7-di-ph.jpg"] {
                let frame = try ImageFile.load(Self.media(name))
                faces += try compare(d, what: "\(name) \(settings) \(form)") { try $0.detect(frame) }.count
            }
        } }
        XCTAssertGreaterThan(faces, 20, "the photos must give the comparison faces to agree on")
    }

    /// Frames of the clip: full-frame passes, the frame loop's search around each face
    /// (CascadeDetector.detect(_:near:)), and the face's region at full resolution.
    func testVideoFramesAndRegionSearchesMatchOpenCV() throws {
        XCTAssertEqual(Self.forms.isEmpty, !(try detectors(DetectorConfig()).simd.usesSIMD))
        for form in Self.forms { try videoFramesAndRegionSearches(form: form) }
    }

    func videoFramesAndRegionSearches(form: String) throws {
        let d = try detectors(DetectorConfig(), form: form)
        XCTAssertTrue(d.simd.usesSIMD, form)
        let src = try VideoFile(path: Self.media("WolfgangLanger_Pexels.mp4"))
        var n = 0, faces = 0, searched = 0
        while let f = try src.next() {
            n += 1
            if n % 6 != 0 { continue }
            let found = try compare(d, what: "frame \(n) \(form)") { try $0.detect(f) }
            faces += found.count
            for b in found {
                searched += try compare(d, what: "frame \(n) search around \(b) \(form)") { try $0.detect(f, near: b) }.count
                try compare(d, what: "frame \(n) full-resolution region \(form)") {
                    try $0.detect(f, region: b.grown(by: 0.2), minSize: 24, scale: 1, scaleFactor: 1.1)
                }
            }
        }
        XCTAssertGreaterThan(faces, 60, "the clip has a face in nearly every frame")
        XCTAssertGreaterThan(searched, 60)
    }

    static func settings() -> [(String, DetectorConfig)] {
        var out: [(String, DetectorConfig)] = [("default", DetectorConfig())]
        var raw = DetectorConfig(); raw.minNeighbors = 0; raw.scale = 1; raw.minSize = 24
        out.append(("raw candidates, full resolution", raw))
        var fine = DetectorConfig(); fine.scaleFactor = 1.05; fine.minNeighbors = 3
        out.append(("scale factor 1.05", fine))
        var coarse = DetectorConfig(); coarse.scaleFactor = 1.3; coarse.maxSize = 300
        out.append(("scale factor 1.3, max 300", coarse))
        // Other stump cascades from opencv-data take the same path.
        for name in ["haarcascade_frontalface_alt", "haarcascade_frontalface_alt_tree"] {
            var other = DetectorConfig(); other.cascade = "/usr/share/opencv4/haarcascades/\(name).xml"; other.minNeighbors = 1
            out.append((name, other))
        }
        return out
    }
}
