import EmotionCore
import Pipeline
import Settings
import XCTest

/// The tracker's label hysteresis (issue #13): a `change` needs a lead of `changeMargin` held for
/// `changeDwell` seconds of media time, whatever the frame rate. Scores are fed directly (no
/// detector, no model), so each case isolates the rule.
final class TrackerHysteresisTests: XCTestCase {
    let box = FaceBox(x: 100, y: 100, width: 80, height: 80)

    /// Probabilities with `a` on neutral and `b` on sad, the rest spread evenly.
    func scores(neutral a: Float, sad b: Float) -> EmotionScores {
        var v = [Float](repeating: (1 - a - b) / 5, count: 7)
        v[Emotion.neutral.rawValue] = a; v[Emotion.sad.rawValue] = b
        return EmotionScores(v)
    }

    /// Runs `seconds` of video at `fps`, scores from `at(t)`; returns the change events' times.
    func changes(fps: Double, seconds: Double, config: TrackerConfig = TrackerConfig(),
                 _ at: (Double) -> EmotionScores) -> [(Double, String)] {
        let tracker = Tracker(config: config)
        var out: [(Double, String)] = []
        for i in 0..<Int(seconds * fps) {
            let t = Double(i) / fps
            let evs = tracker.update(boxes: [box], scores: [at(t)], mediaTime: t).events
            out += evs.filter { $0.0 == .change }.map { (t, $0.1.label.name) }
        }
        return out
    }

    /// A calm speaker: neutral and sad within a few points of each other, the top flipping
    /// every few frames. Before the hysteresis this produced a change every few frames.
    func testCloseScoresFlickeringGiveNoChangeAtAnyFrameRate() {
        for fps in [2.0, 10.0, 30.0, 60.0] {
            var rng = SystemRandomNumberGenerator()
            let evs = changes(fps: fps, seconds: 8) { _ in
                let d = Float.random(in: -0.06...0.06, using: &rng)
                return self.scores(neutral: 0.42 + d, sad: 0.42 - d)
            }
            XCTAssertLessThanOrEqual(evs.count, 1, "\(fps) fps: \(evs)")
        }
    }

    /// A real switch (neutral → clearly sad at t = 3 s) gives exactly one change, about
    /// `changeDwell` after the smoothed lead passes the margin, at every frame rate.
    func testClearSwitchGivesOneChangeAfterTheDwell() {
        for fps in [2.0, 10.0, 30.0] {
            let evs = changes(fps: fps, seconds: 8) { t in
                t < 3 ? self.scores(neutral: 0.7, sad: 0.1) : self.scores(neutral: 0.1, sad: 0.7)
            }
            XCTAssertEqual(evs.map(\.1), ["sad"], "\(fps) fps")
            if let t = evs.first?.0 {
                XCTAssertGreaterThanOrEqual(t, 3 + TrackerConfig().changeDwell, "\(fps) fps: too early")
                XCTAssertLessThan(t, 3 + TrackerConfig().changeDwell + 1.5, "\(fps) fps: too late")
            }
        }
    }

    /// A lead below the margin never changes the label, however long it lasts.
    func testLeadBelowMarginNeverChanges() {
        var c = TrackerConfig(); c.changeMargin = 0.2
        let evs = changes(fps: 30, seconds: 10, config: c) { t in
            t < 1 ? self.scores(neutral: 0.5, sad: 0.3) : self.scores(neutral: 0.36, sad: 0.46)
        }
        XCTAssertTrue(evs.isEmpty, "\(evs)")
    }

    /// A lead that lapses before the dwell ends restarts the clock: 0.8 s bursts never change.
    func testShortBurstsShorterThanTheDwellAreIgnored() {
        var c = TrackerConfig(); c.emaAlpha = 1   // no smoothing: the bursts reach the rule as they are
        let evs = changes(fps: 30, seconds: 10, config: c) { t in
            t.truncatingRemainder(dividingBy: 2) >= 1.2 ? self.scores(neutral: 0.1, sad: 0.8)
                                                       : self.scores(neutral: 0.8, sad: 0.1)
        }
        XCTAssertTrue(evs.isEmpty, "\(evs)")
    }

    /// The lead must be seen continuously: 0.6 s of lead, the face gone for 5 frames, then the lead
    /// again — the change needs a fresh full dwell after the gap (before, the clock kept running
    /// across the gap and the change fired ~0.4 s after the face came back).
    func testAGapRestartsTheDwell() {
        let tracker = Tracker(config: TrackerConfig())
        var changes: [Double] = []
        for i in 0..<(30 * 6) {
            let t = Double(i) / 30
            let gone = t >= 3.6 && t < 3.6 + 5.0 / 30
            let s = t < 3 ? scores(neutral: 0.8, sad: 0.05) : scores(neutral: 0.05, sad: 0.8)
            let evs = tracker.update(boxes: gone ? [] : [box], scores: gone ? [] : [s], mediaTime: t).events
            changes += evs.filter { $0.0 == .change }.map { _ in t }
        }
        XCTAssertEqual(changes.count, 1, "\(changes)")
        if let t = changes.first {
            // The smoothed lead passes the margin shortly after 3 s; after the gap (ends 3.77 s) the
            // dwell starts again, so the change comes at ≥ 3.77 + 1.0 s.
            XCTAssertGreaterThanOrEqual(t, 3.6 + 5.0 / 30 + TrackerConfig().changeDwell - 1e-9, "\(t)")
        }
    }
}
