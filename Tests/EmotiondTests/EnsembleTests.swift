import Foundation
import XCTest

/// Ensembles (#16): several models with the same labels, probabilities averaged per face. Real
/// shipped models (FERVGG, the default, and FER4), real commands.
final class EnsembleTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try CLI.tempDir() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    static let vgg = CLI.root.appendingPathComponent("models/emotion-fervgg.onnx").path
    static let fer4 = CLI.root.appendingPathComponent("models/emotion-fer4.onnx").path
    static let both = ["--model", vgg, "--model", fer4]

    func accuracy(_ models: [String]) throws -> Double {
        let r = try CLI.run(["eval", "--fer2013", EvalTests.csv, "--json"] + models)
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(obj["samples"] as? Int, 3589)
        return obj["accuracy"] as! Double
    }

    /// The pair's accuracy is its own (not a member's) and is what onnxruntime gets averaging the two.
    func testEvalEnsembleMatchesOnnxRuntimeAverage() throws {
        guard FileManager.default.fileExists(atPath: EvalTests.csv) else { return XCTFail("FER2013 CSV not found at \(EvalTests.csv)") }
        let pair = try accuracy(Self.both)
        let alone = try [Self.vgg, Self.fer4].map { try accuracy(["--model", $0]) }
        for a in alone { XCTAssertNotEqual(pair, a, "ensemble accuracy equals a member's") }
        let out = dir.appendingPathComponent("ref.json").path
        let ref = try CLI.run([CLI.root.appendingPathComponent("tools/train/eval_reference.py").path] + Self.both
                              + ["--csv", EvalTests.csv, "--out", out], executable: CLI.python)
        XCTAssertEqual(ref.status, 0, ref.stderr)
        let peer = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as! [String: Any]
        XCTAssertEqual(pair * 100, (peer["accuracy"] as! Double) * 100, accuracy: 0.2, "ours vs onnxruntime (points)")
        print("ensemble: PublicTest accuracy pair \(pair), onnxruntime \(peer["accuracy"]!), members \(alone)")
        let text = try CLI.run(["eval", "--fer2013", EvalTests.csv] + Self.both)
        XCTAssertTrue(text.stdout.contains("model     \(Self.vgg) (TTA: flip) + \(Self.fer4) (TTA: none)"), text.stdout)
    }

    func faces(_ models: [String]) throws -> [[String: Any]] {
        let r = try CLI.run(["image", CLI.media("multi_face.jpg")] + models)
        XCTAssertEqual(r.status, 0, r.stderr)
        return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any])["faces"] as! [[String: Any]]
    }

    /// `image` with two members: each face's scores are the mean of the members' scores run alone.
    func testImageScoresAreTheMembersMean() throws {
        let pair = try faces(Self.both), a = try faces(["--model", Self.vgg]), b = try faces(["--model", Self.fer4])
        XCTAssertGreaterThanOrEqual(pair.count, 4)
        XCTAssertEqual(pair.count, a.count); XCTAssertEqual(pair.count, b.count)
        for i in pair.indices {
            let s = pair[i]["scores"] as! [String: Double], sa = a[i]["scores"] as! [String: Double], sb = b[i]["scores"] as! [String: Double]
            XCTAssertEqual(Set(s.keys), Set(sa.keys))
            for (k, v) in s { XCTAssertEqual(v, (sa[k]! + sb[k]!) / 2, accuracy: 1e-5, "face \(i) \(k)") }
        }
    }

    /// The default with its own outputs in another order (labels permuted alike): mapped by name, the
    /// pair's scores are the default's alone.
    func testLabelsInAnotherOrderAreMappedByName() throws {
        let permuted = dir.appendingPathComponent("permuted.onnx").path
        let py = """
        import onnx, sys, numpy as np
        from onnx import helper, numpy_helper
        m = onnx.load(sys.argv[1])
        names = "angry,disgust,fear,happy,sad,surprise,neutral".split(",")
        perm = [6, 3, 0, 5, 1, 4, 2]
        out = m.graph.output[0]
        P = np.zeros((7, 7), dtype=np.float32)  # MatMul by a permutation (our engine has no Gather)
        for j, i in enumerate(perm): P[i, j] = 1
        m.graph.initializer.append(numpy_helper.from_array(P, "perm_matrix"))
        m.graph.node.append(helper.make_node("MatMul", [out.name, "perm_matrix"], ["permuted"]))
        out.name = "permuted"
        props = [p for p in m.metadata_props if p.key != "labels"]
        del m.metadata_props[:]
        m.metadata_props.extend(props)
        p = m.metadata_props.add(); p.key = "labels"; p.value = ",".join(names[i] for i in perm)
        onnx.save(m, sys.argv[2])
        """
        let gen = try CLI.run(["-c", py, Self.vgg, permuted], executable: CLI.python)
        XCTAssertEqual(gen.status, 0, gen.stderr)
        let pair = try faces(["--model", Self.vgg, "--model", permuted]), alone = try faces(["--model", Self.vgg])
        XCTAssertEqual(pair.count, alone.count)
        for (f, g) in zip(pair, alone) {
            let s = f["scores"] as! [String: Double], t = g["scores"] as! [String: Double]
            for (k, v) in t { XCTAssertEqual(s[k]!, v, accuracy: 1e-5, k) }
        }
    }

    /// Six labels against seven: refused at load, naming both files.
    func testLabelMismatchIsRefusedNamingBothFiles() throws {
        let six = CLI.root.appendingPathComponent("Tests/fixtures/generated/contract/six_rgb64.onnx").path
        let r = try CLI.run(["image", CLI.media("single_face.jpg"), "--model", Self.vgg, "--model", six])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("ensemble members have different labels: \(Self.vgg) and \(six)"), r.stderr)
    }

    func write(_ yaml: String) throws -> String {
        let p = dir.appendingPathComponent("c-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    /// A YAML list in check-config and in run (a short clip): the startup notice names both members
    /// and frames are scored.
    func testYAMLListInCheckConfigAndRun() throws {
        let log = dir.appendingPathComponent("frames.ndjson").path
        let cfg = try write("camera:\n  source: \(CLI.media("single_face.mp4"))\nmodel:\n  path:\n    - \(Self.vgg)\n    - \(Self.fer4)\noutputs:\n  log:\n    path: \(log)\n")
        let check = try CLI.run(["check-config", "--config", cfg])
        XCTAssertEqual(check.status, 0, check.stderr)
        let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", CLI.media("single_face.mp4")], dir: dir, name: "daemon")
        let end = Date().addingTimeInterval(20)
        while Date() < end, !((try? CLI.linesSoFar(log)) ?? []).contains(where: { !(($0["faces"] as? [Any]) ?? []).isEmpty }) { usleep(100_000) }
        d.signal(SIGTERM)
        XCTAssertEqual(d.wait(5), 0, d.stderr)
        XCTAssertTrue(d.stderr.contains("model \(Self.vgg) + \(Self.fer4)"), d.stderr)
        XCTAssertTrue(((try? CLI.linesSoFar(log)) ?? []).contains(where: { !(($0["faces"] as? [Any]) ?? []).isEmpty }), "no scored face in \(log)")
    }

    /// An empty list, a bad entry and a non-string entry are located errors (file:line: key: message).
    func testBadListsAreLocatedErrors() throws {
        let cases = [
            ("model:\n  path: []\n", "FILE:2: model.path: must not be an empty list (give one or more model files)"),
            ("model:\n  path:\n    - \(Self.vgg)\n    - ''\n", "FILE:4: model.path: must not be empty (allowed: a file path (at most 4095 bytes, no control characters))"),
            ("model:\n  path:\n    - \(Self.vgg)\n    - {a: 1}\n", "FILE:4: model.path: each list entry must be a file path, got a list or mapping"),
            ("model:\n  path:\n    - \(Self.vgg)\n    - /nonexistent/m.onnx\n", "FILE:2: model.path: cannot read model file /nonexistent/m.onnx: no such file"),
        ]
        for (yaml, expected) in cases {
            let p = try write(yaml)
            for cmd in ["check-config", "run"] {
                let r = try CLI.run([cmd, "--config", p])
                XCTAssertEqual(r.status, 1, "\(cmd): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains(expected.replacingOccurrences(of: "FILE", with: p)), "\(cmd): \(r.stderr)")
            }
        }
    }
}
