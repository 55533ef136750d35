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
}
