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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define EMO_X86 1
#include <immintrin.h>
#endif
#include "split_row.h"

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

/* A packed in blocks of `mr` rows: [ceil(M/mr)][K][mr], zero padded. */
static size_t pack_size(int M, int K, int mr) {
    size_t blocks = (size_t)(M + mr - 1) / mr;
    return blocks * (size_t)K * mr;
}

static void pack_rows(const float *A, int M, int K, int mr, float *packed) {
    int blocks = (M + mr - 1) / mr;
    for (int b = 0; b < blocks; b++) {
        float *dst = packed + (size_t)b * K * mr;
        for (int k = 0; k < K; k++) {
            for (int i = 0; i < mr; i++) {
                int m = b * mr + i;
                dst[(size_t)k * mr + i] = m < M ? A[(size_t)m * K + k] : 0.0f;
            }
        }
    }
}

size_t emo_pack_a_size(int M, int K) { return pack_size(M, K, EMO_PACK_MR); }

void emo_pack_a(const float *A, int M, int K, float *packed) { pack_rows(A, M, K, EMO_PACK_MR, packed); }

/* Winograd weights are packed in blocks of 16 rows: the thin GEMMs of small layers (a 6×6
 * output is 9 tiles) vectorise over 16 output channels instead of over the tiles. */
#define WINO_MR 16
/* gemm512's blocks: K rows per block, B columns per packed panel (three AVX-512 vectors). A panel
 * of 128 × 48 floats (24 KiB) stays in L1 (48 KiB here) beside the A and C lines the tiles stream;
 * at 256 rows it filled L1 alone. Medians of 300 alternating calls, 256 → 128 (harness, both builds
 * in one process): Inception's 768 → 192 at 17² 0.954 → 0.882 ms, 2048 → 448 at 8² 1.49 → 1.39,
 * 288 → 64 at 35² 0.517 → 0.483; 192 and 112 rows lost to 128 by 2–8 %. In the net, Inception v3
 * 0.915 of the 256-row build (median of 9 interleaved rounds), the others 0.91–1.0. */
#define GEMM_KC 128
#define GEMM_NC 48
#define PF_AHEAD 8
/* Widest B (columns) that gemm512_thin takes on Winograd weights (packed by 16 rows): two images
 * of 6×6 (18 tiles) ran 256 → 256 in 0.42 ms thin against 0.50 on the pixel tile (32 lanes for
 * 18 columns); at 24 columns the two were level (0.51 ms; harness, min of 300). */
#define WINO_THIN_MAX_N 24
/* Widest B (columns) that gemm512_thin takes on weights packed by 8 rows. */
#define THIN8_MAX_N 12
/* Winograd planes of at most this many weights (M·K floats, 256 KiB) take all their 7..24 columns in
 * one pass of 16-row tiles (gemm512_thin_wide); larger ones keep the 32 × 6 tiles (see there). */
#define THIN_WIDE_MAX_WEIGHTS (64 * 1024)
/* B is copied into panels only when that pays: K ≥ 64 rows, more than one 8-row tile of M reusing
 * the panel, rows ≥ 2 KiB apart. Copying always cost mini-Xception's small pointwise GEMMs (16×1936×8:
 * 59 → 43 GMAC/s) and FER4's 36-column Winograd GEMMs. */
#define GEMM_PACK_MIN_K 64
#define GEMM_PACK_MIN_LDB 512

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

/* `pf` (NULL: none): the next tile's A at this K block, prefetched a cache line every two steps. Its
 * weights are 8 KiB slices K·8 floats apart, a new page every 4 KiB, where the hardware prefetcher
 * stops: ResNet18's 7×7 layers (512 × 4608 weights, 9.4 MB, 49 columns: one panel reads each slice
 * from memory once) took 2.79–2.93 ms with it against 3.11–3.97 without (cold weights, median of
 * 60, three alternating rounds). */
/* 8 rows × NRV vectors of 16 pixels over `kc` rows of B: `ldb` apart (the matrix itself, or a
 * packed panel), or, with `off`, row k at b + off[k] (a convolution's input read in place: see
 * emo_conv_rows); the last vector's loads and stores are masked by `last`. Row i of the tile at
 * step k is a[k·amr + i] (A packed in blocks of amr rows). `accum`: add to what C holds (a
 * previous K block); `bias`, `res` (laid out like C) and `act` are applied only on the last K
 * block (the caller passes NULL / EMO_ACT_NONE before it). */
INLINE AVX512 void tile512_at(const int NRV, int kc, const float *a, int amr, const float *b, int ldb, const int *off,
                              float *c, int ldc, int mr, int accum, const float *bias, const float *res, __mmask16 last,
                              int act, float p0, float p1, const float *pf) {
    __m512 acc[8][3];
#pragma clang loop unroll(full)
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < NRV; j++) {
            const float *row = c + (size_t)i * ldc + 16 * j;
            __mmask16 m = j == NRV - 1 ? last : 0xFFFF;
            acc[i][j] = accum && i < mr ? _mm512_maskz_loadu_ps(m, row) : _mm512_setzero_ps();
        }
    for (int k = 0; k < kc; k++) {
        __m512 bv[3];
        const float *bk = off ? b + off[k] : b;
        if (pf && !(k & 1)) _mm_prefetch((const char *)(pf + (size_t)k * amr), _MM_HINT_T0);
        for (int j = 0; j < NRV; j++)
            bv[j] = j == NRV - 1 ? _mm512_maskz_loadu_ps(last, bk + 16 * j) : _mm512_loadu_ps(bk + 16 * j);
        for (int i = 0; i < 8; i++) {
            __m512 av = _mm512_set1_ps(a[i]);
            for (int j = 0; j < NRV; j++) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
        }
        a += amr;
        if (!off) b += ldb;
    }
    /* A constant trip count (8; rows past mr skipped) keeps acc[][] in registers. With `i < mr`
     * as the bound clang indexed acc in memory and stored all 24 accumulators to the stack on
     * every k step of the loop above (objdump): a 128×576×784 GEMM took 1.98 ms, now 0.87 ms
     * (29 → 66 GMAC/s, thread CPU time, same host minutes apart). */
#pragma clang loop unroll(full)
    for (int i = 0; i < 8; i++) {
        if (i >= mr) continue;
        __m512 bi = bias ? _mm512_set1_ps(bias[i]) : _mm512_setzero_ps();
        float *row = c + (size_t)i * ldc;
        for (int j = 0; j < NRV; j++) {
            __m512 v = _mm512_add_ps(acc[i][j], bi);
            if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(j == NRV - 1 ? last : 0xFFFF, res + (size_t)i * ldc + 16 * j));
            v = act512(v, act, p0, p1);
            if (j == NRV - 1) _mm512_mask_storeu_ps(row + 16 * j, last, v);
            else _mm512_storeu_ps(row + 16 * j, v);
        }
    }
}

/* Rows of B `ldb` apart (the matrix, or a packed panel). */
INLINE AVX512 void tile512(const int NRV, int kc, const float *a, int amr, const float *b, int ldb, float *c, int ldc,
                           int mr, int accum, const float *bias, const float *res, __mmask16 last, int act, float p0,
                           float p1, const float *pf) {
    tile512_at(NRV, kc, a, amr, b, ldb, NULL, c, ldc, mr, accum, bias, res, last, act, p0, p1, pf);
}

/* Thin GEMMs (N ≤ 16, e.g. the 9 tiles of a 6×6 Winograd output): vectors run over 16 output
 * channels (a packed 16-row block of A, or two 8-row blocks, per vector; NB vectors) and each of
 * the NC columns of B is broadcast, so no lane idles (the pixel-vector tile above would use 9 of
 * 16 lanes). Results go to C column by column with a scatter (stride ldc); rows ≥ M are masked off. */

/* 16 rows from A packed in blocks of MR rows (16: one load; 8: two blocks `blk` floats apart,
 * the second zero when `have2` is 0) at step k. */
INLINE AVX512 __m512 rows16(const float *a, const int MR, size_t blk, int k, int have2) {
    if (MR == 16) return _mm512_loadu_ps(a + (size_t)k * 16);
    __m256 lo = _mm256_loadu_ps(a + (size_t)k * EMO_PACK_MR);
    __m256 hi = have2 ? _mm256_loadu_ps(a + blk + (size_t)k * EMO_PACK_MR) : _mm256_setzero_ps();
    /* insertf64x4 (AVX-512F) rather than insertf32x8, which needs AVX-512DQ */
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1));
}

/* r[i] lane j → r[j] lane i. */
INLINE AVX512 void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4)   /* rows i..i+3: columns 0, 1 from t[i], t[i+2]; 2, 3 from t[i+1], t[i+3] */
        for (int j = 0; j < 2; j++) {
            const __m512d lo = _mm512_castps_pd(t[i + j]), hi = _mm512_castps_pd(t[i + j + 2]);
            r[i + 2 * j] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo, hi));
            r[i + 2 * j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo, hi));
        }
    for (int i = 0; i < 16; i += 8)
        for (int j = 0; j < 4; j++) {
            t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88);
            t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xDD);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xDD);
    }
}

/* A thin tile's NC ≥ 16 columns of 16 rows (+ bias, activation) into C row by row: its first 16
 * columns transposed in registers, 16 contiguous stores instead of 16 scatters, the rest scattered
 * (idx: the rows' offsets, ldc apart).
 * The scatters were 8–20 % of the thin GEMMs of FERVGG's 6² and 12² layers (two images: 18 columns;
 * harness, contiguous stores in their place). */
INLINE AVX512 void thin_store_rows(const int NC, const __m512 *acc, float *c, int ldc, __m512i idx, int rows,
                                   const float *bias, int act, float p0, float p1) {
    const __mmask16 m = rows >= 16 ? 0xFFFF : (__mmask16)((1u << rows) - 1u);
    const __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias) : _mm512_setzero_ps();
    __m512 r[16];
    for (int j = 0; j < 16; j++) r[j] = act512(_mm512_add_ps(acc[j], bv), act, p0, p1);
    transpose16(r);
    for (int i = 0; i < rows; i++) _mm512_storeu_ps(c + (size_t)i * ldc, r[i]);
    for (int j = 16; j < NC; j++)
        _mm512_mask_i32scatter_ps(c + j, m, idx, act512(_mm512_add_ps(acc[j], bv), act, p0, p1), 4);
}

/* NB vectors of 16 output channels × NC columns over kc steps of K; A packed in blocks of MR rows
 * (`blocks` of them hold this tile's `rows` rows); `accum`: add to what C holds (gathered); bias,
 * `res` (laid out like C) and activation applied before the store to C. */
INLINE AVX512 void tile512_thin(const int NB, const int NC, const int MR, int K, int kc, const float *a, int blocks,
                                const float *b, int ldb, float *c, int ldc, int rows, int accum, const float *bias,
                                const float *res, int act, float p0, float p1) {
    __m512 acc[2][WINO_THIN_MAX_N];   /* NB = 2: NC ≤ 6; NB = 1: NC ≤ 24 (gemm512_thin_wide) */
    for (int i = 0; i < NB; i++)
        for (int j = 0; j < NC; j++) acc[i][j] = _mm512_setzero_ps();
    const size_t blk = (size_t)K * MR;
    const float *a1 = a + (MR == 16 ? blk : 2 * blk);   /* rows 16..31 */
    for (int k = 0; k < kc; k++) {
        __m512 w0 = rows16(a, MR, blk, k, blocks > 1);
        __m512 w1 = NB == 2 ? rows16(a1, MR, blk, k, blocks > 3) : w0;
        const float *bk = b + (size_t)k * ldb;
        for (int j = 0; j < NC; j++) {
            __m512 bj = _mm512_set1_ps(bk[j]);
            acc[0][j] = _mm512_fmadd_ps(w0, bj, acc[0][j]);
            if (NB == 2) acc[1][j] = _mm512_fmadd_ps(w1, bj, acc[1][j]);
        }
    }
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(ldc));
    if (NB == 1 && NC >= 16 && !accum && !res) {
        thin_store_rows(NC, acc[0], c, ldc, idx, rows, bias, act, p0, p1);
        return;
    }
    for (int i = 0; i < NB; i++) {
        int left = rows - 16 * i;
        __mmask16 m = left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1u);
        __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias + 16 * i) : _mm512_setzero_ps();
        for (int j = 0; j < NC; j++) {
            float *cj = c + (size_t)16 * i * ldc + j;
            __m512 v = _mm512_add_ps(acc[i][j], bv);
            if (accum) v = _mm512_add_ps(v, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, cj, 4));
            if (res) v = _mm512_add_ps(v, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, res + (size_t)16 * i * ldc + j, 4));
            _mm512_mask_i32scatter_ps(cj, m, idx, act512(v, act, p0, p1), 4);
        }
    }
}

#define THIN_CASE(NB, MR, NC) case NC: \
    tile512_thin(NB, NC, MR, K, kc, a, blocks, bp, ldb, cp, ldc, rows, accum, bi, rp, act, p0, p1); break;
#define THIN_SWITCH(NB, MR) switch (nc) { THIN_CASE(NB, MR, 1) THIN_CASE(NB, MR, 2) THIN_CASE(NB, MR, 3) \
                                          THIN_CASE(NB, MR, 4) THIN_CASE(NB, MR, 5) default: THIN_CASE(NB, MR, 6) }

#define WIDE_CASE(NC) case NC: \
    tile512_thin(1, NC, WINO_MR, K, kc, a, 1, B, ldb, c, ldc, rows, accum, bi, rp, act, p0, p1); break;

/* Winograd's thin GEMMs with 7..24 columns (FERVGG's 6×6 and 12² maps, a face and its flip: 18)
 * in one pass: 16 output channels × every column per tile, so each weight is loaded once (the
 * 32 × 6 tiles load it once per 6 columns: the first pass from L3, the others from L1). In the net
 * (FERVGG w32, two images, per layer the best of ten alternating runs): 256 → 256 at 6² 0.493 →
 * 0.429 ms, 128 → 256 0.260 → 0.244, F(4×4) 128 → 128 at 12² 0.294 → 0.274; the face 0.957× (median
 * of 15 interleaved rounds). Inception's 448 → 384 at 8² (688 KiB per plane, streamed from
 * memory) lost, 1.50 → 1.71 ms: one stream of weights per tile instead of two, so it keeps the
 * 32 × 6 tiles (THIN_WIDE_MAX_WEIGHTS). */
static AVX512 void gemm512_thin_wide(int M, int N, int K, int k0, int kc, const float *Ap, const float *B, int ldb,
                                     float *C, int ldc, int accum, const float *bias, const float *res, int act,
                                     float p0, float p1) {
    for (int m0 = 0; m0 < M; m0 += 16) {
        const float *a = Ap + (size_t)(m0 / WINO_MR) * K * WINO_MR + (size_t)k0 * WINO_MR;
        const int rows = M - m0 < 16 ? M - m0 : 16;
        const float *bi = bias ? bias + m0 : NULL, *rp = res ? res + (size_t)m0 * ldc : NULL;
        float *c = C + (size_t)m0 * ldc;
        switch (N) {
            WIDE_CASE(7) WIDE_CASE(8) WIDE_CASE(9) WIDE_CASE(10) WIDE_CASE(11) WIDE_CASE(12) WIDE_CASE(13)
            WIDE_CASE(14) WIDE_CASE(15) WIDE_CASE(16) WIDE_CASE(17) WIDE_CASE(18) WIDE_CASE(19) WIDE_CASE(20)
            WIDE_CASE(21) WIDE_CASE(22) WIDE_CASE(23) default: WIDE_CASE(24)
        }
    }
}

/* Thin GEMMs, 32 output channels × 6 columns per tile. mr = WINO_MR: the Winograd GEMMs of small
 * layers (a 6×6 output is 9 tiles), whose weights are packed by 16 rows. mr = EMO_PACK_MR: the
 * 1–12 columns of a convolution on a 1×1 to 3×3 map; the 8×16-pixel tile used 4 of its 16 lanes on
 * a 2×2 map (ResNet18 at 64 px: its 512-channel 3×3 layers 1.7 ms against onnxruntime's 0.67). */
/* Steps k0..k0+kc of K (B points at row k0); `accum`, bias and activation as in tile512. */
static AVX512 void gemm512_thin(int M, int N, int K, int k0, int kc, const float *Ap, int mr, const float *B, int ldb,
                                float *C, int ldc, int accum, const float *bias, const float *res, int act, float p0,
                                float p1) {
    if (mr == WINO_MR && N > 6 && N <= WINO_THIN_MAX_N && (size_t)M * K <= THIN_WIDE_MAX_WEIGHTS) {
        gemm512_thin_wide(M, N, K, k0, kc, Ap, B, ldb, C, ldc, accum, bias, res, act, p0, p1);
        return;
    }
    for (int m0 = 0; m0 < M; m0 += 32) {
        const float *a = Ap + (size_t)(m0 / mr) * K * mr + (size_t)k0 * mr;
        int rows = M - m0 < 32 ? M - m0 : 32, blocks = (rows + mr - 1) / mr;
        const float *bi = bias ? bias + m0 : NULL;
        for (int n0 = 0; n0 < N; n0 += 6) {
            int nc = N - n0 < 6 ? N - n0 : 6;
            const float *bp = B + n0;
            float *cp = C + (size_t)m0 * ldc + n0;
            const float *rp = res ? res + (size_t)m0 * ldc + n0 : NULL;
            if (mr == WINO_MR) { if (rows > 16) { THIN_SWITCH(2, 16) } else { THIN_SWITCH(1, 16) } }
            else if (rows > 16) { THIN_SWITCH(2, 8) } else { THIN_SWITCH(1, 8) }
        }
    }
}

/* Copies rows k0..k0+kc of B's columns n0..n0+nn into the panel (GEMM_NC floats per row, zeros
 * past nn up to the next vector), so the tile reads consecutive cache lines. */
INLINE AVX512 void pack_b512(const float *B, int ldb, int kc, int nn, float *panel) {
    int nrv = (nn + 15) / 16;
    __mmask16 last = (__mmask16)((1u << (nn - 16 * (nrv - 1))) - 1u);
    for (int k = 0; k < kc; k++, B += ldb, panel += GEMM_NC) {
        /* Rows far apart defeat the hardware prefetcher (a new page per row): ask PF_AHEAD
         * rows ahead (a prefetch never faults, also past the matrix's last row). */
        for (int j = 0; j < nrv; j++) _mm_prefetch((const char *)(B + (size_t)PF_AHEAD * ldb + 16 * j), _MM_HINT_T0);
        for (int j = 0; j < nrv; j++)
            _mm512_store_ps(panel + 16 * j, j == nrv - 1 ? _mm512_maskz_loadu_ps(last, B + 16 * j)
                                                          : _mm512_loadu_ps(B + 16 * j));
    }
}

/* Every 8-row tile of M over columns n0..n0+nn (≤ GEMM_NC) of C, steps k0..k0+kc of K; B (`ldb`
 * apart) holds those rows of those columns. `final`: the last K block (bias, residual, activation). */
INLINE AVX512 void panel_tiles512(int M, int K, int k0, int kc, int n0, int nn, const float *Ap, int amr, const float *b,
                                  int ldb, float *C, int ldc, int accum, int final, const float *bias, int act, float p0,
                                  float p1, const float *res) {
    const int nrv = (nn + 15) / 16;
    const __mmask16 last = (__mmask16)((1u << (nn - 16 * (nrv - 1))) - 1u);
    for (int m0 = 0; m0 < M; m0 += 8) {
        int mr = M - m0 < 8 ? M - m0 : 8;
        const float *a = Ap + (size_t)(m0 / amr) * K * amr + (size_t)k0 * amr + m0 % amr;
        float *c = C + (size_t)m0 * ldc + n0;
        const float *bi = final && bias ? bias + m0 : NULL;
        const float *rs = final && res ? res + (size_t)m0 * ldc + n0 : NULL;
        int ac = final ? act : EMO_ACT_NONE;
        /* On a block's first panel its A comes from memory: fetch the next tile's while this one runs
         * (weights packed by 8 rows; by 16, Winograd's, the next tile mostly shares this one's lines). */
        const float *pf = n0 == 0 && amr == EMO_PACK_MR && m0 + 8 < M
            ? Ap + (size_t)((m0 + 8) / amr) * K * amr + (size_t)k0 * amr + (m0 + 8) % amr : NULL;
        switch (nrv) {
        case 3: tile512(3, kc, a, amr, b, ldb, c, ldc, mr, accum, bi, rs, last, ac, p0, p1, pf); break;
        case 2: tile512(2, kc, a, amr, b, ldb, c, ldc, mr, accum, bi, rs, last, ac, p0, p1, pf); break;
        default: tile512(1, kc, a, amr, b, ldb, c, ldc, mr, accum, bi, rs, last, ac, p0, p1, pf); break;
        }
    }
}

/* Columns of a GEMM's narrow last panel (N = 49: 48 + 1) left to the thin tile in each K block (while
 * the block of A is in L2), vectors over rows: the pixel tile would run them on 1–12 of its 16 lanes,
 * load-bound on A's 8 broadcasts. 0 when there is none. */
static inline int thin_tail(int M, int N) { return N > GEMM_NC && N % GEMM_NC <= THIN8_MAX_N && M > 8 ? N % GEMM_NC : 0; }

/* Goto-style blocking: K in blocks of GEMM_KC (the A block of every row stays in L2 while the
 * panels pass), B copied one GEMM_KC × GEMM_NC panel at a time into `panel` (L1/L2). Reading B
 * in place instead, rows ldb floats apart (an im2col matrix of 3136 columns: a new page every
 * row), ran layer1 of ResNet18 (64×3136×576) at 51 GMAC/s; measured numbers in the commit. */
/* Steps kb0..kb1 of K (B holds those rows only; C accumulates from kb0 > 0 on; bias, residual and
 * activation once kb1 = K): emo_gemm_packed_k. */
static AVX512 void gemm512_range(int M, int N, int K, int kb0, int kb1, const float *Ap, int amr, const float *B, int ldb,
                                 float *C, int ldc, const float *bias, int act, float p0, float p1, const float *res) {
    if ((amr == WINO_MR && N <= WINO_THIN_MAX_N) || (amr == EMO_PACK_MR && N <= THIN8_MAX_N && M > 8)) {
        const int fin = kb1 == K;
        gemm512_thin(M, N, K, kb0, kb1 - kb0, Ap, amr, B, ldb, C, ldc, kb0 > 0, fin ? bias : NULL, fin ? res : NULL,
                     fin ? act : EMO_ACT_NONE, p0, p1);
        return;
    }
    const int tail = thin_tail(M, N);
    N -= tail;
    _Alignas(64) float panel[GEMM_KC * GEMM_NC];
    const int pack = K >= GEMM_PACK_MIN_K && M > 8 && ldb >= GEMM_PACK_MIN_LDB;
    for (int k0 = kb0; k0 < kb1; k0 += GEMM_KC) {
        int kc = kb1 - k0 < GEMM_KC ? kb1 - k0 : GEMM_KC, accum = k0 > 0, final = k0 + kc == K;
        for (int n0 = 0; n0 < N; n0 += GEMM_NC) {
            int nn = N - n0 < GEMM_NC ? N - n0 : GEMM_NC;
            const float *b = B + (size_t)(k0 - kb0) * ldb + n0;
            int lb = ldb;
            if (pack) { pack_b512(b, ldb, kc, nn, panel); b = panel; lb = GEMM_NC; }
            panel_tiles512(M, K, k0, kc, n0, nn, Ap, amr, b, lb, C, ldc, accum, final, bias, act, p0, p1, res);
        }
        if (tail)
            gemm512_thin(M, tail, K, k0, kc, Ap, amr, B + (size_t)(k0 - kb0) * ldb + N, ldb, C + N, ldc, accum,
                         final ? bias : NULL, final && res ? res + N : NULL, final ? act : EMO_ACT_NONE, p0, p1);
    }
}

static AVX512 void gemm512(int M, int N, int K, const float *Ap, int amr, const float *B, int ldb, float *C, int ldc,
                           const float *bias, int act, float p0, float p1, const float *res) {
    gemm512_range(M, N, K, 0, K, Ap, amr, B, ldb, C, ldc, bias, act, p0, p1, res);
}

/* ------------------------------------------- Implicit im2col (stride 1, ow = w)
 *
 * A convolution at stride 1, dilation 1 whose output rows are as wide as its input rows (ow = w:
 * the kernel padded to keep the width, as Inception's 1×7, 7×1, 3×1 and 5×5 layers) reads row
 * k = (ci, ki, kj) of its im2col matrix as one shifted run of the input plane:
 * B[k][n] = x[ci·h·w + n + (ki − padT)·w + kj − padL], zero where the tap meets padding (n outside
 * [(padT − ki)·w, (h + padT − ki)·w), or a column ox = n mod w with ox + kj − padL outside [0, w)).
 * The GEMM's panels are packed from the input with masked loads, so the im2col matrix is never
 * written and read back (an L2 round trip per K block). Same sums as im2col + GEMM, bit for bit.
 * Medians of 300 alternating calls (tools/bench/harness/implicit-im2col.c): Inception's 1×7
 * 192 → 192 at 17² 1.14–1.31 → 1.06–1.22 ms against the K-blocked unfold (0.93×); its 7×1 ones
 * 1.07–1.17 → 1.03–1.13 and 5×5 48 → 64 at 35² 1.50–2.20 → 1.48–2.02 against the flat rows.
 * Below K = 64 it loses (ConvLayer.implicitMinK). */

typedef struct { long off; int lo, hi, dx; } SameRow;

/* Per column shift j (dx = j − padL, j < kw), per 16 columns: the lanes whose ox + dx is in [0, w). */
static void same_colmasks(int N, int w, int kw, int padL, int chunks, uint16_t *cm) {
    for (int j = 0; j < kw; j++)
        for (int c = 0, col = 0; c < chunks; c++) {   /* col: n mod w, carried (a division per n cost µs) */
            unsigned m = 0;
            for (int l = 0, n = 16 * c; l < 16 && n < N; l++, n++) {
                const int ox = col + j - padL;
                if (ox >= 0 && ox < w) m |= 1u << l;
                if (++col == w) col = 0;
            }
            cm[(size_t)j * chunks + c] = (uint16_t)m;
        }
}

/* Where rows k0..k0+kc of B start in the input, and their valid column range (padding rows). */
static void same_rows(int k0, int kc, int h, int w, int kh, int kw, int padT, int padL, int N, SameRow *rows) {
    for (int i = 0; i < kc; i++) {
        const int k = k0 + i, ci = k / (kh * kw), ki = k / kw % kh, kj = k % kw;
        const int lo = (padT - ki) * w, hi = (h + padT - ki) * w;
        rows[i] = (SameRow){ (long)ci * h * w + (long)(ki - padT) * w + kj - padL, lo > 0 ? lo : 0, hi < N ? hi : N, kj };
    }
}

/* Columns n0..n0+nn of those rows into the panel (GEMM_NC floats per row, as pack_b512). A lane
 * outside the input is masked off: a masked-off lane never faults. */
INLINE AVX512 void pack_same512(const float *x, const SameRow *rows, int kc, const uint16_t *cm, int chunks, int n0,
                                int nn, float *panel) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const int nrv = (nn + 15) / 16;
    const __mmask16 last = (__mmask16)((1u << (nn - 16 * (nrv - 1))) - 1u);
    for (int k = 0; k < kc; k++, panel += GEMM_NC) {
        const SameRow r = rows[k];
        const __m512i lo = _mm512_set1_epi32(r.lo), hi = _mm512_set1_epi32(r.hi);
        for (int j = 0; j < nrv; j++) {
            const int n = n0 + 16 * j;
            const __m512i nv = _mm512_add_epi32(iota, _mm512_set1_epi32(n));
            __mmask16 m = cm[(size_t)r.dx * chunks + n / 16] & _mm512_cmpge_epi32_mask(nv, lo) & _mm512_cmplt_epi32_mask(nv, hi);
            if (j == nrv - 1) m &= last;
            _mm512_store_ps(panel + 16 * j, _mm512_maskz_loadu_ps(m, x + (r.off + n)));
        }
    }
}

static AVX512 void conv_same512(const float *x, int c, int h, int w, int kh, int kw, int padT, int padL, int oh,
                                const float *Ap, int M, float *C, const float *bias, int act, float p0, float p1,
                                const float *res, uint16_t *cm) {
    const int N = oh * w, K = c * kh * kw, chunks = (N + 15) / 16;
    const int tail = thin_tail(M, N), body = N - tail;
    _Alignas(64) float panel[GEMM_KC * GEMM_NC];
    SameRow rows[GEMM_KC];
    same_colmasks(N, w, kw, padL, chunks, cm);
    for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
        const int kc = K - k0 < GEMM_KC ? K - k0 : GEMM_KC, accum = k0 > 0, final = k0 + kc == K;
        same_rows(k0, kc, h, w, kh, kw, padT, padL, N, rows);
        for (int n0 = 0; n0 < body; n0 += GEMM_NC) {
            const int nn = body - n0 < GEMM_NC ? body - n0 : GEMM_NC;
            pack_same512(x, rows, kc, cm, chunks, n0, nn, panel);
            panel_tiles512(M, K, k0, kc, n0, nn, Ap, EMO_PACK_MR, panel, GEMM_NC, C, N, accum, final, bias, act, p0, p1, res);
        }
        if (tail) {
            pack_same512(x, rows, kc, cm, chunks, body, tail, panel);
            gemm512_thin(M, tail, K, k0, kc, Ap, EMO_PACK_MR, panel, GEMM_NC, C + body, N, accum, final ? bias : NULL,
                         final && res ? res + body : NULL, final ? act : EMO_ACT_NONE, p0, p1);
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

/* 4 rows (of the amr in a packed block, starting at row r0) × NRV vectors of 8 pixels. */
INLINE AVX2 void tile256(const int NRV, int K, const float *a, int amr, int r0, const float *b, int ldb, float *c, int ldc,
                         int mr, const float *bias, const float *res, __m256i last, int act, float p0, float p1) {
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
        a += amr;
        b += ldb;
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < 4; i++) {   /* constant trip count: see tile512 */
        if (i >= mr) continue;
        __m256 bi = bias ? _mm256_set1_ps(bias[i]) : _mm256_setzero_ps();
        float *row = c + (size_t)i * ldc;
        for (int j = 0; j < NRV; j++) {
            __m256 v = _mm256_add_ps(acc[i][j], bi);
            if (res) {
                const float *r = res + (size_t)i * ldc + 8 * j;
                v = _mm256_add_ps(v, j == NRV - 1 ? _mm256_maskload_ps(r, last) : _mm256_loadu_ps(r));
            }
            v = act256(v, act, p0, p1);
            if (j == NRV - 1) _mm256_maskstore_ps(row + 8 * j, last, v);
            else _mm256_storeu_ps(row + 8 * j, v);
        }
    }
}

static AVX2 void gemm256(int M, int N, int K, const float *Ap, int amr, const float *B, int ldb, float *C, int ldc,
                         const float *bias, int act, float p0, float p1, const float *res) {
    for (int n0 = 0; n0 < N; n0 += 24) {
        int nn = N - n0 < 24 ? N - n0 : 24;
        int nrv = (nn + 7) / 8;
        int rem = nn - 8 * (nrv - 1);
        __m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        for (int m0 = 0; m0 < M; m0 += 4) {
            int mr = M - m0 < 4 ? M - m0 : 4;
            const float *a = Ap + (size_t)(m0 / amr) * K * amr;
            int r0 = m0 % amr;
            float *c = C + (size_t)m0 * ldc + n0;
            const float *b = B + n0, *bi = bias ? bias + m0 : NULL, *rs = res ? res + (size_t)m0 * ldc + n0 : NULL;
            switch (nrv) {
            case 3: tile256(3, K, a, amr, r0, b, ldb, c, ldc, mr, bi, rs, last, act, p0, p1); break;
            case 2: tile256(2, K, a, amr, r0, b, ldb, c, ldc, mr, bi, rs, last, act, p0, p1); break;
            default: tile256(1, K, a, amr, r0, b, ldb, c, ldc, mr, bi, rs, last, act, p0, p1); break;
            }
        }
    }
}

#endif /* EMO_X86 */

int emo_gemm_packed(int level, int M, int N, int K, const float *Ap, const float *B, int ldb,
                    float *C, int ldc, const float *bias, int act, float p0, float p1, const float *res) {
    if (M <= 0 || N <= 0 || K <= 0 || level > emo_kernels_cpu_level()) return -1;
#ifdef EMO_X86
    if (level == EMO_LEVEL_AVX512) { gemm512(M, N, K, Ap, EMO_PACK_MR, B, ldb, C, ldc, bias, act, p0, p1, res); return 0; }
    if (level == EMO_LEVEL_AVX2) { gemm256(M, N, K, Ap, EMO_PACK_MR, B, ldb, C, ldc, bias, act, p0, p1, res); return 0; }
#endif
    (void)Ap; (void)B; (void)ldb; (void)C; (void)ldc; (void)bias; (void)act; (void)p0; (void)p1; (void)res;
    return -1;
}

int emo_gemm_packed_k(int level, int M, int N, int K, int k0, int k1, const float *Ap, const float *B, int ldb,
                      float *C, int ldc, const float *bias, int act, float p0, float p1, const float *res) {
    if (M <= 0 || N <= 0 || k0 < 0 || k0 >= k1 || k1 > K || level != EMO_LEVEL_AVX512 || level > emo_kernels_cpu_level())
        return -1;
#ifdef EMO_X86
    gemm512_range(M, N, K, k0, k1, Ap, EMO_PACK_MR, B, ldb, C, ldc, bias, act, p0, p1, res);
    return 0;
#else
    (void)Ap; (void)B; (void)ldb; (void)C; (void)ldc; (void)bias; (void)act; (void)p0; (void)p1; (void)res;
    return -1;
#endif
}

int emo_conv_same(int level, const float *x, int c, int h, int w, int kh, int kw, int padT, int padL, int oh,
                  const float *Ap, int M, float *out, const float *bias, int act, float p0, float p1, const float *res) {
    if (level != EMO_LEVEL_AVX512 || level > emo_kernels_cpu_level() || c <= 0 || h <= 0 || w <= 0 || kh <= 0 || kw <= 0
        || M <= 0 || oh <= 0 || oh * w <= THIN8_MAX_N || !emo_conv_same_fits(oh * w, kw))
        return -1;
#ifdef EMO_X86
    uint16_t cm[EMO_SAME_MAX_MASKS];
    conv_same512(x, c, h, w, kh, kw, padT, padL, oh, Ap, M, out, bias, act, p0, p1, res, cm);
    return 0;
#else
    (void)x; (void)padT; (void)padL; (void)Ap; (void)out; (void)bias; (void)act; (void)p0; (void)p1; (void)res;
    return -1;
#endif
}

int emo_conv_same_fits(int N, int kw) { return N > 0 && kw > 0 && (long)kw * ((N + 15) / 16) <= EMO_SAME_MAX_MASKS; }

/* ------------------------------------------------------- Convolution by rows
 *
 * A convolution with unit column stride as one small GEMM per output row whose B matrix is read
 * in place: row k = (ci, ki, kj) of B for output row oy is the input row oy·sh + ki·dh of channel
 * ci from column kj·dw on, `ow` contiguous floats of the (padded) input. No im2col: with few
 * output channels its copy cost as much as the GEMM (mini-Xception's 8 → 8 stem on 46×46: 41 µs
 * for 1.1 M multiply-adds). */
#ifdef EMO_X86
/* K rows per block of the rows path: GEMM_KC, or all of K up to GEMM_KC + GEMM_KC/4 (B is read in
 * place, so no panel grows): a last block of a few rows pays a whole pass of loads and stores of C
 * for little work, e.g. ResNet18's 7×7 conv1 (K = 147: 128 + 19). */
static inline int rows_kc(int K) { return K <= GEMM_KC + GEMM_KC / 4 ? K : GEMM_KC; }

static AVX512 void conv_rows512(const float *xp, int pw, int sh, int oh, int ow, const float *Ap, int M, int K,
                                const int *off, float *out, const float *bias, int act, float p0, float p1,
                                const float *res) {
    const size_t ohw = (size_t)oh * ow;
    const int kb = rows_kc(K);
    for (int oy = 0; oy < oh; oy++) {
        const float *row = xp + (size_t)oy * sh * pw;
        for (int k0 = 0; k0 < K; k0 += kb) {
            int kc = K - k0 < kb ? K - k0 : kb, accum = k0 > 0, final = k0 + kc == K;
            for (int n0 = 0; n0 < ow; n0 += GEMM_NC) {
                int nn = ow - n0 < GEMM_NC ? ow - n0 : GEMM_NC, nrv = (nn + 15) / 16;
                __mmask16 last = (__mmask16)((1u << (nn - 16 * (nrv - 1))) - 1u);
                for (int m0 = 0; m0 < M; m0 += 8) {
                    int mr = M - m0 < 8 ? M - m0 : 8, ac = final ? act : EMO_ACT_NONE;
                    const float *a = Ap + (size_t)(m0 / EMO_PACK_MR) * K * EMO_PACK_MR + (size_t)k0 * EMO_PACK_MR;
                    const size_t at = (size_t)m0 * ohw + (size_t)oy * ow + n0;
                    float *c = out + at;
                    const float *bi = final && bias ? bias + m0 : NULL, *rs = final && res ? res + at : NULL;
                    const float *b = row + n0;
                    const int *o = off + k0;
                    /* On a K block's first panel, fetch the next tile's weights (as gemm512_range does). */
                    const float *pf = n0 == 0 && m0 + 8 < M
                        ? Ap + (size_t)((m0 + 8) / EMO_PACK_MR) * K * EMO_PACK_MR + (size_t)k0 * EMO_PACK_MR : NULL;
                    switch (nrv) {
                    case 3: tile512_at(3, kc, a, EMO_PACK_MR, b, 0, o, c, (int)ohw, mr, accum, bi, rs, last, ac, p0, p1, pf); break;
                    case 2: tile512_at(2, kc, a, EMO_PACK_MR, b, 0, o, c, (int)ohw, mr, accum, bi, rs, last, ac, p0, p1, pf); break;
                    default: tile512_at(1, kc, a, EMO_PACK_MR, b, 0, o, c, (int)ohw, mr, accum, bi, rs, last, ac, p0, p1, pf); break;
                    }
                }
            }
        }
    }
}
#endif

int emo_conv_rows(int level, const float *xp, int C, int ph, int pw, int kh, int kw, int sh, int dh, int dw, int oh,
                  int ow, const float *Ap, int M, float *out, const float *bias, int act, float p0, float p1,
                  const float *res, int *off) {
    if (level != EMO_LEVEL_AVX512 || level > emo_kernels_cpu_level() || M <= 0 || C <= 0 || oh <= 0 || ow <= 0) return -1;
    /* Every read inside its plane: output pixel (oy, ox) of tap (ki, kj) reads float
     * (oy·sh + ki·dh)·pw + kj·dw + ox. A row may run past pw into the next rows (ow > pw): a caller
     * flattening a stride-1 convolution (oh = 1), whose outputs past each row's width it cuts away. */
    if ((size_t)((oh - 1) * sh + (kh - 1) * dh) * pw + (size_t)(kw - 1) * dw + ow > (size_t)ph * pw) return -1;
#ifdef EMO_X86
    int k = 0;
    for (int ci = 0; ci < C; ci++)
        for (int ki = 0; ki < kh; ki++)
            for (int kj = 0; kj < kw; kj++) off[k++] = (ci * ph + ki * dh) * pw + kj * dw;
    conv_rows512(xp, pw, sh, oh, ow, Ap, M, k, off, out, bias, act, p0, p1, res);
    return 0;
#else
    (void)xp; (void)Ap; (void)out; (void)bias; (void)act; (void)p0; (void)p1; (void)res; (void)off;
    return -1;
#endif
}

/* One value's activation, for the scalar loops (the Winograd stores, emo_flat_to_planes). NaN maps as
 * in act512/act256, whose max/min return their second operand: Relu and Clip give 0 and p0. */
static inline float act_one(float v, int act, float p0, float p1) {
    switch (act) {
    case EMO_ACT_RELU: return v > 0 ? v : 0.0f;
    case EMO_ACT_LEAKY: return v >= 0 ? v : v * p0;
    case EMO_ACT_CLIP: v = v > p0 ? v : p0; return v < p1 ? v : p1;
    default: return v;
    }
}

/* A flat convolution over planes wider than its output (see the header): plain loops, which clang
 * vectorises; a pass over M·oh·ow floats against the GEMM's K of them. */
void emo_flat_to_planes(const float *flat, int M, int n, int oh, int ow, int pw, float *out, const float *res, int act,
                        float p0, float p1) {
    for (int m = 0; m < M; m++)
        for (int oy = 0; oy < oh; oy++) {
            const float *src = flat + (size_t)m * n + (size_t)oy * pw;
            const size_t at = ((size_t)m * oh + oy) * ow;
            float *dst = out + at;
            const float *r = res ? res + at : NULL;
            if (!r && act == EMO_ACT_NONE) { memcpy(dst, src, sizeof(float) * (size_t)ow); continue; }
            for (int ox = 0; ox < ow; ox++) dst[ox] = act_one(src[ox] + (r ? r[ox] : 0.0f), act, p0, p1);
        }
}

/* Column stride 2: the input planes are first padded and split into their even and odd columns in
 * one pass (split_row512, shared with the depthwise kernels; half planes of hw = ⌈pw/2⌉ columns
 * in `halves`, C·ph·hw floats each), after which tap (ci, ki, kj) of output column ox reads
 * half-plane column ox + ⌊kj·dw/2⌋ of the even (kj·dw even) or odd half: again a contiguous row.
 * ResNet18's 7×7/2 conv1 (3 → 64, 112² output) unfolded 147 rows of 12544 by two loads and a
 * permute per 16 values before its GEMM. */
#ifdef EMO_X86
static AVX512 void split_planes512(const float *x, int C, int h, int w, int padT, int padL, int ph, int pw, float *E, float *O) {
    const int hw = (pw + 1) / 2;
    for (int ci = 0; ci < C; ci++)
        for (int y = 0; y < ph; y++) {
            const size_t r = ((size_t)ci * ph + y) * hw;
            split_row512(x + (size_t)ci * h * w, h, w, padT, padL, y, pw, 0.0f, E + r, O + r, hw);
        }
}
#endif

int emo_conv_rows_s2(int level, const float *x, int C, int h, int w, int padT, int padL, int ph, int pw, int kh, int kw,
                     int sh, int dh, int dw, int oh, int ow, const float *Ap, int M, float *out, const float *bias, int act,
                     float p0, float p1, const float *res, int *off, float *halves) {
    if (level != EMO_LEVEL_AVX512 || level > emo_kernels_cpu_level() || M <= 0 || C <= 0 || oh <= 0 || ow <= 0) return -1;
    if ((oh - 1) * sh + (kh - 1) * dh >= ph || 2 * (ow - 1) + (kw - 1) * dw >= pw || h <= 0 || w <= 0) return -1;
#ifdef EMO_X86
    const int hw = (pw + 1) / 2;
    const size_t half = (size_t)C * ph * hw;
    split_planes512(x, C, h, w, padT, padL, ph, pw, halves, halves + half);
    int k = 0;
    for (int ci = 0; ci < C; ci++)
        for (int ki = 0; ki < kh; ki++)
            for (int kj = 0; kj < kw; kj++) {
                const int col = kj * dw;
                off[k++] = (int)((col & 1 ? half : 0) + (size_t)(ci * ph + ki * dh) * hw + (size_t)(col >> 1));
            }
    conv_rows512(halves, hw, sh, oh, ow, Ap, M, k, off, out, bias, act, p0, p1, res);
    return 0;
#else
    (void)x; (void)Ap; (void)out; (void)bias; (void)act; (void)p0; (void)p1; (void)res; (void)off; (void)halves;
    (void)padT; (void)padL;
    return -1;
#endif
}

/* ------------------------------------------------------------------ GEMV
 *
 * Y[r][n] += alpha · dot(W[n], X[r]) for the N rows of W (K floats each, `ldw` apart) and a few
 * rows of X: a small-batch Gemm with transB (every exported classifier; two rows for a face and
 * its flip). OpenBLAS 0.3.21 packs all of B for an M = 1 sgemm and its sgemv is no faster:
 * MobileNetV2's 1000×1280 classifier took 0.95–1.4 ms (sgemm) and 0.6–1.1 ms (sgemv) against
 * 0.34–0.46 ms here (same process, alternating). Four rows of W share each load of an X row, and
 * two X rows each load of W: the weights are read once for both views of a face. The K tail is
 * masked. */
#ifdef EMO_X86
/* R (1 or 2) rows of X against NW (4 or 1) rows of W from w, added to column n0 of Y's rows. */
INLINE AVX512 void gemv512_block(const int R, const int NW, int K, const float *w, int ldw, const float *x, int ldx,
                                 float alpha, float *y, int ldy, int n0) {
    const __mmask16 tail = (__mmask16)((1u << (K % 16)) - 1u);
    const int kv = K - K % 16;
    __m512 a[2][4];
    for (int r = 0; r < R; r++)
        for (int i = 0; i < NW; i++) a[r][i] = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 16) {
        const __mmask16 m = k < kv ? 0xFFFF : tail;
        __m512 xv[2];
        for (int r = 0; r < R; r++) xv[r] = _mm512_maskz_loadu_ps(m, x + (size_t)r * ldx + k);
        for (int i = 0; i < NW; i++) {
            __m512 wv = _mm512_maskz_loadu_ps(m, w + (size_t)i * ldw + k);
            for (int r = 0; r < R; r++) a[r][i] = _mm512_fmadd_ps(wv, xv[r], a[r][i]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int i = 0; i < NW; i++) y[(size_t)r * ldy + n0 + i] += alpha * _mm512_reduce_add_ps(a[r][i]);
}

/* R (1 or 2) rows of X against the N rows of W: four rows of W at a time, then the rest one by one. */
INLINE AVX512 void gemv512(const int R, int N, int K, const float *W, int ldw, const float *x, int ldx, float alpha,
                           float *y, int ldy) {
    int n = 0;
    for (; n + 4 <= N; n += 4) gemv512_block(R, 4, K, W + (size_t)n * ldw, ldw, x, ldx, alpha, y, ldy, n);
    for (; n < N; n++) gemv512_block(R, 1, K, W + (size_t)n * ldw, ldw, x, ldx, alpha, y, ldy, n);
}

static AVX512 void gemv512_rows(int M, int N, int K, const float *W, int ldw, const float *X, int ldx, float alpha,
                                float *Y, int ldy) {
    int r = 0;
    for (; r + 2 <= M; r += 2) gemv512(2, N, K, W, ldw, X + (size_t)r * ldx, ldx, alpha, Y + (size_t)r * ldy, ldy);
    if (r < M) gemv512(1, N, K, W, ldw, X + (size_t)r * ldx, ldx, alpha, Y + (size_t)r * ldy, ldy);
}

INLINE AVX2 float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* One row per step, 8 lanes; the K tail in scalar. */
static AVX2 void gemv256(int N, int K, const float *W, int ldw, const float *x, float alpha, float *y) {
    const int kv = K - K % 8;
    for (int n = 0; n < N; n++) {
        const float *w = W + (size_t)n * ldw;
        __m256 a = _mm256_setzero_ps();
        for (int k = 0; k < kv; k += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), a);
        float t = hsum256(a);
        for (int k = kv; k < K; k++) t += w[k] * x[k];
        y[n] += alpha * t;
    }
}
#endif

int emo_gemv_rows(int level, int M, int N, int K, const float *W, int ldw, const float *X, int ldx, float alpha,
                  float *Y, int ldy) {
    if (M <= 0 || N <= 0 || K <= 0 || level > emo_kernels_cpu_level()) return -1;
#ifdef EMO_X86
    if (level == EMO_LEVEL_AVX512) { gemv512_rows(M, N, K, W, ldw, X, ldx, alpha, Y, ldy); return 0; }
    if (level == EMO_LEVEL_AVX2) {
        for (int r = 0; r < M; r++) gemv256(N, K, W, ldw, X + (size_t)r * ldx, alpha, Y + (size_t)r * ldy);
        return 0;
    }
#endif
    (void)W; (void)ldw; (void)X; (void)ldx; (void)alpha; (void)Y; (void)ldy;
    return -1;
}

#ifdef EMO_X86
/* im2col rows at stride 1 and 2 with AVX-512: per 16 columns one masked load (stride 2: two,
 * and an even-lane permute); lanes whose input column falls in the padding read 0 (masked-off
 * lanes never fault), one masked store. The generic loops below were 18–21 % of mini-Xception's
 * run time in perf (rows of 3–46 floats, three bounded loops each), and at stride 2 (a scalar
 * gather) most of ResNet18's 7×7 conv1: 8.8 ms against ~2 ms for its GEMM. */
/* 16 stride-2 columns from the 32 input columns at s[0..31]: lanes in [lo, hi) read, others 0. */
INLINE AVX512 __m512 even16(const float *s, int lo, int hi) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i l = _mm512_set1_epi32(lo), h = _mm512_set1_epi32(hi), sixteen = _mm512_set1_epi32(16);
    const __mmask16 m0 = _mm512_cmpge_epi32_mask(lane, l) & _mm512_cmplt_epi32_mask(lane, h);
    const __m512i lane1 = _mm512_add_epi32(lane, sixteen);
    const __mmask16 m1 = _mm512_cmpge_epi32_mask(lane1, l) & _mm512_cmplt_epi32_mask(lane1, h);
    return _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(m0, s), even, _mm512_maskz_loadu_ps(m1, s + 16));
}

/* One im2col row at stride 2: input columns 2·ox + offX, 0 outside [0, w). */
INLINE AVX512 void row2_512(const float *s, int offX, int w, float *d, int ow) {
    for (int ox = 0; ox < ow; ox += 16) {
        const __mmask16 keep = ow - ox >= 16 ? 0xFFFF : (__mmask16)((1u << (ow - ox)) - 1u);
        const int c0 = 2 * ox + offX;   /* input column of lane 0 of the 32 read */
        _mm512_mask_storeu_ps(d + ox, keep, even16(s + c0, -c0, w - c0));
    }
}

/* im2col of small planes (h·w ≤ 64 floats, e.g. 3×3 to 8×8 maps): each input plane is held in up
 * to four registers and every tap's outputs are gathered from them by permutes (index vectors and
 * masks computed once per call), instead of one masked load and store per output row and tap —
 * mini-Xception's last 3×3 layer (128 → 7 on a 3×3 map) spent 12 of its 15 µs unfolding
 * 3456 rows of 3 floats. */
#define SMALL_MAX_VECTORS 256   /* taps × vectors per tap whose indices are kept (16 KiB) */
INLINE int small_fits(int h, int w, int kh, int kw, size_t ohw) {
    return h * w <= 64 && (size_t)kh * kw * ((ohw + 15) / 16) <= SMALL_MAX_VECTORS;
}

static AVX512 void im2col_small512(const float *x, int h, int w, int kh, int kw, int sh, int sw, int dh, int dw,
                                   int padT, int padL, int k0, int k1, int oy0, int oy1, int ow, float *col) {
    const int ohw = (oy1 - oy0) * ow, nv = (ohw + 15) / 16, taps = kh * kw, hw = h * w;
    __m512i idx[SMALL_MAX_VECTORS];
    __mmask16 valid[SMALL_MAX_VECTORS], high[SMALL_MAX_VECTORS];
    for (int t = 0; t < taps; t++)
        for (int v = 0; v < nv; v++) {
            int ix[16];
            __mmask16 m = 0, hi = 0;
            for (int l = 0; l < 16; l++) {
                const int p = 16 * v + l, oy = oy0 + p / ow, ox = p % ow;
                const int iy = oy * sh - padT + (t / kw) * dh, jx = ox * sw - padL + (t % kw) * dw;
                const int in = p < ohw && iy >= 0 && iy < h && jx >= 0 && jx < w;
                ix[l] = in ? iy * w + jx : 0;
                m |= (__mmask16)(in << l);
                hi |= (__mmask16)((in && ix[l] >= 32) << l);
            }
            idx[t * nv + v] = _mm512_loadu_si512(ix);
            valid[t * nv + v] = m; high[t * nv + v] = hi;
        }
    const __mmask16 last = (__mmask16)(ohw % 16 ? (1u << (ohw % 16)) - 1u : 0xFFFF);
    __m512 r[4];
    for (int kk = k0; kk < k1; kk++) {
        const int ci = kk / taps, t = kk % taps;
        if (kk == k0 || t == 0) {   /* the channel's plane into registers */
            const float *s = x + (size_t)ci * hw;
            for (int q = 0; q < 4; q++) {
                const int n = hw - 16 * q;
                r[q] = _mm512_maskz_loadu_ps((__mmask16)(n >= 16 ? 0xFFFF : n > 0 ? (1u << n) - 1u : 0), s + 16 * q);
            }
        }
        float *d = col + (size_t)(kk - k0) * ohw;
        for (int v = 0; v < nv; v++) {
            const int k = t * nv + v;
            __m512 y = _mm512_maskz_permutex2var_ps(valid[k], r[0], idx[k], r[1]);
            if (hw > 32) y = _mm512_mask_mov_ps(y, high[k], _mm512_permutex2var_ps(r[2], idx[k], r[3]));   /* 32–63 */
            _mm512_mask_storeu_ps(d + 16 * v, v == nv - 1 ? last : 0xFFFF, y);
        }
    }
}

/* Narrow rows at column stride 2 (2·ow + kw ≤ 34, no column dilation): the 32 input columns an
 * output row reads are loaded once per input row, and each of the kw taps of that row is permuted
 * out of them (lanes kj, kj + 2, ...), instead of two masked loads, a permute and the masks' set-up
 * per tap and row. FERResNet's 3×3/2 layers (24² → 12², 12² → 6²) spent 12 µs each unfolding
 * (harness, min of 200). */
static AVX512 void im2col_s2_narrow512(const float *x, int h, int w, int kh, int kw, int sh, int dh, int padT, int padL,
                                       int k0, int k1, int oy0, int oy1, int ow, float *col) {
    const size_t ohw = (size_t)(oy1 - oy0) * ow;
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i even = _mm512_add_epi32(lane, lane), wv = _mm512_set1_epi32(w), zero = _mm512_setzero_si512();
    const __m512i c0 = _mm512_sub_epi32(lane, _mm512_set1_epi32(padL)), c1 = _mm512_add_epi32(c0, _mm512_set1_epi32(16));
    const __mmask16 in0 = _mm512_cmpge_epi32_mask(c0, zero) & _mm512_cmplt_epi32_mask(c0, wv);
    const __mmask16 in1 = _mm512_cmpge_epi32_mask(c1, zero) & _mm512_cmplt_epi32_mask(c1, wv);
    const __mmask16 keep = (__mmask16)((1u << ow) - 1u);   /* ow ≤ 16 */
    for (int k = k0; k < k1;) {
        const int ci = k / (kh * kw), ki = k / kw % kh, kj0 = k % kw;
        const int taps = (k - kj0 + kw < k1 ? k - kj0 + kw : k1) - k;   /* this input row's taps in k0..k1 */
        for (int oy = oy0; oy < oy1; oy++) {
            const int iy = oy * sh - padT + ki * dh;
            float *d = col + (size_t)(k - k0) * ohw + (size_t)(oy - oy0) * ow;
            if (iy < 0 || iy >= h) {
                for (int t = 0; t < taps; t++) _mm512_mask_storeu_ps(d + t * ohw, keep, _mm512_setzero_ps());
                continue;
            }
            const float *s = x + ((size_t)ci * h + iy) * w - padL;   /* column 0 of the 32 (masked) */
            const __m512 v0 = _mm512_maskz_loadu_ps(in0, s), v1 = _mm512_maskz_loadu_ps(in1, s + 16);
            for (int t = 0; t < taps; t++) {
                const __m512i idx = _mm512_add_epi32(even, _mm512_set1_epi32(kj0 + t));
                _mm512_mask_storeu_ps(d + t * ohw, keep, _mm512_permutex2var_ps(v0, idx, v1));
            }
        }
        k += taps;
    }
}

/* Rows k0..k1 of the im2col matrix (row k = (ci·kh + ki)·kw + kj), output rows oy0..oy1. */
static AVX512 void im2col512(const float *x, int h, int w, int kh, int kw, int sh, int sw, int dh, int dw,
                             int padT, int padL, int k0, int k1, int oy0, int oy1, int ow, float *col) {
    if (sw == 2 && dw == 1 && 2 * ow + kw <= 34) {
        im2col_s2_narrow512(x, h, w, kh, kw, sh, dh, padT, padL, k0, k1, oy0, oy1, ow, col);
        return;
    }
    const size_t ohw = (size_t)(oy1 - oy0) * ow;
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int k = k0; k < k1; k++) {
        const int ci = k / (kh * kw), ki = k / kw % kh, kj = k % kw;
        float *dst = col + (size_t)(k - k0) * ohw;
        const int offX = kj * dw - padL;
        for (int oy = oy0; oy < oy1; oy++) {
            const int iy = oy * sh - padT + ki * dh;
            const int inside = iy >= 0 && iy < h;
            const float *s = x + (size_t)ci * h * w + (size_t)(inside ? iy : 0) * w + offX;
            float *d = dst + (size_t)(oy - oy0) * ow;
            if (sw == 2) {
                if (inside) row2_512(x + (size_t)ci * h * w + (size_t)iy * w, offX, w, d, ow);
                else for (int ox = 0; ox < ow; ox++) d[ox] = 0.0f;
                continue;
            }
            for (int ox = 0; ox < ow; ox += 16) {
                const __mmask16 keep = ow - ox >= 16 ? 0xFFFF : (__mmask16)((1u << (ow - ox)) - 1u);
                const __m512i ix = _mm512_add_epi32(lane, _mm512_set1_epi32(ox + offX));
                const __mmask16 in = inside ? keep & _mm512_cmpge_epi32_mask(ix, _mm512_setzero_si512())
                                                  & _mm512_cmplt_epi32_mask(ix, _mm512_set1_epi32(w)) : 0;
                _mm512_mask_storeu_ps(d + ox, keep, _mm512_maskz_loadu_ps(in, s + ox));
            }
        }
    }
}
#endif

/* im2col of output rows oy0..oy1 of one image (or one group of it):
 * col[(ci·kh + ki)·kw + kj][(oy - oy0)·ow + ox].
 * Written here rather than in Swift: at 48×48 the rows are 6–24 floats long and
 * per-row memmove/initialize calls cost more than the copy (70 µs of a 0.5 ms model). */
void emo_im2col_rows(int level, const float *x, int c, int h, int w, int kh, int kw, int sh, int sw, int dh, int dw,
                     int padT, int padL, int oy0, int oy1, int ow, float *col) {
#ifdef EMO_X86
    if (level == EMO_LEVEL_AVX512 && level <= emo_kernels_cpu_level() && small_fits(h, w, kh, kw, (size_t)(oy1 - oy0) * ow)) {
        im2col_small512(x, h, w, kh, kw, sh, sw, dh, dw, padT, padL, 0, c * kh * kw, oy0, oy1, ow, col);
        return;
    }
    if (level == EMO_LEVEL_AVX512 && (sw == 1 || sw == 2) && level <= emo_kernels_cpu_level()) {
        im2col512(x, h, w, kh, kw, sh, sw, dh, dw, padT, padL, 0, c * kh * kw, oy0, oy1, ow, col);
        return;
    }
#endif
    (void)level;
    const size_t ohw = (size_t)(oy1 - oy0) * ow;
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
                for (int oy = oy0; oy < oy1; oy++) {
                    int iy = oy * sh - padT + ki * dh;
                    float *d = dst + (size_t)(oy - oy0) * ow;
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

int emo_im2col_k(int level, const float *x, int c, int h, int w, int kh, int kw, int sh, int sw, int dh, int dw, int padT,
                 int padL, int k0, int k1, int oy0, int oy1, int ow, float *col) {
#ifdef EMO_X86
    if (level != EMO_LEVEL_AVX512 || level > emo_kernels_cpu_level() || k0 < 0 || k0 >= k1 || k1 > c * kh * kw) return -1;
    if (small_fits(h, w, kh, kw, (size_t)(oy1 - oy0) * ow)) {
        im2col_small512(x, h, w, kh, kw, sh, sw, dh, dw, padT, padL, k0, k1, oy0, oy1, ow, col);
        return 0;
    }
    if (sw != 1 && sw != 2) return -1;
    im2col512(x, h, w, kh, kw, sh, sw, dh, dw, padT, padL, k0, k1, oy0, oy1, ow, col);
    return 0;
#else
    (void)level; (void)x; (void)c; (void)h; (void)w; (void)kh; (void)kw; (void)sh; (void)sw; (void)dh; (void)dw; (void)padT;
    (void)padL; (void)k0; (void)k1; (void)oy0; (void)oy1; (void)ow; (void)col;
    return -1;
#endif
}

/* ------------------------------------------------ Winograd F(2×2, 3×3)
 *
 * 3×3 stride-1 convolutions as 16 GEMMs on transformed tiles (Lavin & Gray 2015):
 * 2.25× fewer multiply-adds than im2col. Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A per 2×2 output
 * tile, d the 4×4 input patch. The weight transform runs once at load; input and
 * output transforms are written as contiguous loops over tiles so they vectorise.
 */
size_t emo_wino_weights_size(int M, int C) { return 16 * pack_size(M, C, WINO_MR); }

/* U = G g Gᵀ (a × a per kernel, G a × 3, in double) for every (m, c), as a·a planes of M × C, each
 * packed by WINO_MR rows: F(2×2,3×3) has a = 4, F(4×4,3×3) a = 6. */
static int wino_pack(const float *g, int M, int C, float *packed, int a, const double G[][3]) {
    float *u = malloc(sizeof(float) * (size_t)a * a * M * C);
    if (!u) return -1;
    for (int m = 0; m < M; m++)
        for (int c = 0; c < C; c++) {
            const float *k = g + ((size_t)m * C + c) * 9;
            double t[6][3];
            for (int i = 0; i < a; i++)
                for (int j = 0; j < 3; j++) t[i][j] = G[i][0] * k[j] + G[i][1] * k[3 + j] + G[i][2] * k[6 + j];
            for (int i = 0; i < a; i++)
                for (int j = 0; j < a; j++)
                    u[((size_t)(i * a + j) * M + m) * C + c] = (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
        }
    size_t ps = pack_size(M, C, WINO_MR);
    for (int xi = 0; xi < a * a; xi++) pack_rows(u + (size_t)xi * M * C, M, C, WINO_MR, packed + xi * ps);
    free(u);
    return 0;
}

int emo_wino_pack_weights(const float *g, int M, int C, float *packed) {
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    return wino_pack(g, M, C, packed, 4, G);
}

/* The 16 per-position planes are a multiple of 4 KiB apart for these layer sizes (e.g.
 * 64·144 floats); the output transform reads all 16 at once, so they would share L1 sets.
 * A 272-byte skew per plane spreads them. */
#define WINO_SKEW 68

static inline int round16(int n) { return (n + 15) & ~15; }

/* Tile rows per block: the transformed input and the GEMM outputs of one block (16 planes of
 * C and of M rows) should stay in L2 (2 MiB per core here) between the transforms and the
 * GEMMs. Transforming the whole image at once made them round trips to L3/DRAM: ResNet18's
 * 56×56×64 layer wrote and re-read 6.4 MB per call, Inception v3's 147² one 33 MB. */
#define WINO_BLOCK_BYTES (1536 * 1024)
/* Every block re-reads all the transformed weights (`planes` planes of M × C): where they outweigh
 * a block, blocks may grow to their size, up to twice WINO_BLOCK_BYTES. ResNet18's 256 → 256
 * layers at 14² (4.2 MB of weights) ran in two blocks of tile rows, 1.03–1.12 ms, and 0.88–0.94 in
 * one (harness, min of 300). */
static size_t wino_block_budget(int planes, int M, int C) {
    size_t weights = (size_t)planes * sizeof(float) * (size_t)M * C;
    if (weights <= WINO_BLOCK_BYTES) return WINO_BLOCK_BYTES;
    return weights < 2 * WINO_BLOCK_BYTES ? weights : 2 * WINO_BLOCK_BYTES;
}

static int wino_rows_per_block(int planes, int M, int C, int tH, int tW) {
    size_t row = (size_t)planes * sizeof(float) * (size_t)(C + M) * tW;
    int rows = (int)(wino_block_budget(planes, M, C) / (row ? row : 1));
    if (rows < 1) rows = 1;
    if (rows >= tH) return tH;
    int blocks = (tH + rows - 1) / rows;
    return (tH + blocks - 1) / blocks;   /* equal blocks: no short last one */
}

/* Images per block where a whole image is one block: their tiles side by side in V and Mx, so
 * that each of the 16 GEMMs reads its weights once for all of them. The flip view of a face is a
 * second image: FERVGG's 256 → 256 layer at 6×6 (9 tiles, 4.2 MB of transformed weights) took
 * 0.26 ms per image alone and 0.42 ms for two side by side (harness, min of 300). */
static int wino_images_per_block(int planes, int M, int C, int tH, int tW, int n) {
    size_t image = (size_t)planes * sizeof(float) * (size_t)(C + M) * tH * tW;
    size_t fit = wino_block_budget(planes, M, C) / (image ? image : 1);
    if (fit < 1) fit = 1;
    return (size_t)n < fit ? n : (int)fit;
}

/* One Winograd call's shapes: tiles, the block of tile rows (or of nb whole images) in work, and
 * the plane strides. */
typedef struct {
    int C, h, w, padT, padL, oh, ow, M;
    int tH, tW, rb, nb, Tp, Hp, Wh;
    size_t VS, MS;
} wino_geo;

static wino_geo wino_shape(int M, int C, int h, int w, int padT, int padL, int oh, int ow, int n) {
    wino_geo g = {C, h, w, padT, padL, oh, ow, M, (oh + 1) / 2, (ow + 1) / 2, 0, 1, 0, 0, 0, 0, 0};
    g.rb = wino_rows_per_block(16, M, C, g.tH, g.tW);
    if (g.rb == g.tH && n > 1) g.nb = wino_images_per_block(16, M, C, g.tH, g.tW, n);
    g.Tp = round16(g.nb * g.rb * g.tW); g.Hp = 2 * g.rb + 2; g.Wh = g.tW + 1;
    g.VS = (size_t)C * g.Tp + WINO_SKEW; g.MS = (size_t)M * g.Tp + WINO_SKEW;  /* per-position plane strides */
    return g;
}

/* work = V (16 planes of VS), Mx (16 of MS), E and O (Hp·Wh each), tr (8·Wh), Y (5·Tp): see wino_body. */
size_t emo_wino_workspace(int M, int C, int oh, int ow, int n) {
    wino_geo g = wino_shape(M, C, 0, 0, 0, 0, oh, ow, n);
    return 16 * g.VS + 16 * g.MS + 2 * (size_t)g.Hp * g.Wh + 8 * (size_t)g.Wh + 5 * (size_t)g.Tp;
}

/* ------------------------------------------------ Winograd F(4×4, 3×3)
 *
 * 36 GEMMs on transformed 6×6 tiles: 4× fewer multiply-adds than im2col (F(2×2): 2.25×), at
 * 2.25× the transformed weights and ~15× F(2×2)'s rounding error (still ~1e-5 of the output's
 * scale). Tiles are taken flat, 16 per vector across tile rows and images, so that small maps
 * (FERVGG's 24² is 6×6 tiles) fill every lane. Harness (min of 150, two images, hot caches):
 * FERVGG's 64 → 64 at 24² with its pool 0.29 against 0.38 ms on F(2×2), 128 → 128 at 12² 0.32
 * against 0.39; ResNet18's 64 → 64 at 56² 0.91 against 1.13 (one image). In the net (FERVGG w32,
 * a face and its flip, per layer the best of ten alternating runs): its 24² layers 0.231 → 0.196
 * and 0.384 → 0.286 ms, 12² ones 0.235 → 0.209 and 0.429 → 0.337, the face 2.32 → 2.07 ms. Where
 * it pays: ConvLayer.winogradF4Pays.
 */

size_t emo_w43_weights_size(int M, int C) { return 36 * pack_size(M, C, WINO_MR); }

int emo_w43_pack_weights(const float *g, int M, int C, float *packed) {
    static const double G[6][3] = {{1.0 / 4, 0, 0}, {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
    return wino_pack(g, M, C, packed, 6, G);
}

/* One F(4×4) call's shapes, as wino_geo: tiles, the block of tile rows (or of nb whole images, their
 * tiles side by side) whose V and Mx planes stay in L2, the plane strides. */
typedef struct {
    int C, h, w, padT, padL, oh, ow, M;
    int tH, tW, rb, nb, Tp;
    size_t VS, MS;
} w43_geo;

static w43_geo w43_shape(int M, int C, int h, int w, int padT, int padL, int oh, int ow, int n) {
    w43_geo g = {C, h, w, padT, padL, oh, ow, M, (oh + 3) / 4, (ow + 3) / 4, 0, 1, 0, 0, 0};
    g.rb = wino_rows_per_block(36, M, C, g.tH, g.tW);
    if (g.rb == g.tH && n > 1) g.nb = wino_images_per_block(36, M, C, g.tH, g.tW, n);
    g.Tp = round16(g.nb * g.rb * g.tW);
    g.VS = (size_t)C * g.Tp + WINO_SKEW;
    g.MS = (size_t)M * g.Tp + WINO_SKEW;
    return g;
}

size_t emo_w43_workspace(int M, int C, int oh, int ow, int n) {
    w43_geo g = w43_shape(M, C, 0, 0, 0, 0, oh, ow, n);
    return 36 * g.VS + 36 * g.MS;
}

#ifdef EMO_X86
typedef void (*gemm_fn)(int, int, int, const float *, int, const float *, int, float *, int, const float *, int, float,
                        float, const float *);

/* act_one over a buffer, the switch outside the loops so that each vectorises. */
INLINE void act_buf(float *v, int n, int act, float p0, float p1) {
    switch (act) {
    case EMO_ACT_RELU: for (int i = 0; i < n; i++) v[i] = act_one(v[i], EMO_ACT_RELU, 0, 0); break;
    case EMO_ACT_LEAKY: for (int i = 0; i < n; i++) v[i] = act_one(v[i], EMO_ACT_LEAKY, p0, 0); break;
    case EMO_ACT_CLIP: for (int i = 0; i < n; i++) v[i] = act_one(v[i], EMO_ACT_CLIP, p0, p1); break;
    default: break;
    }
}

/* Input rows 2·ty0-padT .. of channel `src`, zero padded, split into even (E) and odd (O)
 * columns: `rows` rows of Wh. */
INLINE void wino_split(const wino_geo *g, const float *src, int ty0, int rows, float *E, float *O) {
    const int Wh = g->Wh, w = g->w, padL = g->padL;
    for (int y = 0; y < rows; y++) {
        int iy = 2 * ty0 + y - g->padT;
        float *e = E + (size_t)y * Wh, *o = O + (size_t)y * Wh;
        if (iy < 0 || iy >= g->h) { for (int j = 0; j < Wh; j++) { e[j] = 0; o[j] = 0; } continue; }
        const float *row = src + (size_t)iy * w;
        /* interior columns (both 2j-padL and 2j+1-padL inside the row) without bounds
         * checks, so the deinterleave vectorises; the few border columns checked */
        int jlo = (padL + 1) / 2, jhi = (w - 2 + padL) / 2 + 1;
        if (jhi > Wh) jhi = Wh;
        if (jlo > jhi) jlo = jhi;
        for (int j = 0; j < jlo; j++) {
            int ix = 2 * j - padL;
            e[j] = ix >= 0 && ix < w ? row[ix] : 0.0f;
            o[j] = ix + 1 >= 0 && ix + 1 < w ? row[ix + 1] : 0.0f;
        }
        const float *r = row - padL;
        for (int j = jlo; j < jhi; j++) { e[j] = r[2 * j]; o[j] = r[2 * j + 1]; }
        for (int j = jhi; j < Wh; j++) {
            int ix = 2 * j - padL;
            e[j] = ix >= 0 && ix < w ? row[ix] : 0.0f;
            o[j] = ix + 1 >= 0 && ix + 1 < w ? row[ix + 1] : 0.0f;
        }
    }
}

/* Bᵀ d B for tile rows ty0..ty0+nty of every channel into the 16 planes of V (column
 * (ty-ty0)·tW + tx of row c). */
INLINE void wino_input(const wino_geo *g, const float *x, int ty0, int nty, float *V, float *E, float *O, float *tr) {
    const int Wh = g->Wh, tW = g->tW;
    for (int c = 0; c < g->C; c++) {
        wino_split(g, x + (size_t)c * g->h * g->w, ty0, 2 * nty + 2, E, O);
        for (int t = 0; t < nty; t++) {
            /* rows, Bᵀ d: t0 = d0 - d2, t1 = d1 + d2, t2 = d2 - d1, t3 = d1 - d3 (E and O halves) */
            const float *e0 = E + (size_t)(2 * t) * Wh, *e1 = e0 + Wh, *e2 = e1 + Wh, *e3 = e2 + Wh;
            const float *o0 = O + (size_t)(2 * t) * Wh, *o1 = o0 + Wh, *o2 = o1 + Wh, *o3 = o2 + Wh;
            float *te = tr, *to = tr + 4 * (size_t)Wh;
            for (int j = 0; j < Wh; j++) {
                te[j] = e0[j] - e2[j]; te[Wh + j] = e1[j] + e2[j];
                te[2 * Wh + j] = e2[j] - e1[j]; te[3 * Wh + j] = e1[j] - e3[j];
                to[j] = o0[j] - o2[j]; to[Wh + j] = o1[j] + o2[j];
                to[2 * Wh + j] = o2[j] - o1[j]; to[3 * Wh + j] = o1[j] - o3[j];
            }
            /* columns, (·)B: tile tx reads E[tx], O[tx], E[tx+1], O[tx+1] */
            for (int i = 0; i < 4; i++) {
                const float *ei = te + (size_t)i * Wh, *oi = to + (size_t)i * Wh;
                float *v0 = V + (i * 4 + 0) * g->VS + (size_t)c * g->Tp + t * tW;
                float *v1 = V + (i * 4 + 1) * g->VS + (size_t)c * g->Tp + t * tW;
                float *v2 = V + (i * 4 + 2) * g->VS + (size_t)c * g->Tp + t * tW;
                float *v3 = V + (i * 4 + 3) * g->VS + (size_t)c * g->Tp + t * tW;
                for (int tx = 0; tx < tW; tx++) {
                    v0[tx] = ei[tx] - ei[tx + 1];
                    v1[tx] = oi[tx] + ei[tx + 1];
                    v2[tx] = ei[tx + 1] - oi[tx];
                    v3[tx] = oi[tx] - oi[tx + 1];
                }
            }
        }
    }
}

/* The four planes of output tiles (y00, y01, y10, y11 of each 2×2 tile, Tp apart in Y) into the
 * NCHW plane `dst`, each value act(y + res) with `res` the residual's plane. */
INLINE void wino_store_res(const wino_geo *g, const float *Y, int ty0, int nty, const float *res, int act, float p0,
                           float p1, float *dst) {
    const int Tp = g->Tp, tW = g->tW, oh = g->oh, ow = g->ow;
    for (int t = 0; t < nty; t++) {
        const int ty = ty0 + t;
        for (int dy = 0; dy < 2 && 2 * ty + dy < oh; dy++) {
            const size_t row = (size_t)(2 * ty + dy) * ow;
            const float *ya = Y + (size_t)(2 * dy) * Tp + t * tW, *yb = ya + Tp;   /* left, right of each tile */
            for (int ox = 0; ox < ow; ox++) {
                float v = ((ox & 1) ? yb : ya)[ox / 2] + res[row + ox];
                dst[row + ox] = act == EMO_ACT_NONE ? v : act_one(v, act, p0, p1);
            }
        }
    }
}

/* Aᵀ m A (+ bias, activation, and the fused pool when pool2) for tile rows ty0..ty0+nty of
 * every output channel, from the 16 GEMM output planes Mx into `out`. */
INLINE void wino_output(const wino_geo *g, const float *Mx, int ty0, int nty, const float *bias, int act, float p0,
                        float p1, int pool2, const float *res, float *out, float *Y) {
    const int T = nty * g->tW, Tp = g->Tp, tW = g->tW, oh = g->oh, ow = g->ow;
    for (int m = 0; m < g->M; m++) {
        const float *p[16];
        for (int xi = 0; xi < 16; xi++) p[xi] = Mx + xi * g->MS + (size_t)m * Tp;
        float *y00 = Y, *y01 = Y + Tp, *y10 = Y + 2 * (size_t)Tp, *y11 = Y + 3 * (size_t)Tp;
        const float b = bias ? bias[m] : 0.0f;
        /* rows s0 = m0 + m1 + m2, s1 = m1 - m2 - m3, then columns, for all tiles at once */
        for (int t = 0; t < T; t++) {
            float s00 = p[0][t] + p[4][t] + p[8][t], s01 = p[1][t] + p[5][t] + p[9][t];
            float s02 = p[2][t] + p[6][t] + p[10][t], s03 = p[3][t] + p[7][t] + p[11][t];
            float s10 = p[4][t] - p[8][t] - p[12][t], s11 = p[5][t] - p[9][t] - p[13][t];
            float s12 = p[6][t] - p[10][t] - p[14][t], s13 = p[7][t] - p[11][t] - p[15][t];
            y00[t] = s00 + s01 + s02 + b; y01[t] = s01 - s02 - s03 + b;
            y10[t] = s10 + s11 + s12 + b; y11[t] = s11 - s12 - s13 + b;
        }
        if (pool2) {
            /* Fused 2×2/2 max pool: a tile is exactly one pooling window. Activations are
             * monotonic, so max-then-activate equals activate-then-max. */
            float *ymax = Y + 4 * (size_t)Tp;
            for (int t = 0; t < T; t++) {
                float a = y00[t] > y01[t] ? y00[t] : y01[t], c2 = y10[t] > y11[t] ? y10[t] : y11[t];
                ymax[t] = a > c2 ? a : c2;
            }
            act_buf(ymax, T, act, p0, p1);
            const int ph = oh / 2, pw = ow / 2;
            float *dst = out + (size_t)m * ph * pw;
            for (int t = 0; t < nty && ty0 + t < ph; t++)
                memcpy(dst + (size_t)(ty0 + t) * pw, ymax + (size_t)t * tW, sizeof(float) * pw);
            continue;
        }
        float *dst = out + (size_t)m * oh * ow;
        if (res) {
            wino_store_res(g, Y, ty0, nty, res + (size_t)m * oh * ow, act, p0, p1, dst);
            continue;
        }
        for (int q = 0; q < 4; q++) act_buf(Y + (size_t)q * Tp, T, act, p0, p1);   /* this image's T tiles */
        for (int t = 0; t < nty; t++) {
            const int ty = ty0 + t, t0 = t * tW;
            float *r0 = dst + (size_t)(2 * ty) * ow, *r1 = r0 + ow;
            for (int tx = 0; tx < ow / 2; tx++) { r0[2 * tx] = y00[t0 + tx]; r0[2 * tx + 1] = y01[t0 + tx]; }
            if (ow & 1) r0[ow - 1] = y00[t0 + tW - 1];
            if (2 * ty + 1 < oh) {
                for (int tx = 0; tx < ow / 2; tx++) { r1[2 * tx] = y10[t0 + tx]; r1[2 * tx + 1] = y11[t0 + tx]; }
                if (ow & 1) r1[ow - 1] = y10[t0 + tW - 1];
            }
        }
    }
}

/* ---- The transforms on AVX-512: 16 tiles per vector (one tile row at a time, in chunks of 16
 * tiles), no staging buffers. The portable loops above ran over tile rows of ⌈ow/2⌉ tiles (12 at
 * 24×24), too short for the compiler's 16-wide vectors: they took 0.052 of the 0.085 ms of a
 * 32 → 32 layer at 24×24 (FERResNet's first stage) and half of 64 → 64 at 12×12 and 128 → 128 at
 * 6×6, the 16 GEMMs the rest (harness, min of 30). */

/* Columns s..s+15 of an input row, zero outside 0..w-1 (masked: never reads outside the row). */
INLINE AVX512 __m512 wino_load_cols(const float *row, int s, int w) {
    int lo = s < 0 ? -s : 0, hi = w - s;
    if (hi > 16) hi = 16;
    if (lo >= hi) return _mm512_setzero_ps();
    __mmask16 m = (__mmask16)((hi >= 16 ? 0xFFFFu : (1u << hi) - 1u) & ~((1u << lo) - 1u));
    return _mm512_maskz_loadu_ps(m, row + s);
}

/* The four columns 2(tx0 + i) - padL + j (j = 0..3) each 4×4 input tile i reads from input row iy
 * (a vector of 16 tiles per j; zero outside the plane): two pairs of loads, even and odd lanes. */
INLINE AVX512 void wino_taps512(const float *plane, int h, int w, int iy, int s, __m512 q[4]) {
    if (iy < 0 || iy >= h) { q[0] = q[1] = q[2] = q[3] = _mm512_setzero_ps(); return; }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const float *row = plane + (size_t)iy * w;
    __m512 a = wino_load_cols(row, s, w), b = wino_load_cols(row, s + 16, w);
    __m512 c = wino_load_cols(row, s + 2, w), d = wino_load_cols(row, s + 18, w);
    q[0] = _mm512_permutex2var_ps(a, even, b); q[1] = _mm512_permutex2var_ps(a, odd, b);
    q[2] = _mm512_permutex2var_ps(c, even, d); q[3] = _mm512_permutex2var_ps(c, odd, d);
}

/* ---- F(2×2) input taps of small maps, 16 tiles per vector
 *
 * wino_rows512 vectorises over the tiles of one tile row: a 6² map (3 × 3 tiles) used 3 of its 16
 * lanes. Here a chunk of 16 tiles runs flat across tile rows and images (a face and its flip: 18
 * tiles), each tap taken from the padded input rows held in registers: one permute (vpermt2ps) per
 * table of 32 floats, two rows per table where a padded row spans ≤ 16 floats (maps ≤ 14 wide), one
 * row across both halves where it spans ≤ 32 (≤ 30 wide). FERVGG's 256 → 256 at 6² (two images)
 * transformed its input in 0.069 → 0.051 ms, 128 → 256 0.085 → 0.052 (harness, medians of five
 * alternating runs). The same for F(4×4)'s gathers was no faster: 64 → 64 at 24² 0.095 → 0.11,
 * 128 → 128 at 12² 0.068 → 0.067 (the transform is bound by writing its 36 planes there). */

/* Padded width that the taps of tW tiles span. */
static inline int taps_width(int tW) { return 2 * (tW - 1) + 4; }

/* The runs of a chunk's 16 flat tiles (t0.. of T; nty tile rows from ty0 per image, tW tiles per
 * row) that share an image and a tile row: run s is lanes[s] (n[s] lanes), its first tile tx0[s]. */
typedef struct { int slots, img[16], ty[16], tx0[16], n[16]; __mmask16 lanes[16]; } tile_runs;

static tile_runs tile_runs_of(int t0, int T, int nty, int tW, int ty0) {
    tile_runs r;
    r.slots = 0;
    for (int l = 0; l < 16 && t0 + l < T; l++) {
        const int t = t0 + l, per = nty * tW, img = t / per, ty = ty0 + (t % per) / tW;
        if (r.slots == 0 || r.img[r.slots - 1] != img || r.ty[r.slots - 1] != ty) {
            r.img[r.slots] = img; r.ty[r.slots] = ty; r.tx0[r.slots] = t % tW; r.n[r.slots] = 0;
            r.lanes[r.slots] = 0; r.slots++;
        }
        r.n[r.slots - 1]++;
        r.lanes[r.slots - 1] |= (__mmask16)(1u << l);
    }
    return r;
}

/* One chunk's runs, the lanes each table serves, and per lane its run's offset in the table (0 or
 * 16) + 2·tx. Lanes at or past T are zero. */
typedef struct {
    tile_runs r;
    int tables, two;
    __mmask16 lanes[16];
    __m512i idx;
} taps_chunk;

INLINE AVX512 taps_chunk taps_plan(int t0, int T, int nty, int tW, int ty0, int two) {
    taps_chunk c;
    c.r = tile_runs_of(t0, T, nty, tW, ty0);
    c.two = two;
    c.tables = two ? (c.r.slots + 1) / 2 : c.r.slots;
    int idx[16] = {0};
    for (int j = 0; j < 16; j++) c.lanes[j] = 0;
    for (int s = 0, l = 0; s < c.r.slots; s++)
        for (int i = 0; i < c.r.n[s]; i++, l++) {
            idx[l] = (two && (s & 1) ? 16 : 0) + 2 * (c.r.tx0[s] + i);
            c.lanes[two ? s / 2 : s] |= (__mmask16)(1u << l);
        }
    c.idx = _mm512_loadu_si512(idx);
    return c;
}

/* Where table j's halves (h = 0: lo, 1: hi) of input row a come from: offset from the channel's
 * plane and the mask of lanes inside the map (0: a row of zeros). Same for every channel. */
typedef struct { ptrdiff_t off[4][16][2]; __mmask16 m[4][16][2]; } taps_rows;

/* Padded positions p0..p0+15 (p = column + padL) of row iy of image img. */
static void taps_half(int h, int w, int padL, size_t xs, int img, int iy, int p0, ptrdiff_t *off, __mmask16 *m) {
    int lo = padL - p0, hi = padL + w - p0;
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    *off = 0; *m = 0;
    if (iy < 0 || iy >= h || hi <= lo) return;
    *m = (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
    *off = (ptrdiff_t)(img * xs) + (ptrdiff_t)iy * w + (p0 - padL);   /* masked-off lanes are not read */
}

static void taps_rows_plan(const taps_chunk *c, size_t xs, int h, int w, int padT, int padL, taps_rows *r) {
    for (int a = 0; a < 4; a++)
        for (int j = 0; j < c->tables; j++)
            for (int half = 0; half < 2; half++) {
                const int slot = c->two ? 2 * j + half : j, p0 = c->two ? 0 : 16 * half;
                if (slot >= c->r.slots) { r->off[a][j][half] = 0; r->m[a][j][half] = 0; continue; }
                taps_half(h, w, padL, xs, c->r.img[slot], 2 * c->r.ty[slot] - padT + a, p0, &r->off[a][j][half],
                          &r->m[a][j][half]);
            }
}

/* The four taps of input row a of every tile in the chunk (d[b]: column b of each tile). */
INLINE AVX512 void taps_load(const taps_chunk *c, const taps_rows *r, const float *plane, int a, __m512 d[4]) {
    __m512 lo[16], hi[16];
    for (int j = 0; j < c->tables; j++) {
        lo[j] = _mm512_maskz_loadu_ps(r->m[a][j][0], plane + r->off[a][j][0]);
        hi[j] = _mm512_maskz_loadu_ps(r->m[a][j][1], plane + r->off[a][j][1]);
    }
    for (int b = 0; b < 4; b++) {
        const __m512i ib = _mm512_add_epi32(c->idx, _mm512_set1_epi32(b));
        __m512 v = _mm512_maskz_permutex2var_ps(c->lanes[0], lo[0], ib, hi[0]);
        for (int j = 1; j < c->tables; j++)
            v = _mm512_mask_mov_ps(v, c->lanes[j], _mm512_permutex2var_ps(lo[j], ib, hi[j]));
        d[b] = v;
    }
}

/* Bᵀ x of F(2×2): r0 = x0 − x2, r1 = x1 + x2, r2 = x2 − x1, r3 = x1 − x3. */
INLINE AVX512 void w23_bt(const __m512 x[4], __m512 r[4]) {
    r[0] = _mm512_sub_ps(x[0], x[2]); r[1] = _mm512_add_ps(x[1], x[2]);
    r[2] = _mm512_sub_ps(x[2], x[1]); r[3] = _mm512_sub_ps(x[1], x[3]);
}

/* Bᵀ d B of the T tiles (flat over nty tile rows from ty0 and the images x + i·xs) of every channel
 * into the 16 planes of V (column t of row c). Columns T..round16(T) are written as zeros. */
static AVX512 void w23_taps_input(const wino_geo *g, const float *x, size_t xs, int T, int nty, int ty0, float *V) {
    const int two = taps_width(g->tW) <= 16;
    for (int t0 = 0; t0 < T; t0 += 16) {
        const taps_chunk ch = taps_plan(t0, T, nty, g->tW, ty0, two);
        taps_rows rows;
        taps_rows_plan(&ch, xs, g->h, g->w, g->padT, g->padL, &rows);
        for (int c = 0; c < g->C; c++) {
            const float *plane = x + (size_t)c * g->h * g->w;
            __m512 u[4][4];
            for (int a = 0; a < 4; a++) {
                __m512 d[4];
                taps_load(&ch, &rows, plane, a, d);
                w23_bt(d, u[a]);
            }
            float *v = V + (size_t)c * g->Tp + t0;
            for (int j = 0; j < 4; j++) {
                __m512 col[4] = {u[0][j], u[1][j], u[2][j], u[3][j]}, r[4];
                w23_bt(col, r);
                for (int i = 0; i < 4; i++) _mm512_storeu_ps(v + (size_t)(i * 4 + j) * g->VS, r[i]);
            }
        }
    }
}

/* Bᵀ d B as wino_input, for 16 tiles at once: rows t0 = d0 - d2, t1 = d1 + d2, t2 = d2 - d1,
 * t3 = d1 - d3, then the same on columns. A tile row's last two input rows are the next one's first. */
static AVX512 void wino_rows512(const wino_geo *g, const float *x, int ty0, int nty, float *V) {
    for (int c = 0; c < g->C; c++) {
        const float *plane = x + (size_t)c * g->h * g->w;
        for (int tx0 = 0; tx0 < g->tW; tx0 += 16) {
            const int nt = g->tW - tx0 < 16 ? g->tW - tx0 : 16, s = 2 * tx0 - g->padL;
            const __mmask16 m = (__mmask16)(nt == 16 ? 0xFFFFu : (1u << nt) - 1u);
            __m512 d[4][4];
            const int iy0 = 2 * ty0 - g->padT;
            wino_taps512(plane, g->h, g->w, iy0, s, d[0]);
            wino_taps512(plane, g->h, g->w, iy0 + 1, s, d[1]);
            for (int t = 0; t < nty; t++) {
                wino_taps512(plane, g->h, g->w, iy0 + 2 * t + 2, s, d[2]);
                wino_taps512(plane, g->h, g->w, iy0 + 2 * t + 3, s, d[3]);
                float *v = V + (size_t)c * g->Tp + (size_t)t * g->tW + tx0;
                for (int i = 0; i < 4; i++) {
                    __m512 r[4];
                    for (int j = 0; j < 4; j++)
                        r[j] = i == 0 ? _mm512_sub_ps(d[0][j], d[2][j]) : i == 1 ? _mm512_add_ps(d[1][j], d[2][j])
                             : i == 2 ? _mm512_sub_ps(d[2][j], d[1][j]) : _mm512_sub_ps(d[1][j], d[3][j]);
                    _mm512_mask_storeu_ps(v + (i * 4 + 0) * g->VS, m, _mm512_sub_ps(r[0], r[2]));
                    _mm512_mask_storeu_ps(v + (i * 4 + 1) * g->VS, m, _mm512_add_ps(r[1], r[2]));
                    _mm512_mask_storeu_ps(v + (i * 4 + 2) * g->VS, m, _mm512_sub_ps(r[2], r[1]));
                    _mm512_mask_storeu_ps(v + (i * 4 + 3) * g->VS, m, _mm512_sub_ps(r[1], r[3]));
                }
                for (int j = 0; j < 4; j++) { d[0][j] = d[2][j]; d[1][j] = d[3][j]; }
            }
        }
    }
}

/* Mask of the first n (clamped to 0..16) lanes. */
INLINE __mmask16 wino_lanes(int n) { return (__mmask16)(n >= 16 ? 0xFFFFu : n <= 0 ? 0u : (1u << n) - 1u); }

/* One output row from its tiles' left (ya) and right (yb) values: interleaved into columns
 * 2·tx0 .. 2·tx0 + 31, plus the residual row, activation, stored up to column ow. */
INLINE AVX512 void wino_row512(__m512 ya, __m512 yb, int n, const float *res, int act, float p0, float p1, float *dst) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    const __mmask16 m0 = wino_lanes(n), m1 = wino_lanes(n - 16);
    __m512 v0 = _mm512_permutex2var_ps(ya, lo, yb), v1 = _mm512_permutex2var_ps(ya, hi, yb);
    if (res) { v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, res)); v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, res + 16)); }
    _mm512_mask_storeu_ps(dst, m0, act512(v0, act, p0, p1));
    if (m1) _mm512_mask_storeu_ps(dst + 16, m1, act512(v1, act, p0, p1));
}

/* Aᵀ m A of F(2×2) over 16 vectors, + b: y00, y01 (top row of each tile), y10, y11. */
INLINE AVX512 void w23_at(const __m512 p[16], __m512 b, __m512 y[4]) {
    __m512 s0[4], s1[4];
    for (int j = 0; j < 4; j++) {
        s0[j] = _mm512_add_ps(_mm512_add_ps(p[j], p[4 + j]), p[8 + j]);
        s1[j] = _mm512_sub_ps(_mm512_sub_ps(p[4 + j], p[8 + j]), p[12 + j]);
    }
    y[0] = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s0[0], s0[1]), s0[2]), b);
    y[1] = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s0[1], s0[2]), s0[3]), b);
    y[2] = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s1[0], s1[1]), s1[2]), b);
    y[3] = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s1[1], s1[2]), s1[3]), b);
}

/* F(2×2)'s output for maps ≤ 30 wide, 16 tiles flat across tile rows and images (the block's ni
 * images: Mx column t, output out + i·os, residual res + i·rs): each run of a tile row's lanes
 * compressed to the front (vcompressps) and stored as its segment of two output rows (or of one
 * pooled row). Per tile row (wino_rows_out512) a 6² map used 3 of 16 lanes: FERVGG's 128 → 256 at
 * 6² (two images) took 0.058 ms, 256 → 256 pooled 0.048 (harness). */
static AVX512 void w23_flat_output(const wino_geo *g, const float *Mx, int ni, int ty0, int nty, const float *bias,
                                   int act, float p0, float p1, int pool2, const float *res, size_t rs, float *out,
                                   size_t os) {
    const int oh = g->oh, ow = g->ow, ph = oh / 2, pw = ow / 2, T = ni * nty * g->tW;
    for (int t0 = 0; t0 < T; t0 += 16) {
        const tile_runs r = tile_runs_of(t0, T, nty, g->tW, ty0);
        for (int mo = 0; mo < g->M; mo++) {
            __m512 p[16], y[4];
            for (int xi = 0; xi < 16; xi++) p[xi] = _mm512_loadu_ps(Mx + xi * g->MS + (size_t)mo * g->Tp + t0);
            w23_at(p, _mm512_set1_ps(bias ? bias[mo] : 0.0f), y);
            const __m512 v = pool2 ? _mm512_max_ps(_mm512_max_ps(y[0], y[1]), _mm512_max_ps(y[2], y[3])) : y[0];
            for (int s = 0; s < r.slots; s++) {
                const int ty = r.ty[s], tx0 = r.tx0[s];
                const __mmask16 k = r.lanes[s];
                if (pool2) {   /* a tile is one pooling window; activations are monotonic */
                    const int n = r.n[s] < pw - tx0 ? r.n[s] : pw - tx0;
                    if (ty >= ph || n <= 0) continue;
                    _mm512_mask_storeu_ps(out + r.img[s] * os + ((size_t)mo * ph + ty) * pw + tx0, wino_lanes(n),
                                          act512(_mm512_maskz_compress_ps(k, v), act, p0, p1));
                    continue;
                }
                const size_t at = (size_t)mo * oh * ow + (size_t)(2 * ty) * ow + 2 * tx0;
                const int n = ow - 2 * tx0 < 2 * r.n[s] ? ow - 2 * tx0 : 2 * r.n[s];
                float *o = out + r.img[s] * os + at;
                const float *rm = res ? res + r.img[s] * rs + at : NULL;
                wino_row512(_mm512_maskz_compress_ps(k, y[0]), _mm512_maskz_compress_ps(k, y[1]), n, rm, act, p0, p1, o);
                if (2 * ty + 1 < oh)
                    wino_row512(_mm512_maskz_compress_ps(k, y[2]), _mm512_maskz_compress_ps(k, y[3]), n,
                                rm ? rm + ow : NULL, act, p0, p1, o + ow);
            }
        }
    }
}

/* Aᵀ m A (+ bias, residual, activation, fused pool) as wino_output, for 16 tiles of a tile row at
 * once, storing straight into the NCHW output. */
static AVX512 void wino_rows_out512(const wino_geo *g, const float *Mx, int ty0, int nty, const float *bias, int act,
                                   float p0, float p1, int pool2, const float *res, float *out) {
    const int oh = g->oh, ow = g->ow, ph = oh / 2, pw = ow / 2;
    for (int mo = 0; mo < g->M; mo++) {
        const __m512 b = _mm512_set1_ps(bias ? bias[mo] : 0.0f);
        const float *rm = res ? res + (size_t)mo * oh * ow : NULL;
        for (int t = 0; t < nty; t++) {
            const int ty = ty0 + t;
            for (int tx0 = 0; tx0 < g->tW; tx0 += 16) {
                const __mmask16 m = wino_lanes(g->tW - tx0);
                const float *pm = Mx + (size_t)mo * g->Tp + (size_t)t * g->tW + tx0;
                __m512 p[16], y[4];
                for (int xi = 0; xi < 16; xi++) p[xi] = _mm512_maskz_loadu_ps(m, pm + xi * g->MS);
                w23_at(p, b, y);
                const __m512 y00 = y[0], y01 = y[1], y10 = y[2], y11 = y[3];
                if (pool2) {
                    /* a tile is one pooling window; activations are monotonic (max, then activate) */
                    if (ty >= ph) continue;
                    __m512 v = _mm512_max_ps(_mm512_max_ps(y00, y01), _mm512_max_ps(y10, y11));
                    _mm512_mask_storeu_ps(out + ((size_t)mo * ph + ty) * pw + tx0, wino_lanes(pw - tx0),
                                          act512(v, act, p0, p1));
                    continue;
                }
                const size_t at = (size_t)(2 * ty) * ow + 2 * tx0;   /* within the channel's plane */
                float *o = out + (size_t)mo * oh * ow + at;
                wino_row512(y00, y01, ow - 2 * tx0, rm ? rm + at : NULL, act, p0, p1, o);
                if (2 * ty + 1 < oh) wino_row512(y10, y11, ow - 2 * tx0, rm ? rm + at + ow : NULL, act, p0, p1, o + ow);
            }
        }
    }
}

/* The block's ni images (x + i·xs) into V, image i's tiles from column i·nty·tW on. */
typedef void (*wino_in_fn)(const wino_geo *, const float *, size_t, int, int, int, float *, float *, float *, float *);
/* The block's ni images (Mx columns from i·nty·tW, outputs out + i·os, residuals res + i·rs). */
typedef void (*wino_out_fn)(const wino_geo *, const float *, int, int, int, const float *, int, float, float, int,
                            const float *, size_t, float *, size_t, float *);

static AVX512 void wino_output512(const wino_geo *g, const float *Mx, int ni, int ty0, int nty, const float *bias,
                                  int act, float p0, float p1, int pool2, const float *res, size_t rs, float *out,
                                  size_t os, float *Y) {
    (void)Y;
    if (taps_width(g->tW) <= 32) {
        w23_flat_output(g, Mx, ni, ty0, nty, bias, act, p0, p1, pool2, res, rs, out, os);
        return;
    }
    for (int i = 0; i < ni; i++)
        wino_rows_out512(g, Mx + i * nty * g->tW, ty0, nty, bias, act, p0, p1, pool2, res ? res + i * rs : NULL,
                         out + i * os);
}

/* Maps whose padded rows fit a tap table (≤ 30 wide) take w23_taps_input, wider ones wino_rows512. */
static AVX512 void wino_input512(const wino_geo *g, const float *x, size_t xs, int ni, int ty0, int nty, float *V,
                                 float *E, float *O, float *tr) {
    (void)E; (void)O; (void)tr;
    const int T = nty * g->tW;
    if (taps_width(g->tW) <= 32) {
        w23_taps_input(g, x, xs, ni * T, nty, ty0, V);
        return;
    }
    for (int i = 0; i < ni; i++) wino_rows512(g, x + i * xs, ty0, nty, V + i * T);
}

/* The portable transforms compiled for AVX2. */
static AVX2 void wino_input256(const wino_geo *g, const float *x, size_t xs, int ni, int ty0, int nty, float *V,
                               float *E, float *O, float *tr) {
    for (int i = 0; i < ni; i++) wino_input(g, x + i * xs, ty0, nty, V + i * nty * g->tW, E, O, tr);
}

static AVX2 void wino_output256(const wino_geo *g, const float *Mx, int ni, int ty0, int nty, const float *bias,
                                int act, float p0, float p1, int pool2, const float *res, size_t rs, float *out,
                                size_t os, float *Y) {
    for (int i = 0; i < ni; i++)
        wino_output(g, Mx + i * nty * g->tW, ty0, nty, bias, act, p0, p1, pool2, res ? res + i * rs : NULL,
                    out + i * os, Y);
}

/* A block of tile rows (or of g.nb whole images) at a time: transform its input, 16 GEMMs,
 * transform its output. Images are x + i·C·h·w, their outputs (and residuals) planes of M. */
INLINE void wino_body(gemm_fn gemm, wino_in_fn input, wino_out_fn output, const float *x, int n, int C, int h, int w,
                      int padT, int padL, int oh, int ow, const float *Up, int M, const float *bias, int act, float p0,
                      float p1, int pool2, const float *res, float *out, float *work) {
    const wino_geo g = wino_shape(M, C, h, w, padT, padL, oh, ow, n);
    float *V = work, *Mx = V + 16 * g.VS, *E = Mx + 16 * g.MS, *O = E + (size_t)g.Hp * g.Wh;
    float *tr = O + (size_t)g.Hp * g.Wh, *Y = tr + 8 * (size_t)g.Wh;
    const size_t ps = pack_size(M, C, WINO_MR), xs = (size_t)C * h * w, rs = (size_t)M * oh * ow;
    const size_t os = pool2 ? (size_t)M * (oh / 2) * (ow / 2) : rs;
    for (int i0 = 0; i0 < n; i0 += g.nb) {
        const int ni = n - i0 < g.nb ? n - i0 : g.nb;
        for (int ty0 = 0; ty0 < g.tH; ty0 += g.rb) {
            const int nty = g.tH - ty0 < g.rb ? g.tH - ty0 : g.rb, T = nty * g.tW;
            input(&g, x + i0 * xs, xs, ni, ty0, nty, V, E, O, tr);
            for (int xi = 0; xi < 16; xi++)
                gemm(M, ni * T, C, Up + xi * ps, WINO_MR, V + xi * g.VS, g.Tp, Mx + xi * g.MS, g.Tp, NULL, EMO_ACT_NONE,
                     0, 0, NULL);
            output(&g, Mx, ni, ty0, nty, bias, act, p0, p1, pool2, res ? res + i0 * rs : NULL, rs, out + i0 * os, os,
                   Y);
        }
    }
}

AVX512 static void wino512(const float *x, int n, int C, int h, int w, int padT, int padL, int oh, int ow,
                           const float *Up, int M, const float *bias, int act, float p0, float p1, int pool2,
                           const float *res, float *out, float *work) {
    wino_body(gemm512, wino_input512, wino_output512, x, n, C, h, w, padT, padL, oh, ow, Up, M, bias, act, p0, p1,
              pool2, res, out, work);
}

AVX2 static void wino256(const float *x, int n, int C, int h, int w, int padT, int padL, int oh, int ow,
                         const float *Up, int M, const float *bias, int act, float p0, float p1, int pool2,
                         const float *res, float *out, float *work) {
    wino_body(gemm256, wino_input256, wino_output256, x, n, C, h, w, padT, padL, oh, ow, Up, M, bias, act, p0, p1,
              pool2, res, out, work);
}

/* Lanes of one chunk of 16 flat tiles: image, tile row and column of each (valid: lanes below T). */
typedef struct { __m512i img, ty, tx; __mmask16 valid; } w43_lanes;

INLINE AVX512 w43_lanes w43_chunk(int t0, int T, int nty, int tW, int ty0) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int img[16], ty[16], tx[16];
    for (int l = 0; l < 16; l++) {
        int t = t0 + l < T ? t0 + l : T - 1, per = nty * tW;
        img[l] = t / per;
        ty[l] = ty0 + (t % per) / tW;
        tx[l] = t % tW;
    }
    w43_lanes c;
    c.img = _mm512_loadu_si512(img);
    c.ty = _mm512_loadu_si512(ty);
    c.tx = _mm512_loadu_si512(tx);
    c.valid = _mm512_cmplt_epi32_mask(_mm512_add_epi32(lane, _mm512_set1_epi32(t0)), _mm512_set1_epi32(T));
    return c;
}

/* Lanes whose v + k lies in [0, n). */
INLINE AVX512 __mmask16 w43_inside(__m512i v, int k, int n) {
    __m512i x = _mm512_add_epi32(v, _mm512_set1_epi32(k));
    return _mm512_cmpge_epi32_mask(x, _mm512_setzero_si512()) & _mm512_cmplt_epi32_mask(x, _mm512_set1_epi32(n));
}

/* Bᵀ x over six vectors: r0 = 4x0 − 5x2 + x4, r1,2 = (x4 − 4x2) ± (x3 − 4x1), r3,4 = (x4 − x2) ± 2(x3 − x1),
 * r5 = 4x1 − 5x3 + x5. */
INLINE AVX512 void w43_bt(const __m512 x[6], __m512 r[6]) {
    const __m512 four = _mm512_set1_ps(4), m4 = _mm512_set1_ps(-4), m5 = _mm512_set1_ps(-5), two = _mm512_set1_ps(2);
    r[0] = _mm512_fmadd_ps(four, x[0], _mm512_fmadd_ps(m5, x[2], x[4]));
    __m512 p = _mm512_fmadd_ps(m4, x[2], x[4]), q = _mm512_fmadd_ps(m4, x[1], x[3]);
    r[1] = _mm512_add_ps(p, q);
    r[2] = _mm512_sub_ps(p, q);
    __m512 s = _mm512_sub_ps(x[4], x[2]), u = _mm512_mul_ps(two, _mm512_sub_ps(x[3], x[1]));
    r[3] = _mm512_add_ps(s, u);
    r[4] = _mm512_sub_ps(s, u);
    r[5] = _mm512_fmadd_ps(four, x[1], _mm512_fmadd_ps(m5, x[3], x[5]));
}

/* Aᵀ x over six vectors: y0 = x0 + a + c, y1 = b + 2d, y2 = a + 4c, y3 = b + 8d + x5 with
 * a, b = x1 ± x2 and c, d = x3 ± x4. */
INLINE AVX512 void w43_at(const __m512 x[6], __m512 y[4]) {
    __m512 a = _mm512_add_ps(x[1], x[2]), b = _mm512_sub_ps(x[1], x[2]);
    __m512 c = _mm512_add_ps(x[3], x[4]), d = _mm512_sub_ps(x[3], x[4]);
    y[0] = _mm512_add_ps(_mm512_add_ps(x[0], a), c);
    y[1] = _mm512_fmadd_ps(_mm512_set1_ps(2), d, b);
    y[2] = _mm512_fmadd_ps(_mm512_set1_ps(4), c, a);
    y[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8), d, b), x[5]);
}

/* Bᵀ t of each row of t (t = Bᵀ d, per column) into the 36 planes of V at v, lanes in `m`. */
INLINE AVX512 void w43_store_v(__m512 t[6][6], float *v, size_t VS, __mmask16 m) {
    for (int i = 0; i < 6; i++) {
        __m512 r[6];
        w43_bt(t[i], r);
        for (int k = 0; k < 6; k++) _mm512_mask_storeu_ps(v + (size_t)(i * 6 + k) * VS, m, r[k]);
    }
}

/* Bᵀ d B of the block's T tiles (images × tile rows × tW, flat) for every channel into the 36
 * planes of V, in chunks of 16 tiles (across tile rows and images), each tap a masked gather (zero
 * in the padding). Loading the taps of 16 tiles of one tile row with row loads and permutes instead
 * (maps ≥ 16 tiles wide) was no faster: ResNet18's 64 → 64 at 56² 0.22 against 0.23 ms, Inception's
 * 32 → 32 at 147² 0.87–0.93 against 0.90–0.94 (harness, min of 300). */
static AVX512 void w43_input(const w43_geo *g, const float *x, int ty0, int nty, int T, float *V) {
    const int h = g->h, w = g->w;
    const size_t xs = (size_t)g->C * h * w;
    for (int t0 = 0; t0 < T; t0 += 16) {
        const w43_lanes L = w43_chunk(t0, T, nty, g->tW, ty0);
        const __m512i iy = _mm512_sub_epi32(_mm512_slli_epi32(L.ty, 2), _mm512_set1_epi32(g->padT));
        const __m512i ix = _mm512_sub_epi32(_mm512_slli_epi32(L.tx, 2), _mm512_set1_epi32(g->padL));
        const __m512i base = _mm512_add_epi32(_mm512_mullo_epi32(L.img, _mm512_set1_epi32((int)xs)),
                                              _mm512_add_epi32(_mm512_mullo_epi32(iy, _mm512_set1_epi32(w)), ix));
        __mmask16 rok[6], cok[6];
        for (int i = 0; i < 6; i++) { rok[i] = w43_inside(iy, i, h) & L.valid; cok[i] = w43_inside(ix, i, w); }
        for (int c = 0; c < g->C; c++) {
            const float *plane = x + (size_t)c * h * w;
            __m512 t[6][6];
            for (int j = 0; j < 6; j++) {
                __m512 d[6], r[6];
                for (int i = 0; i < 6; i++)
                    d[i] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), rok[i] & cok[j], base, plane + i * w + j, 4);
                w43_bt(d, r);
                for (int i = 0; i < 6; i++) t[i][j] = r[i];
            }
            w43_store_v(t, V + (size_t)c * g->Tp + t0, g->VS, 0xFFFF);
        }
    }
}

/* The 4×4 outputs of a chunk's tiles stored row by row: each output row of the 16 tiles
 * transposed (unpack + shuffle) into 4-float groups, one 16-byte store per tile row where the
 * tile lies inside the map, single floats at its right and bottom edges. Scatters (16 per chunk)
 * took 0.050 ms of FERVGG's 32 → 64 layer at 24² (two images). */
INLINE AVX512 void w43_store_rows(__m512 y[4][4], const int *doff, const int *dext, int n, int ow, float *o, int act,
                                  float p0, float p1) {
    _Alignas(64) float buf[4][4][16];   /* [row][k][lane group g: 4 floats] = tile 4g + k */
    for (int r = 0; r < 4; r++) {
        __m512 a = act512(y[r][0], act, p0, p1), b = act512(y[r][1], act, p0, p1);
        __m512 c = act512(y[r][2], act, p0, p1), d = act512(y[r][3], act, p0, p1);
        __m512 t0v = _mm512_unpacklo_ps(a, b), t1v = _mm512_unpackhi_ps(a, b);
        __m512 t2v = _mm512_unpacklo_ps(c, d), t3v = _mm512_unpackhi_ps(c, d);
        _mm512_store_ps(buf[r][0], _mm512_shuffle_ps(t0v, t2v, 0x44));
        _mm512_store_ps(buf[r][1], _mm512_shuffle_ps(t0v, t2v, 0xEE));
        _mm512_store_ps(buf[r][2], _mm512_shuffle_ps(t1v, t3v, 0x44));
        _mm512_store_ps(buf[r][3], _mm512_shuffle_ps(t1v, t3v, 0xEE));
    }
    for (int l = 0; l < n; l++) {
        float *dst = o + doff[l];
        const int rows = dext[l] >> 4, cols = dext[l] & 15;
        for (int r = 0; r < rows; r++) {
            const float *src = &buf[r][l & 3][4 * (l >> 2)];
            if (cols == 4) _mm_storeu_ps(dst + (size_t)r * ow, _mm_load_ps(src));
            else for (int c = 0; c < cols; c++) dst[(size_t)r * ow + c] = src[c];
        }
    }
}

/* Aᵀ m A (+ bias, residual, activation, fused 2×2 pool) of the block's tiles from the 36 GEMM
 * output planes into the NCHW output of the block's images (the residual, when given, laid out like it). */
static AVX512 void w43_output(const w43_geo *g, const float *Mx, int ty0, int nty, int T, const float *bias, int act,
                              float p0, float p1, int pool2, const float *res, float *out) {
    const int oh = g->oh, ow = g->ow, ph = oh / 2, pw = ow / 2;
    const int ch = pool2 ? ph * pw : oh * ow, cw = pool2 ? pw : ow;   /* plane size and row length stored */
    for (int t0 = 0; t0 < T; t0 += 16) {
        const w43_lanes L = w43_chunk(t0, T, nty, g->tW, ty0);
        const int step = pool2 ? 2 : 4, rows = pool2 ? ph : oh, cols = pool2 ? pw : ow;
        const __m512i oy = _mm512_mullo_epi32(L.ty, _mm512_set1_epi32(step));
        const __m512i ox = _mm512_mullo_epi32(L.tx, _mm512_set1_epi32(step));
        const __m512i obase = _mm512_add_epi32(_mm512_mullo_epi32(L.img, _mm512_set1_epi32(g->M * ch)),
                                               _mm512_add_epi32(_mm512_mullo_epi32(oy, _mm512_set1_epi32(cw)), ox));
        __mmask16 rok[4], cok[4];
        for (int i = 0; i < step; i++) { rok[i] = w43_inside(oy, i, rows) & L.valid; cok[i] = w43_inside(ox, i, cols); }
        /* per tile (unpooled store): offset of its first output, and its rows << 4 | columns inside the map */
        int doff[16], dext[16], oyl[16], oxl[16], nl = T - t0 < 16 ? T - t0 : 16;
        _mm512_storeu_si512(doff, obase);
        _mm512_storeu_si512(oyl, oy);
        _mm512_storeu_si512(oxl, ox);
        for (int l = 0; l < nl; l++)
            dext[l] = ((oh - oyl[l] < 4 ? oh - oyl[l] : 4) << 4) | (ow - oxl[l] < 4 ? ow - oxl[l] : 4);
        for (int m = 0; m < g->M; m++) {
            const float *pm = Mx + (size_t)m * g->Tp + t0;
            const __m512 b = _mm512_set1_ps(bias ? bias[m] : 0.0f);
            __m512 s[4][6];
            for (int k = 0; k < 6; k++) {
                __m512 col[6], y[4];
                for (int i = 0; i < 6; i++) col[i] = _mm512_loadu_ps(pm + (size_t)(i * 6 + k) * g->MS);
                w43_at(col, y);
                for (int r = 0; r < 4; r++) s[r][k] = y[r];
            }
            __m512 y[4][4];
            for (int r = 0; r < 4; r++) {
                w43_at(s[r], y[r]);
                for (int c = 0; c < 4; c++) y[r][c] = _mm512_add_ps(y[r][c], b);
            }
            float *o = out + (size_t)m * ch;
            if (pool2) {
                for (int py = 0; py < 2; py++)
                    for (int px = 0; px < 2; px++) {
                        __m512 v = _mm512_max_ps(_mm512_max_ps(y[2 * py][2 * px], y[2 * py][2 * px + 1]),
                                                 _mm512_max_ps(y[2 * py + 1][2 * px], y[2 * py + 1][2 * px + 1]));
                        _mm512_mask_i32scatter_ps(o + py * cw + px, rok[py] & cok[px], obase, act512(v, act, p0, p1), 4);
                    }
                continue;
            }
            const float *rm = res ? res + (size_t)m * ch : NULL;
            if (!rm) { w43_store_rows(y, doff, dext, nl, ow, o, act, p0, p1); continue; }
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) {
                    const __mmask16 k = rok[r] & cok[c];
                    __m512 v = y[r][c];
                    v = _mm512_add_ps(v, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, obase, rm + r * cw + c, 4));
                    _mm512_mask_i32scatter_ps(o + r * cw + c, k, obase, act512(v, act, p0, p1), 4);
                }
        }
    }
}

/* n images (x: n × [C][h][w]) into out (n × [M][oh][ow], or [M][oh/2][ow/2] with pool2). */
static AVX512 void w43_conv(const float *x, int n, int C, int h, int w, int padT, int padL, int oh, int ow,
                            const float *Up, int M, const float *bias, int act, float p0, float p1, int pool2,
                            const float *res, float *out, float *work) {
    const w43_geo g = w43_shape(M, C, h, w, padT, padL, oh, ow, n);
    float *V = work, *Mx = V + 36 * g.VS;
    const size_t ps = pack_size(M, C, WINO_MR), xs = (size_t)C * h * w, rs = (size_t)M * oh * ow;
    const size_t os = pool2 ? (size_t)M * (oh / 2) * (ow / 2) : rs;
    for (int i0 = 0; i0 < n; i0 += g.nb) {
        const int ni = n - i0 < g.nb ? n - i0 : g.nb;
        for (int ty0 = 0; ty0 < g.tH; ty0 += g.rb) {
            const int nty = g.tH - ty0 < g.rb ? g.tH - ty0 : g.rb, T = ni * nty * g.tW;
            w43_input(&g, x + i0 * xs, ty0, nty, T, V);
            for (int xi = 0; xi < 36; xi++)
                gemm512(M, T, C, Up + xi * ps, WINO_MR, V + xi * g.VS, g.Tp, Mx + xi * g.MS, g.Tp, NULL, EMO_ACT_NONE, 0,
                        0, NULL);
            w43_output(&g, Mx, ty0, nty, T, bias, act, p0, p1, pool2, res ? res + i0 * rs : NULL, out + i0 * os);
        }
    }
}

#endif /* EMO_X86 (Winograd) */

int emo_wino_conv(int level, const float *x, int n, int C, int h, int w, int padT, int padL, int oh, int ow,
                  const float *Up, int M, const float *bias, int act, float p0, float p1, int pool2,
                  const float *res, float *out, float *work) {
    if (level > emo_kernels_cpu_level() || n <= 0 || M <= 0 || C <= 0 || oh <= 0 || ow <= 0 || (pool2 && res)) return -1;
#ifdef EMO_X86
    if (level == EMO_LEVEL_AVX512) {
        wino512(x, n, C, h, w, padT, padL, oh, ow, Up, M, bias, act, p0, p1, pool2, res, out, work);
        return 0;
    }
    if (level == EMO_LEVEL_AVX2) {
        wino256(x, n, C, h, w, padT, padL, oh, ow, Up, M, bias, act, p0, p1, pool2, res, out, work);
        return 0;
    }
#endif
    (void)x; (void)h; (void)w; (void)padT; (void)padL; (void)Up; (void)bias; (void)act; (void)p0; (void)p1; (void)pool2; (void)res;
    (void)out; (void)work;
    return -1;
}

int emo_w43_conv(int level, const float *x, int n, int C, int h, int w, int padT, int padL, int oh, int ow,
                 const float *Up, int M, const float *bias, int act, float p0, float p1, int pool2,
                 const float *res, float *out, float *work) {
    if (level != EMO_LEVEL_AVX512 || level > emo_kernels_cpu_level() || n <= 0 || M <= 0 || C <= 0 || oh <= 0 || ow <= 0
        || (pool2 && res))
        return -1;
#ifdef EMO_X86
    w43_conv(x, n, C, h, w, padT, padL, oh, ow, Up, M, bias, act, p0, p1, pool2, res, out, work);
    return 0;
#else
    (void)x; (void)h; (void)w; (void)padT; (void)padL; (void)Up; (void)bias; (void)act; (void)p0; (void)p1;
    (void)res; (void)out; (void)work;
    return -1;
#endif
}
