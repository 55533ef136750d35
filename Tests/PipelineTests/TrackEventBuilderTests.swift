import EmotionCore
import Foundation
import Pipeline
import Settings
import XCTest

/// Event ids and Frigate-style `before`/`after`: the tracker is fed boxes and scores directly.
final class TrackEventBuilderTests: XCTestCase {
    let left = FaceBox(x: 10, y: 10, width: 80, height: 80), right = FaceBox(x: 400, y: 10, width: 80, height: 80)

    func scores(_ e: Emotion, _ p: Float = 0.8) -> EmotionScores {
        var v = [Float](repeating: (1 - p) / 6, count: 7)
        v[e.rawValue] = p
        return EmotionScores(v)
    }

    /// Face A: neutral, then clearly happy (a change), then gone (an end); face B comes in the
    /// middle and is still there when the source ends.
    func twoFaces() -> [TrackEvent] {
        var n = 0
        let builder = TrackEventBuilder(makeID: { n += 1; return "id\(n)" })
        let tracker = Tracker(config: TrackerConfig())
        var out: [TrackEvent] = []
        for i in 0..<150 {
            let t = Double(i) / 10
            var boxes: [FaceBox] = [], s: [EmotionScores] = []
            if t < 10 { boxes.append(left); s.append(scores(t < 4 ? .neutral : .happy)) }
            if t >= 3 { boxes.append(right); s.append(scores(.sad)) }
            out += builder.events(tracker.update(boxes: boxes, scores: s, mediaTime: t).events,
                                  mediaTime: t, timestamp: "2026-12-01T00:00:00.000Z", source: "test")
        }
        return out + builder.events(tracker.finish(), mediaTime: 15, timestamp: "2026-12-01T00:00:15.000Z", source: "test")
    }

    func testOneIDPerTrackAndBeforeIsThePreviousAfter() {
        let evs = twoFaces()
        let byTrack = Dictionary(grouping: evs, by: \.track)
        XCTAssertEqual(byTrack.count, 2)
        let a = byTrack[1]!, b = byTrack[2]!
        XCTAssertEqual(a.map(\.type), [.new, .change, .end])
        XCTAssertEqual(b.map(\.type), [.new, .end])
        XCTAssertEqual(Set(a.map(\.id)), ["id1"], "every event of a track carries its id")
        XCTAssertEqual(Set(b.map(\.id)), ["id2"])
        for events in [a, b] {
            XCTAssertNil(events[0].before, "new has no before")
            for (prev, e) in zip(events, events.dropFirst()) { XCTAssertEqual(e.before, prev.after, "\(e.type)") }
            for e in events {
                XCTAssertEqual(e.label, e.after.label); XCTAssertEqual(e.confidence, e.after.confidence)
                XCTAssertEqual(e.scores, e.after.scores); XCTAssertEqual(e.after.mediaTime, e.mediaTime)
            }
        }
        XCTAssertEqual(a[1].before?.label, "neutral"); XCTAssertEqual(a[1].after.label, "happy")
        // The end reports the track as last seen: same label, box and last detection time.
        XCTAssertEqual(a[2].after.label, "happy")
        XCTAssertEqual(a[2].after.box, left)
        XCTAssertEqual(a[2].after.lastSeen, 9.9, accuracy: 1e-9)
        XCTAssertEqual(a[0].after.firstSeen, 0)
        XCTAssertEqual(b[0].after.firstSeen, 3, accuracy: 1e-9)
    }

    func testFrigateIDsAreWellFormedAndDistinct() {
        let ids = (0..<2000).map { _ in TrackEventBuilder.frigateID() }
        XCTAssertEqual(Set(ids).count, ids.count)
        for id in ids.prefix(50) {
            XCTAssertNotNil(id.range(of: "^[0-9]+\\.[0-9]{6}-[a-z0-9]{6}$", options: .regularExpression), id)
        }
        let start = Double(ids[0].prefix { $0 != "-" })!
        XCTAssertEqual(start, Date().timeIntervalSince1970, accuracy: 60, "the id starts with the unix time")
    }
}
