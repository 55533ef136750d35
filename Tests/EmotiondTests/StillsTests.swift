import Foundation
import XCTest

/// `emotiond image` on stills: full-resolution detection with a 24 px minimum by default (a still
/// is seen once; video keeps 0.5 / 48), and `--annotate` to see the boxes.
final class StillsTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try CLI.tempDir() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func faces(_ r: CLI.Result) throws -> [[String: Any]] {
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        return try XCTUnwrap(j["faces"] as? [[String: Any]])
    }

    /// multi_face.jpg shrunk to 30 %: its faces become ~30–40 px. The still defaults find them;
    /// the video defaults (half resolution, 48 px minimum) cannot.
    func testSmallFacesAreFoundWithTheStillDefaults() throws {
        let small = dir.appendingPathComponent("small.png").path
        let py = "import cv2,sys; i=cv2.imread(sys.argv[1]); cv2.imwrite(sys.argv[2], cv2.resize(i, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA))"
        let r = try CLI.run(["-c", py, CLI.media("multi_face.jpg"), small], executable: CLI.python)
        XCTAssertEqual(r.status, 0, r.stderr)
        let still = try faces(try CLI.run(["image", small]))
        let video = try faces(try CLI.run(["image", small, "--detect-scale", "0.5", "--min-face", "48"]))
        XCTAssertEqual(video.count, 0)
        XCTAssertGreaterThanOrEqual(still.count, 3, "\(still)")
    }

    /// `--profile`: the half-turned face of 45-m7-di-ph.jpg, which the frontal cascade misses, is found,
    /// and in the mirrored photo too (the profile cascade knows one side; its mirror pass the other),
    /// at the mirrored place. Faces the frontal cascade already has are not boxed twice.
    func testProfileFindsTurnedFacesEitherWayWithoutDuplicates() throws {
        let photo = CLI.media("45-m7-di-ph.jpg"), mirrored = dir.appendingPathComponent("mirrored.png").path
        let py = "import cv2,sys; cv2.imwrite(sys.argv[2], cv2.flip(cv2.imread(sys.argv[1]), 1))"
        let m = try CLI.run(["-c", py, photo, mirrored], executable: CLI.python)
        XCTAssertEqual(m.status, 0, m.stderr)
        XCTAssertEqual(try faces(try CLI.run(["image", photo])).count, 0)
        let left = try faces(try CLI.run(["image", photo, "--profile"]))
        let right = try faces(try CLI.run(["image", mirrored, "--profile"]))
        XCTAssertEqual(left.count, 1, "\(left)")
        XCTAssertEqual(right.count, 1, "\(right)")
        let a = try XCTUnwrap(left.first?["box"] as? [String: Int]), b = try XCTUnwrap(right.first?["box"] as? [String: Int])
        XCTAssertEqual(Double(b["x"]!), Double(512 - a["x"]! - a["width"]!), accuracy: 4, "\(a) vs \(b)")
        XCTAssertEqual(Double(b["y"]!), Double(a["y"]!), accuracy: 4)

        let frontal = try faces(try CLI.run(["image", CLI.media("multi_face.jpg")]))
        let both = try faces(try CLI.run(["image", CLI.media("multi_face.jpg"), "--profile"]))
        XCTAssertEqual(both.map { $0["box"] as! [String: Int] }, frontal.map { $0["box"] as! [String: Int] })
    }

    /// The same switch in the configuration (`detector.profile`), checked like every key, and in batch.
    func testProfileInConfigAndBatch() throws {
        let cfg = dir.appendingPathComponent("c.yaml").path
        try "camera:\n  source: \(CLI.media("single_face.mp4"))\ndetector:\n  profile: yes please\n".write(toFile: cfg, atomically: true, encoding: .utf8)
        let bad = try CLI.run(["check-config", "--config", cfg])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("detector.profile"), bad.stderr)
        try "camera:\n  source: \(CLI.media("single_face.mp4"))\ndetector:\n  profile: true\n".write(toFile: cfg, atomically: true, encoding: .utf8)
        let good = try CLI.run(["check-config", "--config", cfg])
        XCTAssertEqual(good.status, 0, good.stderr)
        let log = dir.appendingPathComponent("b.ndjson").path
        let r = try CLI.run(["batch", CLI.media("single_face.mp4"), "--profile", "--log", log, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let frames = try CLI.lines(log)
        XCTAssertEqual(frames.count, 72)
        XCTAssertGreaterThan(frames.filter { !($0["faces"] as! [Any]).isEmpty }.count, 60)
    }

    func testAnnotateDrawsTheBoxesAndNeverOverwritesAnInput() throws {
        let out = dir.appendingPathComponent("a.png").path
        let found = try faces(try CLI.run(["image", CLI.media("multi_face.jpg"), "--annotate", out]))
        XCTAssertEqual(found.count, 4)
        // Same size as the input, and the first box's top edge is drawn (pixels changed along it).
        let box = found[0]["box"] as! [String: Int]
        let py = """
        import cv2, sys, numpy as np
        a, b = cv2.imread(sys.argv[1]), cv2.imread(sys.argv[2])
        x, y, w = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        edge = np.abs(a[y, x:x + w].astype(int) - b[y, x:x + w].astype(int)).sum(axis=1) > 60
        print(a.shape == b.shape, round(float(edge.mean()), 2))
        """
        let c = try CLI.run(["-c", py, CLI.media("multi_face.jpg"), out, "\(box["x"]!)", "\(box["y"]!)", "\(box["width"]!)"],
                            executable: CLI.python)
        XCTAssertEqual(c.status, 0, c.stderr)
        let parts = c.stdout.split(separator: " ")
        XCTAssertEqual(parts.first, "True", c.stdout)
        XCTAssertGreaterThan(Double(parts.last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0, 0.8, c.stdout)

        // An input given as the output is refused before anything is written; the input is intact.
        let copy = dir.appendingPathComponent("in.jpg").path
        try FileManager.default.copyItem(atPath: CLI.media("single_face.jpg"), toPath: copy)
        let before = try Data(contentsOf: URL(fileURLWithPath: copy))
        let r = try CLI.run(["image", copy, "--annotate", copy])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("refusing to overwrite an input"), r.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: copy)), before)
        // Several images need {name}.
        let m = try CLI.run(["image", CLI.media("single_face.jpg"), copy, "--annotate", out])
        XCTAssertNotEqual(m.status, 0)
        XCTAssertTrue(m.stderr.contains("{name}"), m.stderr)
    }
}
