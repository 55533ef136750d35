import Foundation

/// Tracking and smoothing settings (config section `tracking`).
public struct TrackerConfig: Codable, Equatable, Sendable {
    /// Minimum IoU to associate a detection with a track.
    public var iouThreshold: Double = 0.3
    /// Frames a track survives without a matching detection before it ends.
    public var maxAge: Int = 10
    /// EMA weight of the newest scores (1 = no smoothing).
    public var emaAlpha: Double = 0.3
    /// A `change` needs the new smoothed label to lead the current one by this much probability...
    public var changeMargin: Double = 0.15
    /// ...continuously for this many seconds of media time (seconds, not frames, so the same
    /// setting holds at 2 fps and at 30). Defaults chosen on the visible clips (README, "Label
    /// stability"): a calm speaker's 8 s give at most one change.
    public var changeDwell: Double = 1.0
    /// Deprecated floor in frames on top of `changeDwell` (1 = none; kept so older configs load).
    public var debounce: Int = 1
    /// Detections a track needs before it is reported (suppresses one-frame false positives).
    public var minHits: Int = 3
    public init() {}
}
