import Foundation
import XCTest

/// `emotiond run`: MQTT with a real broker, NDJSON log, signals, configuration errors.
final class DaemonTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try CLI.tempDir() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func writeConfig(_ text: String, name: String = "emotiond.yaml") throws -> String {
        let p = dir.appendingPathComponent(name).path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func mqttConfig(port: Int, log: String) throws -> String {
        try writeConfig("""
        camera:
          name: cam1
        outputs:
          log:
            path: \(log)
          mqtt:
            enabled: true
            port: \(port)
            topic_prefix: emotiond-test
        """)
    }

    func testMQTTEventsAvailabilityAndBrokerRestart() throws {
        let broker = try Broker(dir: dir)
        let sub = try Subscriber(port: broker.port, topic: "emotiond-test/#", dir: dir)
        let log = dir.appendingPathComponent("frames.ndjson").path
        let cfg = try mqttConfig(port: broker.port, log: log)
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", CLI.media("WolfgangLanger_Pexels.mp4")], dir: dir, name: "daemon")
        XCTAssertTrue(sub.waitFor(15) { m in m.contains { $0.topic == "emotiond-test/cam1/events" && $0.payload.contains("\"type\":\"new\"") } }, "no new event; daemon: \(d.stderr)")
        XCTAssertEqual(sub.messages.first { $0.topic == "emotiond-test/available" }?.payload, "online")

        // Kill the broker mid-run and bring it back: the daemon survives and later events arrive.
        let before = sub.messages.count
        broker.stop()
        sleep(2)
        XCTAssertNil(d.wait(0), "daemon exited when the broker died: \(d.stderr)")
        try broker.start()
        let sub2 = try Subscriber(port: broker.port, topic: "emotiond-test/#", dir: dir, name: "sub2")
        XCTAssertTrue(sub2.waitFor(20) { m in m.contains { $0.topic == "emotiond-test/cam1/events" || $0.topic == "emotiond-test/cam1/state" } },
                      "no events after broker restart (had \(before) before); daemon: \(d.stderr)")
        XCTAssertEqual(sub2.messages.first { $0.topic == "emotiond-test/available" }?.payload, "online", "availability re-announced after reconnect")

        // SIGTERM: graceful stop within 2 s, offline published, log complete.
        let t0 = Date()
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(2), 0, d.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 2)
        XCTAssertTrue(sub2.waitFor(3) { m in m.contains { $0.topic == "emotiond-test/available" && $0.payload == "offline" } })
        // The retained state a client finds after the stop holds no face (it had one while running).
        let late = try Subscriber(port: broker.port, topic: "emotiond-test/cam1/state", dir: dir, name: "late")
        XCTAssertTrue(late.waitFor(3) { !$0.isEmpty }, "no retained state")
        let retained = try JSONSerialization.jsonObject(with: Data((late.messages.first?.payload ?? "{}").utf8)) as? [String: Any]
        XCTAssertEqual(retained?["faces"] as? Int, 0, "\(late.messages)")
        XCTAssertEqual((retained?["tracks"] as? [Any])?.count, 0)

        // Every payload validates; change events' labels match the log at that media time.
        let events = sub.messages.filter { $0.topic.hasSuffix("/events") } + sub2.messages.filter { $0.topic.hasSuffix("/events") }
        let evFile = dir.appendingPathComponent("events.ndjson").path
        try events.map(\.payload).joined(separator: "\n").write(toFile: evFile, atomically: true, encoding: .utf8)
        XCTAssertEqual(try CLI.validate(evFile, schema: "event.schema.json").status, 0)
        let states = (sub.messages + sub2.messages).filter { $0.topic == "emotiond-test/cam1/state" }
        XCTAssertFalse(states.isEmpty)
        let stFile = dir.appendingPathComponent("state.ndjson").path
        try states.map(\.payload).joined(separator: "\n").write(toFile: stFile, atomically: true, encoding: .utf8)
        XCTAssertEqual(try CLI.validate(stFile, schema: "state.schema.json").status, 0)
        XCTAssertEqual(try CLI.validate(log, schema: "frame.schema.json").status, 0)
        var logLabel: [String: String] = [:]
        for f in try CLI.lines(log) { for face in f["faces"] as! [[String: Any]] { logLabel["\(face["track"]!)@\(f["media_time"]!)"] = face["label"] as? String } }
        let changes = try events.map { try JSONSerialization.jsonObject(with: Data($0.payload.utf8)) as! [String: Any] }.filter { $0["type"] as? String == "change" }
        for c in changes {
            XCTAssertEqual(logLabel["\(c["track"]!)@\(c["media_time"]!)"], (c["after"] as? [String: Any])?["label"] as? String)
        }
    }

    func testUnreachableBrokerDoesNotStopTheDaemon() throws {
        let log = dir.appendingPathComponent("frames.ndjson").path
        let cfg = try mqttConfig(port: 1, log: log)   // nothing listens on port 1
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", CLI.media("WolfgangLanger_Pexels.mp4")], dir: dir, name: "daemon")
        sleep(3)
        XCTAssertNil(d.wait(0), "daemon exited: \(d.stderr)")
        d.signal(SIGINT)
        XCTAssertEqual(d.wait(3), 0, d.stderr)
        XCTAssertGreaterThan(try CLI.lines(log).count, 30, "frames were still processed and logged")
    }

    func testSIGHUPWithBadConfigKeepsRunning() throws {
        let log = dir.appendingPathComponent("frames.ndjson").path
        let cfg = try writeConfig("outputs:\n  log:\n    path: \(log)\n")
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", CLI.media("WolfgangLanger_Pexels.mp4")], dir: dir, name: "daemon")
        sleep(2)
        _ = try writeConfig("outputs:\n  log:\n    path: \(log)\n  bogus: 1\n")
        d.signal(SIGHUP)
        sleep(2)
        XCTAssertNil(d.wait(0), "daemon died on a bad reload")
        XCTAssertTrue(d.stderr.contains("configuration reload rejected, keeping the running one: \(cfg):4: outputs.bogus: unknown key"), d.stderr)
        let n1 = try CLI.linesSoFar(log).count
        sleep(1)
        XCTAssertGreaterThan(try CLI.linesSoFar(log).count, n1, "still processing with the old configuration")
        // A good reload is accepted.
        _ = try writeConfig("tracking:\n  ema_alpha: 0.5\noutputs:\n  log:\n    path: \(log)\n")
        d.signal(SIGHUP)
        sleep(1)
        XCTAssertTrue(d.stderr.contains("configuration reloaded"), d.stderr)
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(2), 0)
    }

    func testLogNeverHasPartialLinesAfterSIGKILL() throws {
        let log = dir.appendingPathComponent("frames.ndjson").path
        let cfg = try writeConfig("outputs:\n  log:\n    path: \(log)\n")
        var rng = SystemRandomNumberGenerator()
        for round in 0..<6 {
            let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", CLI.media("WolfgangLanger_Pexels.mp4")], dir: dir, name: "daemon\(round)")
            usleep(UInt32.random(in: 600_000...2_500_000, using: &rng))
            d.signal(SIGKILL)
            _ = d.wait(5)
            let data = try Data(contentsOf: URL(fileURLWithPath: log))
            XCTAssertEqual(data.last, 0x0A, "round \(round): log ends mid-line")
            for l in data.split(separator: 0x0A) {
                XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(l)), "round \(round): unparsable line")
            }
        }
        XCTAssertEqual(try CLI.validate(log, schema: "frame.schema.json").status, 0)
    }

    /// --loop: media_time runs on from one pass of the file to the next (a new pass used to restart
    /// it at 0), paced at the file's rate, with one frame period between the passes.
    func testLoopedFileKeepsMediaTimeGrowing() throws {
        let log = dir.appendingPathComponent("frames.ndjson").path
        let cfg = try writeConfig("outputs:\n  log:\n    path: \(log)\n    flush_every: 1\n")
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", CLI.media("single_face.mp4"), "--loop"], dir: dir, name: "daemon")
        var times: [Double] = []
        let end = Date().addingTimeInterval(60)
        while Date() < end, (times.last ?? 0) < 6 {
            usleep(300_000)
            guard FileManager.default.fileExists(atPath: log) else { continue }
            times = try CLI.linesSoFar(log).compactMap { $0["media_time"] as? Double }
        }
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(5), 0, d.stderr)
        XCTAssertGreaterThanOrEqual(times.last ?? 0, 6, "the 2.4 s clip looped past 6 s of media time")
        let back = zip(times, times.dropFirst()).first { $1 < $0 }
        XCTAssertNil(back, "media_time went back: \(String(describing: back))")
        let steps = zip(times.dropFirst(), times).map { $0 - $1 }
        XCTAssertLessThan(steps.max() ?? 1, 0.05, "a gap between passes: \(steps.max() ?? 0) s")
    }

    func testPrometheusMetricsEndpoint() throws {
        let port = Int.random(in: 20000...60000)
        let cfg = try writeConfig("outputs:\n  metrics:\n    listen: 127.0.0.1:\(port)\n")
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", CLI.media("WolfgangLanger_Pexels.mp4")], dir: dir, name: "daemon")
        sleep(3)
        let fetch = "import urllib.request,sys; print(urllib.request.urlopen('http://127.0.0.1:%s/metrics' % sys.argv[1], timeout=5).read().decode())"
        let r = try CLI.run(["-c", fetch, "\(port)"], executable: CLI.python)
        XCTAssertEqual(r.status, 0, r.stderr + d.stderr)
        let lines = r.stdout.split(separator: "\n")
        func value(_ name: String) -> Double? { lines.first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) } }
        // Per-camera series carry the camera's name (one daemon may run several).
        XCTAssertGreaterThan(value("emotiond_frames_processed_total{camera=\"default\"}") ?? 0, 20)
        XCTAssertGreaterThan(value("emotiond_fps{camera=\"default\"}") ?? 0, 5)
        XCTAssertEqual(value("emotiond_faces{camera=\"default\"}"), 1)
        XCTAssertTrue(lines.contains { $0.hasPrefix("emotiond_stage_latency_ms_bucket{stage=\"detect\",camera=\"default\"") })
        XCTAssertNotNil(value("emotiond_frames_dropped_total{camera=\"default\"}"))
        XCTAssertNotNil(value("emotiond_mqtt_connected"), "daemon-wide series have no camera label")
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(2), 0)
    }

    func testLogRotationAndSnapshotsOnlyWhenConfigured() throws {
        let log = dir.appendingPathComponent("frames.ndjson").path
        let snaps = dir.appendingPathComponent("snaps")
        try FileManager.default.createDirectory(at: snaps, withIntermediateDirectories: true)
        let cfg = try writeConfig("outputs:\n  log:\n    path: \(log)\n    max_bytes: 20000\n    keep: 2\nprivacy:\n  snapshot_dir: \(snaps.path)\n")
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", CLI.media("WolfgangLanger_Pexels.mp4")], dir: dir, name: "daemon")
        sleep(4)
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(2), 0, d.stderr)
        for f in [log, log + ".1", log + ".2"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: f))
            XCTAssertLessThanOrEqual(data.count, 20000, f)
            XCTAssertEqual(data.last, 0x0A, f)
            XCTAssertEqual(try CLI.validate(f, schema: "frame.schema.json").status, 0, f)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: log + ".3"), "keep: 2")
        let pngs = try FileManager.default.contentsOfDirectory(atPath: snaps.path)
        XCTAssertTrue(pngs.contains { $0.hasSuffix("-new.png") }, "\(pngs)")
        // Without snapshot_dir nothing but the log is written (privacy default).
        let quiet = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: quiet) }
        let cfg2 = try writeConfig("outputs:\n  log:\n    path: \(quiet.path)/f.ndjson\n", name: "quiet.yaml")
        let d2 = try Child(CLI.binary, ["run", "--config", cfg2, "--source", CLI.media("WolfgangLanger_Pexels.mp4")], dir: dir, name: "daemon2")
        sleep(2)
        d2.signal(SIGTERM)
        XCTAssertEqual(d2.wait(2), 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: quiet.path), ["f.ndjson"])
    }

    // MARK: configuration errors

    func assertConfigError(_ yaml: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let p = try writeConfig(yaml, name: "bad-\(UUID().uuidString).yaml")
        for cmd in [["check-config", "--config", p], ["run", "--config", p]] {
            let r = try CLI.run(cmd)
            XCTAssertEqual(r.status, 1, "\(cmd[0]): \(r.stderr)", file: file, line: line)
            XCTAssertEqual(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines), "Error: " + expected.replacingOccurrences(of: "FILE", with: p), file: file, line: line)
        }
    }

    func testSyntaxError() throws {
        try assertConfigError("camera:\n  fps: [30\n", "FILE:3: YAML syntax error: did not find expected ',' or ']'")
    }
    func testUnknownKey() throws {
        try assertConfigError("camera:\n  name: a\n  fsp: 30\n", "FILE: 2 problems\nFILE:3: camera.fsp: unknown key (did you mean 'fps'?)\nFILE: camera.device: /dev/video0 does not exist (no camera connected?)")
    }
    func testWrongType() throws {
        try assertConfigError("detector:\n  min_neighbors: lots\n", "FILE: 2 problems\nFILE:2: detector.min_neighbors: must be an integer in 0...50, got 'lots'"
                             + "\nFILE: camera.device: /dev/video0 does not exist (no camera connected?)")
    }
    func testMissingDevice() throws {
        try assertConfigError("camera:\n  device: /dev/video-missing\n", "FILE:2: camera.device: /dev/video-missing does not exist (no camera connected?)")
    }
    func testUnreadableModel() throws {
        try assertConfigError("model:\n  path: /nonexistent/model.onnx\n", "FILE: 2 problems\nFILE:2: model.path: cannot read model file /nonexistent/model.onnx: no such file"
                             + "\nFILE: camera.device: /dev/video0 does not exist (no camera connected?)")
    }
    func testMissingConfigFile() throws {
        let r = try CLI.run(["check-config", "--config", "/nonexistent/emotiond.yaml"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("/nonexistent/emotiond.yaml: no such file"), r.stderr)
    }
    func testShippedExampleConfigIsValid() throws {
        let shipped = CLI.root.appendingPathComponent("config/emotiond.yaml").path
        // On this camera-less machine the only complaint is the absent default device...
        let r = try CLI.run(["check-config", "--config", shipped])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("camera.device: /dev/video0 does not exist"), r.stderr)
        // ...and with a file source every key validates.
        let text = try String(contentsOfFile: shipped, encoding: .utf8).replacingOccurrences(of: "  source: null ", with: "  source: \(CLI.media("single_face.mp4")) ")
        let p = try writeConfig(text)
        let ok = try CLI.run(["check-config", "--config", p])
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }
}
