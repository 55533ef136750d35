import EmotionCore
import Foundation
import XCTest
@testable import Sinks

/// Sustained-emotion notices from a scripted event sequence on a scripted clock.
final class NoticeSinkTests: XCTestCase {
    func testOneNoticePerStretchOfAWatchedLabel() throws {
        var sent: [Notice] = []
        let sink = NoticeSink(seconds: 10, labels: ["sad", "angry"], camera: "cam") { sent.append($0) }
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
                sink.apply([MQTTPayloadTests.event(.new, track: 1, "sad"), MQTTPayloadTests.event(.new, track: 2, "happy")], now: t0)
        sink.check(now: t0.addingTimeInterval(9.9))
        XCTAssertEqual(sent.count, 0, "not yet 10 s")
        sink.check(now: t0.addingTimeInterval(10))
        sink.check(now: t0.addingTimeInterval(30))
        XCTAssertEqual(sent.map(\.track), [1], "once per stretch; happy is not watched")
        XCTAssertEqual(sent.first?.label, "sad"); XCTAssertEqual(sent.first?.seconds, 10)
        XCTAssertEqual(sent.first?.since, "2026-12-01T10:00:00.000Z")
        // A change starts a new stretch; an end forgets the track.
        sink.apply([MQTTPayloadTests.event(.change, track: 1, "angry")], now: t0.addingTimeInterval(31))
        sink.check(now: t0.addingTimeInterval(40))
        XCTAssertEqual(sent.count, 1)
        sink.check(now: t0.addingTimeInterval(41))
        XCTAssertEqual(sent.map(\.label), ["sad", "angry"])
        sink.apply([MQTTPayloadTests.event(.new, track: 3, "sad"), MQTTPayloadTests.event(.end, track: 3, "sad")], now: t0.addingTimeInterval(50))
        sink.check(now: t0.addingTimeInterval(70))
        XCTAssertEqual(sent.count, 2, "an ended track gives no notice")
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(sent[0])) as? [String: Any]
        XCTAssertEqual(json?["schema"] as? String, "emotiond.notice/1")
    }
}
