import CKernels
/// Gemm: Y = alpha·op(A)·op(B) + beta·C, with C broadcast to [M, N].
/// A is the runtime input; B (and C) may be constants or runtime tensors.
/// OpenBLAS does the product unless the options turn it off (then the plain loop, `referenceSgemm`);
/// a one-row product with transB runs on our SIMD GEMV under a SIMD level.
final class GemmLayer: Layer {
    let name: String
    let alpha: Float, beta: Float
    let transA: Bool, transB: Bool
    let hasC: Bool
    var activation: FusedActivation = .none
    /// Most rows of A for the GEMV path (B's rows read once per two rows of A). FERVGG's 2304 → 256
    /// classifier: 2 rows 0.075–0.09 ms against 0.25–0.29 in OpenBLAS, 4 rows 0.15–0.18 against
    /// 0.27–0.31; at 8 rows OpenBLAS takes 0.33–0.39 ms, as four passes here would (three
    /// alternating rounds of `bench inference` on a Gemm-only model).
    static let gemvMaxRows = 4

    init(_ ctx: NodeContext) throws {
        name = ctx.name
        try ctx.requireInputs(2)
        alpha = try ctx.float("alpha", default: 1)
        beta = try ctx.float("beta", default: 1)
        transA = try ctx.int("transA", default: 0) != 0
        transB = try ctx.int("transB", default: 0) != 0
        hasC = ctx.input(2) != nil
    }

    func outputShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        let a = inputs[0], b = inputs[1]
        guard a.count == 2, b.count == 2 else { throw InferenceError.shapeMismatch(node: name, detail: "Gemm needs rank-2 A and B, got \(a) and \(b)") }
        let m = transA ? a[1] : a[0], k = transA ? a[0] : a[1]
        let kb = transB ? b[1] : b[0], n = transB ? b[0] : b[1]
        guard k == kb else { throw InferenceError.shapeMismatch(node: name, detail: "inner dimensions differ: A \(a), B \(b)") }
        if hasC {
            guard let bc = ShapeMath.broadcast([m, n], inputs[2]), bc == [m, n] else {
                throw InferenceError.shapeMismatch(node: name, detail: "C \(inputs[2]) does not broadcast to [\(m), \(n)]")
            }
        }
        return [[m, n]]
    }

    func forward(_ inputs: inout [Tensor], outputShapes: [[Int]], options: InferenceOptions) -> [Tensor] {
        let a = inputs[0], b = inputs[1]
        let m = outputShapes[0][0], n = outputShapes[0][1]
        let k = transA ? a.shape[0] : a.shape[1]
        // A few rows against B's rows (a classifier on a face, or on a face and its flip): our GEMV
        // (see emo_gemv_rows for why). With m = 1, A's k values are contiguous whether or not it
        // is transposed; more rows need A untransposed, and AVX-512 (the AVX2 GEMV reads B once per row).
        let rows = m == 1 || (options.kernels == .avx512 && !transA && m >= 1 && m <= Self.gemvMaxRows)
        let gemv = options.kernels != .none && transB && rows
        options.trace?.record(gemv ? "Gemm gemv \(options.kernels.name)" : "Gemm \(options.blas ? "blas" : "plain")")
        var y = Tensor(zeros: [m, n])
        if hasC && beta != 0 {
            let c = Broadcast.expand(inputs[2], to: [m, n])
            for i in 0..<(m * n) { y.data[i] = beta * c.data[i] }
        }
        a.data.withUnsafeBufferPointer { ap in
            b.data.withUnsafeBufferPointer { bp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    if gemv {
                        let rc = emo_gemv_rows(options.kernels.rawValue, Int32(m), Int32(n), Int32(k), bp.baseAddress!,
                                               Int32(b.shape[1]), ap.baseAddress!, Int32(k), alpha, yp.baseAddress!, Int32(n))
                        precondition(rc == 0, "emo_gemv_rows rejected level \(options.kernels.name)")
                    } else {
                        BLAS.sgemm(options, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                                   a: ap.baseAddress!, lda: a.shape[1], b: bp.baseAddress!, ldb: b.shape[1],
                                   beta: hasC && beta != 0 ? 1 : 0, c: yp.baseAddress!, ldc: n)
                    }
                    activation.apply(yp.baseAddress!, count: m * n)
                }
            }
        }
        return [y]
    }
}

/// MatMul with numpy semantics for the shapes CNN exports produce:
/// [..., M, K] × [K, N] (one GEMM over the flattened leading dims) and
/// [..., M, K] × [..., K, N] with equal batch dims.
final class MatMulLayer: Layer {
    let name: String
    init(_ ctx: NodeContext) throws { name = ctx.name; try ctx.requireInputs(2) }

    func outputShapes(_ inputs: [[Int]]) throws -> [[Int]] {
        let a = inputs[0], b = inputs[1]
        guard a.count >= 2, b.count >= 2 else { throw InferenceError.shapeMismatch(node: name, detail: "MatMul needs rank ≥ 2 operands (got \(a), \(b))") }
        guard a[a.count - 1] == b[b.count - 2] else { throw InferenceError.shapeMismatch(node: name, detail: "inner dimensions differ: \(a) × \(b)") }
        if b.count == 2 { return [Array(a.dropLast()) + [b[1]]] }
        guard a.count == b.count, a.dropLast(2) == b.dropLast(2) else {
            throw InferenceError.shapeMismatch(node: name, detail: "batched MatMul needs equal batch dims (got \(a), \(b))")
        }
        return [Array(a.dropLast()) + [b[b.count - 1]]]
    }

    func forward(_ inputs: inout [Tensor], outputShapes: [[Int]], options: InferenceOptions) -> [Tensor] {
        options.trace?.record("MatMul \(options.blas ? "blas" : "plain")")
        let a = inputs[0], b = inputs[1]
        let k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        var y = Tensor(uninitialized: outputShapes[0])
        a.data.withUnsafeBufferPointer { ap in
            b.data.withUnsafeBufferPointer { bp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    if b.rank == 2 {
                        let m = a.count / k
                        BLAS.sgemm(options, m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n, c: yp.baseAddress!, ldc: n)
                    } else {
                        let m = a.shape[a.rank - 2]
                        let batches = a.count / (m * k)
                        for i in 0..<batches {
                            BLAS.sgemm(options, m: m, n: n, k: k, a: ap.baseAddress! + i * m * k, lda: k,
                                       b: bp.baseAddress! + i * k * n, ldb: n, c: yp.baseAddress! + i * m * n, ldc: n)
                        }
                    }
                }
            }
        }
        return [y]
    }
}

extension GemmLayer {
    func macs(inputs: [[Int]], outputs: [[Int]]) -> Int {
        outputs[0].reduce(1, *) * (transA ? inputs[0][0] : inputs[0][1])
    }
}

extension MatMulLayer {
    func macs(inputs: [[Int]], outputs: [[Int]]) -> Int {
        outputs[0].reduce(1, *) * inputs[0][inputs[0].count - 1]
    }
}
