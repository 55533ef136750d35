#ifndef EMOTIOND_CBLAS_SHIM_H
#define EMOTIOND_CBLAS_SHIM_H
// Thin C shim over OpenBLAS. Swift imports cblas.h poorly across distros
// (enum typedef names differ), so we expose the handful of calls we use
// with plain int arguments.
#ifdef __cplusplus
extern "C" {
#endif

/// C = alpha * op(A) * op(B) + beta * C, row-major. transA/transB: 0 or 1.
void emo_sgemm(int transA, int transB, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta,
               float *C, int ldc);

void emo_blas_set_threads(int n);
int emo_blas_get_threads(void);
/// Name of the kernel set OpenBLAS chose at load (e.g. "SkylakeX", "Haswell", "Prescott").
const char *emo_blas_corename(void);
/// OpenBLAS build configuration string.
const char *emo_blas_config(void);
/// The OPENBLAS_CORETYPE that best fits this CPU (SkylakeX, Haswell, Sandybridge)
/// or NULL where OpenBLAS's own detection should be trusted.
const char *emo_cpu_best_coretype(void);
/// Raises glibc mmap/trim thresholds so activation buffers are reused, not re-faulted.
void emo_tune_malloc(void);

#ifdef __cplusplus
}
#endif
#endif
