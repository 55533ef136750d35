import Foundation
import XCTest

/// The training recipe end to end on a few hundred FER2013 rows (never a real training run in
/// CI): one epoch of tools/train/train.py, export of the EMA weights, and `emotiond eval` on the
/// exported file — which must run the flip TTA the export declares and match onnxruntime's
/// evaluation of the same file and views.
final class TrainSmokeTests: XCTestCase {
    func testOneEpochTrainsExportsAndEvaluates() throws {
        guard FileManager.default.fileExists(atPath: EvalTests.csv) else { return XCTFail("FER2013 CSV not found at \(EvalTests.csv)") }
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let train = CLI.root.appendingPathComponent("tools/train/train.py").path
        let run = dir.appendingPathComponent("run").path, onnx = dir.appendingPathComponent("m.onnx").path
        let common = ["--arch", "fervgg", "--width", "8", "--csv", EvalTests.csv, "--run", run]
        let t = try CLI.run([train] + common + ["--epochs", "2", "--max-epochs-now", "1", "--limit", "256", "--threads", "1"],
                            executable: CLI.python)
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertTrue(t.stdout.contains("\"epoch\": 0"), t.stdout)
        // Stopped after one of two epochs: resuming continues at epoch 1 from last.pt.
        let r = try CLI.run([train] + common + ["--epochs", "2", "--limit", "256", "--threads", "1", "--resume"],
                            executable: CLI.python)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("resumed at epoch 1") && r.stdout.contains("\"epoch\": 1"), r.stdout)
        let e = try CLI.run([train] + common + ["--export-only", "--out", onnx], executable: CLI.python)
        XCTAssertEqual(e.status, 0, e.stderr)

        let ours = try CLI.run(["eval", "--fer2013", EvalTests.csv, "--model", onnx])
        XCTAssertEqual(ours.status, 0, ours.stderr)
        XCTAssertTrue(ours.stdout.contains("(TTA: flip)"), "exported model must declare flip TTA:\n\(ours.stdout)")
        let json = try CLI.run(["eval", "--fer2013", EvalTests.csv, "--model", onnx, "--json"])
        let acc = (try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as! [String: Any])["accuracy"] as! Double
        let refPath = dir.appendingPathComponent("ref.json").path
        let ref = try CLI.run([CLI.root.appendingPathComponent("tools/train/eval_reference.py").path, "--model", onnx,
                               "--csv", EvalTests.csv, "--out", refPath], executable: CLI.python)
        XCTAssertEqual(ref.status, 0, ref.stderr)
        let peer = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: refPath))) as! [String: Any]
        XCTAssertEqual(acc * 100, (peer["accuracy"] as! Double) * 100, accuracy: 0.2, "ours vs onnxruntime, same views")
    }
}
