import EmotionCore
import Foundation
import Sinks
import XCTest

/// The fan-out every command uses: order, lifetime calls, and the two error policies.
final class SinkDispatcherTests: XCTestCase {
    struct Failure: Error, Equatable { let sink: String }

    /// Records what it was given; fails on `write` when told to.
    final class Recorder: FrameSink {
        let name: String
        var failWrites = false
        var log: [String] = []
        init(_ name: String) { self.name = name }
        func begin(_ source: SourceInfo) throws { log.append("begin \(source.name)") }
        func write(_ out: FrameOutput) throws {
            if failWrites { throw Failure(sink: name) }
            log.append("write \(out.result.frame) events \(out.events.count)")
        }
        func end(_ source: SourceInfo, events: [TrackEvent]) throws { log.append("end \(source.framesRead) \(events.count)") }
        func close() throws { log.append("close") }
        func abort() { log.append("abort") }
    }

    func output(_ i: Int, events: Int = 0) -> FrameOutput {
        let r = FrameResult(timestamp: "2026-11-30T00:00:00.000Z", mediaTime: Double(i), frame: i, source: "s",
                            width: 4, height: 4, faces: [], latencyMs: StageLatency())
        let snap = TrackEvent.Snapshot(label: "happy", confidence: 0.9, scores: [:], box: FaceBox(x: 0, y: 0, width: 2, height: 2),
                                       firstSeen: 0, lastSeen: 0, mediaTime: 0, timestamp: r.timestamp)
        let e = TrackEvent(id: "1.000000-abcdef", type: .new, track: 1, before: nil, after: snap, mediaTime: 0,
                           timestamp: r.timestamp, source: "s")
        return FrameOutput(frame: Frame(width: 4, height: 4, format: .gray8, pixels: [UInt8](repeating: 0, count: 16), index: i),
                           result: r, events: Array(repeating: e, count: events))
    }

    func testEverySinkGetsEveryCallInOrder() throws {
        let a = Recorder("a"), b = Recorder("b")
        let d = SinkDispatcher([a, b])
        var info = SourceInfo(name: "clip", fps: 30, width: 4, height: 4)
        try d.begin(info)
        try d.write(output(0, events: 1))
        try d.write(output(1))
        info.framesRead = 2
        try d.end(info, events: [output(0, events: 1).events[0]])
        try d.close()
        let expected = ["begin clip", "write 0 events 1", "write 1 events 0", "end 2 1", "close"]
        XCTAssertEqual(a.log, expected)
        XCTAssertEqual(b.log, expected)
    }

    /// batch/image: the first failure stops the frame there and reaches the caller, who aborts all.
    func testFailFastStopsAtTheFirstFailure() {
        let a = Recorder("a"), b = Recorder("b"), c = Recorder("c")
        b.failWrites = true
        let d = SinkDispatcher([a, b, c])
        XCTAssertThrowsError(try d.write(output(0))) { XCTAssertEqual($0 as? Failure, Failure(sink: "b")) }
        XCTAssertEqual(c.log, [], "a sink after the failing one must not get the frame")
        d.abort()
        XCTAssertEqual(a.log, ["write 0 events 0", "abort"])
        XCTAssertEqual(c.log, ["abort"])
    }

    /// The daemon: a failing sink (a full disk under the log) is reported, the others go on.
    func testIsolateReportsAndKeepsTheOthersGoing() throws {
        let a = Recorder("a"), b = Recorder("b"), c = Recorder("c")
        b.failWrites = true
        var reported: [Failure] = []
        let d = SinkDispatcher([a, b, c], policy: .isolate(report: { reported.append($0 as! Failure) }))
        try d.write(output(0))
        try d.write(output(1))
        XCTAssertEqual(reported, [Failure(sink: "b"), Failure(sink: "b")])
        XCTAssertEqual(c.log, ["write 0 events 0", "write 1 events 0"])
    }
}
