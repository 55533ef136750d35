import Foundation
import XCTest
import ONNXProto
@testable import Inference

/// Each malformed-model case fails with a precise error, never a crash.
final class BadModelTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("emotiond-badmodel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func write(_ name: String, _ data: Data) throws -> String {
        let u = tmp.appendingPathComponent(name)
        try data.write(to: u)
        return u.path
    }

    func assertLoadError(_ path: String, _ expected: InferenceError, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ONNXLoader.load(path: path), file: file, line: line) { e in
            XCTAssertEqual(e as? InferenceError, expected, file: file, line: line)
        }
    }

    func testTinyModelIsValid() throws {
        let m = try ONNXLoader.load(data: try ModelBuilder.tinyCNN().data())
        let y = try m.run(Tensor(shape: [2, 1, 12, 12], data: (0..<288).map { Float($0 % 17) / 17 }))
        XCTAssertEqual(y.shape, [2, 7])
        XCTAssertEqual(y.data[0..<7].reduce(0, +), 1, accuracy: 1e-5)
        XCTAssertEqual(m.layerSummary["BatchNormLayer"], nil, "BatchNormalization after Conv is folded at load")
    }

    func testMissingFile() {
        assertLoadError(tmp.appendingPathComponent("nope.onnx").path, .fileUnreadable(path: tmp.appendingPathComponent("nope.onnx").path, reason: "no such file"))
    }

    func testDirectory() {
        assertLoadError(tmp.path, .fileUnreadable(path: tmp.path, reason: "is a directory"))
    }

    func testEmptyFile() throws {
        let p = try write("empty.onnx", Data())
        assertLoadError(p, .notONNX(path: p, reason: "file is empty"))
    }

    func testTruncatedModel() throws {
        let full = try ModelBuilder.tinyCNN().data()
        let p = try write("truncated.onnx", full.prefix(full.count / 2))
        assertLoadError(p, .notONNX(path: p, reason: "truncated protobuf data (the file is cut short)"))
    }

    func testTruncatedRealExport() throws {
        // A PyTorch export cut short, as after an interrupted download.
        let src = try Fixtures.require(Fixtures.generated.appendingPathComponent("fer4.onnx"))
        let full = try Data(contentsOf: src)
        let p = try write("fer4-truncated.onnx", full.prefix(full.count - 1000))
        assertLoadError(p, .notONNX(path: p, reason: "truncated protobuf data (the file is cut short)"))
    }

    func testNotONNX() throws {
        let p = try write("readme.onnx", Data("this is a README, not a model\n".utf8))
        XCTAssertThrowsError(try ONNXLoader.load(path: p)) { e in
            guard case let .notONNX(path, _)? = e as? InferenceError else { return XCTFail("got \(e)") }
            XCTAssertEqual(path, p)
            XCTAssertTrue("\(e)".hasPrefix("\(p) is not a valid ONNX model: "), "\(e)")
        }
        // A JSON file parses as protobuf garbage or not at all; either way it is refused.
        let j = try write("model.json", Data(#"{"layers": [1, 2, 3]}"#.utf8))
        XCTAssertThrowsError(try ONNXLoader.load(path: j)) { e in
            guard case .notONNX? = e as? InferenceError else { return XCTFail("got \(e)") }
        }
    }

    func testUnsupportedOperator() throws {
        var b = ModelBuilder()
        b.input("x", [1, 1, 4, 4])
        b.node("Relu", ["x"], ["r"], name: "relu")
        b.node("Erf", ["r"], ["y"], name: "gelu_erf")
        b.output("y")
        let p = try write("erf.onnx", try b.data())
        assertLoadError(p, .unsupportedOperator(op: "Erf", node: "gelu_erf"))
        XCTAssertEqual("\(InferenceError.unsupportedOperator(op: "Erf", node: "gelu_erf"))", "unsupported operator Erf in node 'gelu_erf'")
    }

    func testCustomDomainOperator() throws {
        var b = ModelBuilder()
        b.input("x", [1, 1, 4, 4])
        b.node("FusedConv", ["x"], ["y"], name: "fused")
        b.model.graph.node[0].domain = "com.microsoft"
        b.output("y")
        assertLoadError(try write("ms.onnx", try b.data()), .unsupportedOperator(op: "com.microsoft::FusedConv", node: "fused"))
    }

    func testWrongInputRank() throws {
        let m = try ONNXLoader.load(data: try ModelBuilder.tinyCNN().data())
        XCTAssertThrowsError(try m.run(Tensor(shape: [12, 12], data: [Float](repeating: 0, count: 144)))) { e in
            XCTAssertEqual(e as? InferenceError, .wrongInputRank(expected: 4, got: 2))
        }
        XCTAssertThrowsError(try m.run(Tensor(shape: [1, 3, 12, 12], data: [Float](repeating: 0, count: 432)))) { e in
            XCTAssertEqual(e as? InferenceError, .wrongInputShape(expected: [1, 1, 12, 12], got: [1, 3, 12, 12]))
        }
    }

    func testMissingInitializer() throws {
        var b = ModelBuilder()
        b.input("x", [1, 1, 8, 8])
        b.node("Conv", ["x", "conv1.weight"], ["y"], name: "conv1")
        b.output("y")
        assertLoadError(try write("noinit.onnx", try b.data()), .missingInitializer(node: "conv1", input: "conv1.weight"))
    }

    func testWeightThatIsNotConstant() throws {
        var b = ModelBuilder()
        b.input("x", [1, 1, 8, 8])
        b.node("Relu", ["x"], ["w"], name: "relu")
        b.node("Conv", ["x", "w"], ["y"], name: "conv1")
        b.output("y")
        assertLoadError(try write("dynw.onnx", try b.data()), .missingInitializer(node: "conv1", input: "w"))
    }

    func testAbsurdInitializer() throws {
        var b = ModelBuilder()
        b.input("x", [1, 1, 8, 8])
        var t = Onnx_TensorProto(); t.name = "huge"; t.dims = [1 << 20, 1 << 20]; t.dataType = 1
        b.model.graph.initializer.append(t)
        b.node("Conv", ["x", "huge"], ["y"], name: "conv1")
        b.output("y")
        assertLoadError(try write("huge.onnx", try b.data()), .tooLarge(what: "initializer 'huge' [1048576, 1048576]", elements: 1 << 40, limit: 64 << 20))
    }

    func testOverflowingDims() throws {
        var b = ModelBuilder()
        b.input("x", [1, 1, 8, 8])
        var t = Onnx_TensorProto(); t.name = "w"; t.dims = [1 << 40, 1 << 40, 1 << 40]; t.dataType = 1
        b.model.graph.initializer.append(t)
        b.node("Conv", ["x", "w"], ["y"], name: "conv1")
        b.output("y")
        assertLoadError(try write("overflow.onnx", try b.data()), .malformedTensor(tensor: "w", detail: "invalid dim 1099511627776"))
    }

    func testAbsurdActivation() throws {
        var b = ModelBuilder()
        b.input("x", [1, 1, 60000, 60000])
        b.node("Relu", ["x"], ["y"], name: "relu")
        b.output("y")
        assertLoadError(try write("bigin.onnx", try b.data()), .tooLarge(what: "input 'x' [1, 1, 60000, 60000]", elements: 3_600_000_000, limit: 64 << 20))
    }

    func testDataLengthMismatch() throws {
        var b = ModelBuilder()
        b.input("x", [1, 1, 8, 8])
        b.initializer("w", [2, 1, 3, 3], [1, 2, 3])
        b.node("Conv", ["x", "w"], ["y"], name: "conv1")
        b.output("y")
        assertLoadError(try write("short.onnx", try b.data()), .malformedTensor(tensor: "w", detail: "float_data holds 3 values for dims [2, 1, 3, 3] (18 expected)"))
    }

    func testUnsupportedOpset() throws {
        var b = ModelBuilder(opset: 5)
        b.input("x", [1, 1, 8, 8])
        b.node("Relu", ["x"], ["y"])
        b.output("y")
        assertLoadError(try write("old.onnx", try b.data()), .unsupportedOpset(domain: "", version: 5))
    }

    func testShapeMismatchNamesNode() throws {
        var b = ModelBuilder()
        b.input("x", [1, 3, 8, 8])
        b.initializer("w", [4, 1, 3, 3])
        b.node("Conv", ["x", "w"], ["y"], name: "conv_rgb")
        b.output("y")
        assertLoadError(try write("shape.onnx", try b.data()), .shapeMismatch(node: "conv_rgb", detail: "input has 3 channels, weights expect 1"))
    }

    func testHugeKernelWindowRefused() throws {
        var b = ModelBuilder()
        b.input("x", [1, 1, 8, 8])
        b.node("MaxPool", ["x"], ["y"], name: "pool", ints: ["kernel_shape": [1 << 30, 1], "pads": [(1 << 30) - 1, 0, (1 << 30) - 1, 0]])
        b.output("y")
        assertLoadError(try write("pool.onnx", try b.data()), .tooLarge(what: "MaxPool 'pool' kernel/stride/dilation/pad", elements: 1 << 30, limit: 4096))
    }
}
