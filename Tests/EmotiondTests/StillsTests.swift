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
