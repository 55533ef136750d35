import EmotionCore
import Foundation
import GRDB
@testable import History
import XCTest

/// The event history's size cap (`history.max_mb`) and the report's timeline, in-process.
final class EventHistoryTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("history-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    static let labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)   // 2027-01-15T08:00:00Z

    /// Event `i` of track `i / 3` (new, change, change), one a second from t0, as the tracker makes them.
    static func event(_ i: Int, label: String? = nil, at t: Double? = nil, type: TrackEvent.Kind? = nil) -> TrackEvent {
        let time = EventHistory.stamp(t0.addingTimeInterval(t ?? Double(i)))
        let l = label ?? labels[i % labels.count]
        let scores = Dictionary(uniqueKeysWithValues: labels.map { ($0, Float($0 == l ? 0.7 : 0.05)) })
        let snap = TrackEvent.Snapshot(label: l, confidence: 0.7, scores: scores, box: FaceBox(x: 10 + i % 50, y: 20, width: 96, height: 96),
                                       firstSeen: Double(i / 3 * 3), lastSeen: Double(i), mediaTime: Double(i), timestamp: time)
        let track = i / 3
        return TrackEvent(id: String(format: "%d.%06d-abc%03d", 1_800_000_000 + track, track % 1_000_000, track % 1000),
                          type: type ?? (i % 3 == 0 ? .new : .change), track: i / 3, before: nil, after: snap,
                          mediaTime: Double(i), timestamp: time, source: "cam.mp4")
    }

    func fill(_ h: EventHistory, _ n: Int) throws {
        for start in stride(from: 0, to: n, by: 50) { try h.append((start..<min(n, start + 50)).map { Self.event($0) }, camera: "cam1") }
    }

    func allIDs(_ h: EventHistory) throws -> [Int] {
        var q = EventHistory.Query(); q.limit = Int.max
        return try h.events(q).map { json in
            let e = try JSONDecoder().decode(TrackEvent.self, from: Data(json.utf8))
            return Int(e.mediaTime)
        }.sorted()
    }

    /// 8000 events (~6 MB uncapped) under a 1 MiB cap: the file stays under it, the newest events are
    /// all there, the oldest gone (only a newest run kept); reopening with a smaller cap shrinks it at start.
    func testSizeCapDeletesTheOldestAndKeepsTheFileUnderIt() throws {
        let free = try EventHistory(path: dir.appendingPathComponent("free.sqlite").path, keepDays: 3650)
        try fill(free, 8000)
        let cap = 1 << 20
        XCTAssertGreaterThan(free.fileBytes(), 3 * cap, "the events must overflow the cap for this test to mean anything")

        let path = dir.appendingPathComponent("capped.sqlite").path
        let h = try EventHistory(path: path, keepDays: 3650, maxBytes: cap)
        try fill(h, 8000)
        try h.enforceSize()   // what the hourly tick does (inserts only check every 100 events)
        XCTAssertLessThanOrEqual(h.fileBytes(), cap)
        let kept = try allIDs(h)
        XCTAssertEqual(kept.last, 7999, "the newest event is kept")
        XCTAssertEqual(kept, Array((8000 - kept.count)..<8000), "exactly a run of the newest is kept")
        XCTAssertGreaterThan(kept.count, 300, "not emptied: \(kept.count) kept, \(h.fileBytes()) bytes")
        XCTAssertLessThan(kept.count, 8000)
        print("size cap: 8000 events (\(free.fileBytes()) bytes uncapped) under \(cap): \(kept.count) kept, \(h.fileBytes()) bytes")

        let smaller = try EventHistory(path: path, keepDays: 3650, maxBytes: cap / 2)   // at start
        XCTAssertLessThanOrEqual(smaller.fileBytes(), cap / 2)
        let keptNow = try allIDs(smaller)
        XCTAssertEqual(keptNow, Array((8000 - keptNow.count)..<8000))
        XCTAssertLessThan(keptNow.count, kept.count)
    }

    /// A file made without auto_vacuum (before the cap existed) is converted at open, so it can shrink.
    func testAnOldFileIsMadeIncrementalWhenCapped() throws {
        let path = dir.appendingPathComponent("old.sqlite").path
        let q = try DatabaseQueue(path: path)
        try EventHistory.migrator.migrate(q)
        XCTAssertEqual(try q.read { try Int.fetchOne($0, sql: "PRAGMA auto_vacuum") }, 0)
        try q.close()
        let h = try EventHistory(path: path, keepDays: 30, maxBytes: 1 << 20)
        try fill(h, 300)
        let check = try DatabaseQueue(path: path)
        XCTAssertEqual(try check.read { try Int.fetchOne($0, sql: "PRAGMA auto_vacuum") }, 2)
    }

    /// One face happy for 90 s then sad for 30 s, another neutral for 60 s overlapping: per 60 s bucket
    /// the seconds and shares are exactly the overlaps.
    func testReportBucketsAreTheOverlaps() throws {
        let a = [Self.event(0, label: "happy", at: 0, type: .new), Self.event(1, label: "sad", at: 90, type: .change),
                 Self.event(2, label: "sad", at: 120, type: .end)]
        var b = [Self.event(3, label: "neutral", at: 30, type: .new), Self.event(4, label: "neutral", at: 90, type: .end)]
        for i in b.indices { b[i].id = "2.000000-other0" }
        let events = (a + b).sorted { $0.timestamp < $1.timestamp }
        let r = try EventReport.make(events, camera: nil, since: nil, until: EventHistory.stamp(Self.t0.addingTimeInterval(180)),
                                     now: Date(), bucket: 60)
        XCTAssertEqual(r.buckets?.map(\.start), (0..<3).map { EventHistory.stamp(Self.t0.addingTimeInterval(Double($0) * 60)) })
        let secs = try XCTUnwrap(r.buckets).map { $0.seconds.filter { $0.value > 0 } }
        XCTAssertEqual(secs, [["happy": 60, "neutral": 30], ["happy": 30, "neutral": 30, "sad": 30], [:]])
        XCTAssertEqual(r.buckets?[0].shares["happy"] ?? 0, 2.0 / 3, accuracy: 0.0001)
        XCTAssertEqual(r.buckets?[2].shares.values.reduce(0, +), 0)
        XCTAssertEqual(r.seconds["happy"], 90); XCTAssertEqual(r.seconds["sad"], 30)
        XCTAssertThrowsError(try EventReport.make(events, camera: nil, since: EventHistory.stamp(Self.t0.addingTimeInterval(-86400 * 30)),
                                                  until: nil, now: Self.t0, bucket: 1))
        XCTAssertNil(try EventReport.make(events, camera: nil, since: nil, until: nil, now: Self.t0).buckets)
    }
}
