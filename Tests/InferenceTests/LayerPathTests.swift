import Foundation
import XCTest
import CKernels
@testable import Inference

/// Per-layer random tests, ncnn style. For each layer with more than one path: random geometries
/// from a fixed seed, and on each, every path this CPU has (OpenBLAS, each SIMD level with and
/// without Winograd; `PathSets.fast`) against the plain reference loops (`InferenceOptions.reference`),
/// chosen per call, to `Agreement.tolerance` = 1e-4 relative to the output's scale. Each test then
/// checks the options' path trace: every path it is about really ran, and only under its own options.
/// The plain reference itself is checked against onnxruntime in ReferenceModelTests.
final class LayerPathTests: XCTestCase {
    func testConvolutionPathsMatchTheReference() throws {
        var rng = Rng(s: 2024)
        let sets = PathSets.traced()
        var ran: [ConvCase.Kind: Int] = [:]
        var blasShortcut = 0
        var worst: Float = 0
        for i in 0..<240 {
            let kind = ConvCase.Kind.allCases[i % ConvCase.Kind.allCases.count]
            let cc = ConvCase.random(kind, &rng)
            guard cc.isValid else { continue }
            worst = max(worst, try compareToReference(try cc.model(seed: i + 1), rng.tensor(cc.inputShape), sets, "\(cc)"))
            ran[kind, default: 0] += 1
            // OpenBLAS writes a single-image, single-group 1×1 convolution straight into the output.
            if kind == .pointwise && cc.n == 1 && cc.groups == 1 { blasShortcut += 1 }
        }
        for kind in ConvCase.Kind.allCases { XCTAssertGreaterThanOrEqual(ran[kind, default: 0], 30, "\(kind) cases") }
        XCTAssertGreaterThan(blasShortcut, 0)
        for o in sets { XCTAssertEqual(PathSets.labels(o), Self.convPaths(o), "\(o)") }
        let kinds = ran.map { "\($0.key) \($0.value)" }.sorted().joined(separator: ", ")
        report("\(ran.values.reduce(0, +)) convolutions (\(kinds))", sets, worst)
    }

    /// The convolution paths a set of options takes over cases of every kind.
    static func convPaths(_ o: InferenceOptions) -> Set<String> {
        if o.kernels == .none { return o.blas ? ["Conv blas", "Conv direct"] : ["Conv direct"] }
        let l = o.kernels.name
        return Set(["Conv gemm \(l)", "Conv depthwise \(l)"] + (o.winograd ? ["Conv winograd \(l)"] : [])
                   + (o.useWinogradF4 ? ["Conv winograd-f4 avx512"] : [])
                   + (o.kernels == .avx512 ? ["Conv rows avx512", "Conv gemm avx512 implicit"] : [])
                   // the seeded cases that run flat (stride 1, > 16 output channels, K ≥ 64, ≥ 256
                   // pixels) are all 3×3 ones, which Winograd takes when it is on
                   + (o.kernels == .avx512 && !o.winograd ? ["Conv rows avx512 flat"] : []))
    }

    /// The paths of depthwise convolutions, and of 1-channel ones if any ran (groups 1: not depthwise).
    static func depthwisePaths(_ o: InferenceOptions, singleChannel: Bool) -> Set<String> {
        let l = o.kernels.name
        if o.kernels == .none { return o.blas && singleChannel ? ["Conv blas", "Conv direct"] : ["Conv direct"] }
        return singleChannel ? ["Conv depthwise \(l)", "Conv gemm \(l)"] : ["Conv depthwise \(l)"]
    }

    func report(_ what: String, _ sets: [InferenceOptions], _ worst: Float) {
        print("layer paths: \(what) on \(sets.count - 1) path sets; worst |fast − reference| / scale \(worst)")
    }

    /// The generator of the former depthwise-only test, kept for its coverage (asymmetric pads, dilation).
    func testDepthwiseConvolutionPathsMatchTheReference() throws {
        var rng = Rng(s: 42)
        let sets = PathSets.traced()
        var cases = 0, singleChannel = false
        var worst: Float = 0
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
            let what = "dw c\(c) \(h)x\(w) k\(k) s\(s) d\(d) p\(p) \(act)"
            worst = max(worst, try compareToReference(model, rng.tensor([n, c, h, w]), sets, what))
            cases += 1
            singleChannel = singleChannel || c == 1
        }
        XCTAssertGreaterThan(cases, 40)
        for o in sets { XCTAssertEqual(PathSets.labels(o), Self.depthwisePaths(o, singleChannel: singleChannel), "\(o)") }
        report("\(cases) depthwise geometries", sets, worst)
    }

    /// The generator of the former max-pool test, kept for its coverage (ceil mode, asymmetric pads).
    func testMaxPoolPathsMatchTheReference() throws {
        var rng = Rng(s: 7)
        let sets = PathSets.traced()
        var cases = 0
        var worst: Float = 0
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
            let what = "maxpool c\(c) \(h)x\(w) k\(k) s\(s) p\(p) ceil\(ceil)"
            worst = max(worst, try compareToReference(model, rng.tensor([n, c, h, w]), sets, what))
            cases += 1
        }
        XCTAssertGreaterThan(cases, 40)
        assertPoolPaths(sets)
        report("\(cases) max-pool geometries", sets, worst)
    }

    /// 3×3 stride-2 depthwise convolutions and max pools on both AVX-512 variants. Depthwise at
    /// stride 2 × 2 straight from the source rows (odd and even sizes, padded or not; over 1024
    /// output columns, 2100 wide, the ring below); other row strides under a column stride of 2 and
    /// the max pools: planes up to 96 padded columns split whole into even/odd half planes, wider
    /// ones row by row into a ring of three; a row stride over 3 keeps the row-by-row permutes.
    /// Unpadded 3×3/2 max pools (every window inside) run separably on the rows' maxima: 16 outputs
    /// exactly (the next chunk all past the row), 32 from an even width (its last column unread), 8
    /// (one masked chunk), 12 from an odd width (the last window's last column in the second vector
    /// of rows), odd and even heights.
    func testStrideTwoWindowsOnNarrowAndWidePlanes() throws {
        var rng = Rng(s: 23)
        let sets = PathSets.traced()
        var worst: Float = 0
        for (i, (c, h, w, pad, sh)) in [(6, 44, 44, 1, 2), (3, 71, 71, 0, 2), (4, 30, 95, 1, 2), (2, 20, 131, 1, 2),
                                         (3, 15, 200, 0, 2), (5, 9, 33, 1, 1), (2, 12, 150, 1, 1),
                                         (3, 30, 140, 1, 4),   // row stride 4: the row-by-row permutes
                                         (2, 8, 33, 0, 2), (3, 10, 66, 0, 2), (4, 7, 18, 0, 2), (3, 9, 25, 0, 2),
                                         (1, 5, 2100, 1, 2)].enumerated() {
            var dw = ConvCase(kind: .depthwise)
            dw.c = c; dw.m = c; dw.groups = c; dw.h = h; dw.w = w; dw.pads = [pad, pad, pad, pad]; dw.strides = [sh, 2]
            dw.activation = "Clip"
            worst = max(worst, try compareToReference(try dw.model(seed: 800 + i), rng.tensor(dw.inputShape), sets, "\(dw)"))
            var b = ModelBuilder()
            b.input("x", [nil, Int64(c), Int64(h), Int64(w)])
            b.node("MaxPool", ["x"], ["y"], ints: ["kernel_shape": [3, 3], "strides": [Int64(sh), 2],
                                                  "pads": [Int64(pad), Int64(pad), Int64(pad), Int64(pad)]])
            b.output("y")
            let pool = try ONNXLoader.load(data: try b.data())
            worst = max(worst, try compareToReference(pool, rng.tensor([2, c, h, w]), sets, "maxpool 3×3/\(sh),2 \(c)×\(h)×\(w) p\(pad)"))
        }
        report("3×3 stride-2 windows on narrow and wide planes", sets, worst)
    }

    /// Plain 2×2/2 max pools (the AVX-512 kernel, masked tails): odd sizes (floor), rows of one to
    /// several vectors, a batch; and the same pool fused after a Winograd-eligible convolution
    /// that runs on another path.
    func testTwoByTwoMaxPoolsMatchTheReference() throws {
        var rng = Rng(s: 17)
        let sets = PathSets.traced()
        var worst: Float = 0
        for (n, c, h, w) in [(1, 32, 48, 48), (2, 3, 9, 7), (1, 5, 33, 71), (3, 2, 2, 2), (1, 4, 5, 33)] {
            var b = ModelBuilder()
            b.input("x", [nil, Int64(c), Int64(h), Int64(w)])
            b.node("MaxPool", ["x"], ["y"], ints: ["kernel_shape": [2, 2], "strides": [2, 2]])
            b.output("y")
            let model = try ONNXLoader.load(data: try b.data())
            worst = max(worst, try compareToReference(model, rng.tensor([n, c, h, w]), sets, "maxpool 2×2 \(n)×\(c)×\(h)×\(w)"))
        }
        var fused = ConvCase(kind: .winograd)
        fused.c = 16; fused.m = 20; fused.h = 37; fused.w = 35; fused.pads = [1, 1, 1, 1]; fused.maxPool = true
        worst = max(worst, try compareToReference(try fused.model(seed: 71), rng.tensor(fused.inputShape), sets, "\(fused)"))
        for o in sets where o.kernels == .avx512 { XCTAssertTrue(PathSets.labels(o).contains("MaxPool 2x2 avx512"), "\(o)") }
        report("2×2 max pools", sets, worst)
    }

    /// Max and average pools with what the test above leaves out: dilation, non-square windows,
    /// auto_pad, count_include_pad. Average pools run on the SIMD depthwise kernel under a SIMD
    /// level, the plain loop otherwise; onnxruntime checks the plain loop in ReferenceModelTests.
    func testPoolingGeometriesMatchTheReference() throws {
        var rng = Rng(s: 11)
        let sets = PathSets.traced()
        var cases = 0
        var worst: Float = 0
        for i in 0..<60 {
            let op = i % 2 == 0 ? "MaxPool" : "AveragePool"
            let c = 1 + rng.next(8), h = 3 + rng.next(30), w = 3 + rng.next(30), n = 1 + rng.next(2)
            let k = [2 + rng.next(3), 1 + rng.next(4)], s = [1 + rng.next(3), 1 + rng.next(3)]
            let d = [1 + rng.next(2), 1 + rng.next(2)]
            let p = [rng.next(k[0]), rng.next(k[1]), rng.next(k[0]), rng.next(k[1])]
            let auto = rng.pick(["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"])
            let span = [(k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1]
            let extra = auto == "NOTSET" ? [p[0] + p[2], p[1] + p[3]] : [0, 0]
            guard auto.hasPrefix("SAME") || (h + extra[0] >= span[0] && w + extra[1] >= span[1]) else { continue }
            var b = ModelBuilder()
            b.input("x", [nil, Int64(c), Int64(h), Int64(w)])
            var ints: [String: [Int64]] = ["kernel_shape": k.map(Int64.init), "strides": s.map(Int64.init),
                                           "dilations": d.map(Int64.init)]
            if auto == "NOTSET" { ints["pads"] = p.map(Int64.init) }
            let flags = ["ceil_mode": Int64(rng.next(2)), "count_include_pad": Int64(rng.next(2))]
            b.node(op, ["x"], ["y"], ints: ints, int: flags, string: ["auto_pad": auto])
            b.output("y")
            let model = try ONNXLoader.load(data: try b.data())
            let what = "\(op) c\(c) \(h)x\(w) k\(k) s\(s) d\(d) p\(p) \(auto)"
            worst = max(worst, try compareToReference(model, rng.tensor([n, c, h, w]), sets, what))
            cases += 1
        }
        XCTAssertGreaterThan(cases, 40)
        assertPoolPaths(sets)
        assertAveragePoolPaths(sets)
        report("\(cases) pooling geometries", sets, worst)
    }

    /// Average pools alone: Inception v3's 3×3/1 pad 1 (with count_include_pad a uniform divisor: taps
    /// of 1/9, no rescale; without, per-position divisors), on random planes and on fixed ones for the
    /// flat kernel of rows up to 48 wide (one position, one row, one column, Inception's 35², 17², 8²,
    /// the widest flat rows and the first direct ones), and random windows, strides, pads, ceil mode and
    /// count_include_pad.
    func testAveragePoolPathsMatchTheReference() throws {
        var rng = Rng(s: 31)
        let sets = PathSets.traced()
        var cases = 0
        var worst: Float = 0
        for i in 0..<60 {
            let inception = i % 4 == 0
            let c = 1 + rng.next(12), h = 2 + rng.next(36), w = 2 + rng.next(36), n = 1 + rng.next(3)
            let k = inception ? 3 : 1 + rng.next(5), s = inception ? 1 : 1 + rng.next(3)
            let p = inception ? [1, 1, 1, 1] : (0..<4).map { _ in rng.next(k) }
            guard h + p[0] + p[2] >= k, w + p[1] + p[3] >= k else { continue }
            let include = inception ? Int64(i % 8 == 0 ? 1 : 0) : Int64(rng.next(2))
            let flags = ["ceil_mode": inception ? 0 : Int64(rng.next(2)), "count_include_pad": include]
            worst = max(worst, try compareAveragePool(c: c, h: h, w: w, n: n, k: k, s: s, p: p, flags: flags, sets, &rng))
            cases += 1
        }
        for (i, (h, w)) in [(1, 1), (1, 9), (9, 1), (35, 35), (17, 17), (8, 8), (3, 48), (2, 49)].enumerated() {
            let flags = ["ceil_mode": Int64(0), "count_include_pad": Int64(i % 2)]
            worst = max(worst, try compareAveragePool(c: 3, h: h, w: w, n: 2, k: 3, s: 1, p: [1, 1, 1, 1], flags: flags, sets, &rng))
        }
        XCTAssertGreaterThan(cases, 40)
        assertAveragePoolPaths(sets)
        report("\(cases) average-pool geometries", sets, worst)
    }

    /// One average pool against the reference on every path set: the worst difference.
    func compareAveragePool(c: Int, h: Int, w: Int, n: Int, k: Int, s: Int, p: [Int], flags: [String: Int64],
                            _ sets: [InferenceOptions], _ rng: inout Rng) throws -> Float {
        var b = ModelBuilder()
        b.input("x", [nil, Int64(c), Int64(h), Int64(w)])
        b.node("AveragePool", ["x"], ["y"], ints: ["kernel_shape": [Int64(k), Int64(k)], "pads": p.map(Int64.init),
               "strides": [Int64(s), Int64(s)]], int: flags)
        b.output("y")
        let model = try ONNXLoader.load(data: try b.data())
        let what = "avgpool c\(c) \(h)x\(w) k\(k) s\(s) p\(p) \(flags)"
        return try compareToReference(model, rng.tensor([n, c, h, w]), sets, what)
    }

    /// Average pools ran on the SIMD kernel exactly under the SIMD levels.
    func assertAveragePoolPaths(_ sets: [InferenceOptions], file: StaticString = #filePath, line: UInt = #line) {
        for o in sets {
            XCTAssertNil(PathSets.mismatch(o), "\(o)", file: file, line: line)
            let want = o.kernels == .none ? "AveragePool plain" : "AveragePool simd \(o.kernels.name)"
            XCTAssertTrue(PathSets.labels(o).contains(want), "\(o): \(PathSets.labels(o))", file: file, line: line)
            XCTAssertEqual(PathSets.labels(o).contains("AveragePool plain"), o.kernels == .none, "\(o)", file: file, line: line)
        }
    }

    /// Max pools ran on the SIMD kernel exactly under the SIMD levels.
    func assertPoolPaths(_ sets: [InferenceOptions], file: StaticString = #filePath, line: UInt = #line) {
        for o in sets {
            XCTAssertNil(PathSets.mismatch(o), "\(o)", file: file, line: line)
            let simd = PathSets.labels(o).contains("MaxPool simd \(o.kernels.name)")
            XCTAssertEqual(simd, o.kernels != .none, "\(o): \(PathSets.labels(o))", file: file, line: line)
        }
    }

    func testGemmPathsMatchTheReference() throws {
        var rng = Rng(s: 99)
        let sets = PathSets.traced()
        var worst: Float = 0
        for i in 0..<56 {
            // The last 16: one to five rows against B's rows (a classifier on a face, or a face and
            // its flip), our GEMV under a SIMD level up to GemmLayer.gemvMaxRows; K up to 300 for
            // the vector tails, N past 4 for the row tails.
            let classifier = i >= 40
            let m = 1 + rng.next(classifier ? GemmLayer.gemvMaxRows + 1 : 8), k = 1 + rng.next(classifier ? 300 : 64), n = 1 + rng.next(32)
            let transA = rng.next(2) == 1 && !(classifier && m > 1), transB = classifier || rng.next(2) == 1
            let alpha = rng.pick([1, 0.5, -2] as [Float]), beta = rng.pick([0, 1, 0.25] as [Float])
            let cShape = rng.pick([nil, [n], [1, n], [m, 1], [m, n], []] as [[Int]?])
            let relu = rng.next(2) == 1
            let a = transA ? [k, m] : [m, k]
            var b = ModelBuilder()
            b.input("a", a.map { Int64($0) })
            b.initializer("b", (transB ? [n, k] : [k, n]).map(Int64.init), seed: i + 1)
            var inputs = ["a", "b"]
            if let cShape { b.initializer("c", cShape.map(Int64.init), seed: i + 50); inputs.append("c") }
            b.node("Gemm", inputs, [relu ? "g" : "y"], int: ["transA": transA ? 1 : 0, "transB": transB ? 1 : 0],
                   float: ["alpha": alpha, "beta": beta])
            if relu { b.node("Relu", ["g"], ["y"]) }
            b.output("y")
            let what = "gemm \(m)x\(k)x\(n) tA\(transA) tB\(transB) α\(alpha) β\(beta)"
                + " C\(cShape.map { "\($0)" } ?? "-") relu\(relu)"
            let model = try ONNXLoader.load(data: try b.data())
            worst = max(worst, try compareToReference(model, rng.tensor(a), sets, what))
        }
        for o in sets {
            let gemv: Set<String> = o.kernels == .none ? [] : ["Gemm gemv \(o.kernels.name)"]
            XCTAssertEqual(PathSets.labels(o), gemv.union([o.blas ? "Gemm blas" : "Gemm plain"]), "\(o)")
            XCTAssertNil(PathSets.mismatch(o), "\(o)")
        }
        report("56 Gemms", sets, worst)
    }

    func testMatMulPathsMatchTheReference() throws {
        var rng = Rng(s: 123)
        let sets = PathSets.traced()
        var worst: Float = 0
        for i in 0..<30 {
            let batch = 1 + rng.next(3), m = 1 + rng.next(8), k = 1 + rng.next(48), n = 1 + rng.next(24)
            let batchedB = rng.next(2) == 1
            var b = ModelBuilder()
            b.input("a", [Int64(batch), Int64(m), Int64(k)])
            b.initializer("b", (batchedB ? [batch, k, n] : [k, n]).map(Int64.init), seed: i + 1)
            b.node("MatMul", ["a", "b"], ["y"])
            b.output("y")
            let what = "matmul \(batch)x\(m)x\(k) · \(batchedB ? "\(batch)x" : "")\(k)x\(n)"
            let model = try ONNXLoader.load(data: try b.data())
            worst = max(worst, try compareToReference(model, rng.tensor([batch, m, k]), sets, what))
        }
        for o in sets { XCTAssertEqual(PathSets.labels(o), [o.blas ? "MatMul blas" : "MatMul plain"], "\(o)") }
        report("30 MatMuls", sets, worst)
    }

    /// A whole small net (Conv-BN-Relu, MaxPool, depthwise, Add, GAP, Gemm, Softmax) on every path.
    func testTinyModelPathsMatchTheReference() throws {
        var rng = Rng(s: 8)
        let sets = PathSets.traced()
        let model = try ONNXLoader.load(data: try ModelBuilder.tinyCNN().data())
        try compareToReference(model, rng.tensor([3, 1, 12, 12]), sets, "tiny CNN")
        for o in sets { XCTAssertNil(PathSets.mismatch(o), "\(o)") }
    }

    /// Shapes past the kernels' blocks, which the random cases above are too small to reach:
    /// Winograd over several blocks of tile rows (the last one partial; with and without the fused
    /// pool, odd sizes), GEMMs with K over one K block (256 rows: partial sums stored and added) and
    /// with B copied into panels (K ≥ 64, M > 8), a last narrow panel left to the thin tile, im2col in
    /// blocks of output rows or of K, pointwise and strided.
    func testLargeConvolutionsCrossTheKernelBlocks() throws {
        var rng = Rng(s: 77)
        let sets = PathSets.traced()
        var cases: [ConvCase] = []
        var wino = ConvCase(kind: .winograd)
        wino.c = 32; wino.m = 40; wino.h = 66; wino.w = 61; wino.pads = [1, 1, 1, 1]; wino.activation = "Relu"
        cases.append(wino)
        wino.maxPool = true; wino.h = 63; wino.pads = [1, 0, 0, 1]
        cases.append(wino)
        // F(4×4): 64 → 48 at 90×77 runs in blocks of tile rows (the last one partial; 77 is not a
        // multiple of 4), then pooled at 45×38 (a pooled row of tiles cut by the floor), then three
        // 16×16 images side by side (flat tile vectors spanning images).
        var f4 = ConvCase(kind: .winograd)
        f4.c = 64; f4.m = 48; f4.h = 90; f4.w = 77; f4.pads = [1, 1, 1, 1]; f4.activation = "Clip"
        cases.append(f4)
        f4.h = 45; f4.w = 38; f4.maxPool = true; f4.pads = [1, 0, 1, 1]; f4.activation = "Relu"
        cases.append(f4)
        f4.n = 3; f4.h = 16; f4.w = 16; f4.maxPool = false; f4.pads = [0, 1, 1, 0]; f4.batchNorm = true
        cases.append(f4)
        var strided = ConvCase(kind: .general)
        strided.c = 40; strided.m = 24; strided.h = 37; strided.w = 41; strided.strides = [2, 2]; strided.pads = [1, 1, 1, 1]
        cases.append(strided)
        // im2col in blocks of output rows (K · ow · oh over ConvLayer.im2colBlockFloats), the last one short.
        var unfolded = ConvCase(kind: .general)
        unfolded.c = 24; unfolded.m = 16; unfolded.h = 61; unfolded.w = 58; unfolded.kh = 5; unfolded.kw = 5
        unfolded.pads = [2, 2, 1, 2]; unfolded.activation = "LeakyRelu"
        cases.append(unfolded)
        var pointwise = ConvCase(kind: .pointwise)
        pointwise.c = 300; pointwise.m = 20; pointwise.h = 13; pointwise.w = 11; pointwise.kh = 1; pointwise.kw = 1
        pointwise.batchNorm = true; pointwise.activation = "Clip"
        cases.append(pointwise)
        // 49 output columns (7×7 pixels; 7×7 Winograd tiles): the last column goes to the thin
        // tile in each of two K blocks (accumulated by gather), rows past M masked.
        var tailed = ConvCase(kind: .general)
        tailed.c = 12; tailed.m = 20; tailed.h = 7; tailed.w = 7; tailed.kh = 5; tailed.kw = 5
        tailed.pads = [2, 2, 2, 2]; tailed.activation = "Relu"
        cases.append(tailed)
        // Whole images side by side in one Winograd block: seven 12×12 images of 64 → 64 in blocks
        // of five and two (180 and 72 tile columns), and two pooled 6×6 ones (18 columns: the thin tile).
        var winoBatch = ConvCase(kind: .winograd)
        winoBatch.n = 7; winoBatch.c = 64; winoBatch.m = 64; winoBatch.h = 12; winoBatch.w = 12; winoBatch.pads = [1, 1, 1, 1]
        winoBatch.activation = "Relu"
        cases.append(winoBatch)
        winoBatch.n = 2; winoBatch.c = 40; winoBatch.m = 36; winoBatch.h = 6; winoBatch.w = 6; winoBatch.maxPool = true
        cases.append(winoBatch)
        // Two 12×12 images as FERVGG's face and flip: 18 columns of F(4×4) tiles (9 of F(2×2) on a
        // 6×6 map above) in one pass of the wide thin tile, 72 output channels (the last tile 8 rows).
        winoBatch.c = 48; winoBatch.m = 72; winoBatch.h = 12; winoBatch.w = 12; winoBatch.maxPool = true
        winoBatch.activation = "Clip"
        cases.append(winoBatch)
        // F(2×2) taps of small maps, 16 tiles per vector across tile rows and images: padded rows of
        // ≤ 32 floats (one per table: 2 × 11 tile rows of 14 tiles), of ≤ 16 (two per table: three
        // 7×4 outputs, chunks cutting tile rows and images); 20 channels keep these off F(4×4).
        var taps = ConvCase(kind: .winograd)
        taps.n = 2; taps.c = 20; taps.m = 18; taps.h = 21; taps.w = 27; taps.pads = [1, 1, 1, 1]; taps.activation = "Relu"
        cases.append(taps)
        taps.n = 3; taps.m = 24; taps.h = 7; taps.w = 5; taps.pads = [1, 0, 1, 1]
        cases.append(taps)
        var winoTailed = ConvCase(kind: .winograd)
        winoTailed.c = 300; winoTailed.m = 36; winoTailed.h = 14; winoTailed.w = 13; winoTailed.pads = [1, 1, 1, 1]
        winoTailed.activation = "Relu"
        cases.append(winoTailed)
        // K-blocked unfolds (a block of 256 rows of K over every output pixel at a time, each block's
        // GEMM accumulating): a 1×7 layer as Inception's at 17×17, a 3×3/2 one on two images, and a
        // dilated 3×3 one on an 8×8 map (the small-plane unfold, by permutes).
        var kBlocked: [ConvCase] = []
        var wide = ConvCase(kind: .general)
        wide.c = 160; wide.m = 20; wide.h = 17; wide.w = 17; wide.kh = 1; wide.kw = 7; wide.pads = [0, 3, 0, 3]
        wide.activation = "Relu"
        kBlocked.append(wide)
        var halving = ConvCase(kind: .general)
        halving.n = 2; halving.c = 120; halving.m = 24; halving.h = 35; halving.w = 35; halving.strides = [2, 2]
        halving.batchNorm = true
        kBlocked.append(halving)
        var dilated = ConvCase(kind: .general)
        dilated.c = 480; dilated.m = 9; dilated.h = 8; dilated.w = 8; dilated.dilations = [2, 2]; dilated.pads = [2, 2, 2, 2]
        dilated.activation = "Clip"
        kBlocked.append(dilated)
        // K = 2304 (9 blocks exactly), B copied into panels (529 ≥ 512 columns), M ≤ 8.
        var panels = ConvCase(kind: .general)
        panels.c = 256; panels.m = 5; panels.h = 23; panels.w = 23; panels.dilations = [2, 2]; panels.pads = [2, 2, 2, 2]
        kBlocked.append(panels)
        // A 3×3/2 unfold of an 8×8 map by permutes, 16 columns, K = 17100.
        var smallStrided = ConvCase(kind: .general)
        smallStrided.c = 1900; smallStrided.m = 3; smallStrided.h = 8; smallStrided.w = 8; smallStrided.strides = [2, 2]
        smallStrided.pads = [1, 1, 1, 1]
        kBlocked.append(smallStrided)
        // Narrow stride-2 rows (12 outputs: each input row loaded once for its three taps), K blocks
        // cutting a row's taps (256 is not a multiple of 3).
        var narrow = ConvCase(kind: .general)
        narrow.c = 300; narrow.m = 12; narrow.h = 24; narrow.w = 23; narrow.strides = [2, 2]; narrow.pads = [1, 1, 1, 0]
        narrow.activation = "Relu"
        kBlocked.append(narrow)
        // 7×7 on a 3×3 map: dead taps trimmed (5×5 left, K = 32500), 9 columns: the thin tile in every K block.
        var thin = ConvCase(kind: .general)
        thin.c = 1300; thin.m = 10; thin.h = 3; thin.w = 3; thin.kh = 7; thin.kw = 7; thin.pads = [3, 3, 3, 3]
        thin.activation = "Relu"
        kBlocked.append(thin)
        // Implicit im2col (stride 1, output rows as wide as the input's: panels packed from the
        // input): a 1×7 layer padded 4 left and 2 right on two images, 377 columns (a last panel of
        // 41), M = 7; a 3×5 one whose output has a row more than its input (pads 2 and 1), K = 1050
        // (not a multiple of the 128-row blocks), 200 columns (the last 8 to the thin tile), M = 33;
        // a grouped 3×3 one.
        var implicit: [ConvCase] = []
        var shifted = ConvCase(kind: .general)
        shifted.n = 2; shifted.c = 40; shifted.m = 7; shifted.h = 13; shifted.w = 29; shifted.kh = 1; shifted.kw = 7
        shifted.pads = [0, 4, 0, 2]; shifted.batchNorm = true
        implicit.append(shifted)
        var taller = ConvCase(kind: .general)
        taller.c = 70; taller.m = 33; taller.h = 9; taller.w = 20; taller.kh = 3; taller.kw = 5; taller.pads = [2, 1, 1, 3]
        taller.activation = "Clip"
        implicit.append(taller)
        var grouped = ConvCase(kind: .general)
        grouped.groups = 2; grouped.c = 60; grouped.m = 40; grouped.h = 10; grouped.w = 10; grouped.pads = [1, 1, 1, 1]
        grouped.activation = "Relu"
        implicit.append(grouped)
        for (i, cc) in implicit.enumerated() {
            let conv = try XCTUnwrap(try cc.model(seed: 700 + i).steps.compactMap { $0.layer as? ConvLayer }.first)
            XCTAssertTrue(conv.implicitIm2col(conv.geometry(cc.inputShape), level: .avx512), "\(cc) is not implicit")
        }
        // Not below K = 64 (a 1-channel 3×3 layer as the default model's first), nor at stride 2.
        var firstLayer = ConvCase(kind: .general)
        firstLayer.m = 32; firstLayer.h = 48; firstLayer.w = 48; firstLayer.pads = [1, 1, 1, 1]
        var halvingSame = firstLayer
        halvingSame.c = 64; halvingSame.strides = [2, 2]
        for cc in [firstLayer, halvingSame] {
            let conv = try XCTUnwrap(try cc.model(seed: 710).steps.compactMap { $0.layer as? ConvLayer }.first)
            XCTAssertFalse(conv.implicitIm2col(conv.geometry(cc.inputShape), level: .avx512), "\(cc) is implicit")
        }
        cases += implicit
        for (i, cc) in kBlocked.enumerated() {
            let conv = try XCTUnwrap(try cc.model(seed: 600 + i).steps.compactMap { $0.layer as? ConvLayer }.first)
            XCTAssertTrue(conv.kBlocked(conv.geometry(cc.inputShape), level: .avx512), "\(cc) is not K-blocked")
        }
        cases += kBlocked
        var worst: Float = 0
        for (i, cc) in cases.enumerated() {
            XCTAssertTrue(cc.isValid, "\(cc)")
            worst = max(worst, try compareToReference(try cc.model(seed: 500 + i), rng.tensor(cc.inputShape), sets, "\(cc)"))
        }
        for o in sets where o.kernels != .none {
            XCTAssertTrue(PathSets.labels(o).contains("Conv gemm \(o.kernels.name)"), "\(o)")
            if o.winograd { XCTAssertTrue(PathSets.labels(o).contains("Conv winograd \(o.kernels.name)"), "\(o)") }
            if o.useWinogradF4 { XCTAssertTrue(PathSets.labels(o).contains("Conv winograd-f4 avx512"), "\(o)") }
            if o.kernels == .avx512 { XCTAssertTrue(PathSets.labels(o).contains("Conv gemm avx512 k-blocked"), "\(o)") }
            if o.kernels == .avx512 { XCTAssertTrue(PathSets.labels(o).contains("Conv gemm avx512 implicit"), "\(o)") }
        }
        report("\(cases.count) large convolutions", sets, worst)
    }

    /// Kernel rows/columns that meet only padding are left out of the GEMM (a 3×3 kernel on a 1×1
    /// map runs its centre alone) and the result still equals the reference's on every path;
    /// maps under 2×2 Winograd tiles take the GEMM.
    func testTapsThatOnlyMeetPaddingAreSkipped() throws {
        var rng = Rng(s: 91)
        let sets = PathSets.traced()
        // (input h, w, kernel, pads, stride) → expected GEMM kernel size
        let cases: [(Int, Int, Int, [Int], Int, (Int, Int))] = [
            (1, 1, 3, [1, 1, 1, 1], 1, (1, 1)),
            (1, 5, 3, [1, 1, 1, 1], 1, (1, 3)),
            (2, 2, 5, [2, 2, 2, 2], 1, (3, 3)),
            (3, 2, 5, [2, 2, 2, 2], 2, (5, 2)),
            (6, 6, 3, [1, 1, 1, 1], 1, (3, 3)),
            (3, 3, 3, [1, 1, 1, 1], 1, (3, 3)),
        ]
        var worst: Float = 0
        for (i, (h, w, k, pads, s, want)) in cases.enumerated() {
            var cc = ConvCase(kind: .general)
            cc.c = 20; cc.m = 24; cc.h = h; cc.w = w; cc.kh = k; cc.kw = k; cc.pads = pads; cc.strides = [s, s]
            cc.activation = "Relu"
            let model = try cc.model(seed: 900 + i)
            let conv = try XCTUnwrap(model.steps.first?.layer as? ConvLayer)
            let t = conv.gemmTaps(conv.geometry(cc.inputShape))
            XCTAssertEqual(t.kh, want.0, "\(cc)"); XCTAssertEqual(t.kw, want.1, "\(cc)")
            worst = max(worst, try compareToReference(model, rng.tensor(cc.inputShape), sets, "\(cc)"))
        }
        for o in sets where o.kernels != .none { XCTAssertTrue(PathSets.labels(o).contains("Conv gemm \(o.kernels.name)")) }
        report("\(cases.count) convolutions with taps in the padding", sets, worst)
    }

    /// Convolutions by rows (few output channels, column stride 1, rows of ≥ 16): unpadded and
    /// padded (asymmetric), a row stride and dilations, rows over one panel (50 = 48 + 2 columns),
    /// output channels not a multiple of 8, whole planes as flat rows; each matches the reference on
    /// every path, and the AVX-512 sets take the rows path (flat where it should).
    func testConvolutionsByRowsMatchTheReference() throws {
        var rng = Rng(s: 131)
        let sets = PathSets.traced()
        let g = ConvCase.general
        let cases: [ConvCase] = [
            g(1, 8, 8, 46, 46, (3, 3), [1, 1], [1, 1], [0, 0, 0, 0], "Relu", false, false),         // mini-Xception's stem
            g(1, 1, 16, 48, 48, (3, 3), [1, 1], [1, 1], [1, 1, 1, 1], "", true, false),
            // asymmetric pads, a row stride, dilations, rows over one panel (50 = 48 + 2), 13 channels
            g(2, 5, 13, 23, 54, (3, 5), [2, 1], [2, 2], [0, 3, 2, 1], "LeakyRelu", false, false),
            g(1, 3, 12, 20, 33, (3, 3), [1, 1], [1, 1], [1, 1, 1, 1], "", false, true),              // max pool fused
            // column stride 2 (even/odd half planes): ResNet's 7×7/2 stem (K = 147, one K block of all
            // of it: rows_kc), odd tap offsets from a
            // dilation, a row stride of 1, 48 to 60 columns; unpadded with the planes cut short (99 of
            // 100 columns and rows are read)
            g(1, 3, 20, 101, 101, (7, 7), [2, 2], [1, 1], [3, 3, 3, 3], "Relu", false, false),
            g(1, 4, 9, 9, 120, (3, 3), [1, 2], [1, 3], [1, 0, 0, 2], "", false, false),
            g(1, 2, 8, 100, 100, (3, 3), [2, 2], [1, 1], [0, 0, 0, 0], "", false, false),
        ]
        let flat: [ConvCase] = [
            // kw = 1 at stride 1 without column pads: each plane one flat row (rowsFlat) — Inception's
            // 7×1 at 17² (K = 7·40 over two K blocks, 289 = 6·48 + 1 pixels), a 3×1 at 16² on two
            // images (256 pixels, the least that goes flat), a dilated 3×1 with rows cut short at the
            // bottom (pads 2/0: 10 × 26 outputs)
            g(1, 40, 20, 17, 17, (7, 1), [1, 1], [1, 1], [3, 0, 3, 0], "Relu", false, false),
            g(2, 30, 24, 16, 16, (3, 1), [1, 1], [1, 1], [1, 0, 1, 0], "", true, false),
            g(1, 24, 33, 12, 26, (3, 1), [1, 1], [2, 1], [2, 0, 0, 0], "", false, false),
            // flat over planes wider than the output (rows cut by emo_flat_to_planes): Inception's 5×5
            // at 35² (K = 25·12 over two K blocks), a dilated 3×3 with asymmetric pads on two images
            // (K = 72)
            g(1, 12, 24, 35, 35, (5, 5), [1, 1], [1, 1], [2, 2, 2, 2], "Relu", false, false),
            g(2, 8, 17, 20, 40, (3, 3), [1, 1], [1, 2], [0, 3, 2, 1], "Clip", false, false),
        ]
        var worst: Float = 0
        for (i, cc) in (cases + flat).enumerated() {
            XCTAssertTrue(cc.isValid, "\(cc)")
            let model = try cc.model(seed: 700 + i)
            if let conv = model.steps.first?.layer as? ConvLayer {
                let g = conv.geometry(cc.inputShape)
                XCTAssertTrue(conv.rowsPay(g), "\(cc) should run by rows")
                XCTAssertEqual(conv.rowsFlat(g), i >= cases.count, "\(cc) flat")
                if cc.kw > 1 && conv.rowsFlat(g) { XCTAssertGreaterThan(conv.flatPadColumns(g), 0, "\(cc)") }
            }
            worst = max(worst, try compareToReference(model, rng.tensor(cc.inputShape), sets, "\(cc)"))
        }
        for o in sets where o.kernels == .avx512 {
            XCTAssertTrue(PathSets.labels(o).contains("Conv rows avx512"), "\(o)")
            XCTAssertTrue(PathSets.labels(o).contains("Conv rows avx512 flat"), "\(o)")
        }
        report("\(cases.count + flat.count) convolutions by rows", sets, worst)
    }

    /// Winograd is taken where its multiplies pay: from 2×2 tiles, and where its transformed
    /// weights pass L2 only on maps its tiles fit (ResNet18's 7×7 layers run im2col + GEMM).
    func testWinogradIsTakenWhereItPays() throws {
        // (channels in = out, map side) → Winograd
        let cases: [(Int, Int, Bool)] = [
            (512, 7, false), (512, 8, true), (256, 14, true), (256, 13, false), (64, 7, true), (64, 3, true),
            (32, 2, false),
        ]
        for (i, (ch, side, want)) in cases.enumerated() {
            var cc = ConvCase(kind: .winograd)
            cc.c = ch; cc.m = ch; cc.h = side; cc.w = side; cc.pads = [1, 1, 1, 1]
            let conv = try XCTUnwrap(try cc.model(seed: 950 + i).steps.first?.layer as? ConvLayer)
            XCTAssertEqual(conv.winogradPays(conv.geometry(cc.inputShape)), want, "\(ch) channels, \(side)×\(side)")
        }
    }

    /// F(4×4) where it pays: ≥ 24 channels each way (≥ 48 on maps over 32 wide), 36 · M · C
    /// transformed floats within 4 MiB, at least 3×3 tiles of 4×4 with three quarters of their
    /// outputs inside the map.
    func testWinogradF4IsTakenWhereItPays() throws {
        // (channels in, out, map side) → F(4×4)
        let cases: [(Int, Int, Int, Bool)] = [
            (64, 64, 24, true), (128, 128, 12, true), (128, 128, 6, false), (16, 64, 24, false), (64, 16, 24, false),
            (192, 192, 35, false), (160, 160, 35, true), (64, 64, 17, false), (64, 64, 14, true), (64, 64, 10, false),
            (32, 64, 24, true), (32, 64, 147, false), (48, 48, 147, true),
        ]
        for (i, (c, m, side, want)) in cases.enumerated() {
            var cc = ConvCase(kind: .winograd)
            cc.c = c; cc.m = m; cc.h = side; cc.w = side; cc.pads = [1, 1, 1, 1]
            let conv = try XCTUnwrap(try cc.model(seed: 970 + i).steps.first?.layer as? ConvLayer)
            let o = InferenceOptions(kernels: .avx512)
            let took = conv.path(conv.geometry(cc.inputShape), options: o) == .winogradF4
            XCTAssertEqual(took, want && Kernels.supported == .avx512, "\(c) → \(m) channels, \(side)×\(side)")
        }
    }

    /// The comparison can fail: one weight off by 0.05 — a far smaller slip than a wrong index,
    /// pad or packing — is caught on every path.
    func testAWrongResultIsCaught() throws {
        var rng = Rng(s: 3)
        var cc = ConvCase.random(.winograd, &rng)
        cc.h = 10; cc.w = 10
        let good = try cc.model(seed: 1), wrong = try cc.model(seed: 1, nudge: 0.05)
        let x = rng.tensor(cc.inputShape)
        let ref = try good.run(x, options: .reference)
        for o in [InferenceOptions.reference] + PathSets.fast {
            let e = Agreement.error(try wrong.run(x, options: o), ref)
            XCTAssertGreaterThan(e, 10 * Agreement.tolerance, "\(o) \(cc)")
        }
    }
}

/// One random convolution, with what the loader fuses into it (BatchNorm, activation, 2×2 max pool).
struct ConvCase: CustomStringConvertible {
    enum Kind: CaseIterable { case general, pointwise, winograd, grouped, depthwise, autoPad }
    var kind: Kind
    var n = 1, c = 1, h = 8, w = 8, m = 1, kh = 3, kw = 3, groups = 1
    var strides = [1, 1], dilations = [1, 1], pads = [0, 0, 0, 0], autoPad = "NOTSET"
    var batchNorm = false, activation = "", maxPool = false

    var inputShape: [Int] { [n, c, h, w] }

    /// A `.general` case in one expression: batch, channels in/out, input size, kernel, strides,
    /// dilations, pads, activation, BatchNorm and a fused 2×2 max pool.
    static func general(_ n: Int, _ c: Int, _ m: Int, _ h: Int, _ w: Int, _ k: (Int, Int), _ strides: [Int],
                        _ dilations: [Int], _ pads: [Int], _ activation: String, _ batchNorm: Bool,
                        _ maxPool: Bool) -> ConvCase {
        var cc = ConvCase(kind: .general)
        cc.n = n; cc.c = c; cc.m = m; cc.h = h; cc.w = w; cc.kh = k.0; cc.kw = k.1
        cc.strides = strides; cc.dilations = dilations; cc.pads = pads
        cc.activation = activation; cc.batchNorm = batchNorm; cc.maxPool = maxPool
        return cc
    }

    static func random(_ kind: Kind, _ rng: inout Rng) -> ConvCase {
        var cc = ConvCase(kind: kind)
        cc.n = 1 + rng.next(3); cc.h = 3 + rng.next(18); cc.w = 3 + rng.next(18)
        cc.batchNorm = rng.next(3) == 0
        cc.activation = rng.pick(["", "Relu", "Clip", "LeakyRelu"])
        switch kind {
        case .general, .autoPad:
            cc.c = 1 + rng.next(12); cc.m = 1 + rng.next(16)
            cc.kh = 1 + rng.next(5); cc.kw = 1 + rng.next(5)
            cc.strides = [1 + rng.next(3), 1 + rng.next(3)]; cc.dilations = [1 + rng.next(2), 1 + rng.next(2)]
            cc.pads = [cc.kh, cc.kw, cc.kh, cc.kw].map { rng.next($0) }
            if kind == .autoPad { cc.autoPad = rng.pick(["SAME_UPPER", "SAME_LOWER", "VALID"]) }
        case .pointwise:
            cc.kh = 1; cc.kw = 1
            cc.groups = rng.pick([1, 1, 2, 3]); cc.c = cc.groups * (1 + rng.next(12)); cc.m = cc.groups * (1 + rng.next(12))
            if rng.next(2) == 0 { cc.n = 1 }
        case .winograd:
            cc.c = 16 + rng.next(17); cc.m = 16 + rng.next(24)
            cc.pads = (0..<4).map { _ in rng.next(2) }
            cc.maxPool = rng.next(2) == 0
        case .grouped:
            cc.groups = 2 + rng.next(3); cc.c = cc.groups * (1 + rng.next(6)); cc.m = cc.groups * (2 + rng.next(5))
            cc.kh = rng.pick([1, 3, 5]); cc.kw = cc.kh; cc.strides = [1 + rng.next(2), 1 + rng.next(2)]
            cc.pads = (0..<4).map { _ in rng.next(cc.kh) }
        case .depthwise:
            cc.c = 1 + rng.next(16); cc.groups = cc.c; cc.m = cc.c
            cc.kh = rng.pick([3, 5]); cc.kw = rng.pick([3, 5]); cc.strides = [1 + rng.next(2), 1 + rng.next(2)]
            cc.dilations = [1 + rng.next(2), 1 + rng.next(2)]; cc.pads = [cc.kh, cc.kw, cc.kh, cc.kw].map { rng.next($0) }
        }
        return cc
    }

    /// The kernel fits the padded input, and a pooled output has a 2×2 window.
    var isValid: Bool {
        let spanH = (kh - 1) * dilations[0] + 1, spanW = (kw - 1) * dilations[1] + 1
        if autoPad.hasPrefix("SAME") { return true }
        let p = autoPad == "VALID" ? [0, 0, 0, 0] : pads
        guard h + p[0] + p[2] >= spanH, w + p[1] + p[3] >= spanW else { return false }
        let oh = (h + p[0] + p[2] - spanH) / strides[0] + 1, ow = (w + p[1] + p[3] - spanW) / strides[1] + 1
        return !maxPool || (oh >= 2 && ow >= 2)
    }

    /// The model; `nudge` is added to the first weight (a deliberately wrong model).
    func model(seed: Int, nudge: Float = 0) throws -> Model {
        var b = ModelBuilder()
        b.input("x", [nil, Int64(c), Int64(h), Int64(w)])
        var weights = ModelBuilder.values(m * (c / groups) * kh * kw, seed: seed)
        weights[0] += nudge
        b.initializer("w", [m, c / groups, kh, kw].map(Int64.init), weights)
        b.initializer("b", [Int64(m)], seed: seed + 1)
        var ints: [String: [Int64]] = ["strides": strides.map(Int64.init), "dilations": dilations.map(Int64.init)]
        if autoPad == "NOTSET" { ints["pads"] = pads.map(Int64.init) }
        var last = "conv"
        b.node("Conv", ["x", "w", "b"], [last], ints: ints, int: ["group": Int64(groups)], string: ["auto_pad": autoPad])
        func then(_ op: String, _ inputs: [String], int: [String: Int64] = [:], ints: [String: [Int64]] = [:],
                  float: [String: Float] = [:]) {
            b.node(op, [last] + inputs, [op.lowercased()], ints: ints, int: int, float: float)
            last = op.lowercased()
        }
        if batchNorm {
            b.initializer("gamma", [Int64(m)], seed: seed + 2); b.initializer("beta", [Int64(m)], seed: seed + 3)
            b.initializer("mean", [Int64(m)], seed: seed + 4)
            b.initializer("var", [Int64(m)], (0..<m).map { 0.5 + Float($0 % 3) * 0.25 })
            then("BatchNormalization", ["gamma", "beta", "mean", "var"])
        }
        switch activation {
        case "Relu": then("Relu", [])
        case "LeakyRelu": then("LeakyRelu", [], float: ["alpha": 0.1])
        case "Clip":
            b.initializer("lo", [], [0]); b.initializer("hi", [], [6])
            then("Clip", ["lo", "hi"])
        default: break
        }
        if maxPool { then("MaxPool", [], ints: ["kernel_shape": [2, 2], "strides": [2, 2]]) }
        b.output(last)
        return try ONNXLoader.load(data: try b.data())
    }

    var description: String {
        "\(kind) n\(n) c\(c) \(h)x\(w) → m\(m) k\(kh)x\(kw) g\(groups) s\(strides) d\(dilations) p\(pads) \(autoPad)"
            + " bn\(batchNorm) \(activation.isEmpty ? "linear" : activation)\(maxPool ? " +maxpool" : "")"
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
/// and a 4096 column stride over a 1 Mi-float row would need a ~17 Gi-float plane. It must run on
/// the plain loop under every option set (the trace shows it did) and give the reference's result,
/// not abort in malloc.
final class LayerPathHostileTests: XCTestCase {
    /// The rows kernel reads `ow` floats per tap from each plane: a flat call (ow past the row,
    /// oh = 1) is accepted exactly while every read stays inside its plane, and refused one float
    /// further, before anything is read or written.
    func testRowsKernelRefusesReadsPastItsPlanes() throws {
        // 2 planes of 9 rows × 5 (a 5×5 map padded by 2 rows each side), 5×1 kernel, 1 output channel.
        let (c, ph, pw, kh) = (2, 9, 5, 5)
        let x = [Float](repeating: 1, count: c * ph * pw + 64)
        let a = [Float](repeating: 1, count: emo_pack_a_size(1, Int32(c * kh)))
        var out = [Float](repeating: -7, count: 64)
        var off = [Int32](repeating: 0, count: c * kh)
        func call(_ ow: Int) -> Int32 {
            emo_conv_rows(Kernels.Level.avx512.rawValue, x, Int32(c), Int32(ph), Int32(pw), Int32(kh), 1, 1, 1, 1, 1,
                          Int32(ow), a, 1, &out, nil, Int32(EMO_ACT_NONE), 0, 0, nil, &off)
        }
        guard Kernels.supported == .avx512 else { return XCTAssertEqual(call(25), -1, "AVX-512 only") }
        XCTAssertEqual(call(26), -1)
        XCTAssertEqual(out, [Float](repeating: -7, count: 64), "a refused call wrote")
        XCTAssertEqual(call(25), 0)
        XCTAssertEqual(Array(out[0..<25]), [Float](repeating: Float(c * kh), count: 25))
        XCTAssertEqual(out[25], -7, "wrote past its output")
        // 3×3 taps dilated by 2 both ways over 9 × 7 planes: the last tap starts 4·7 + 4 floats in,
        // so 63 − 32 = 31 outputs fit; each sums the 18 taps' index values (x[i] = i % 64 + 1 here).
        let y = (0..<(c * 63 + 64)).map { Float($0 % 64 + 1) }
        var off9 = [Int32](repeating: 0, count: c * 9)
        let a9 = [Float](repeating: 1, count: emo_pack_a_size(1, Int32(c * 9)))
        func dilated(_ ow: Int) -> Int32 {
            emo_conv_rows(Kernels.Level.avx512.rawValue, y, Int32(c), 9, 7, 3, 3, 1, 2, 2, 1, Int32(ow), a9, 1, &out, nil,
                          Int32(EMO_ACT_NONE), 0, 0, nil, &off9)
        }
        out = [Float](repeating: -7, count: 64)
        XCTAssertEqual(dilated(32), -1)
        XCTAssertEqual(dilated(31), 0)
        for p in [0, 30] {
            let taps = (0..<c).flatMap { ci in (0..<3).flatMap { ki in (0..<3).map { kj in ci * 63 + ki * 14 + kj * 2 + p } } }
            XCTAssertEqual(out[p], taps.map { y[$0] }.reduce(0, +), "output \(p)")
        }
        XCTAssertEqual(out[31], -7, "wrote past its output")
    }

    func testHugePaddedPlaneFallsBackToTheReferenceLoop() throws {
        var b = ModelBuilder()
        b.input("x", [1, 2, 1, 1 << 20])
        b.initializer("w", [2, 1, 1, 1], [2, -1])
        b.node("Conv", ["x", "w"], ["y"], ints: ["pads": [4096, 0, 4096, 0], "strides": [1, 4096]], int: ["group": 2])
        b.output("y")
        let model = try ONNXLoader.load(data: try b.data())
        let x = Tensor(shape: [1, 2, 1, 1 << 20], data: (0..<(2 << 20)).map { Float($0 % 7) })
        let ref = try model.run(x, options: .reference)
        var fastest = InferenceOptions.default
        fastest.kernels = Kernels.supported
        fastest.trace = PathTrace()
        let y = try model.run(x, options: fastest)
        XCTAssertEqual(PathSets.labels(fastest), ["Conv direct"])
        XCTAssertEqual(y.shape, [1, 2, 8193, 256])
        XCTAssertEqual(y.data, ref.data)
        // Row 4096 is the input row: channel 0 scaled by 2, channel 1 by -1, every 4096th column.
        XCTAssertEqual(y.data[4096 * 256 + 1], 2 * Float(4096 % 7))
    }
}
