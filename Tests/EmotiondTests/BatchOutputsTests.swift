import Foundation
import XCTest

/// Outputs people open elsewhere: the annotated video in browsers (H.264) and the CSV in
/// spreadsheets (one row per face per frame, the same values as the NDJSON log).
final class BatchOutputsTests: XCTestCase {
    func testAnnotatedVideoIsH264WithEveryFrame() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("a.mp4").path
        let r = try CLI.run(["batch", CLI.media("single_face.mp4"), "--annotate", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stderr.contains("no H.264 encoder"), r.stderr)
        let probe = try CLI.run(["-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                                 "stream=codec_name,nb_read_frames", "-of", "csv=p=0", out], executable: "/usr/bin/ffprobe")
        XCTAssertEqual(probe.status, 0, probe.stderr)
        XCTAssertEqual(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "h264,72")
    }

    func testCSVRowsEqualTheNDJSONFaces() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("l.ndjson").path, csv = dir.appendingPathComponent("f.csv").path
        let r = try CLI.run(["batch", CLI.media("WolfgangLanger_Pexels.mp4"), "--log", log, "--csv", csv])
        XCTAssertEqual(r.status, 0, r.stderr)
        let text = try String(contentsOfFile: csv, encoding: .utf8)
        var rows = text.components(separatedBy: "\r\n").filter { !$0.isEmpty }.map { $0.components(separatedBy: ",") }
        let head = rows.removeFirst()
        XCTAssertEqual(Array(head.prefix(11)), ["source", "frame", "media_time", "track", "x", "y", "width", "height",
                                                 "label", "confidence", "raw_label"])
        let labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
        XCTAssertEqual(Array(head.dropFirst(11)), labels.map { "score_\($0)" } + labels.map { "smoothed_\($0)" })
        var expected: [[String]] = []
        for line in try CLI.lines(log) {
            for f in line["faces"] as! [[String: Any]] {
                let box = f["box"] as! [String: Int]
                let scores = f["scores"] as! [String: Double], smoothed = f["smoothed"] as! [String: Double]
                expected.append([line["source"] as! String, "\(line["frame"] as! Int)", "\(line["media_time"] as! Double)",
                                 "\(f["track"] as! Int)", "\(box["x"]!)", "\(box["y"]!)", "\(box["width"]!)",
                                 "\(box["height"]!)", f["label"] as! String, "\(f["confidence"] as! Double)",
                                 f["raw_label"] as! String] + labels.map { "\(scores[$0]!)" } + labels.map { "\(smoothed[$0]!)" })
            }
        }
        XCTAssertGreaterThan(expected.count, 400, "the clip has a face in almost every frame")
        XCTAssertEqual(rows.count, expected.count)
        for (i, (row, want)) in zip(rows, expected).enumerated() {
            XCTAssertEqual(row.count, want.count, "row \(i)")
            for (j, (a, b)) in zip(row, want).enumerated() {
                if let x = Double(a), let y = Double(b) { XCTAssertEqual(x, y, accuracy: 1e-6, "row \(i) column \(head[j])") }
                else { XCTAssertEqual(a, b, "row \(i) column \(head[j])") }
            }
        }
    }
}
