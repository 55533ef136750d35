import Foundation
import XCTest
import ONNXProto
@testable import Inference

/// Model files that are not regular files, too large, or carry unusable metadata are refused at load
/// with an error naming the file and the problem (issue #15, rows 3, 10, 11).
final class ModelFileSafetyTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("emotiond-modelfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func assertLoadError(_ path: String, _ expected: InferenceError, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ONNXLoader.load(path: path), file: file, line: line) { e in
            XCTAssertEqual(e as? InferenceError, expected, file: file, line: line)
        }
    }

    /// Opening a FIFO for reading blocks until a writer appears; the loader must refuse it instead.
    /// A hang would fail the test through the deadline below rather than block the suite.
    func testFIFORefusedWithoutBlocking() throws {
        let p = tmp.appendingPathComponent("model.onnx").path
        XCTAssertEqual(mkfifo(p, 0o600), 0)
        let done = expectation(description: "load returns")
        DispatchQueue.global().async {
            self.assertLoadError(p, .fileUnreadable(path: p, reason: "is a named pipe (FIFO), not a regular file"))
            done.fulfill()
        }
        wait(for: [done], timeout: 10)
    }

    /// /dev/zero never ends (the old loader read 2.2 GB before failing).
    func testDeviceRefused() {
        assertLoadError("/dev/zero", .fileUnreadable(path: "/dev/zero", reason: "is a device, not a regular file"))
    }

    /// A sparse file above the 512 MiB limit is refused from its size, before it is read.
    func testOversizedFileRefused() throws {
        let p = tmp.appendingPathComponent("big.onnx").path
        XCTAssertTrue(FileManager.default.createFile(atPath: p, contents: nil))
        XCTAssertEqual(truncate(p, 600 << 20), 0)
        assertLoadError(p, .tooLarge(what: "model file \(p) (bytes)", elements: 600 << 20, limit: 512 << 20))
    }

    /// The limit also holds while reading: a file larger than the limit fails at the limit.
    func testReadStopsAtLimit() throws {
        let p = tmp.appendingPathComponent("small-limit.onnx").path
        try ModelBuilder.tinyCNN().data().write(to: URL(fileURLWithPath: p))
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: p)[.size] as? Int)
        XCTAssertThrowsError(try ONNXLoader.read(path: p, limit: size - 1)) { e in
            guard case .tooLarge(let what, _, let limit)? = e as? InferenceError else { return XCTFail("\(e)") }
            XCTAssertEqual(what, "model file \(p) (bytes)")
            XCTAssertEqual(limit, size - 1)
        }
        XCTAssertEqual(try ONNXLoader.read(path: p, limit: size).count, size)
    }

    func model(metadata: [String: String]) throws -> Data {
        var b = ModelBuilder.tinyCNN()
        for (k, v) in metadata.sorted(by: { $0.key < $1.key }) {
            var e = Onnx_StringStringEntryProto(); e.key = k; e.value = v
            b.model.metadataProps.append(e)
        }
        return try b.data()
    }

    /// NaN/inf or out-of-range normalisation and crop metadata used to be accepted silently
    /// (a NaN mean makes every score NaN; std ≤ 0 was replaced by 1 without a word).
    func testBadMetadataRefused() throws {
        let perChannel = " (or one per channel, comma separated)"
        let cases: [(String, String, String)] = [
            ("mean", "nan", "a finite number\(perChannel)"), ("mean", "inf", "a finite number\(perChannel)"),
            ("mean", "zero", "a finite number\(perChannel)"), ("mean", "0.5,,0.5", "a finite number\(perChannel)"),
            ("std", "nan", "a finite number > 0\(perChannel)"), ("std", "0", "a finite number > 0\(perChannel)"),
            ("std", "-0.25", "a finite number > 0\(perChannel)"), ("std", "-inf", "a finite number > 0\(perChannel)"),
            ("input_size", "48y48", "WIDTHxHEIGHT or one size, 1–4096 px"), ("input_size", "0x48", "WIDTHxHEIGHT or one size, 1–4096 px"), ("crop_margin", "-0.1", "a fraction in 0...1"),
            ("crop_margin", "1e9", "a fraction in 0...1"), ("crop_margin", "nan", "a fraction in 0...1"),
        ]
        for (key, value, expected) in cases {
            let p = tmp.appendingPathComponent("meta-\(key)-\(value).onnx").path
            try model(metadata: [key: value]).write(to: URL(fileURLWithPath: p))
            assertLoadError(p, .badModel(detail: "metadata \(key)='\(value)' must be \(expected)"))
        }
    }

    func testGoodMetadataRead() throws {
        let m = try ONNXLoader.load(data: try model(metadata: ["mean": "0.5", "std": " 0.25", "crop_margin": "0.02"]))
        XCTAssertEqual(m.metadata.mean, [0.5])
        XCTAssertEqual(m.metadata.std, [0.25])
        XCTAssertEqual(m.metadata.cropMargin, 0.02)
        let d = try ONNXLoader.load(data: try model(metadata: [:]))
        XCTAssertEqual(d.metadata.mean, [0])
        XCTAssertEqual(d.metadata.std, [1])
        XCTAssertNil(d.metadata.cropMargin)
    }
}
