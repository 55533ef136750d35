import Foundation
import XCTest

/// Several cameras in one daemon (issue #17): a `cameras:` map run by one `emotiond run`, with a
/// real mosquitto broker — per-camera topics, state, Home Assistant devices, log files and metric
/// labels; SIGHUP removes one camera and adds another while the third runs on untouched; SIGTERM
/// empties every camera's state before `offline`.
final class MultiCameraTests: TempDirTestCase {
    func config(broker: Int, metrics: Int, cameras: [(String, String)], http: Int? = nil) throws -> String {
        let map = cameras.map { "  \($0.0):\n    source: \(CLI.media($0.1))\n" }.joined()
        return try write("""
        cameras:
        \(map)
        outputs:
          log:
            path: \(dir.path)/{camera}.ndjson
          mqtt:
            enabled: true
            port: \(broker)
            topic_prefix: mc
          metrics:
            listen: 127.0.0.1:\(metrics)
        \(http.map { "http:\n  listen: 127.0.0.1:\($0)" } ?? "")
        """)
    }

    func object(_ payload: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: Any] ?? [:]
    }

    func testTwoCamerasOneDaemonThenReloadAddsAndRemoves() throws {
        let broker = try Broker(dir: dir)
        let sub = try Subscriber(port: broker.port, topic: "#", dir: dir)
        let port = Metrics.freePort(), web = Metrics.freePort()
        let cfg = try config(broker: broker.port, metrics: port,
                             cameras: [("door", "WolfgangLanger_Pexels.mp4"), ("hall", "face_noface.mov")], http: web)
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--loop"], dir: dir, name: "daemon")
        func messages(_ topic: String) -> [String] { sub.messages.filter { $0.topic == topic }.map(\.payload) }
        func metric(_ name: String) -> Double { Metrics.scrape(port)?[name] ?? -1 }

        // Both cameras publish on their own topics, from one process and one connection.
        XCTAssertTrue(eventually(60) { !messages("mc/door/events").isEmpty && !messages("mc/hall/events").isEmpty },
                      "events of both cameras expected: \(sub.messages.map(\.topic)); daemon: \(d.stderr)")
        for (cam, clip) in [("door", "WolfgangLanger_Pexels.mp4"), ("hall", "face_noface.mov")] {
            XCTAssertTrue(messages("mc/\(cam)/events").allSatisfy { object($0)["source"] as? String == CLI.media(clip) })
            XCTAssertTrue(messages("mc/\(cam)/state").allSatisfy { object($0)["camera"] as? String == cam })
            XCTAssertEqual(messages("homeassistant/sensor/mc_\(cam)/faces/config").count, 1, "a device per camera")
            XCTAssertTrue(eventually(10) { metric("emotiond_frames_processed_total{camera=\"\(cam)\"}") > 10 }, d.stderr)
            XCTAssertTrue(eventually(10) { ((try? CLI.linesSoFar(self.dir.appendingPathComponent("\(cam).ndjson").path)) ?? []).count > 10 })
        }
        XCTAssertEqual(messages("mc/available"), ["online"], "one connection: one availability")
        // One HTTP server for both: each camera listed, each snapshot its own camera's frame.
        XCTAssertEqual(try cameraNames(web), ["door", "hall"])
        for cam in ["door", "hall"] {
            let snap = try probe(["jpeg", "http://127.0.0.1:\(web)/api/cameras/\(cam)/snapshot.jpg"])
            XCTAssertEqual(snap.status, 0, snap.stdout + snap.stderr)
        }
        try validate(messages("mc/door/events") + messages("mc/hall/events"), "event.schema.json")
        try validate(messages("mc/door/state") + messages("mc/hall/state"), "state.schema.json")

        // Reload: hall goes, yard comes, door is unchanged and must not notice.
        let doorEventsBefore = messages("mc/door/events").count
        let doorFrames = metric("emotiond_frames_processed_total{camera=\"door\"}")
        let doorLines = try CLI.linesSoFar(dir.appendingPathComponent("door.ndjson").path).count
        _ = try config(broker: broker.port, metrics: port,
                       cameras: [("door", "WolfgangLanger_Pexels.mp4"), ("yard", "single_face.mp4")], http: web)
        d.signal(SIGHUP)
        XCTAssertTrue(eventually(20) { d.stderr.contains("configuration reloaded (camera 'hall' removed; camera 'yard' added)") }, d.stderr)
        XCTAssertEqual(try cameraNames(web), ["door", "yard"], "the server follows the reload")
        XCTAssertTrue(eventually(60) { !messages("mc/yard/events").isEmpty }, "the added camera publishes: \(d.stderr)")
        XCTAssertEqual(object(messages("mc/hall/state").last ?? "")["faces"] as? Int, 0, "the removed camera's state is emptied")
        // mosquitto_sub prints an empty payload as "(null)".
        XCTAssertEqual(messages("homeassistant/sensor/mc_hall/faces/config").last, "(null)", "its Home Assistant device is withdrawn")
        XCTAssertTrue(eventually(10) { Metrics.scrape(port)?["emotiond_fps{camera=\"hall\"}"] == nil }, "its series leave the scrape")
        // Door ran on: its counter continued (> 1 s of frames after the reload), and its face was
        // never announced again (a restarted camera would end its track and start a new one).
        XCTAssertTrue(eventually(20) { metric("emotiond_frames_processed_total{camera=\"door\"}") > doorFrames + 30 }, d.stderr)
        let doorAfter = messages("mc/door/events").dropFirst(doorEventsBefore).map(object)
        XCTAssertFalse(doorAfter.contains { ["new", "end"].contains($0["type"] as? String) },
                       "door's track ended or restarted at the reload: \(doorAfter)")

        // Stop: every camera's state emptied, then offline; exit 0.
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(20), 0, d.stderr)
        for cam in ["door", "yard"] {
            XCTAssertEqual(object(messages("mc/\(cam)/state").last ?? "")["faces"] as? Int, 0, "\(cam): \(messages("mc/\(cam)/state").suffix(2))")
        }
        XCTAssertTrue(sub.waitFor(5) { $0.last { $0.topic == "mc/available" }?.payload == "offline" }, "\(sub.messages.suffix(4))")
        let doorLog = try CLI.lines(dir.appendingPathComponent("door.ndjson").path)
        XCTAssertGreaterThan(doorLog.count, doorLines + 30, "one log for door across the reload")
        let times = doorLog.compactMap { $0["media_time"] as? Double }
        XCTAssertEqual(times, times.sorted(), "door's media time never went back")
    }

    /// A reload that fails after it opened a new camera's source (the metrics endpoint cannot move
    /// to a port in use) is rejected whole: the new camera never publishes, the old one runs on;
    /// the same camera is added by the next, valid reload.
    func testRejectedReloadAddsNothing() throws {
        let broker = try Broker(dir: dir)
        let sub = try Subscriber(port: broker.port, topic: "mc/#", dir: dir)
        let port = Metrics.freePort()
        let cfg = try config(broker: broker.port, metrics: port, cameras: [("door", "WolfgangLanger_Pexels.mp4")])
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--loop"], dir: dir, name: "daemon")
        XCTAssertTrue(eventually(60) { sub.messages.contains { $0.topic == "mc/door/events" } }, d.stderr)
        let busy = try Metrics.listener()
        defer { close(busy.fd) }
        _ = try config(broker: broker.port, metrics: busy.port,
                       cameras: [("door", "WolfgangLanger_Pexels.mp4"), ("yard", "single_face.mp4")])
        d.signal(SIGHUP)
        XCTAssertTrue(eventually(20) { d.stderr.contains("configuration reload rejected, keeping the running one: \(cfg):") }, d.stderr)
        XCTAssertTrue(d.stderr.contains("outputs.metrics.listen"), d.stderr)
        sleep(2)
        XCTAssertFalse(sub.messages.contains { $0.topic.hasPrefix("mc/yard/") }, "a rejected camera published")
        XCTAssertNotNil(Metrics.scrape(port)?["emotiond_fps{camera=\"door\"}"], "the old endpoint still serves")
        XCTAssertNil(Metrics.scrape(port)?["emotiond_fps{camera=\"yard\"}"], "the rejected camera left series behind")
        _ = try config(broker: broker.port, metrics: port,
                       cameras: [("door", "WolfgangLanger_Pexels.mp4"), ("yard", "single_face.mp4")])
        d.signal(SIGHUP)
        XCTAssertTrue(eventually(60) { sub.messages.contains { $0.topic == "mc/yard/events" } }, d.stderr)
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(20), 0, d.stderr)
    }

    func probe(_ args: [String]) throws -> CLI.Result {
        try CLI.run([CLI.root.appendingPathComponent("tools/web_probe.py").path] + args, executable: CLI.python)
    }

    /// GET /api/cameras: the names listed.
    func cameraNames(_ port: Int) throws -> [String] {
        let r = try probe(["get", "http://127.0.0.1:\(port)/api/cameras"])
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return (obj?["cameras"] as? [[String: Any]])?.compactMap { $0["name"] as? String } ?? []
    }

    /// NDJSON of `payloads` validated against schemas/<schema>.schema.json.
    func validate(_ payloads: [String], _ schema: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let p = try write(payloads.joined(separator: "\n"), "\(schema).ndjson")
        XCTAssertFalse(payloads.isEmpty, file: file, line: line)
        let r = try CLI.validate(p, schema: schema)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr, file: file, line: line)
    }
}
