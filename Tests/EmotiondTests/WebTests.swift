import Foundation
import XCTest

/// The HTTP server of `emotiond run` (issue #18) on real clips, checked as clients see it:
/// JSON against the schemas in schemas/, the MJPEG parts decoded by OpenCV, SSE, auth, and the
/// page rendered by headless Chromium. The clients are Python's (tools/web_probe.py) and Chromium.
final class WebTests: TempDirTestCase {

    /// The daemon on `clip` with the HTTP server on a free loopback port.
    func daemon(_ clip: String, http extra: String = "", loop: Bool = true) throws -> (Child, Int) {
        let port = Metrics.freePort()
        let cfg = try write("camera:\n  name: cam1\nhttp:\n  listen: 127.0.0.1:\(port)\n\(extra)")
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", CLI.media(clip)] + (loop ? ["--loop"] : []),
                          dir: dir, name: "daemon")
        return (d, port)
    }

    func probe(_ args: [String]) throws -> CLI.Result {
        try CLI.run([CLI.root.appendingPathComponent("tools/web_probe.py").path] + args, executable: CLI.python)
    }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func testEveryEndpointOnARealClip() throws {
        let (d, port) = try daemon("WolfgangLanger_Pexels.mp4")
        let base = "http://127.0.0.1:\(port)"
        let schemas = CLI.root.appendingPathComponent("schemas").path
        XCTAssertTrue(try eventually(20) {
            let r = try probe(["json", "\(base)/api/state", "\(schemas)/api-state.schema.json"])
            return r.status == 0 && ((try? json(r.stdout))?["cameras"] as? [[String: Any]])?.first?["frame"] is Int
        }, d.stderr)

        // /metrics as before (the same plain-socket scrape the metrics tests use).
        XCTAssertGreaterThan(Metrics.scrape(port)?["emotiond_frames_processed_total"] ?? 0, 0)

        let cams = try probe(["json", "\(base)/api/cameras", "\(schemas)/api-cameras.schema.json"])
        XCTAssertEqual(cams.status, 0, cams.stderr)
        let cam = try XCTUnwrap((try json(cams.stdout)["cameras"] as? [[String: Any]])?.first)
        XCTAssertEqual(cam["name"] as? String, "cam1")
        XCTAssertEqual(cam["stream"] as? String, "/api/cameras/cam1/stream.mjpeg")

        // A face in view: it is in the state, with scores, tracks and fps.
        XCTAssertTrue(try eventually(10) {
            let r = try probe(["json", "\(base)/api/state", "\(schemas)/api-state.schema.json"])
            guard r.status == 0, let c = (try json(r.stdout)["cameras"] as? [[String: Any]])?.first else { return false }
            return (c["faces"] as? [Any])?.count == 1 && (c["fps"] as? Double ?? 0) > 5
                && (c["source"] as? [String: Any])?["status"] as? String == "running"
        }, d.stderr)

        // The live view: decodable JPEG parts showing the box over the face.
        let parts = try probe(["mjpeg", base, "cam1", "4", dir.path])
        XCTAssertEqual(parts.status, 0, parts.stderr + parts.stdout)
        let snap = try probe(["jpeg", "\(base)/api/cameras/cam1/snapshot.jpg"])
        XCTAssertEqual(snap.status, 0, snap.stderr)

        try checkOpenAPI(base)
        for (path, code) in [("/api/cameras/nope/stream.mjpeg", "404"), ("/api/nothing", "404"), ("/api/cameras/cam1/snapshot.png", "404")] {
            XCTAssertEqual(try probe(["status", base + path]).stdout.split(separator: " ").first, Substring(code), path)
        }
        XCTAssertEqual(try probe(["status", base + "/api/state", "", "POST"]).stdout.split(separator: " ").first, "405")

        // A reload that renames the camera renames it on the server: listed and routed by the new name only.
        _ = try write("camera:\n  name: porch\nhttp:\n  listen: 127.0.0.1:\(port)\n")
        d.signal(SIGHUP)
        XCTAssertTrue(try eventually(10) {
            (try json(try probe(["get", "\(base)/api/cameras"]).stdout)["cameras"] as? [[String: Any]])?.map { $0["name"] as? String } == ["porch"]
        }, d.stderr)
        XCTAssertEqual(try probe(["jpeg", "\(base)/api/cameras/porch/snapshot.jpg"]).status, 0)
        XCTAssertTrue(try probe(["status", "\(base)/api/cameras/cam1/snapshot.jpg"]).stdout.hasPrefix("404"))
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(5), 0, d.stderr)
    }

    /// The served document is the repo's schemas/openapi.json with its schemas bundled, and the
    /// state validates against the schema it names.
    func checkOpenAPI(_ base: String) throws {
        let bundled = try CLI.run([CLI.root.appendingPathComponent("tools/gen-openapi.py").path, "--print"], executable: CLI.python)
        XCTAssertEqual(bundled.status, 0, bundled.stderr)
        let served = try probe(["get", "\(base)/api/openapi.json"])
        XCTAssertEqual(served.status, 0, served.stderr)
        XCTAssertEqual(try json(served.stdout) as NSDictionary, try json(bundled.stdout) as NSDictionary,
                       "Sources/Web/OpenAPIDocument.swift is stale: run tools/gen-openapi.py")
        let v = try probe(["openapi", base, "/api/state", "State"])
        XCTAssertEqual(v.status, 0, v.stderr)
    }

    /// schemathesis (property-based, from the served OpenAPI document) against every finite
    /// endpoint: no 5xx for the generated requests (valid and invalid query parameters). The
    /// endless streams (MJPEG, SSE) are left out; the run is bounded by examples per operation and a timeout.
    func testSchemathesisFindsNoServerError() throws {
        let st = CLI.root.appendingPathComponent(".venv/bin/schemathesis").path
        guard FileManager.default.isExecutableFile(atPath: st) else {
            return XCTFail("schemathesis is not installed (scripts/setup.sh installs tools/requirements.txt)")
        }
        let db = dir.appendingPathComponent("events.sqlite").path
        let (d, port) = try daemon("WolfgangLanger_Pexels.mp4", http: "history:\n  path: \(db)\n")
        let base = "http://127.0.0.1:\(port)"
        XCTAssertTrue(try eventually(20) { try probe(["status", "\(base)/api/state"]).stdout == "200\n" }, d.stderr)
        // --max-examples bounds the run (--max-time would make fuzzing repeat until it is spent).
        let junit = dir.appendingPathComponent("schemathesis.xml").path
        let r = try CLI.run(["120", st, "run", "\(base)/api/openapi.json", "--url", base,
                             "--checks", "not_a_server_error", "--exclude-path-regex", "(stream\\.mjpeg|/api/events/live)$",
                             "--max-examples", "5", "--phases", "examples,coverage,fuzzing", "--workers", "1",
                             "--request-timeout", "10", "--no-shrink", "--seed", "1",
                             "--report", "junit", "--report-junit-path", junit],
                            executable: "/usr/bin/timeout", env: ["NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"], cwd: dir.path)
        let out = r.stdout + r.stderr
        XCTAssertEqual(r.status, 0, out)
        // It tested every finite operation (the JUnit report names each), none skipped, and read
        // the whole document (no unresolvable $ref). Loaded from /api/openapi.json, schemathesis
        // leaves that operation out (9 in all); checkOpenAPI covers it.
        let report = try String(contentsOfFile: junit, encoding: .utf8)
        for op in ["/", "/metrics", "/api/cameras", "/api/state",
                   "/api/cameras/{name}/snapshot.jpg", "/api/events", "/api/report"] {
            XCTAssertTrue(report.contains("name=\"GET \(op)\""), "\(op) not exercised:\n\(report)")
        }
        XCTAssertFalse(report.contains("stream.mjpeg") || report.contains("/api/events/live"), report)
        XCTAssertTrue(out.contains("Tested: 7"), out)
        XCTAssertFalse(out.contains("Unresolvable"), out)
        print("schemathesis: " + (out.split(separator: "\n").filter { $0.contains("generated") || $0.contains("Tested") }.joined(separator: "; ")))
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(5), 0, d.stderr)
    }

    /// SSE delivers a track event as it happens (the face enters mid-clip), and with a token set
    /// nothing is served without it.
    func testEventsLiveAndTokenAuth() throws {
        let token = "s3cret-token-42"
        let (d, port) = try daemon("noface_face.mov", http: "  token: \(token)\n")
        let base = "http://127.0.0.1:\(port)"
        XCTAssertTrue(try eventually(20) { try probe(["status", base + "/api/state"]).stdout.hasPrefix("401") }, d.stderr)
        for path in ["/", "/api/state", "/api/cameras", "/metrics", "/api/cameras/cam1/snapshot.jpg", "/api/events/live"] {
            let r = try probe(["status", base + path])
            XCTAssertTrue(r.stdout.hasPrefix("401") && r.stdout.contains("Basic realm"), "\(path): \(r.stdout)")
            XCTAssertTrue(try probe(["status", base + path, "wrong-token-00"]).stdout.hasPrefix("401"), path)
        }
        XCTAssertEqual(try probe(["status", base + "/api/state", token]).stdout, "200\n")
        XCTAssertEqual(try probe(["status", base + "/api/state", "basic:" + token]).stdout, "200\n")

        let sse = try probe(["sse", base + "/api/events/live", token])
        XCTAssertEqual(sse.status, 0, sse.stderr + d.stderr)
        let ev = try dir.appendingPathComponent("event.json")
        try sse.stdout.write(to: ev, atomically: true, encoding: .utf8)
        XCTAssertEqual(try CLI.validate(ev.path, schema: "event.schema.json", whole: true).status, 0, sse.stdout)
        XCTAssertEqual(try json(sse.stdout)["camera"] as? String, "cam1", "the event names its camera")
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(5), 0, "graceful stop with a stream open: \(d.stderr)")
    }

    /// No viewer, no encoding; then a bounded load on loopback (16 live views and 16 event streams
    /// for 6 s): each frame is encoded once for all viewers at the rate cap, every viewer gets
    /// frames, scrapes stay fast and the frame loop keeps its rate. The clients gone, the gauges drop.
    func testEncodingOnlyWhileWatchedAndManyClients() throws {
        let (d, port) = try daemon("WolfgangLanger_Pexels.mp4")
        let base = "http://127.0.0.1:\(port)"
        XCTAssertTrue(eventually(20) { (Metrics.scrape(port)?["emotiond_frames_processed_total"] ?? 0) > 48 }, d.stderr)
        XCTAssertEqual(Metrics.scrape(port)?["emotiond_http_frames_encoded_total"], 0, "frames encoded with no viewer")

        let r = try probe(["load", base, "cam1", "16", "6"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let m = try json(r.stdout)
        let parts = try XCTUnwrap(m["parts"] as? [Int]), encoded = try XCTUnwrap(m["encoded"] as? Double)
        XCTAssertEqual(m["errors"] as? [String], [])
        XCTAssertEqual(m["max_gauges"] as? [Double], [16, 16])
        // The cap is 5 a second: about 30 frames in 6 s, once for all 16 viewers.
        XCTAssertLessThanOrEqual(encoded, 6 * 5 + 3, r.stdout)
        XCTAssertGreaterThan(parts.min() ?? 0, 10, r.stdout)
        XCTAssertLessThan((m["scrape_ms"] as? [String: Double])?["max"] ?? 1e9, 1000, r.stdout)
        XCTAssertGreaterThan(m["fps"] as? Double ?? 0, 12, r.stdout)
        XCTAssertTrue(eventually(5) { Metrics.scrape(port)?["emotiond_http_viewers"] == 0 && Metrics.scrape(port)?["emotiond_http_event_clients"] == 0 })
        let after = Metrics.scrape(port)?["emotiond_http_frames_encoded_total"] ?? -1
        sleep(1)
        XCTAssertEqual(Metrics.scrape(port)?["emotiond_http_frames_encoded_total"], after, "encoding stopped with the last viewer")
        print("web load: \(r.stdout)")
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(5), 0, d.stderr)
    }

    /// The event history: events land in SQLite as they happen, GET /api/events filters them
    /// (valid against schemas/ and the OpenAPI document), refuses bad parameters naming them, and
    /// the history outlives a restart. Without history.path the endpoint says it is off.
    func testEventHistoryQueriesSurvivesKill9AndDropsTheOldest() throws {
        let db = dir.appendingPathComponent("events.sqlite").path
        let (d, port) = try daemon("noface_face.mov", http: "history:\n  path: \(db)\n  keep_days: 30\n")
        let base = "http://127.0.0.1:\(port)", schema = CLI.root.appendingPathComponent("schemas/api-events.schema.json").path
        func events(_ query: String) throws -> [[String: Any]] {
            let r = try probe(["json", "\(base)/api/events\(query)", schema])
            XCTAssertEqual(r.status, 0, r.stderr)
            return try XCTUnwrap(try json(r.stdout)["events"] as? [[String: Any]])
        }
        XCTAssertTrue(try eventually(20) { try probe(["status", "\(base)/api/state"]).stdout == "200\n" }, d.stderr)
        XCTAssertTrue(try eventually(30) { try events("").count >= 1 }, d.stderr)
        let all = try events("?limit=1000")
        let first = try XCTUnwrap(all.last)
        XCTAssertEqual(first["type"] as? String, "new", "oldest last")
        XCTAssertTrue(try events("?type=new").allSatisfy { $0["type"] as? String == "new" })
        let label = try XCTUnwrap(first["label"] as? String)
        XCTAssertTrue(try events("?label=\(label)&camera=cam1").allSatisfy { $0["label"] as? String == label })
        XCTAssertEqual(try events("?limit=1").count, 1)
        XCTAssertEqual(try events("?since=2999-01-01T00:00:00Z").count, 0)
        XCTAssertEqual(try events("?camera=other").count, 0)
        let stamp = try XCTUnwrap(first["timestamp"] as? String)
        XCTAssertTrue(try events("?since=\(stamp)&limit=1000").contains { $0["id"] as? String == first["id"] as? String })
        XCTAssertFalse(try events("?until=\(stamp)&limit=1000").contains { $0["id"] as? String == first["id"] as? String })
        XCTAssertEqual(try probe(["openapi", base, "/api/events", "Events"]).status, 0)
        for bad in ["limit=0", "label=joy", "type=start", "since=yesterday", "foo=1"] {
            let r = try probe(["status", "\(base)/api/events?\(bad)"])
            XCTAssertTrue(r.stdout.hasPrefix("400"), "\(bad): \(r.stdout)")
        }
        try checkReport(base, db: db)
        try checkTimeline(base, db: db)
        // kill -9 mid-run: every event the API had served is still there after a restart, except the one
        // aged past `keep_days` while the daemon was down (retention drops the oldest at start).
        let served = try events("?limit=1000")
        d.signal(SIGKILL)
        _ = d.wait(5)
        let aged = try XCTUnwrap(served.last?["id"] as? String)
        let age = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); " +
            "c.execute(\"UPDATE event SET timestamp = '2000-01-01T00:00:00.000Z' WHERE id = ? AND type = 'new'\", (sys.argv[2],)); c.commit()"
        let r = try CLI.run(["-c", age, db, aged], executable: CLI.python)
        XCTAssertEqual(r.status, 0, r.stderr)
        let again = try Child(CLI.binary, ["run", "--config", dir.appendingPathComponent("emotiond.yaml").path,
                                           "--source", CLI.media("no_face.mp4"), "--loop"], dir: dir, name: "again")
        XCTAssertTrue(try eventually(20) { try probe(["status", "\(base)/api/state"]).stdout == "200\n" }, again.stderr)
        let kept = try events("?limit=1000")
        let keptKeys = Set(kept.map { "\($0["id"] ?? "") \($0["type"] ?? "")" })
        for e in served where !(e["id"] as? String == aged && e["type"] as? String == "new") {
            XCTAssertTrue(keptKeys.contains("\(e["id"] ?? "") \(e["type"] ?? "")"), "lost after kill -9: \(e)")
        }
        XCTAssertFalse(kept.contains { $0["id"] as? String == aged && $0["type"] as? String == "new" }, "the aged event was kept")
        again.signal(SIGTERM)
        XCTAssertEqual(again.wait(5), 0, again.stderr)

        let (off, offPort) = try daemon("no_face.mp4")
        XCTAssertTrue(try eventually(20) { try probe(["status", "http://127.0.0.1:\(offPort)/api/events"]).stdout.hasPrefix("404") }, off.stderr)
        off.signal(SIGTERM)
        XCTAssertEqual(off.wait(5), 0, off.stderr)
    }

    /// GET /api/report and `emotiond report --json` (valid against schemas/api-report.schema.json
    /// and the OpenAPI document): the face seen, time per emotion; a parameter the report does
    /// not take is refused.
    func checkReport(_ base: String, db: String) throws {
        let schema = CLI.root.appendingPathComponent("schemas/api-report.schema.json").path
        let r = try probe(["json", "\(base)/api/report?camera=cam1&since=2000-01-01T00:00:00Z", schema])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try json(r.stdout)
        XCTAssertGreaterThanOrEqual(report["faces"] as? Int ?? 0, 1, r.stdout)
        XCTAssertGreaterThan((report["seconds"] as? [String: Double])?.values.reduce(0, +) ?? 0, 0, r.stdout)
        XCTAssertNotNil(report["dominant"] as? String, r.stdout)
        XCTAssertEqual(try probe(["openapi", base, "/api/report", "Report"]).status, 0)
        XCTAssertTrue(try probe(["status", "\(base)/api/report?type=new"]).stdout.hasPrefix("400"))

        let cli = try CLI.run(["report", "--history", db, "--json", "--camera", "cam1"])
        XCTAssertEqual(cli.status, 0, cli.stderr)
        let out = dir.appendingPathComponent("report.json")
        try cli.stdout.write(to: out, atomically: true, encoding: .utf8)
        XCTAssertEqual(try CLI.validate(out.path, schema: "api-report.schema.json", whole: true).status, 0, cli.stdout)
        XCTAssertGreaterThanOrEqual(try json(cli.stdout)["faces"] as? Int ?? 0, 1)
        let text = try CLI.run(["report", "--history", db])
        XCTAssertTrue(text.stdout.contains("dominant: "), text.stdout + text.stderr)
        let bad = try CLI.run(["report", "--history", db, "--since", "yesterday"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("since: must be a UTC time"), bad.stderr)
    }

    /// GET /api/report with a bucket on the events of the run: every bucket's shares sum to 1 (or
    /// are all 0 without a face), the buckets are consecutive, aligned and cover the events' time,
    /// and their seconds add up to the report's. Bad buckets are a 400 naming the parameter;
    /// `emotiond report --bucket` prints the same timeline.
    func checkTimeline(_ base: String, db: String) throws {
        let f = ISO8601DateFormatter(); f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let until = f.string(from: Date())   // a fixed end: the daemon keeps adding events
        let evs = try XCTUnwrap(try json(try probe(["get", "\(base)/api/events?camera=cam1&until=\(until)&limit=1000"]).stdout)["events"] as? [[String: Any]])
        let stamps = evs.compactMap { ($0["timestamp"] as? String).flatMap(f.date) }.sorted()
        let (oldest, newest) = (try XCTUnwrap(stamps.first), try XCTUnwrap(stamps.last))
        let schema = CLI.root.appendingPathComponent("schemas/api-report.schema.json").path
        let r = try probe(["json", "\(base)/api/report?camera=cam1&until=\(until)&bucket=5s", schema])
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try json(r.stdout)
        XCTAssertEqual(report["bucket"] as? Int, 5)
        let buckets = try XCTUnwrap(report["buckets"] as? [[String: Any]])
        let starts = buckets.compactMap { ($0["start"] as? String).flatMap(f.date) }
        XCTAssertEqual(starts.count, buckets.count)
        XCTAssertTrue(starts.allSatisfy { $0.timeIntervalSince1970.truncatingRemainder(dividingBy: 5) == 0 }, "aligned: \(starts)")
        XCTAssertTrue(zip(starts, starts.dropFirst()).allSatisfy { $1.timeIntervalSince($0) == 5 }, "consecutive")
        XCTAssertLessThanOrEqual(try XCTUnwrap(starts.first), oldest)
        XCTAssertGreaterThan(try XCTUnwrap(starts.first).addingTimeInterval(5), oldest, "the first bucket holds the oldest event")
        XCTAssertGreaterThan(try XCTUnwrap(starts.last).addingTimeInterval(5), newest, "the buckets reach the newest event")
        var summed: [String: Double] = [:], shown = 0
        for b in buckets {
            let shares = try XCTUnwrap(b["shares"] as? [String: Double]), secs = try XCTUnwrap(b["seconds"] as? [String: Double])
            XCTAssertEqual(Set(shares.keys), Set(secs.keys))
            let total = secs.values.reduce(0, +), sum = shares.values.reduce(0, +)
            if total > 0 { shown += 1; XCTAssertEqual(sum, 1, accuracy: 0.001, "\(b)") } else { XCTAssertEqual(sum, 0, "\(b)") }
            for (label, s) in secs { summed[label, default: 0] += s }
        }
        XCTAssertGreaterThan(shown, 0, r.stdout)
        for (label, s) in try XCTUnwrap(report["seconds"] as? [String: Double]) {
            XCTAssertEqual(summed[label] ?? -1, s, accuracy: 0.001 * Double(buckets.count) + 0.001, label)
        }
        XCTAssertNil(try json(try probe(["get", "\(base)/api/report?camera=cam1"]).stdout)["buckets"], "no timeline without bucket")
        for bad in ["bucket=0", "bucket=5x", "bucket=31d", "bucket=1&since=2000-01-01T00:00:00Z"] {
            XCTAssertTrue(try probe(["status", "\(base)/api/report?\(bad)"]).stdout.hasPrefix("400"), bad)
        }
        let cli = try CLI.run(["report", "--history", db, "--camera", "cam1", "--until", until, "--bucket", "5s"])
        XCTAssertEqual(cli.status, 0, cli.stderr)
        XCTAssertTrue(cli.stdout.contains("timeline (5 s buckets):"), cli.stdout)
        XCTAssertEqual(cli.stdout.split(separator: "\n").filter { $0.hasPrefix("  20") }.count, buckets.count, cli.stdout)
        let bad = try CLI.run(["report", "--history", db, "--bucket", "5x"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("bucket: must be"), bad.stderr)
    }

    /// A face that keeps its label past notices.sustained_seconds gets one notice on the SSE stream.
    func testSustainedEmotionNoticeOnTheEventStream() throws {
        let (d, port) = try daemon("WolfgangLanger_Pexels.mp4",
                                   http: "notices:\n  sustained_seconds: 1\n  labels: angry,disgust,fear,happy,sad,surprise,neutral\n")
        let base = "http://127.0.0.1:\(port)"
        XCTAssertTrue(try eventually(20) { try probe(["status", "\(base)/api/state"]).stdout == "200\n" }, d.stderr)
        let sse = try probe(["sse", "\(base)/api/events/live", "", "notice"])
        XCTAssertEqual(sse.status, 0, sse.stderr + d.stderr)
        let file = dir.appendingPathComponent("notice.json")
        try sse.stdout.write(to: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try CLI.validate(file.path, schema: "notice.schema.json", whole: true).status, 0, sse.stdout)
        XCTAssertGreaterThanOrEqual(try json(sse.stdout)["seconds"] as? Double ?? 0, 1)
        XCTAssertTrue(d.stderr.contains("has looked"), d.stderr)
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(5), 0, d.stderr)
    }

    /// A real browser loads the page: the screenshot shows it rendered with the live view.
    func testBrowserRendersThePageWithTheLiveView() throws {
        let chromium = "/usr/bin/chromium"
        guard FileManager.default.isExecutableFile(atPath: chromium) else {
            return XCTFail("chromium is not installed (scripts/setup.sh installs it)")
        }
        let db = dir.appendingPathComponent("events.sqlite").path
        let (d, port) = try daemon("WolfgangLanger_Pexels.mp4", http: "history:\n  path: \(db)\n")
        let base = "http://127.0.0.1:\(port)"
        // An event in the history first: the page's timeline then has a face to draw.
        XCTAssertTrue(try eventually(30) { try probe(["get", "\(base)/api/events?limit=1"]).stdout.contains("\"id\"") }, d.stderr)
        let png = dir.appendingPathComponent("page.png").path
        // The screenshot is taken at the load event, which waits for the first picture (the page
        // starts its endless MJPEG and SSE requests after it). --virtual-time-budget is not used:
        // virtual time stands still while a request is open, so an endless stream would hang it.
        let browser = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                       "--user-data-dir=\(dir.appendingPathComponent("chromium").path)", "--timeout=10000"]
        let r = try CLI.run(["60"] + browser + ["--screenshot=\(png)", "--window-size=1280,1000", base + "/"],
                            executable: "/usr/bin/timeout")
        XCTAssertEqual(r.status, 0, r.stderr)
        // The DOM at the load event: the timeline drawn from the data the page came with.
        let dom = try CLI.run(["60"] + browser + ["--dump-dom", base + "/"], executable: "/usr/bin/timeout")
        XCTAssertEqual(dom.status, 0, dom.stderr)
        let chart = try XCTUnwrap(dom.stdout.range(of: "<svg[^>]*class=\"chart\"[^>]*>", options: .regularExpression).map { String(dom.stdout[$0]) },
                                  String(dom.stdout.prefix(3000)))
        let attr = { (name: String) in chart.range(of: "\(name)=\"[0-9]+\"", options: .regularExpression)
            .flatMap { Int(chart[$0].dropFirst(name.count + 2).dropLast()) } }
        XCTAssertTrue([60, 61].contains(attr("data-buckets") ?? 0), chart)   // the last hour in 1 min buckets (61 unless aligned)
        XCTAssertGreaterThanOrEqual(attr("data-bars") ?? 0, 1, chart)
        XCTAssertTrue(dom.stdout.contains("data-camera=\"cam1\""), "one timeline per camera")
        let check = try probe(["screenshot", png])
        XCTAssertEqual(check.status, 0, check.stderr)
        if let keep = ProcessInfo.processInfo.environment["EMOTIOND_KEEP_SCREENSHOT"] {
            try? FileManager.default.removeItem(atPath: keep)
            try FileManager.default.copyItem(atPath: png, toPath: keep)
        }
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(5), 0, d.stderr)
    }
}
