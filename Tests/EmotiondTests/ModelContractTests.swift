import Foundation
import XCTest

/// Issue #16: models that are not FER2013's 7 gray 48×48 classes — six classes in RGB 64×64, the
/// eight FER+ classes, an Inception-v3-shaped 299×299 BGR net — run through `image`, `batch`,
/// `run` (with MQTT) and `eval`; every output validates against the schemas `emotiond schemas`
/// writes for the model, and its labels are the model's. Models: tools/reference/make_contract_models.py
/// (scripts/test.sh generates them; random weights: the labels and the formats are checked).
final class ModelContractTests: XCTestCase {
    static var models: URL {
        ProcessInfo.processInfo.environment["EMOTIOND_CONTRACT_MODELS"].map { URL(fileURLWithPath: $0) }
            ?? CLI.root.appendingPathComponent("Tests/fixtures/generated/contract")
    }

    /// file → its labels, from the generator's manifest.
    static func cases() throws -> [(file: String, labels: [String])] {
        let data = try Data(contentsOf: models.appendingPathComponent("manifest.json"))
        let m = try JSONSerialization.jsonObject(with: data) as! [String: [String: String]]
        return m.keys.sorted().map { ($0, m[$0]!["labels"]!.split(separator: ",").map(String.init)) }
    }

    var dir: URL!
    override func setUpWithError() throws {
        dir = try CLI.tempDir()
        guard FileManager.default.fileExists(atPath: Self.models.appendingPathComponent("manifest.json").path) else {
            // A failure, not a skip: the check must run wherever the tests run.
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey:
                "contract models missing in \(Self.models.path): run tools/reference/make_contract_models.py (scripts/test.sh does)"])
        }
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func model(_ file: String) -> String { Self.models.appendingPathComponent(file).path }

    /// The model's exact schemas, written by `emotiond schemas`.
    func schemas(_ file: String) throws -> URL {
        let out = dir.appendingPathComponent("schemas-\(file)")
        let r = try CLI.run(["schemas", "--model", model(file), "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        return out
    }

    func assertValid(_ file: String, _ schemaDir: URL, _ name: String, line: UInt = #line) throws {
        let schema = schemaDir.appendingPathComponent("\(name).schema.json").path
        let r = try CLI.run([CLI.root.appendingPathComponent("tools/validate_json.py").path, schema, file], executable: CLI.python)
        XCTAssertEqual(r.status, 0, "\(file) against \(schema): \(r.stdout)\(r.stderr)", line: line)
        XCTAssertFalse(r.stdout.hasPrefix("0 valid"), "\(file) is empty", line: line)
    }

    /// Every face of every frame line: score keys, label and raw label are the model's.
    func assertFaces(_ lines: [[String: Any]], _ labels: [String], line: UInt = #line) {
        let faces = lines.flatMap { $0["faces"] as! [[String: Any]] }
        XCTAssertFalse(faces.isEmpty, "no faces", line: line)
        for f in faces {
            XCTAssertEqual(Set((f["scores"] as! [String: Any]).keys), Set(labels), line: line)
            XCTAssertEqual(Set((f["smoothed"] as! [String: Any]).keys), Set(labels), line: line)
            XCTAssertTrue(labels.contains(f["label"] as! String), "\(f["label"]!)", line: line)
            XCTAssertTrue(labels.contains(f["raw_label"] as! String), "\(f["raw_label"]!)", line: line)
        }
    }

    func assertEvents(_ events: [[String: Any]], _ labels: [String], line: UInt = #line) {
        XCTAssertFalse(events.isEmpty, "no events", line: line)
        for e in events {
            XCTAssertEqual(Set((e["scores"] as! [String: Any]).keys), Set(labels), line: line)
            XCTAssertTrue(labels.contains(e["label"] as! String), line: line)
        }
    }

    func testImageOutputsCarryTheModelsLabels() throws {
        for (file, labels) in try Self.cases() {
            let out = dir.appendingPathComponent("\(file).ndjson").path
            let annotated = dir.appendingPathComponent("\(file)-{name}.png").path
            let r = try CLI.run(["image", "--model", model(file), "--annotate", annotated,
                                 CLI.media("multi_face.jpg"), CLI.media("single_face.jpg")])
            XCTAssertEqual(r.status, 0, "\(file): \(r.stderr)")
            try r.stdout.write(toFile: out, atomically: true, encoding: .utf8)
            try assertValid(out, try schemas(file), "frame")
            assertFaces(try CLI.lines(out), labels)
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("\(file)-multi_face.png").path), file)
        }
    }

    func testBatchOutputsCarryTheModelsLabels() throws {
        for (file, labels) in try Self.cases() {
            let p = { (name: String) in self.dir.appendingPathComponent("\(file).\(name)").path }
            let r = try CLI.run(["batch", "--model", model(file), "--quiet", "--log", p("log"), "--events", p("events"),
                                 "--csv", p("csv"), "--summary-json", p("summary.json"), "--plot", p("png"),
                                 "--annotate", p("mp4"), CLI.media("single_face.mp4")])
            XCTAssertEqual(r.status, 0, "\(file): \(r.stderr)")
            let schemas = try schemas(file)
            try assertValid(p("log"), schemas, "frame")
            try assertValid(p("events"), schemas, "event")
            assertFaces(try CLI.lines(p("log")), labels)
            assertEvents(try CLI.lines(p("events")), labels)
            let header = try String(contentsOfFile: p("csv")).split(separator: "\r\n").first.map(String.init) ?? ""
            XCTAssertTrue(header.hasSuffix((labels.map { "score_\($0)" } + labels.map { "smoothed_\($0)" }).joined(separator: ",")), header)
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: p("summary.json")))) as! [[String: Any]]
            for t in summary.flatMap({ $0["tracks"] as! [[String: Any]] }) {
                XCTAssertEqual(Set((t["distribution"] as! [String: Any]).keys), Set(labels), file)
                XCTAssertTrue(labels.contains(t["dominant"] as! String), file)
            }
            for f in ["png", "mp4"] { XCTAssertTrue(FileManager.default.fileExists(atPath: p(f)), "\(file): no \(f)") }
        }
    }

    /// The daemon with each model: events, retained state and the frame log validate against the
    /// model's schemas; Home Assistant's dominant-emotion sensor offers the model's labels.
    func testRunPublishesTheModelsLabelsOverMQTT() throws {
        for (file, labels) in try Self.cases() {
            let broker = try Broker(dir: dir)
            defer { broker.stop() }
            let sub = try Subscriber(port: broker.port, topic: "#", dir: dir, name: "sub-\(file)")
            let log = dir.appendingPathComponent("\(file).run.ndjson").path
            let cfg = dir.appendingPathComponent("\(file).yaml").path
            try """
            camera:
              name: cam1
            model:
              path: \(model(file))
            outputs:
              log:
                path: \(log)
              mqtt:
                enabled: true
                port: \(broker.port)
                topic_prefix: emotiond-test
            """.write(toFile: cfg, atomically: true, encoding: .utf8)
            let d = try Child(CLI.binary, ["run", "--config", cfg, "--source", CLI.media("single_face.mp4")], dir: dir, name: "daemon-\(file)")
            XCTAssertTrue(sub.waitFor(30) { m in m.contains { $0.topic == "emotiond-test/cam1/events" && $0.payload.contains("\"type\":\"end\"") } },
                          "\(file): no end event; daemon: \(d.stderr)")
            d.signal(SIGTERM)
            XCTAssertEqual(d.wait(5), 0, d.stderr)
            let schemas = try schemas(file)
            for (suffix, name) in [("/events", "event"), ("/state", "state")] {
                let payloads = sub.messages.filter { $0.topic.hasPrefix("emotiond-test/") && $0.topic.hasSuffix(suffix) }.map(\.payload)
                let f = dir.appendingPathComponent("\(file)\(suffix.dropFirst()).ndjson").path
                try payloads.joined(separator: "\n").write(toFile: f, atomically: true, encoding: .utf8)
                try assertValid(f, schemas, name)
                if name == "event" { assertEvents(try CLI.lines(f), labels) }
            }
            try assertValid(log, schemas, "frame")
            assertFaces(try CLI.lines(log), labels)
            let ha = sub.messages.first { $0.topic.hasSuffix("/dominant_emotion/config") }?.payload ?? "{}"
            let options = (try JSONSerialization.jsonObject(with: Data(ha.utf8)) as? [String: Any])?["options"] as? [String]
            XCTAssertEqual(options, labels + ["none"], file)
        }
    }

    /// `eval` on FER2013-format rows: classes are matched by name (FER+'s "happiness" is happy),
    /// the FER2013 classes a model lacks are reported and their faces skipped.
    func testEvalMapsLabelsByNameAndReportsUnscoredClasses() throws {
        let csv = dir.appendingPathComponent("tiny.csv").path
        var rng = SystemRandomNumberGenerator()
        let rows = (0..<14).map { i in "\(i % 7),\((0..<2304).map { _ in String(UInt8.random(in: 0...255, using: &rng)) }.joined(separator: " ")),PublicTest" }
        try (["emotion,pixels,Usage"] + rows).joined(separator: "\n").write(toFile: csv, atomically: true, encoding: .utf8)
        let expected: [String: (unscored: [String], unmapped: [String])] = [
            "six_rgb64.onnx": (["fear"], []),
            "ferplus8_gray48.onnx": ([], ["contempt"]),
            "inception6_bgr299.onnx": (["disgust", "fear"], ["confused"]),
        ]
        for (file, labels) in try Self.cases() {
            let r = try CLI.run(["eval", "--fer2013", csv, "--model", model(file), "--json"])
            XCTAssertEqual(r.status, 0, "\(file): \(r.stderr)")
            let j = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            XCTAssertEqual(j["predicted"] as? [String], labels, file)
            XCTAssertEqual(j["unscored"] as? [String], expected[file]?.unscored, file)
            XCTAssertEqual(j["unmapped"] as? [String], expected[file]?.unmapped, file)
            XCTAssertEqual(j["skipped"] as? Int, 2 * (expected[file]?.unscored.count ?? 0), file)
            XCTAssertEqual(j["samples"] as? Int, 14 - 2 * (expected[file]?.unscored.count ?? 0), file)
            let text = try CLI.run(["eval", "--fer2013", csv, "--model", model(file)])
            if let u = expected[file]?.unscored, !u.isEmpty {
                XCTAssertTrue(text.stdout.contains("unscored  \(u.joined(separator: ", "))"), text.stdout)
            }
        }
    }

    /// Metadata that contradicts the graph is refused at load, naming the file and the key.
    func testInconsistentMetadataIsANamedError() throws {
        for (file, key) in [("bad_label_count.onnx", "labels"), ("bad_input_size.onnx", "input_size"),
                            ("bad_mean_count.onnx", "mean"), ("bad_color.onnx", "color"), ("bad_duplicate_label.onnx", "labels")] {
            let r = try CLI.run(["image", "--model", model(file), CLI.media("single_face.jpg")])
            XCTAssertNotEqual(r.status, 0, file)
            XCTAssertTrue(r.stderr.contains("\(model(file)): metadata \(key):"), "\(file): \(r.stderr)")
            XCTAssertEqual(r.stdout, "", file)
        }
    }

    /// The shipped schemas are exactly what `emotiond schemas` writes for the shipped model.
    func testShippedSchemasAreTheDefaultModelsGeneratedOnes() throws {
        let out = dir.appendingPathComponent("default")
        let r = try CLI.run(["schemas", "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        for name in ["frame", "event", "state"] {
            let shipped = try JSONSerialization.jsonObject(with: Data(contentsOf: CLI.root.appendingPathComponent("schemas/\(name).schema.json"))) as! NSDictionary
            let made = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("\(name).schema.json"))) as! [String: Any]
            XCTAssertEqual(shipped, made.filter { $0.key != "$comment" } as NSDictionary, name)
        }
    }
}
