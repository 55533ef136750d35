import XCTest
@testable import Inference

/// A residual `Add(conv, other)` (and a Relu after it) folded into the convolution at load: the
/// SIMD GEMM and Winograd paths add `other` in their store, the others run the Add after the
/// convolution. Each model is compared on every path with the same graph kept unfused (an
/// Identity between each branch and the Add blocks the fusion), run on the plain reference.
final class ResidualFusionTests: XCTestCase {
    /// One residual block: `x → Conv(k×k, pad k/2, stride s) [→ BN] → Add(·, other) [→ Relu]`, where
    /// `other` is a 1×1 convolution of x (same stride), x itself, or a per-channel [n, m, 1, 1]
    /// mean of x (broadcast).
    struct Block: CustomStringConvertible {
        enum Other: String { case conv, input, broadcast }
        var c = 16, m = 16, h = 9, w = 11, k = 3, stride = 1
        /// A k×1 kernel (padded by rows only) instead of k×k.
        var column = false
        var other = Other.conv, convFirst = true, relu = true, batchNorm = false
        /// The Relu before the Add (then nothing may fuse: the activation comes first).
        var reluBeforeAdd = false

        func model(fusible: Bool) throws -> Model {
            var b = ModelBuilder()
            b.input("x", [nil, Int64(c), Int64(h), Int64(w)])
            b.initializer("w", [m, c, k, column ? 1 : k].map(Int64.init), seed: 31)
            b.initializer("b", [Int64(m)], seed: 32)
            let p = Int64(k / 2), q = column ? 0 : p
            b.node("Conv", ["x", "w", "b"], ["conv"], ints: ["pads": [p, q, p, q], "strides": [Int64(stride), Int64(stride)]])
            var main = "conv"
            if batchNorm {
                b.initializer("gamma", [Int64(m)], seed: 33); b.initializer("beta", [Int64(m)], seed: 34)
                b.initializer("mean", [Int64(m)], seed: 35)
                b.initializer("var", [Int64(m)], (0..<m).map { 0.5 + Float($0 % 3) * 0.25 })
                b.node("BatchNormalization", [main, "gamma", "beta", "mean", "var"], ["bn"]); main = "bn"
            }
            if reluBeforeAdd { b.node("Relu", [main], ["pre"]); main = "pre" }
            if !fusible { b.node("Identity", [main], ["held"]); main = "held" }
            let skip: String
            switch other {
            case .conv:
                b.initializer("w1", [Int64(m), Int64(c), 1, 1], seed: 36)
                b.node("Conv", ["x", "w1"], ["skip"], ints: ["strides": [Int64(stride), Int64(stride)]]); skip = fusible ? "skip" : "held1"
            case .input: skip = "x"
            case .broadcast:
                b.initializer("w1", [Int64(m), Int64(c), 1, 1], seed: 37)
                b.node("GlobalAveragePool", ["x"], ["gap"])
                b.node("Conv", ["gap", "w1"], ["skip"]); skip = fusible ? "skip" : "held1"
            }
            if skip == "held1" { b.node("Identity", ["skip"], ["held1"]) }
            b.node("Add", convFirst ? [main, skip] : [skip, main], ["sum"])
            if relu { b.node("Relu", ["sum"], ["y"]) }
            b.output(relu ? "y" : "sum")
            return try ONNXLoader.load(data: try b.data())
        }

        var description: String {
            "c\(c)→m\(m) \(h)×\(w) k\(k)\(column ? "×1" : "") s\(stride) other=\(other.rawValue) convFirst=\(convFirst) relu=\(relu) "
                + "bn=\(batchNorm) reluBeforeAdd=\(reluBeforeAdd)"
        }
    }

    private func binaryLayers(_ m: Model) -> Int { m.steps.filter { $0.layer is BinaryLayer }.count }
    private func fused(_ m: Model) -> [ConvLayer] { m.steps.compactMap { $0.layer as? ConvLayer }.filter { $0.fusedAdd != nil } }

    func testResidualAddsAreFusedAndMatchTheUnfusedGraph() throws {
        var blocks: [Block] = []
        blocks.append(Block())                                                    // Winograd (3×3 s1, 16 → 16)
        var gemm = Block(); gemm.k = 5; gemm.batchNorm = true; blocks.append(gemm)  // im2col + GEMM, BN folded first
        var thin = Block(); thin.h = 2; thin.w = 3; thin.c = 40; thin.m = 20; blocks.append(thin)  // 6 columns: thin tile
        var deep = Block(); deep.c = 48; deep.m = 24; deep.h = 7; deep.w = 7; deep.k = 5; blocks.append(deep)  // K > 256, 49 columns
        var strided = Block(); strided.stride = 2; strided.h = 12; strided.w = 13; strided.relu = false; blocks.append(strided)
        var swapped = Block(); swapped.convFirst = false; swapped.other = .input; blocks.append(swapped)
        var small = Block(); small.c = 3; small.m = 3; small.other = .input; blocks.append(small)  // no Winograd (< 16 channels)
        var rows = Block(); rows.c = 5; rows.m = 12; rows.w = 37; rows.k = 5; blocks.append(rows)  // by rows (≤ 16 channels, 37 ≥ 16)
        // K-blocked unfold (K = 1080 rows × 289 pixels): the residual is added by the last block's GEMM.
        var kBlocked = Block(); kBlocked.c = 120; kBlocked.m = 24; kBlocked.h = 33; kBlocked.w = 33; kBlocked.stride = 2
        blocks.append(kBlocked)
        let kConv = try XCTUnwrap(fused(try kBlocked.model(fusible: true)).first)
        // A 7×1 layer as Inception's at 17²: by rows, each plane one flat row (the residual read flat too).
        var flat = Block(); flat.c = 40; flat.m = 20; flat.h = 17; flat.w = 17; flat.k = 7; flat.column = true
        blocks.append(flat)
        let flatConv = try XCTUnwrap(fused(try flat.model(fusible: true)).first)
        XCTAssertTrue(flatConv.rowsPay(flatConv.geometry([2, 40, 17, 17])) && flatConv.rowsFlat(flatConv.geometry([2, 40, 17, 17])))
        // Implicit im2col: a 7×1 layer of 150 → 64 channels at 17² (K = 1050 in 9 blocks, 289 columns,
        // the last to the thin tile; 64 channels take it over the flat rows): the residual added by
        // the last block, in the thin tile too.
        var implicit = Block(); implicit.c = 150; implicit.m = 64; implicit.h = 17; implicit.w = 17; implicit.k = 7
        implicit.column = true
        blocks.append(implicit)
        let implicitConv = try XCTUnwrap(fused(try implicit.model(fusible: true)).first)
        XCTAssertTrue(implicitConv.implicitIm2col(implicitConv.geometry([2, 150, 17, 17]), level: .avx512))
        // A 5×5 layer flat over planes 4 columns wider than its 33: the residual added as the rows are cut.
        var wide = Block(); wide.c = 8; wide.m = 20; wide.h = 33; wide.w = 33; wide.k = 5
        blocks.append(wide)
        let wideConv = try XCTUnwrap(fused(try wide.model(fusible: true)).first)
        XCTAssertEqual(wideConv.flatPadColumns(wideConv.geometry([2, 8, 33, 33])), 4)
        XCTAssertTrue(wideConv.rowsPay(wideConv.geometry([2, 8, 33, 33])) && wideConv.rowsFlat(wideConv.geometry([2, 8, 33, 33])))
        XCTAssertTrue(kConv.kBlocked(kConv.geometry([2, 120, 33, 33]), level: .avx512))
        // Winograd F(4×4) (32 → 32 at 18×19: 5×5 tiles, the last row and column of tiles cut): the
        // residual gathered per tile and added before the activation.
        var f4 = Block(); f4.c = 32; f4.m = 32; f4.h = 18; f4.w = 19
        blocks.append(f4)
        var rng = Rng(s: 404)
        var worst: Float = 0
        for block in blocks {
            let model = try block.model(fusible: true), plain = try block.model(fusible: false)
            XCTAssertEqual(binaryLayers(model), 0, "\(block): the Add was not fused")
            // The activation lives on the convolution only: its fallback Add (reference path) runs plain.
            XCTAssertEqual(fused(model).first?.activation, block.relu ? .relu : FusedActivation.none, "\(block)")
            XCTAssertEqual(fused(model).first?.fusedAdd?.activation, FusedActivation.none, "\(block)")
            XCTAssertEqual(binaryLayers(plain), 1, "\(block)")
            let x = rng.tensor([2, block.c, block.h, block.w])
            let want = try plain.run(x, options: .reference)
            let sets = PathSets.traced()
            for o in sets {
                let e = Agreement.error(try model.run(x, options: o), want)
                XCTAssertLessThanOrEqual(e, Agreement.tolerance, "\(block) [\(o)]")
                worst = max(worst, e)
            }
            if block.column && block.c != implicit.c || block.k == 5 && block.h == 33 {
                for o in sets where o.kernels == .avx512 { XCTAssertTrue(PathSets.labels(o).contains("Conv rows avx512 flat"), "\(o)") }
            }
            if block.c == implicit.c {
                for o in sets where o.kernels == .avx512 { XCTAssertTrue(PathSets.labels(o).contains("Conv gemm avx512 implicit"), "\(o)") }
            }
            if block.c == kBlocked.c {
                for o in sets where o.kernels == .avx512 { XCTAssertTrue(PathSets.labels(o).contains("Conv gemm avx512 k-blocked"), "\(o)") }
            }
            if block.c == f4.c && block.h == f4.h {
                for o in sets where o.useWinogradF4 { XCTAssertTrue(PathSets.labels(o).contains("Conv winograd-f4 avx512"), "\(block)") }
            } else if block.c >= 16 && block.k == 3 && block.stride == 1 && block.h >= 4 {
                for o in sets where o.useWinograd { XCTAssertTrue(PathSets.labels(o).contains("Conv winograd \(o.kernels.name)"), "\(block)") }
            }
        }
        print("residual fusion: \(blocks.count) blocks on \(PathSets.traced().count) path sets; worst error \(worst)")
    }

    /// What must not fuse, or fuses but cannot add in the store: an activation before the Add
    /// (it applies to the convolution alone: with the graph input as the other branch nothing
    /// fuses; with a 1×1 convolution there, that one takes the Add), a residual that broadcasts
    /// ([n, m, 1, 1]: the Add runs after the convolution, carrying the Relu).
    func testActivationFirstAndBroadcastResidualsStayCorrect() throws {
        var first = Block(); first.reluBeforeAdd = true; first.other = .input
        var firstOther = Block(); firstOther.reluBeforeAdd = true
        var broadcast = Block(); broadcast.other = .broadcast
        var rng = Rng(s: 405)
        XCTAssertEqual(binaryLayers(try first.model(fusible: true)), 1, "a Relu before the Add must keep the Add apart")
        let other = fused(try firstOther.model(fusible: true))
        XCTAssertEqual(other.map { $0.kh }, [1], "the 1×1 branch takes the Add")
        XCTAssertTrue(fused(try broadcast.model(fusible: true)).count == 1)
        for block in [first, firstOther, broadcast] {
            let model = try block.model(fusible: true), plain = try block.model(fusible: false)
            let x = rng.tensor([1, block.c, block.h, block.w])
            let want = try plain.run(x, options: .reference)
            for o in PathSets.traced() {
                XCTAssertLessThanOrEqual(Agreement.error(try model.run(x, options: o), want), Agreement.tolerance, "\(block) [\(o)]")
            }
        }
    }

    /// The comparison above can fail: a residual added twice (the bias of the unfused model nudged
    /// by the residual's scale would do the same) is caught — here the unfused graph with the
    /// other branch doubled.
    func testAWrongResidualIsCaught() throws {
        let block = Block()
        let model = try block.model(fusible: true)
        var b = ModelBuilder()   // the same block, its skip branch added twice
        b.input("x", [nil, Int64(block.c), Int64(block.h), Int64(block.w)])
        b.initializer("w", [block.m, block.c, 3, 3].map(Int64.init), seed: 31)
        b.initializer("b", [Int64(block.m)], seed: 32)
        b.initializer("w1", [Int64(block.m), Int64(block.c), 1, 1], seed: 36)
        b.node("Conv", ["x", "w", "b"], ["conv"], ints: ["pads": [1, 1, 1, 1]])
        b.node("Conv", ["x", "w1"], ["skip"])
        b.node("Add", ["conv", "skip"], ["s1"]); b.node("Add", ["s1", "skip"], ["s2"]); b.node("Relu", ["s2"], ["y"])
        b.output("y")
        let doubled = try ONNXLoader.load(data: try b.data())
        var rng = Rng(s: 406)
        let x = rng.tensor([1, block.c, block.h, block.w])
        let want = try doubled.run(x, options: .reference)
        for o in PathSets.traced() {
            XCTAssertGreaterThan(Agreement.error(try model.run(x, options: o), want), 100 * Agreement.tolerance, "\(o)")
        }
    }
}
