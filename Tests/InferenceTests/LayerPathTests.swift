import Foundation
import XCTest
@testable import Inference

/// Per-layer randomized tests (ncnn style): every SIMD path of a layer against the plain
/// reference path (level none) on the same random model and input, over random geometries.
/// The reference paths themselves are checked against onnxruntime in ReferenceModelTests.
final class LayerPathTests: XCTestCase {
    var fastLevels: [Kernels.Level] { Kernels.Level.allCases.filter { $0 != .none && $0.rawValue <= Kernels.supported.rawValue } }

    struct Rng {
        var s: UInt64
        mutating func next(_ n: Int) -> Int { s = s &* 6364136223846793005 &+ 1442695040888963407; return Int(s >> 33) % n }
        mutating func float() -> Float { Float(next(2001) - 1000) / 500 }
    }

    /// Runs `model` on `x` at the reference level and at each fast level; fails on any difference
    /// beyond float rounding of a different summation order.
    func compareLevels(_ model: Model, _ x: Tensor, _ what: String) throws {
        defer { Kernels.forced = nil }
        Kernels.forced = Kernels.Level.none
        let ref = try model.run(x)
        for level in fastLevels {
            Kernels.forced = level
            let y = try model.run(x)
            XCTAssertEqual(y.shape, ref.shape, "\(what) \(level.name)")
            let diff = zip(y.data, ref.data).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(diff, 1e-4, "\(what) \(level.name): max |fast - reference| = \(diff)")
        }
    }

    func input(_ shape: [Int], _ rng: inout Rng) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in rng.float() })
    }

    func testDepthwiseConvolutionPathsMatchTheReference() throws {
        var rng = Rng(s: 42)
        var cases = 0
        for _ in 0..<60 {
            let c = 1 + rng.next(24), h = 3 + rng.next(40), w = 3 + rng.next(40), n = 1 + rng.next(3)
            let k = [1, 3, 3, 3, 5][rng.next(5)], s = 1 + rng.next(2), d = rng.next(4) == 0 ? 2 : 1
            let p = (0..<4).map { _ in Int64(rng.next(k)) }
            let span = (k - 1) * d + 1
            guard h + Int(p[0] + p[2]) >= span, w + Int(p[1] + p[3]) >= span else { continue }
            let act = ["", "Relu", "Clip"][rng.next(3)]
            var b = ModelBuilder()
            b.input("x", [nil, Int64(c), Int64(h), Int64(w)])
            b.initializer("w", [Int64(c), 1, Int64(k), Int64(k)], seed: cases + 1)
            b.initializer("b", [Int64(c)], seed: cases + 100)
            b.node("Conv", ["x", "w", "b"], [act.isEmpty ? "y" : "c"], ints: ["pads": p, "strides": [Int64(s), Int64(s)],
                   "dilations": [Int64(d), Int64(d)]], int: ["group": Int64(c)])
            if act == "Relu" { b.node("Relu", ["c"], ["y"]) }
            if act == "Clip" { b.node("Clip", ["c"], ["y"], float: ["min": 0, "max": 6]) }
            b.output("y")
            let model = try ONNXLoader.load(data: try b.opset11Data())
            try compareLevels(model, input([n, c, h, w], &rng), "dw c\(c) \(h)x\(w) k\(k) s\(s) d\(d) p\(p) \(act)")
            cases += 1
        }
        XCTAssertGreaterThan(cases, 40)
        print("layer paths: \(cases) depthwise geometries compared on \(fastLevels.map(\.name))")
    }

    func testMaxPoolPathsMatchTheReference() throws {
        var rng = Rng(s: 7)
        var cases = 0
        for _ in 0..<60 {
            let c = 1 + rng.next(16), h = 2 + rng.next(40), w = 2 + rng.next(40), n = 1 + rng.next(3)
            let k = 2 + rng.next(3), s = 1 + rng.next(2), ceil = Int64(rng.next(2))
            let p = (0..<4).map { _ in Int64(rng.next(k)) }
            guard h + Int(p[0] + p[2]) >= k, w + Int(p[1] + p[3]) >= k else { continue }
            var b = ModelBuilder()
            b.input("x", [nil, Int64(c), Int64(h), Int64(w)])
            b.node("MaxPool", ["x"], ["y"], ints: ["kernel_shape": [Int64(k), Int64(k)], "pads": p,
                   "strides": [Int64(s), Int64(s)]], int: ["ceil_mode": ceil])
            b.output("y")
            let model = try ONNXLoader.load(data: try b.data())
            try compareLevels(model, input([n, c, h, w], &rng), "maxpool c\(c) \(h)x\(w) k\(k) s\(s) p\(p) ceil\(ceil)")
            cases += 1
        }
        XCTAssertGreaterThan(cases, 40)
        print("layer paths: \(cases) max-pool geometries compared on \(fastLevels.map(\.name))")
    }
}

extension ModelBuilder {
    /// Opset 11 (Clip's min/max as attributes were removed in 11; here they are inputs) — keep
    /// the default opset but give Clip its bounds as constant inputs instead.
    func opset11Data() throws -> Data {
        var m = self
        for i in m.model.graph.node.indices where m.model.graph.node[i].opType == "Clip" {
            m.model.graph.node[i].attribute = []
            m.initializer("clip_lo", [], [0]); m.initializer("clip_hi", [], [6])
            m.model.graph.node[i].input += ["clip_lo", "clip_hi"]
        }
        return try m.data()
    }
}

/// Hostile geometry for the padded-plane kernels: a 1×1 depthwise filter with 4096 rows of padding
/// and a 4096 column stride over a 1 Mi-float row would need a ~17 Gi-float plane. It must run
/// (on the reference loop) and give the reference's result, not abort in malloc.
final class LayerPathHostileTests: XCTestCase {
    func testHugePaddedPlaneFallsBackToTheReferenceLoop() throws {
        var b = ModelBuilder()
        b.input("x", [1, 2, 1, 1 << 20])
        b.initializer("w", [2, 1, 1, 1], [2, -1])
        b.node("Conv", ["x", "w"], ["y"], ints: ["pads": [4096, 0, 4096, 0], "strides": [1, 4096]], int: ["group": 2])
        b.output("y")
        let model = try ONNXLoader.load(data: try b.data())
        let x = Tensor(shape: [1, 2, 1, 1 << 20], data: (0..<(2 << 20)).map { Float($0 % 7) })
        defer { Kernels.forced = nil }
        Kernels.forced = Kernels.Level.none
        let ref = try model.run(x)
        Kernels.forced = nil
        let y = try model.run(x)
        XCTAssertEqual(y.shape, [1, 2, 8193, 256])
        XCTAssertEqual(y.data, ref.data)
        // Row 4096 is the input row: channel 0 scaled by 2, channel 1 by -1, every 4096th column.
        XCTAssertEqual(y.data[4096 * 256 + 1], 2 * Float(4096 % 7))
    }
}
