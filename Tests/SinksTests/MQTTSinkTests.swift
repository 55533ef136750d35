import EmotionCore
import Foundation
import Logging
import Settings
import XCTest
@testable import Sinks

/// The MQTT sink against a real broker: what it publishes, when, and retained or not.
final class MQTTSinkTests: XCTestCase {
    var dir: URL!
    var processes: [Process] = []

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("mqtt-sink-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        for p in processes where p.isRunning { p.terminate(); p.waitUntilExit() }
        try? FileManager.default.removeItem(at: dir)
    }

    func start(_ exe: String, _ args: [String], stdout: String? = nil) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardError = FileHandle.nullDevice
        if let stdout {
            FileManager.default.createFile(atPath: stdout, contents: nil)
            p.standardOutput = FileHandle(forWritingAtPath: stdout)
        }
        try p.run()
        processes.append(p)
        return p
    }

    /// mosquitto on `port`, without persistence (a restart loses what was retained).
    func broker(_ port: Int) throws -> Process {
        let conf = dir.appendingPathComponent("m.conf")
        try "listener \(port) 127.0.0.1\nallow_anonymous true\npersistence false\n".write(to: conf, atomically: true, encoding: .utf8)
        let b = try start("/usr/sbin/mosquitto", ["-c", conf.path])
        usleep(300_000)
        return b
    }

    /// "topic payload" lines a subscriber to `topic` received, written to `name` in `dir`.
    func subscribe(_ port: Int, _ topic: String, _ name: String) throws -> () -> [(topic: String, payload: String)] {
        let path = dir.appendingPathComponent(name).path
        _ = try start("/usr/bin/mosquitto_sub", ["-p", "\(port)", "-t", topic, "-v", "-q", "1"], stdout: path)
        usleep(300_000)
        return {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map {
                let p = $0.split(separator: " ", maxSplits: 1)
                return (String(p[0]), p.count > 1 ? String(p[1]) : "")
            }
        }
    }

    func eventually(_ timeout: Double, _ pred: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end { if pred() { return true }; usleep(50_000) }
        return pred()
    }

    func frame(_ events: [TrackEvent], faces: [TrackedFace] = []) -> FrameOutput {
        let r = FrameResult(timestamp: "2026-12-01T10:00:00.000Z", mediaTime: 1, frame: 1, source: "s", width: 4, height: 4,
                            faces: faces, latencyMs: StageLatency())
        return FrameOutput(frame: Frame(width: 4, height: 4, format: .gray8, pixels: [UInt8](repeating: 0, count: 16)),
                           result: r, events: events)
    }

    func testWhatTheSinkPublishesAndWhen() throws {
        let port = MQTTConnectErrorTests.freePort()
        var b = try broker(port)
        let received = try subscribe(port, "#", "all")
        var s = MQTTSettings()
        s.port = port; s.clientID = "sink-test-\(port)"; s.topicPrefix = "st"
        let pub = try MQTTPublisher(settings: s)
        XCTAssertTrue(eventually(5) { pub.isConnected })
        let topics = MQTTTopics(prefix: "st", camera: "door")
        let ha = HomeAssistantDiscovery(prefix: "ha", topics: topics, version: "t")
        let sink = MQTTSink(publisher: pub, topics: topics, minConfidence: 0.5, stateInterval: 2, discovery: ha,
                            log: Logger(label: "test"))
        func ev(_ t: TrackEvent.Kind, _ track: Int, _ label: String, _ p: Float, _ before: TrackEvent.Snapshot?) -> TrackEvent {
            MQTTPayloadTests.event(t, track: track, label, p, before: before)
        }
        try sink.tick(now: Date())                            // discovery; no state before a frame
        try sink.tick(now: Date())                            // discovery once per connection
        try sink.write(frame([]))                             // the first frame: the (empty) state
        try sink.write(frame([ev(.new, 1, "happy", 0.7, nil)]))
        let face = TrackedFace(track: 1, box: FaceBox(x: 1, y: 1, width: 9, height: 9), raw: EmotionScores([0, 0, 0, 1, 0, 0, 0]),
                               smoothed: EmotionScores([0, 0, 0, 0.6, 0.4, 0, 0]))
        try sink.write(frame([], faces: [face]))              // a confidence alone is no change
        try sink.write(frame([ev(.new, 2, "sad", 0.3, nil)])) // below min_confidence: no event, but the state changes
        try sink.tick(now: Date().addingTimeInterval(1))      // before the interval: nothing
        try sink.tick(now: Date().addingTimeInterval(2.5))    // the refresh
        XCTAssertTrue(eventually(5) { received().count >= 9 }, "\(received())")
        let states = received().filter { $0.topic == "st/door/state" }.map {
            try! JSONSerialization.jsonObject(with: Data($0.payload.utf8)) as! [String: Any]
        }
        XCTAssertEqual(received().map(\.topic), ["st/available", "ha/sensor/st_door/dominant_emotion/config",
                                                "ha/sensor/st_door/faces/config", "ha/binary_sensor/st_door/face_present/config",
                                                "st/door/state", "st/door/events", "st/door/state", "st/door/state", "st/door/state"])
        XCTAssertEqual(states.map { $0["faces"] as? Int }, [0, 1, 2, 2])
        XCTAssertEqual((states[3]["tracks"] as? [[String: Any]])?.first?["confidence"] as? Double ?? 0, 0.6, accuracy: 1e-6,
                       "the refresh carries the latest confidence")
        XCTAssertNotEqual(states[3]["timestamp"] as? String, "2026-12-01T10:00:00.000Z", "a refresh is stamped when it is sent")

        // Retained: a subscriber that comes later gets the discovery configs and the state.
        let late = try subscribe(port, "#", "late")
        XCTAssertTrue(eventually(3) { late().count >= 5 }, "\(late())")
        XCTAssertEqual(Set(late().map(\.topic)), Set(ha.configTopics + ["st/available", "st/door/state"]))

        // A broker restarted without persistence gets the discovery again on the next tick.
        b.terminate(); b.waitUntilExit()
        b = try broker(port)
        let after = try subscribe(port, "ha/#", "after")
        XCTAssertTrue(eventually(10) { pub.connections == 2 }, "no reconnect")
        try sink.tick(now: Date())
        XCTAssertTrue(eventually(3) { after().count == 3 }, "\(after())")

        // The end: the end events, the emptied state, then offline.
        let ended = try subscribe(port, "st/#", "ended")
        try sink.end(SourceInfo(name: "s", fps: 30, width: 4, height: 4),
                     events: [ev(.end, 1, "happy", 0.7, MQTTPayloadTests.snapshot("happy", 0.7)),
                              ev(.end, 2, "sad", 0.3, MQTTPayloadTests.snapshot("sad", 0.3))])
        try sink.close()
        _ = pub.shutdown()   // the daemon's part: after every camera's sink has ended
        XCTAssertTrue(eventually(3) { ended().last?.payload == "offline" }, "\(ended())")
        let tail = ended().filter { $0.topic != "st/available" || $0.payload == "offline" }.suffix(4)
        XCTAssertEqual(tail.map(\.topic), ["st/door/events", "st/door/events", "st/door/state", "st/available"])
        let last = try JSONSerialization.jsonObject(with: Data(tail.dropLast().last!.payload.utf8)) as! [String: Any]
        XCTAssertEqual(last["faces"] as? Int, 0); XCTAssertTrue(last["dominant"] is NSNull)
    }
}
