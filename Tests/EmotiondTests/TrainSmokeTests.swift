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

    /// tools/train/prune.py narrows the last stage of a trained FERVGG (the w32 default's checkpoint):
    /// keeping every channel (only reordered) must give the same probabilities; a narrower
    /// copy must load into `train.py --widths ... --init` for a fine-tune, export and evaluate.
    func testPruningKeepsTheNetAndStartsANarrowerOne() throws {
        guard FileManager.default.fileExists(atPath: EvalTests.csv) else { return XCTFail("FER2013 CSV not found at \(EvalTests.csv)") }
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tools = CLI.root.appendingPathComponent("tools/train")
        let train = tools.appendingPathComponent("train.py").path, prune = tools.appendingPathComponent("prune.py").path
        let checkpoint = tools.appendingPathComponent("checkpoints/fervgg-w32-e160/best.pt").path
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        func py(_ args: [String]) throws -> CLI.Result {
            let r = try CLI.run(args, executable: CLI.python)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
            return r
        }
        let data = ["--csv", EvalTests.csv, "--limit", "256", "--threads", "1"]
        // All 256 channels kept: the same net, channels reordered.
        for run in ["orig", "same"] { try FileManager.default.createDirectory(atPath: path(run), withIntermediateDirectories: true) }
        try FileManager.default.copyItem(atPath: checkpoint, toPath: path("orig/best.pt"))
        _ = try py([prune, checkpoint, "256", path("same/best.pt")])
        for run in ["orig", "same"] { _ = try py([train, "--run", path(run), "--export-only", "--out", path(run + ".onnx")] + data) }
        let diff = try py(["-c", """
            import csv, gzip, itertools, numpy as np, onnxruntime as ort, sys
            rows = itertools.islice(csv.DictReader(gzip.open(sys.argv[1], "rt")), 32)   # real faces
            x = np.stack([np.array(r["pixels"].split(), np.float32).reshape(1, 48, 48) for r in rows])
            x = (x / 255 - 0.5) / 0.25
            p = [ort.InferenceSession(f).run(None, {"face": x})[0] for f in sys.argv[2:]]
            print(float(np.abs(p[0] - p[1]).max()), float(np.abs(p[0] - p[0].mean(0)).max()))
            """, EvalTests.csv, path("same.onnx"), path("orig.onnx")])
        let d = diff.stdout.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        XCTAssertEqual(d.count, 2, diff.stdout)
        XCTAssertLessThan(d.first ?? 1, 1e-5, "pruned to all channels: the same probabilities")
        XCTAssertGreaterThan(d.last ?? 0, 0.2, "the probabilities vary with the input (the check can fail)")
        // 192 of 256: the wide net with the dropped channels silenced (BN scale and shift 0: ReLU
        // gives 0) computes what the narrow one does.
        let p = try py([prune, checkpoint, "192", path("narrow.pt")])
        XCTAssertTrue(p.stdout.contains("widths [32, 64, 128, 192]"), p.stdout)
        let silenced = try py(["-c", """
            import sys, torch
            sys.path[:0] = [sys.argv[1] + "/tools/train", sys.argv[1] + "/tools/reference"]
            from train import build
            wide, narrow = (torch.load(f, weights_only=False, map_location="cpu") for f in sys.argv[2:4])
            sd = dict(wide["model"])
            for layer, kept in narrow["kept"].items():
                drop = torch.ones(sd[layer + ".1.weight"].numel(), dtype=torch.bool)
                drop[kept] = False
                for k in ("weight", "bias"):
                    sd[f"{layer}.1.{k}"] = sd[f"{layer}.1.{k}"].masked_fill(drop, 0)
            a, b = build("fervgg", 32).eval(), build("fervgg", 32, narrow["widths"]).eval()
            a.load_state_dict(sd); b.load_state_dict(narrow["model"])
            x = torch.randn(8, 1, 48, 48, generator=torch.Generator().manual_seed(1))
            with torch.no_grad():
                print(float((a(x) - b(x)).abs().max()), float((a(x) - build("fervgg", 32).eval()(x)).abs().max()))
            """, CLI.root.path, checkpoint, path("narrow.pt")])
        let s = silenced.stdout.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        XCTAssertEqual(s.count, 2, silenced.stdout)
        XCTAssertLessThan(s.first ?? 1, 1e-4, "narrow net = wide net with the dropped channels silenced")
        XCTAssertGreaterThan(s.last ?? 0, 1e-2, "logits that differ between nets (the check can fail)")
        let narrow = ["--arch", "fervgg", "--widths", "32,64,128,192", "--run", path("narrow")]
        let t = try py([train] + narrow + ["--epochs", "1", "--init", path("narrow.pt")] + data)
        XCTAssertTrue(t.stdout.contains("initialised from"), t.stdout)
        _ = try py([train] + narrow + ["--export-only", "--out", path("narrow.onnx")] + data)
        let ours = try CLI.run(["eval", "--fer2013", EvalTests.csv, "--model", path("narrow.onnx")])
        XCTAssertEqual(ours.status, 0, ours.stderr)
        XCTAssertTrue(try Data(contentsOf: URL(fileURLWithPath: path("narrow.onnx"))).range(of: Data("fervgg 32-64-128-192".utf8)) != nil,
                      "the export names its widths")
    }
}
