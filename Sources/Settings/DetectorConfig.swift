import Foundation

/// Face detector settings (config section `detector`).
public struct DetectorConfig: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable { case haar, lbp }
    public var kind: Kind = .haar
    /// Explicit cascade XML; default: the kind's frontal-face cascade from opencv-data.
    public var cascade: String? = nil
    public var scaleFactor: Double = 1.1
    public var minNeighbors: Int = 5
    /// Smallest/largest face side in full-resolution pixels (0: no maximum).
    public var minSize: Int = 48
    public var maxSize: Int = 0
    /// Detect on a frame downscaled by this factor (0 < s ≤ 1); boxes are mapped back.
    public var scale: Double = 0.5
    /// Also run Debian's profile-face cascade, on the image and its mirror (faces turned either way).
    public var profile: Bool = false
    public init() {}

    public var cascadeName: String { kind == .haar ? "haarcascade_frontalface_default" : "lbpcascade_frontalface" }

    /// Values outside the ranges every entry point shares (`Limits`), e.g. for a detector built
    /// in code; the YAML reader and the CLI options report them first, with their key or flag.
    public var problems: [String] {
        [Limits.check("scale", scale, Limits.detectScale), Limits.check("scale_factor", scaleFactor, Limits.scaleFactor),
         Limits.check("min_neighbors", minNeighbors, Limits.minNeighbors), Limits.check("min_size", minSize, Limits.minSize),
         Limits.check("max_size", maxSize, Limits.maxSize)].compactMap { $0 }
    }
}
