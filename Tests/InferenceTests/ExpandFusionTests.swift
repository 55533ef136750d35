import XCTest
@testable import Inference

/// A 1×1 expansion folded into the depthwise 3×3 convolution after it (MobileNetV2's inverted
/// residual block): the SIMD path expands a band of rows at a time and runs the depthwise kernel on
/// it. Each block is compared on every path set with the same graph kept unfused (an Identity
/// between the expansion and the depthwise layer blocks the fusion), run on the plain reference.
final class ExpandFusionTests: XCTestCase {
    /// `x → Conv 1×1 (c → e) → BN → Clip(0, 6) → Conv dw 3×3 (stride s, pads) → Clip(0, 6)`.
    struct Block: CustomStringConvertible {
        var c = 8, e = 24, h = 12, w = 13, stride = 1, n = 2
        var pads: [Int64] = [1, 1, 1, 1]
        /// A second reader of the expansion's output (then it must not fuse).
        var shared = false

        func model(fusible: Bool) throws -> Model {
            var b = ModelBuilder()
            b.input("x", [nil, Int64(c), Int64(h), Int64(w)])
            b.initializer("w1", [Int64(e), Int64(c), 1, 1], seed: 41)
            b.initializer("b1", [Int64(e)], seed: 42)
            b.initializer("gamma", [Int64(e)], seed: 43); b.initializer("beta", [Int64(e)], seed: 44)
            b.initializer("mean", [Int64(e)], seed: 45)
            b.initializer("var", [Int64(e)], (0..<e).map { 0.5 + Float($0 % 3) * 0.25 })
            b.initializer("wd", [Int64(e), 1, 3, 3], seed: 46)
            b.initializer("bd", [Int64(e)], seed: 47)
            b.node("Conv", ["x", "w1", "b1"], ["expand"])
            b.node("BatchNormalization", ["expand", "gamma", "beta", "mean", "var"], ["bn"])
            b.node("Clip", ["bn"], ["act"], float: ["min": 0, "max": 6])
            var src = "act"
            if !fusible { b.node("Identity", ["act"], ["held"]); src = "held" }
            b.node("Conv", [src, "wd", "bd"], ["dw"], ints: ["pads": pads, "strides": [Int64(stride), Int64(stride)]],
                   int: ["group": Int64(e)])
            b.node("Clip", ["dw"], ["y"], float: ["min": 0, "max": 6])
            b.output("y")
            if shared { b.node("GlobalAveragePool", ["act"], ["pooled"]); b.output("pooled") }
            return try ONNXLoader.load(data: try b.data())
        }

        var description: String { "\(n)×\(c)→\(e) \(h)×\(w) s\(stride) pads \(pads)" }
    }

    private func fused(_ m: Model) -> [ConvLayer] {
        m.steps.compactMap { $0.layer as? ConvLayer }.filter { $0.fusedExpand != nil }
    }

    func testExpansionsAreFusedAndMatchTheUnfusedGraph() throws {
        var blocks = [Block()]                                                             // one band
        var s1 = Block(); s1.c = 16; s1.e = 64; s1.h = 90; s1.w = 100; s1.n = 1; blocks.append(s1)   // 3 bands of 38 rows
        var s2 = Block(); s2.c = 16; s2.e = 48; s2.h = 113; s2.w = 113; s2.n = 1; s2.stride = 2; blocks.append(s2)  // 6 bands
        var even = s2; even.h = 112; even.w = 112; even.pads = [0, 0, 1, 1]; blocks.append(even)  // TF-style pads: none on top
        // one output row per band (700 × 131 floats a row), no padding
        var valid = Block(); valid.h = 20; valid.w = 131; valid.stride = 2; valid.pads = [0, 0, 0, 0]; valid.e = 700
        blocks.append(valid)
        // pads taller than the map, one output row per band: bands whose rows are all padding (none to expand)
        var padded = Block(); padded.h = 2; padded.w = 131; padded.e = 700; padded.pads = [3, 1, 3, 1]; blocks.append(padded)
        var rng = Rng(s: 505)
        var worst: Float = 0
        for block in blocks {
            let model = try block.model(fusible: true), plain = try block.model(fusible: false)
            let conv = try XCTUnwrap(fused(model).first, "\(block): not fused")
            XCTAssertEqual(model.steps.count, 1, "\(block)")
            XCTAssertEqual(model.macsPerSample, plain.macsPerSample, "\(block)")
            let g = conv.geometry(conv.expandedShape([block.n, block.c, block.h, block.w]))
            if block.h >= 90 { XCTAssertLessThan(conv.expandBandRows(g), g.oh, "\(block): one band") }
            if block.e == 700 { XCTAssertEqual(conv.expandBandRows(g), 1, "\(block)") }
            if block.pads[0] > 1 { XCTAssertEqual(g.oh, 6, "\(block)") }
            let x = rng.tensor([block.n, block.c, block.h, block.w])
            let want = try plain.run(x, options: .reference)
            for o in PathSets.traced() {
                let e = Agreement.error(try model.run(x, options: o), want)
                XCTAssertLessThanOrEqual(e, Agreement.tolerance, "\(block) [\(o)]")
                worst = max(worst, e)
                if o.kernels != .none {
                    XCTAssertTrue(PathSets.labels(o).contains("Conv expand+depthwise \(o.kernels.name)"), "\(block) [\(o)]")
                    XCTAssertNil(PathSets.mismatch(o), "\(block) [\(o)]")
                }
            }
        }
        print("expansion fusion: \(blocks.count) blocks; worst error \(worst)")
    }

    /// A second reader of the expansion's output keeps it a layer of its own.
    func testSharedExpansionIsNotFused() throws {
        var block = Block(); block.shared = true
        let model = try block.model(fusible: true)
        XCTAssertTrue(fused(model).isEmpty)
        XCTAssertEqual(model.steps.count, 3)
        var rng = Rng(s: 506)
        let x = rng.tensor([2, block.c, block.h, block.w])
        let want = try model.runAll(x, options: .reference)
        for o in PathSets.fast {
            for (y, r) in zip(try model.runAll(x, options: o), want) { XCTAssertLessThanOrEqual(Agreement.error(y, r), Agreement.tolerance) }
        }
    }
}
