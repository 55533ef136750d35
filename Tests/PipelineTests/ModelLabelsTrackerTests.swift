import EmotionCore
import Foundation
import Pipeline
import Settings
import XCTest

/// The tracker and the events with a model's own classes (issue #16): eight FER+ classes, none of
/// them in FER2013's order; labels are indices on the hot path and names in the outputs.
final class ModelLabelsTrackerTests: XCTestCase {
    let labels = LabelSet(["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"])
    let box = FaceBox(x: 10, y: 10, width: 80, height: 80)

    func scores(_ name: String, _ p: Float = 0.9) -> EmotionScores {
        var v = [Float](repeating: (1 - p) / 7, count: 8)
        v[labels.index(of: name)!] = p
        return EmotionScores(v, labels: labels)
    }

    func testEventsAndFacesCarryTheModelsLabels() {
        let tracker = Tracker(config: TrackerConfig())
        let builder = TrackEventBuilder(makeID: { "t" })
        var events: [TrackEvent] = []
        var faces: [TrackedFace] = []
        for i in 0..<90 {
            let t = Double(i) / 30
            let s = scores(t < 1 ? "neutral" : "contempt")
            let (ids, smoothed, evs) = tracker.update(boxes: [box], scores: [s], mediaTime: t)
            events += builder.events(evs, mediaTime: t, timestamp: "x", source: "s")
            faces.append(TrackedFace(track: ids[0], box: box, raw: s, smoothed: smoothed[0]))
        }
        XCTAssertEqual(events.map(\.type), [.new, .change])
        XCTAssertEqual(events.map(\.label), ["neutral", "contempt"])
        XCTAssertEqual(events.last?.before?.label, "neutral")
        for e in events { XCTAssertEqual(Set(e.scores.keys), Set(labels.names)) }
        XCTAssertEqual(Set(faces.last!.scores.keys), Set(labels.names))
        XCTAssertEqual(faces.last?.rawLabel, "contempt")
    }

    func testKnownNamesAndSynonymsMapToFER2013() {
        XCTAssertEqual(labels.known, [.neutral, .happy, .surprise, .sad, .angry, .disgust, .fear, nil])
        XCTAssertEqual(scores("anger").top.label.name, "anger")
        XCTAssertEqual(scores("anger")["anger"], 0.9, accuracy: 1e-6)
        XCTAssertEqual(scores("anger")["angry"], 0, "a name the model does not have scores 0")
    }
}
