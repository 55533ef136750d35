/* SIMD GEMM micro-kernels for convolution (emotiond's Inference module).
 *
 * Why hand-written instead of OpenBLAS for convolutions: the emotion model's
 * convolutions are small GEMMs (M = 32..256 output channels, K = 9..1152,
 * N = 36..2304 pixels at batch 1). OpenBLAS re-packs both operands on every
 * call and applies bias/activation in a second pass; at these sizes that
 * overhead is about half the run time (`emotiond bench inference --profile`).
 * Here the weights (A) are packed once at model load, B (the im2col matrix, or
 * the input itself for 1×1 convolutions) is read in place, and bias + the fused
 * activation are applied to the accumulators before the single store.
 *
 * Layout: A packed as [ceil(M/8)][K][8]; a micro-tile computes 8 output
 * channels × up to 48 (AVX-512) / 24 (AVX2) consecutive pixels, vectorised
 * over pixels so results are stored straight into NCHW rows; the pixel tail
 * uses masked loads/stores (never touches memory past row end).
 *
 * Dispatch is at run time (cpuid), so the binary stays portable to x86-64
 * machines without AVX2; there Inference falls back to OpenBLAS sgemm. Other
 * architectures compile only the portable parts (level NONE).
 */
#include "emo_kernels.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define EMO_X86 1
#include <immintrin.h>
#endif

static int env_cap(void) {
    const char *e = getenv("EMOTIOND_KERNELS");
    if (!e || !*e) return EMO_LEVEL_AVX512;
    if (!strcmp(e, "none") || !strcmp(e, "blas")) return EMO_LEVEL_NONE;
    if (!strcmp(e, "avx2")) return EMO_LEVEL_AVX2;
    return EMO_LEVEL_AVX512;
}

int emo_kernels_cpu_level(void) {
    int cpu = EMO_LEVEL_NONE;
#ifdef EMO_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        cpu = EMO_LEVEL_AVX2;
        if (__builtin_cpu_supports("avx512f")) cpu = EMO_LEVEL_AVX512;
    }
#endif
    return cpu;
}

int emo_kernels_level(void) {
    int cpu = emo_kernels_cpu_level(), cap = env_cap();
    return cpu < cap ? cpu : cap;
}

const char *emo_kernels_level_name(int level) {
    switch (level) {
    case EMO_LEVEL_AVX512: return "avx512";
    case EMO_LEVEL_AVX2: return "avx2";
    default: return "none";
    }
}

size_t emo_pack_a_size(int M, int K) {
    size_t blocks = (size_t)(M + EMO_PACK_MR - 1) / EMO_PACK_MR;
    return blocks * (size_t)K * EMO_PACK_MR;
}

void emo_pack_a(const float *A, int M, int K, float *packed) {
    int blocks = (M + EMO_PACK_MR - 1) / EMO_PACK_MR;
    for (int b = 0; b < blocks; b++) {
        float *dst = packed + (size_t)b * K * EMO_PACK_MR;
        for (int k = 0; k < K; k++) {
            for (int i = 0; i < EMO_PACK_MR; i++) {
                int m = b * EMO_PACK_MR + i;
                dst[(size_t)k * EMO_PACK_MR + i] = m < M ? A[(size_t)m * K + k] : 0.0f;
            }
        }
    }
}

#ifdef EMO_X86

#define AVX512 __attribute__((target("avx512f,avx2,fma")))
#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/* ---------------------------------------------------------------- AVX-512 */

INLINE AVX512 __m512 act512(__m512 v, int act, float p0, float p1) {
    switch (act) {
    case EMO_ACT_RELU: return _mm512_max_ps(v, _mm512_setzero_ps());
    case EMO_ACT_LEAKY: {
        __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(p0));
    }
    case EMO_ACT_CLIP: return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(p0)), _mm512_set1_ps(p1));
    default: return v;
    }
}

/* 8 rows × NRV vectors of 16 pixels; the last vector is masked by `last`. */
INLINE AVX512 void tile512(const int NRV, int K, const float *a, const float *b, int ldb, float *c, int ldc,
                           int mr, const float *bias, __mmask16 last, int act, float p0, float p1) {
    __m512 acc[8][3];
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < NRV; j++) acc[i][j] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m512 bv[3];
        for (int j = 0; j < NRV; j++)
            bv[j] = j == NRV - 1 ? _mm512_maskz_loadu_ps(last, b + 16 * j) : _mm512_loadu_ps(b + 16 * j);
        for (int i = 0; i < 8; i++) {
            __m512 av = _mm512_set1_ps(a[i]);
            for (int j = 0; j < NRV; j++) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
        a += 8;
        b += ldb;
    }
    for (int i = 0; i < mr; i++) {
        __m512 bi = _mm512_set1_ps(bias[i]);
        float *row = c + (size_t)i * ldc;
        for (int j = 0; j < NRV; j++) {
            __m512 v = act512(_mm512_add_ps(acc[i][j], bi), act, p0, p1);
            if (j == NRV - 1) _mm512_mask_storeu_ps(row + 16 * j, last, v);
            else _mm512_storeu_ps(row + 16 * j, v);
        }
    }
}

static AVX512 void gemm512(int M, int N, int K, const float *Ap, const float *B, int ldb, float *C, int ldc,
                           const float *bias, int act, float p0, float p1) {
    for (int n0 = 0; n0 < N; n0 += 48) {
        int nn = N - n0 < 48 ? N - n0 : 48;
        int nrv = (nn + 15) / 16;
        int rem = nn - 16 * (nrv - 1);
        __mmask16 last = (__mmask16)((1u << rem) - 1u);
        for (int m0 = 0; m0 < M; m0 += 8) {
            int mr = M - m0 < 8 ? M - m0 : 8;
            const float *a = Ap + (size_t)(m0 / 8) * K * 8;
            float *c = C + (size_t)m0 * ldc + n0;
            const float *b = B + n0;
            switch (nrv) {
            case 3: tile512(3, K, a, b, ldb, c, ldc, mr, bias + m0, last, act, p0, p1); break;
            case 2: tile512(2, K, a, b, ldb, c, ldc, mr, bias + m0, last, act, p0, p1); break;
            default: tile512(1, K, a, b, ldb, c, ldc, mr, bias + m0, last, act, p0, p1); break;
            }
        }
    }
}

/* ------------------------------------------------------------------- AVX2 */

INLINE AVX2 __m256 act256(__m256 v, int act, float p0, float p1) {
    switch (act) {
    case EMO_ACT_RELU: return _mm256_max_ps(v, _mm256_setzero_ps());
    case EMO_ACT_LEAKY: {
        __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(p0)), neg);
    }
    case EMO_ACT_CLIP: return _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(p0)), _mm256_set1_ps(p1));
    default: return v;
    }
}

/* 4 rows (of the 8 in a packed block, starting at row r0) × NRV vectors of 8 pixels. */
INLINE AVX2 void tile256(const int NRV, int K, const float *a, int r0, const float *b, int ldb, float *c, int ldc,
                         int mr, const float *bias, __m256i last, int act, float p0, float p1) {
    __m256 acc[4][3];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < NRV; j++) acc[i][j] = _mm256_setzero_ps();
    a += r0;
    for (int k = 0; k < K; k++) {
        __m256 bv[3];
        for (int j = 0; j < NRV; j++)
            bv[j] = j == NRV - 1 ? _mm256_maskload_ps(b + 8 * j, last) : _mm256_loadu_ps(b + 8 * j);
        for (int i = 0; i < 4; i++) {
            __m256 av = _mm256_broadcast_ss(a + i);
            for (int j = 0; j < NRV; j++) acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
        }
        a += 8;
        b += ldb;
    }
    for (int i = 0; i < mr; i++) {
        __m256 bi = _mm256_set1_ps(bias[i]);
        float *row = c + (size_t)i * ldc;
        for (int j = 0; j < NRV; j++) {
            __m256 v = act256(_mm256_add_ps(acc[i][j], bi), act, p0, p1);
            if (j == NRV - 1) _mm256_maskstore_ps(row + 8 * j, last, v);
            else _mm256_storeu_ps(row + 8 * j, v);
        }
    }
}

static AVX2 void gemm256(int M, int N, int K, const float *Ap, const float *B, int ldb, float *C, int ldc,
                         const float *bias, int act, float p0, float p1) {
    for (int n0 = 0; n0 < N; n0 += 24) {
        int nn = N - n0 < 24 ? N - n0 : 24;
        int nrv = (nn + 7) / 8;
        int rem = nn - 8 * (nrv - 1);
        __m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        for (int m0 = 0; m0 < M; m0 += 4) {
            int mr = M - m0 < 4 ? M - m0 : 4;
            const float *a = Ap + (size_t)(m0 / 8) * K * 8;
            int r0 = m0 % 8;
            float *c = C + (size_t)m0 * ldc + n0;
            const float *b = B + n0;
            switch (nrv) {
            case 3: tile256(3, K, a, r0, b, ldb, c, ldc, mr, bias + m0, last, act, p0, p1); break;
            case 2: tile256(2, K, a, r0, b, ldb, c, ldc, mr, bias + m0, last, act, p0, p1); break;
            default: tile256(1, K, a, r0, b, ldb, c, ldc, mr, bias + m0, last, act, p0, p1); break;
            }
        }
    }
}

#endif /* EMO_X86 */

int emo_gemm_packed(int level, int M, int N, int K, const float *Ap, const float *B, int ldb,
                    float *C, int ldc, const float *bias, int act, float p0, float p1) {
    if (M <= 0 || N <= 0 || K <= 0 || level > emo_kernels_cpu_level()) return -1;
#ifdef EMO_X86
    if (level == EMO_LEVEL_AVX512) { gemm512(M, N, K, Ap, B, ldb, C, ldc, bias, act, p0, p1); return 0; }
    if (level == EMO_LEVEL_AVX2) { gemm256(M, N, K, Ap, B, ldb, C, ldc, bias, act, p0, p1); return 0; }
#endif
    (void)Ap; (void)B; (void)ldb; (void)C; (void)ldc; (void)bias; (void)act; (void)p0; (void)p1;
    return -1;
}

/* im2col for one image (or one group of it): col[(ci·kh + ki)·kw + kj][oy·ow + ox].
 * Written here rather than in Swift: at 48×48 the rows are 6–24 floats long and
 * per-row memmove/initialize calls cost more than the copy (70 µs of a 0.5 ms model). */
void emo_im2col(const float *x, int c, int h, int w, int kh, int kw, int sh, int sw, int dh, int dw,
                int padT, int padL, int oh, int ow, float *col) {
    const size_t ohw = (size_t)oh * ow;
    for (int ci = 0; ci < c; ci++) {
        const float *src = x + (size_t)ci * h * w;
        for (int ki = 0; ki < kh; ki++) {
            for (int kj = 0; kj < kw; kj++) {
                float *dst = col + ((size_t)(ci * kh + ki) * kw + kj) * ohw;
                int offX = kj * dw - padL;
                int lo = 0, hi;
                if (offX < 0) lo = (-offX + sw - 1) / sw;
                if (w - 1 - offX < 0) hi = 0;
                else { hi = (w - 1 - offX) / sw + 1; if (hi > ow) hi = ow; }
                if (lo > hi) lo = hi;
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy * sh - padT + ki * dh;
                    float *d = dst + (size_t)oy * ow;
                    if (iy < 0 || iy >= h) {
                        for (int ox = 0; ox < ow; ox++) d[ox] = 0.0f;
                        continue;
                    }
                    const float *s = src + (size_t)iy * w + offX;
                    for (int ox = 0; ox < lo; ox++) d[ox] = 0.0f;
                    if (sw == 1) for (int ox = lo; ox < hi; ox++) d[ox] = s[ox];
                    else for (int ox = lo; ox < hi; ox++) d[ox] = s[ox * sw];
                    for (int ox = hi; ox < ow; ox++) d[ox] = 0.0f;
                }
            }
        }
    }
}
