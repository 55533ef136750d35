#include "cblas_shim.h"
#include <cblas.h>

/* openblas_* are exported by libopenblas; declared in its cblas.h on Debian,
 * redeclared here so the shim also builds against a reference cblas.h. */
extern void openblas_set_num_threads(int);
extern int openblas_get_num_threads(void);
extern char *openblas_get_corename(void);
extern char *openblas_get_config(void);

void emo_sgemm(int transA, int transB, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta,
               float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B,
                ldb, beta, C, ldc);
}

void emo_blas_set_threads(int n) { openblas_set_num_threads(n); }
int emo_blas_get_threads(void) { return openblas_get_num_threads(); }
const char *emo_blas_corename(void) { return openblas_get_corename(); }
const char *emo_blas_config(void) { return openblas_get_config(); }

const char *emo_cpu_best_coretype(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
    if (__builtin_cpu_supports("avx"))
        return "Sandybridge";
#endif
    return 0;
}

#include <malloc.h>
void emo_tune_malloc(void) {
    /* Keep large per-frame buffers on the heap: by default glibc mmaps (and
     * munmaps on free) every block above 128 KiB, so each inference would pay
     * fresh page faults for its activations. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
}
