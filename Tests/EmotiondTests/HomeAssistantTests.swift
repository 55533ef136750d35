import Foundation
import XCTest

/// `emotiond run` for deployments (issue #17): Home Assistant discovery, event ids, and the
/// retained state (refreshed while the source stalls, emptied at stop), with a real broker.
final class HomeAssistantTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try CLI.tempDir() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// Writes the test config (again: a reload rewrites it); `mqttExtra` goes into outputs.mqtt,
    /// `extra` after it under outputs.
    func config(port: Int, mqttExtra: String = "", extra: String = "") throws -> String {
        let p = dir.appendingPathComponent("emotiond.yaml").path
        try """
        camera:
          name: cam1
        outputs:
          mqtt:
            enabled: true
            port: \(port)
            topic_prefix: emotiond-test
            state_interval: 1
        \(mqttExtra)
        \(extra)
        """.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func object(_ payload: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: Any] ?? [:]
    }

    func eventually(_ timeout: Double, _ pred: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end { if pred() { return true }; usleep(100_000) }
        return pred()
    }

    /// Writes `payloads` as NDJSON and validates them against `schema`.
    func validate(_ payloads: [String], _ schema: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let p = dir.appendingPathComponent("\(schema).ndjson").path
        try payloads.joined(separator: "\n").write(toFile: p, atomically: true, encoding: .utf8)
        let r = try CLI.validate(p, schema: schema)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr, file: file, line: line)
    }

    /// A face that comes and goes (the clip, looped): two tracks. Discovery is retained and has
    /// Home Assistant's required fields, its templates render against the real state payloads,
    /// every event of a track carries one id and no two tracks share one; after SIGTERM the
    /// retained state is empty and the availability `offline`.
    func testDiscoveryEventIDsAndStateAfterStop() throws {
        let broker = try Broker(dir: dir)
        let sub = try Subscriber(port: broker.port, topic: "#", dir: dir)
        let d = try Child(CLI.binary, ["run", "--config", try config(port: broker.port), "--source", CLI.media("face_noface.mov"), "--loop"],
                          dir: dir, name: "daemon")
        func events() -> [[String: Any]] { sub.messages.filter { $0.topic == "emotiond-test/cam1/events" }.map { object($0.payload) } }
        XCTAssertTrue(eventually(60) { Set(events().filter { $0["type"] as? String == "new" }.map { $0["id"] as! String }).count >= 2 },
                      "two tracks expected; events: \(events().map { "\($0["type"]!) \($0["track"]!)" }); daemon: \(d.stderr)")

        // Discovery: three retained configs with the documented required fields.
        let configs = sub.messages.filter { $0.topic.hasPrefix("homeassistant/") }
        XCTAssertEqual(Set(configs.map(\.topic)), ["homeassistant/sensor/emotiond-test_cam1/dominant_emotion/config",
                                                   "homeassistant/sensor/emotiond-test_cam1/faces/config",
                                                   "homeassistant/binary_sensor/emotiond-test_cam1/face_present/config"])
        for c in configs.map({ object($0.payload) }) {
            XCTAssertEqual(c["state_topic"] as? String, "emotiond-test/cam1/state")
            XCTAssertEqual(c["availability_topic"] as? String, "emotiond-test/available")
            XCTAssertNotNil(c["unique_id"] as? String)
            XCTAssertEqual((c["device"] as? [String: Any])?["identifiers"] as? [String], ["emotiond-test_cam1"])
        }
        let late = try Subscriber(port: broker.port, topic: "homeassistant/#", dir: dir, name: "late-ha")
        XCTAssertTrue(late.waitFor(3) { $0.count == 3 }, "discovery is retained: \(late.messages)")

        // The value templates, rendered by Jinja2, against the state payloads the daemon sent.
        let states = sub.messages.filter { $0.topic == "emotiond-test/cam1/state" }.map(\.payload)
        XCTAssertTrue(states.contains { object($0)["faces"] as? Int == 0 } && states.contains { (object($0)["faces"] as? Int ?? 0) > 0 })
        let templates = configs.map { object($0.payload)["value_template"] as! String }
        let input = try JSONSerialization.data(withJSONObject: ["templates": templates, "states": states])
        let inFile = dir.appendingPathComponent("render.json")
        try input.write(to: inFile)
        let r = try CLI.run(["-c", """
            import json, sys, jinja2
            d = json.load(open(sys.argv[1]))
            env = jinja2.Environment(undefined=jinja2.StrictUndefined)
            for s in d["states"]:
                print("|".join(env.from_string(t).render(value_json=json.loads(s)) for t in d["templates"]))
            """, inFile.path], executable: CLI.python)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").count, states.count, r.stdout)
        let byTopic = Dictionary(uniqueKeysWithValues: zip(configs.map(\.topic), 0...))
        for (s, rendered) in zip(states.map(object), r.stdout.split(separator: "\n").map { $0.split(separator: "|").map(String.init) }) {
            let faces = s["faces"] as! Int
            XCTAssertEqual(rendered[byTopic["homeassistant/sensor/emotiond-test_cam1/faces/config"]!], "\(faces)")
            XCTAssertEqual(rendered[byTopic["homeassistant/binary_sensor/emotiond-test_cam1/face_present/config"]!], faces > 0 ? "ON" : "OFF")
            XCTAssertEqual(rendered[byTopic["homeassistant/sensor/emotiond-test_cam1/dominant_emotion/config"]!],
                           (s["dominant"] as? String) ?? "none")
        }

        // SIGTERM: the open track ends, the retained state empties, then `offline`.
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(3), 0, d.stderr)
        XCTAssertTrue(sub.waitFor(3) { $0.last?.topic == "emotiond-test/available" && $0.last?.payload == "offline" }, "\(sub.messages.suffix(3))")
        let after = try Subscriber(port: broker.port, topic: "emotiond-test/#", dir: dir, name: "late-state")
        XCTAssertTrue(after.waitFor(3) { $0.count >= 2 }, "\(after.messages)")
        XCTAssertEqual(after.messages.first { $0.topic == "emotiond-test/available" }?.payload, "offline")
        let final = object(after.messages.first { $0.topic == "emotiond-test/cam1/state" }?.payload ?? "{}")
        XCTAssertEqual(final["faces"] as? Int, 0); XCTAssertTrue(final["dominant"] is NSNull)
        XCTAssertEqual((final["tracks"] as? [Any])?.count, 0)

        // Event ids: one per track, on every one of its events (new, change, end); distinct tracks,
        // distinct ids; the state names the same ids.
        let evs = events()
        let ids = Dictionary(grouping: evs, by: { $0["track"] as! Int }).mapValues { Set($0.map { $0["id"] as! String }) }
        XCTAssertGreaterThanOrEqual(ids.count, 2)
        XCTAssertTrue(evs.contains { $0["type"] as? String == "change" }, "a change is needed to show its id is the track's")
        XCTAssertTrue(ids.values.allSatisfy { $0.count == 1 }, "\(ids)")
        XCTAssertEqual(Set(ids.values.flatMap { $0 }).count, ids.count, "\(ids)")
        for (track, kinds) in Dictionary(grouping: evs, by: { $0["track"] as! Int }).mapValues({ $0.map { $0["type"] as! String } }) {
            XCTAssertEqual(kinds.first, "new", "track \(track)"); XCTAssertEqual(kinds.last, "end", "track \(track): \(kinds)")
        }
        for s in states.map(object) {
            for t in s["tracks"] as! [[String: Any]] { XCTAssertEqual(ids[t["track"] as! Int], [t["id"] as! String]) }
        }
        try validate(sub.messages.filter { $0.topic.hasSuffix("/events") }.map(\.payload), "event.schema.json")
        try validate(states + [after.messages.first { $0.topic.hasSuffix("/state") }!.payload], "state.schema.json")
    }

    /// The source stalls with a face in view: the retained state is still refreshed every
    /// `state_interval` (fresh timestamps, the face still there). A reload turning discovery off
    /// removes the entities (empty retained configs). SIGTERM empties the state.
    func testStateRefreshedWhileTheSourceStallsAndDiscoveryWithdrawn() throws {
        let broker = try Broker(dir: dir)
        let sub = try Subscriber(port: broker.port, topic: "#", dir: dir)
        let metricsPort = Metrics.freePort()
        let metrics = "  metrics:\n    listen: 127.0.0.1:\(metricsPort)"
        let cfg = try config(port: broker.port, extra: metrics)
        let fifo = dir.appendingPathComponent("stream.mp4").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        // The clip's first 400 kB through a FIFO whose writer then stalls, keeping it open.
        let writer = try Child("/bin/sh", ["-c", "exec 3>\"$1\"; head -c 400000 \"$0\" >&3; exec sleep 120",
                                           CLI.media("WolfgangLanger_Pexels.mp4"), fifo], dir: dir, name: "writer")
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", fifo], dir: dir, name: "daemon")
        func metric(_ name: String) -> Double { Metrics.scrape(metricsPort)?[name] ?? -1 }
        XCTAssertTrue(eventually(40) { metric("emotiond_frames_processed_total") > 30 && metric("emotiond_fps") == 0 }, d.stderr)
        func states() -> [[String: Any]] { sub.messages.filter { $0.topic == "emotiond-test/cam1/state" }.map { object($0.payload) } }
        let before = states().count, eventsBefore = sub.messages.filter { $0.topic.hasSuffix("/events") }.count
        XCTAssertEqual(states().last?["faces"] as? Int, 1, "a face in view when the source stalls: \(states().suffix(2))")
        sleep(4)
        let refreshed = states().dropFirst(before)
        XCTAssertGreaterThanOrEqual(refreshed.count, 3, "refreshed every second while stalled: \(refreshed)")
        XCTAssertTrue(refreshed.allSatisfy { $0["faces"] as? Int == 1 })
        let stamps = refreshed.map { $0["timestamp"] as! String }
        XCTAssertEqual(stamps, stamps.sorted()); XCTAssertEqual(Set(stamps).count, stamps.count, "fresh timestamps: \(stamps)")
        XCTAssertEqual(sub.messages.filter { $0.topic.hasSuffix("/events") }.count, eventsBefore, "no events while stalled")

        // Discovery off by a reload: the three configs are removed (empty retained payloads).
        XCTAssertEqual(try config(port: broker.port, mqttExtra: "    homeassistant: false", extra: metrics), cfg)
        d.signal(SIGHUP)
        XCTAssertTrue(eventually(20) { d.stderr.contains("configuration reloaded") }, d.stderr)
        XCTAssertTrue(sub.waitFor(5) { m in m.filter { $0.topic.hasPrefix("homeassistant/") && ["", "(null)"].contains($0.payload) }.count == 3 },
                      "\(sub.messages.filter { $0.topic.hasPrefix("homeassistant/") })")
        let late = try Subscriber(port: broker.port, topic: "homeassistant/#", dir: dir, name: "late-ha")
        sleep(1)
        XCTAssertEqual(late.messages.count, 0, "nothing retained: \(late.messages)")

        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(3), 0, d.stderr)
        let after = try Subscriber(port: broker.port, topic: "emotiond-test/#", dir: dir, name: "late-state")
        XCTAssertTrue(after.waitFor(3) { $0.count >= 2 }, "\(after.messages)")
        XCTAssertEqual(after.messages.first { $0.topic == "emotiond-test/available" }?.payload, "offline")
        XCTAssertEqual(object(after.messages.first { $0.topic == "emotiond-test/cam1/state" }?.payload ?? "{}")["faces"] as? Int, 0)
        _ = writer
    }
}
