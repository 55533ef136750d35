import Foundation
import XCTest

/// `emotiond eval` on FER2013 PublicTest (../shared/data, present in CI) with the shipped model.
final class EvalTests: XCTestCase {
    static var csv: String {
        ProcessInfo.processInfo.environment["EMOTIOND_FER2013"]
            ?? CLI.root.deletingLastPathComponent().appendingPathComponent("shared/data/fer2013/fer2013-train-public.csv.gz").path
    }

    func testEvalAgreesWithOnnxRuntimeAndPyTorch() throws {
        guard FileManager.default.fileExists(atPath: Self.csv) else { return XCTFail("FER2013 CSV not found at \(Self.csv)") }
        let r = try CLI.run(["eval", "--fer2013", Self.csv, "--usage", "PublicTest", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let ours = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let acc = ours["accuracy"] as! Double
        // Issue #13's bar with the default configuration (the model's declared flip TTA): 70 %
        // (models/README.md: 70.35 %; the previous defaults had 66.79 % and 64.64 %). A regression in
        // the model file, the crop/normalisation or the engine falls under it.
        XCTAssertGreaterThanOrEqual(acc, 0.70, "PublicTest accuracy of the shipped model")
        XCTAssertEqual(ours["samples"] as? Int, 3589)
        let confusion = ours["confusion"] as! [[Int]]
        XCTAssertEqual(confusion.joined().reduce(0, +), 3589)

        // Peer evaluation of the same ONNX file with onnxruntime, and the PyTorch accuracy
        // of the checkpoint it was exported from (recorded in the model metadata by train.py).
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let refPath = dir.appendingPathComponent("ref.json").path
        let ref = try CLI.run([CLI.root.appendingPathComponent("tools/train/eval_reference.py").path, "--model",
                               CLI.root.appendingPathComponent("models/emotion-fervgg.onnx").path, "--csv", Self.csv, "--out", refPath], executable: CLI.python)
        XCTAssertEqual(ref.status, 0, ref.stderr)
        let peer = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: refPath))) as! [String: Any]
        XCTAssertEqual(acc * 100, (peer["accuracy"] as! Double) * 100, accuracy: 0.2, "ours vs onnxruntime (points)")
        let torch = try XCTUnwrap(peer["pytorch_accuracy"] as? Double, "model metadata lacks publictest_accuracy")
        XCTAssertEqual(acc * 100, torch * 100, accuracy: 0.2, "ours vs PyTorch (points)")
        print("eval: PublicTest accuracy ours \(acc), onnxruntime \(peer["accuracy"]!), pytorch \(torch)")
    }

    func testEvalMissingFile() throws {
        let r = try CLI.run(["eval", "--fer2013", "/nonexistent/fer.csv.gz"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("cannot read /nonexistent/fer.csv.gz: no such file"), r.stderr)
    }

    func testEvalRejectsNonFERFile() throws {
        let r = try CLI.run(["eval", "--fer2013", CLI.root.appendingPathComponent("Package.swift").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("expected header 'emotion,pixels,Usage'"), r.stderr)
    }
}

/// Test-time augmentation declared by the model (`tta` metadata) is what every command runs
/// by default; `--tta` overrides it; an unknown value is a named model error.
final class DeclaredTTATests: XCTestCase {
    /// A copy of the shipped model with `tta` set to `value` in its metadata ("": the key left out).
    func model(tta value: String, in dir: URL) throws -> String {
        let out = dir.appendingPathComponent("tta-\(value.isEmpty ? "absent" : value).onnx").path
        let src = CLI.root.appendingPathComponent("models/emotion-fervgg.onnx").path
        let py = """
        import onnx, sys
        m = onnx.load(sys.argv[1])
        props = [p for p in m.metadata_props if p.key != "tta"]
        del m.metadata_props[:]
        m.metadata_props.extend(props)
        if sys.argv[3]:
            p = m.metadata_props.add(); p.key = "tta"; p.value = sys.argv[3]
        onnx.save(m, sys.argv[2])
        """
        let r = try CLI.run(["-c", py, src, out, value], executable: CLI.python)
        XCTAssertEqual(r.status, 0, r.stderr)
        return out
    }

    func accuracy(_ args: [String]) throws -> Double {
        let r = try CLI.run(["eval", "--fer2013", EvalTests.csv, "--usage", "PublicTest", "--json"] + args)
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        return j["accuracy"] as! Double
    }

    func testDeclaredFlipIsTheDefaultAndTTAOverridesIt() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let flipModel = try model(tta: "flip", in: dir)
        let byDefault = try accuracy(["--model", flipModel])
        let forcedFlip = try accuracy(["--model", flipModel, "--tta", "flip"])
        let single = try accuracy(["--model", flipModel, "--tta", "none"])
        let plain = try accuracy(["--model", try model(tta: "", in: dir)])   // no `tta` key: one view
        XCTAssertEqual(byDefault, forcedFlip, "default must run the declared flip")
        XCTAssertEqual(single, plain, "--tta none must run one view, like a model without the key")
        XCTAssertNotEqual(byDefault, single, "flip and single view gave identical accuracy: TTA not applied")

        // The same default reaches the frame pipeline: image on a photo, scores differ by view.
        let photo = CLI.media("single_face.jpg")
        let a = try CLI.run(["image", photo, "--model", flipModel])
        let b = try CLI.run(["image", photo, "--model", flipModel, "--tta", "flip"])
        let c = try CLI.run(["image", photo, "--model", flipModel, "--tta", "none"])
        XCTAssertEqual(a.status, 0, a.stderr)
        func scores(_ r: CLI.Result) throws -> [String: Double] {
            let j = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            let faces = try XCTUnwrap(j["faces"] as? [[String: Any]])
            return try XCTUnwrap(faces.first?["scores"] as? [String: Double])
        }
        XCTAssertEqual(try scores(a), try scores(b))
        XCTAssertNotEqual(try scores(a), try scores(c))
    }

    func testUnknownDeclaredTTAIsANamedModelError() throws {
        let dir = try CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = try model(tta: "sideways", in: dir)
        let r = try CLI.run(["image", CLI.media("single_face.jpg"), "--model", bad])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains(bad) && r.stderr.contains("tta \"sideways\""), r.stderr)
    }
}
