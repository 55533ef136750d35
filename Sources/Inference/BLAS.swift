import CBLASShim

/// The BLAS backend (OpenBLAS) and its runtime configuration.
public enum BLAS {
    /// Kernel set OpenBLAS selected at library load, e.g. "SkylakeX".
    public static var coreName: String { String(cString: emo_blas_corename()) }
    public static var config: String { String(cString: emo_blas_config()) }
    /// The OPENBLAS_CORETYPE best suited to this CPU (nil: trust OpenBLAS's detection).
    public static var recommendedCoreType: String? { emo_cpu_best_coretype().map { String(cString: $0) } }

    /// See emo_tune_malloc: keeps activation buffers on the heap between inferences.
    public static func tuneAllocator() { emo_tune_malloc() }

    /// OpenBLAS's thread count. Process-wide by nature (OpenBLAS keeps one pool), so unlike the
    /// paths in `InferenceOptions` it cannot be chosen per call: set it once at start-up.
    /// Tests compare paths without touching it.
    public static var threads: Int {
        get { Int(emo_blas_get_threads()) }
        set { emo_blas_set_threads(Int32(max(1, newValue))) }
    }

    /// Row-major C[M×N] = alpha·op(A)·op(B) + beta·C.
    @inline(__always)
    static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                      alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
                      c: UnsafeMutablePointer<Float>, ldc: Int) {
        emo_sgemm(transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha,
                  a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `sgemm` on OpenBLAS, or with `options.blas` off on `referenceSgemm`.
    @inline(__always)
    static func sgemm(_ options: InferenceOptions, transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                      alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if options.blas {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c, ldc: ldc)
        } else {
            referenceSgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
                           ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// The same contract as `sgemm` as a plain triple loop: the reference OpenBLAS is tested against.
    static func referenceSgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                               a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                               beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for p in 0..<k { s += a[transA ? p * lda + i : i * lda + p] * b[transB ? j * ldb + p : p * ldb + j] }
                // beta 0 ignores C (it may be uninitialised), as BLAS does.
                c[i * ldc + j] = beta == 0 ? alpha * s : alpha * s + beta * c[i * ldc + j]
            }
        }
    }
}
