import Foundation
import XCTest

/// `emotiond bench inference` against its peers (onnxruntime and OpenCV DNN from the venv, one
/// process kept for all rounds): every round gets our time and the peers', and a peer that cannot
/// run is reported while our engine is still timed.
final class BenchInferenceTests: XCTestCase {
    let model = CLI.root.appendingPathComponent("models/emotion-fer4.onnx").path

    private func bench(_ extra: [String]) throws -> [String: Any] {
        let r = try CLI.run(["bench", "inference", model, "--batches", "1,2", "--runs", "3", "--json"] + extra)
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
    }

    private func medians(_ obj: Any?) -> [String: Double] { (obj as? [String: Any])?["median_ms"] as? [String: Double] ?? [:] }

    func testEveryRoundTimesOursAndBothPeers() throws {
        let out = try bench(["--rounds", "4"])
        let ours = medians(out["emotiond"]), peers = try XCTUnwrap(out["peers"] as? [String: Any])
        XCTAssertEqual(Set(ours.keys), ["1", "2"])
        XCTAssertTrue(ours.values.allSatisfy { $0 > 0 }, "\(ours)")
        for peer in ["onnxruntime", "opencv_dnn"] {
            let p = try XCTUnwrap(peers[peer] as? [String: Any], "\(peers)")
            XCTAssertNil(p["error"], "\(p)")
            XCTAssertFalse((p["version"] as? String ?? "").isEmpty, "\(p)")
            XCTAssertEqual(Set(medians(p).keys), ["1", "2"], "\(p)")
            XCTAssertTrue(medians(p).values.allSatisfy { $0 > 0 }, "\(p)")
        }
        let ratios = try XCTUnwrap(out["ratios_batch1"] as? [String: [Double]])
        for peer in ["onnxruntime", "opencv_dnn"] {
            XCTAssertEqual(ratios[peer]?.count, 4, "one ratio per round: \(ratios)")
            XCTAssertTrue(ratios[peer]?.allSatisfy { $0.isFinite && $0 > 0 } ?? false, "\(ratios)")
        }
    }

    func testAPeerThatCannotRunIsReportedAndOursIsStillTimed() throws {
        for (python, says) in [("/nonexistent/python", "cannot run /nonexistent/python"), ("/bin/false", "exited before loading the model (exit 1)")] {
            let out = try bench(["--rounds", "2", "--python", python])
            XCTAssertTrue(medians(out["emotiond"]).values.allSatisfy { $0 > 0 } && medians(out["emotiond"]).count == 2, "\(out)")
            let ort = try XCTUnwrap((out["peers"] as? [String: Any])?["onnxruntime"] as? [String: Any], "\(out)")
            XCTAssertTrue((ort["error"] as? String ?? "").contains(says), "\(ort)")
            XCTAssertTrue((out["ratios_batch1"] as? [String: [Double]])?.isEmpty ?? false, "\(out)")
        }
    }

    /// A peer that loads the model but fails every run (a stand-in speaking peers.py's --serve
    /// protocol) is reported with its message, never as a time of 0.
    func testAPeerWhoseRunsFailIsReportedWithItsMessage() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fake = dir.appendingPathComponent("peer.sh")
        try """
            #!/bin/sh
            echo '{"onnxruntime": {"version": "9.9"}}'
            while read -r batch runs; do echo '{"onnxruntime": "no kernel for this input"}'; done
            """.write(to: fake, atomically: true, encoding: .utf8)
        XCTAssertEqual(chmod(fake.path, 0o755), 0)
        let out = try bench(["--rounds", "2", "--python", fake.path])
        let ort = try XCTUnwrap((out["peers"] as? [String: Any])?["onnxruntime"] as? [String: Any], "\(out)")
        XCTAssertEqual(ort["error"] as? String, "batch 2: no kernel for this input", "\(ort)")
        XCTAssertNil(ort["median_ms"], "\(ort)")
        XCTAssertEqual(medians(out["emotiond"]).count, 2, "\(out)")
    }
}
