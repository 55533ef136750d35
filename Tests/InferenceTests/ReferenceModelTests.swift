import Foundation
import XCTest
@testable import Inference

/// Numerical agreement with onnxruntime on models exported from PyTorch
/// (MobileNetV2, ResNet18, Inception v3, VGG-style, mini-Xception, 4-conv FER CNN, op zoo).
final class ReferenceModelTests: XCTestCase {
    struct Entry: Decodable {
        struct Batch: Decodable { let batch: Int; let input_shape: [Int]; let output_shape: [Int]; let input: String; let output: String }
        let name: String; let model: String; let opset: Int; let ops: [String]; let batches: [Batch]
    }

    func entries() throws -> [Entry] {
        let url = try Fixtures.require(Fixtures.generated.appendingPathComponent("manifest.json"))
        return try JSONDecoder().decode([Entry].self, from: Data(contentsOf: url))
    }

    /// Every path set this CPU can run (`PathSets.fast`: OpenBLAS, each SIMD level with and without
    /// Winograd), chosen per call. The plain reference loops too on the small models: that is what
    /// anchors LayerPathTests (which compare every path to it) to onnxruntime. On the wide ones
    /// (VGG-style, ImageNet-size) they would take minutes in a debug build, for no other layer kinds.
    func check(_ name: String, reference: Bool = true) throws {
        guard let e = try entries().first(where: { $0.name == name }) else { return XCTFail("\(name) not in manifest") }
        let model = try ONNXLoader.load(path: try Fixtures.require(Fixtures.generated.appendingPathComponent(e.model)).path)
        XCTAssertEqual(model.opsetVersion, e.opset)
        for o in PathSets.traced() where reference || o != .reference {
            try compare(name, e, model, options: o)
            // The run took the paths of its options (e.g. no OpenBLAS in the reference run).
            XCTAssertNil(PathSets.mismatch(o), "\(name) [\(o)]: \(PathSets.labels(o))")
        }
    }

    func compare(_ name: String, _ e: Entry, _ model: Model, options: InferenceOptions) throws {
        for b in e.batches {
            let x = Tensor(shape: b.input_shape, data: try Fixtures.floats(Fixtures.generated.appendingPathComponent(b.input)))
            let expected = try Fixtures.floats(Fixtures.generated.appendingPathComponent(b.output))
            let y = try model.run(x, options: options)
            XCTAssertEqual(y.shape, b.output_shape, "\(name) batch \(b.batch) shape")
            var maxDiff: Float = 0
            for (a, r) in zip(y.data, expected) { maxDiff = max(maxDiff, abs(a - r)) }
            XCTAssertLessThanOrEqual(maxDiff, 1e-4,
                                     "\(name) batch \(b.batch) [\(options)]: max |ours - onnxruntime| = \(maxDiff)")
            // Softmax rows sum to one: the comparison is on real probabilities.
            let classes = b.output_shape[1]
            for r in 0..<b.batch { XCTAssertEqual(y.data[(r * classes)..<((r + 1) * classes)].reduce(0, +), 1, accuracy: 1e-3) }
            print("reference \(name) batch \(b.batch) [\(options)]: max abs diff \(maxDiff)")
        }
    }

    func testFER4() throws { try check("fer4") }
    func testMiniXception() throws { try check("minixception") }
    func testVGGStyle() throws { try check("vggish", reference: false) }
    func testOperatorZoo() throws { try check("opzoo") }
    func testMobileNetV2() throws { try check("mobilenet_v2", reference: false) }
    func testResNet18() throws { try check("resnet18", reference: false) }
    func testInceptionV3() throws { try check("inception_v3", reference: false) }

    /// Batched inference equals per-sample inference (one GEMM per layer over N faces).
    func testBatchEqualsSingles() throws {
        let e = try entries().first { $0.name == "minixception" }!
        let model = try ONNXLoader.load(path: Fixtures.generated.appendingPathComponent(e.model).path)
        let b = e.batches.first { $0.batch == 3 }!
        let x = try Fixtures.floats(Fixtures.generated.appendingPathComponent(b.input))
        let all = try model.run(Tensor(shape: b.input_shape, data: x))
        let per = 48 * 48
        for i in 0..<3 {
            let one = try model.run(Tensor(shape: [1, 1, 48, 48], data: Array(x[(i * per)..<((i + 1) * per)])))
            for k in 0..<7 { XCTAssertEqual(one.data[k], all.data[i * 7 + k], accuracy: 1e-5) }
        }
    }
}
