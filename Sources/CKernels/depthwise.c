/* Depthwise convolution (groups == C == M, one input channel per filter): MobileNetV2's
 * and mini-Xception's separable blocks; and max pooling, which has the same shape of work
 * (mini-Xception's 3×3 stride-2 pools cost more than its convolutions on the Swift loop).
 *
 * Why not im2col + GEMM: a depthwise filter is a 1×(kh·kw) GEMM per channel, far too thin
 * for any GEMM kernel; and the scalar direct loop with bounds checks per tap (the Swift
 * reference path) made MobileNetV2 5.6× and mini-Xception 8.7× slower than onnxruntime.
 * Here each plane is first copied into a zero-padded buffer, so the tap loops have no bounds
 * checks and the loop over output columns is branch-free; 3×3 stride 1 and 2 are compiled
 * with constant geometry, and the compiler vectorises them for AVX-512 and AVX2 (functions
 * with per-function target attributes, dispatched at run time). Bias and the fused
 * activation are applied to the accumulator before the single store.
 */
#include "emo_kernels.h"
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define DW_X86 1
#include <immintrin.h>
#define DW_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define DW_AVX2 __attribute__((target("avx2,fma")))
#endif
#define DW_INLINE static inline __attribute__((always_inline))
#include "split_row.h"

/* Padded plane geometry: every tap of every output lands inside it. */
static void padded_dims(int kh, int kw, int sh, int sw, int dh, int dw, int oh, int ow, int *ph, int *pw) {
    *ph = (oh - 1) * sh + (kh - 1) * dh + 1;
    *pw = (ow - 1) * sw + (kw - 1) * dw + 1;
}

/* Zeroed floats after the padded plane: the AVX-512 rows load whole vectors (up to 2·16 + 2
 * floats past the last output column of stride 2), whose extra lanes are never stored. */
#define DW_SLACK 64

size_t emo_dw_workspace(int kh, int kw, int sh, int sw, int dh, int dw, int oh, int ow) {
    int ph, pw;
    padded_dims(kh, kw, sh, sw, dh, dw, oh, ow, &ph, &pw);
    const size_t plane = (size_t)ph * pw + DW_SLACK;
    /* or the even/odd half planes of a stride-2 3×3 window (eo_stride), each with its slack */
    const size_t halves = 2 * ((size_t)ph * ((pw + 1) / 2) + DW_SLACK);
    /* or the ring of three split rows of a wider one (plane3x3_ring512) */
    const size_t ring = 3 * 2 * ((size_t)(pw + 1) / 2 + DW_SLACK);
    const size_t most = plane > halves ? plane : halves;
    return most > ring ? most : ring;
}

DW_INLINE void fill(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

/* Copies one h×w plane into the padded ph×pw plane; `pad` fills the border (0 for a
 * convolution, −∞ for a max pool, so padding never wins). */
DW_INLINE void pad_plane(const float *src, int h, int w, int padT, int padL, int ph, int pw, float pad, float *dst) {
    for (int y = 0; y < ph; y++) {
        float *row = dst + (size_t)y * pw;
        int iy = y - padT;
        if (iy < 0 || iy >= h) { fill(row, pw, pad); continue; }
        int x0 = padL < pw ? padL : pw;                       /* first column copied */
        int n = w < pw - x0 ? w : pw - x0;                     /* columns copied */
        if (n < 0) n = 0;
        fill(row, x0, pad);
        memcpy(row + x0, src + (size_t)iy * w, sizeof(float) * n);
        fill(row + x0 + n, pw - x0 - n, pad);
    }
}

DW_INLINE float act1(float v, int act, float p0, float p1) {
    switch (act) {
    case EMO_ACT_RELU: return v > 0 ? v : 0;
    case EMO_ACT_LEAKY: return v < 0 ? v * p0 : v;
    case EMO_ACT_CLIP: return v < p0 ? p0 : (v > p1 ? p1 : v);
    default: return v;
    }
}

/* One output row. KH, KW, SW, DH, DW are compile-time constants in the fast paths (0: use
 * the run-time values kh.. passed alongside), which lets the compiler unroll the taps and
 * vectorise over `ox`. */
DW_INLINE void dw_row(const float *restrict pad, int pw, const float *restrict k, float b, float *restrict dst, int ow,
                      const int KH, const int KW, const int SW, const int DH, const int DW,
                      int kh, int kw, int sw, int dh, int dw, int act, float p0, float p1) {
    const int kH = KH ? KH : kh, kW = KW ? KW : kw, sW = SW ? SW : sw, dH = DH ? DH : dh, dW = DW ? DW : dw;
    for (int ox = 0; ox < ow; ox++) {
        float acc = b;
        for (int i = 0; i < kH; i++)
            for (int j = 0; j < kW; j++) acc += k[i * kW + j] * pad[(size_t)i * dH * pw + ox * sW + j * dW];
        dst[ox] = act1(acc, act, p0, p1);
    }
}

#ifdef DW_X86
DW_INLINE DW_AVX512 __m512 dw_act512(__m512 v, int act, float p0, float p1) {
    switch (act) {
    case EMO_ACT_RELU: return _mm512_max_ps(v, _mm512_setzero_ps());
    case EMO_ACT_LEAKY:
        return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, _mm512_set1_ps(p0));
    case EMO_ACT_CLIP: return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(p0)), _mm512_set1_ps(p1));
    default: return v;
    }
}

/* Zeros the DW_SLACK floats after a split row or half plane. The last 16-column step of a row
 * reads a lane or two past what split_row512 wrote; those lanes are never stored, but leftover
 * heap bytes there can be subnormal floats (small integers read as floats), and the CPU assists
 * every multiply-add on one in microcode. MobileNetV2's 96 × 112² stride-2 depthwise layer, run on
 * a scratch buffer of such leftovers, took 6.8× as long as on a zeroed one (0.54 → 3.64 ms, the
 * ring's multiply-adds 76 % of the time in perf); 144 × 56² on the whole split 1.14×
 * (tools/bench/harness/dw-slack.c). With the slack zeroed: 1.00×. */
DW_INLINE void zero_slack(float *p) { memset(p, 0, sizeof(float) * DW_SLACK); }

/* Lanes 0,2,..,30 (odd = 0) or 1,3,..,31 (odd = 1) of the 32 floats at r. */
DW_INLINE DW_AVX512 __m512 dw_lanes2(const float *r, int odd) {
    const __m512i idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i shift = _mm512_set1_epi32(odd);
    return _mm512_permutex2var_ps(_mm512_loadu_ps(r), _mm512_add_epi32(idx, shift), _mm512_loadu_ps(r + 16));
}

/* pad_plane with AVX-512 rows: each 16-column step is one masked load (lanes outside the source
 * row take `pad`; masked-off lanes never fault) and one store. The libc memset/memcpy calls per
 * row of the generic version cost more than the copy on mini-Xception's 6–44-column planes
 * (memmove + memset were 11 % of its run time in perf). */
static DW_AVX512 void pad_plane512(const float *src, int h, int w, int padT, int padL, int ph, int pw, float pad,
                                   float *dst) {
    const __m512 pv = _mm512_set1_ps(pad);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int y = 0; y < ph; y++) {
        float *row = dst + (size_t)y * pw;
        const int iy = y - padT;
        const int inside = iy >= 0 && iy < h;
        const float *s = inside ? src + (size_t)iy * w - padL : NULL;
        for (int x = 0; x < pw; x += 16) {
            const __mmask16 keep = pw - x >= 16 ? 0xFFFF : (__mmask16)((1u << (pw - x)) - 1u);
            /* source column of each lane: x + lane − padL, valid in [0, w) */
            const __m512i col = _mm512_add_epi32(lane, _mm512_set1_epi32(x - padL));
            const __mmask16 in = inside ? _mm512_cmpge_epi32_mask(col, _mm512_setzero_si512())
                                              & _mm512_cmplt_epi32_mask(col, _mm512_set1_epi32(w)) : 0;
            _mm512_mask_storeu_ps(row + x, keep, in ? _mm512_mask_loadu_ps(pv, in, s + x) : pv);
        }
    }
}

static DW_AVX512 void pad_plane_eo512(const float *src, int h, int w, int padT, int padL, int ph, int pw, float pad,
                                      float *E, float *O, int hw) {
    for (int y = 0; y < ph; y++) split_row512(src, h, w, padT, padL, y, pw, pad, E + (size_t)y * hw, O + (size_t)y * hw, hw);
}

/* One output row of a 3×3 window at column stride 2 from the split rows e[i], o[i] of its three
 * input rows: POOL the maximum, else the filter k with bias and activation. */
DW_INLINE DW_AVX512 void row3x3_eo512(const float *const e[3], const float *const o[3], const float *k, float b,
                                      float *dst, int ow, const int POOL, int act, float p0, float p1) {
    __m512 kv[9];
    for (int i = 0; i < 9; i++) kv[i] = POOL ? _mm512_setzero_ps() : _mm512_set1_ps(k[i]);
    for (int ox = 0; ox < ow; ox += 16) {
        const __mmask16 m = ow - ox >= 16 ? 0xFFFF : (__mmask16)((1u << (ow - ox)) - 1u);
        __m512 acc = _mm512_set1_ps(POOL ? -__builtin_inff() : b);
        for (int i = 0; i < 3; i++) {
            __m512 v0 = _mm512_loadu_ps(e[i] + ox), v1 = _mm512_loadu_ps(o[i] + ox), v2 = _mm512_loadu_ps(e[i] + ox + 1);
            if (POOL) acc = _mm512_max_ps(acc, _mm512_max_ps(_mm512_max_ps(v0, v1), v2));
            else acc = _mm512_fmadd_ps(kv[3 * i + 2], v2, _mm512_fmadd_ps(kv[3 * i + 1], v1, _mm512_fmadd_ps(kv[3 * i], v0, acc)));
        }
        _mm512_mask_storeu_ps(dst + ox, m, POOL ? acc : dw_act512(acc, act, p0, p1));
    }
}

/* Planes up to EO_MAX_PW padded columns are split whole; on wider ones that lost to the row-by-row
 * permutes (min of 300, alternating builds; input width → output): 64 channels at 80² 0.172 →
 * 0.098 ms, 96² 0.203 → 0.210, 112² 0.267 → 0.316, 224² (32 channels) 0.539 → 0.624 ms; Inception's
 * 192 × 71² pool 0.44 → 0.24 ms, its 64 × 147² one 0.45 → 0.53. Wider planes split each padded
 * row into a ring of three instead (plane3x3_ring512). */
#define EO_MAX_PW 96
DW_INLINE int eo_fits(int sw, int pw) { return sw == 2 && pw <= EO_MAX_PW; }

/* Wider planes at column stride 2, row stride sh ≤ 3: each padded row split once into a ring of
 * three (consecutive output rows share rows), so the split rows stay in L1. Against the row-by-row
 * permutes (min of 300, alternating): depthwise 96 × 112² 0.40 → 0.27 ms, 32 × 224² 0.52 → 0.38;
 * max pool 64 × 112² 0.35 → 0.18, 64 × 147² 0.49 → 0.30. Smaller planes lost with the ring
 * (192 × 28²: 0.038 → 0.063 ms): the whole split above. */
static DW_AVX512 void plane3x3_ring512(const float *src, int h, int w, int padT, int padL, int pw, int sh,
                                       const float *k, float b, int pool, int oh, int ow, int act, float p0, float p1,
                                       float *work, float *out) {
    const int hw = (pw + 1) / 2;
    const size_t step = 2 * ((size_t)hw + DW_SLACK);   /* one split row: both halves and their slack */
    const float pad = pool ? -__builtin_inff() : 0.0f;
    int held[3] = { -1, -1, -1 };   /* the padded row in each slot */
    for (int i = 0; i < 6; i++) zero_slack(work + i * (hw + DW_SLACK) + hw);
    for (int oy = 0; oy < oh; oy++) {
        const float *e[3], *o[3];
        for (int i = 0; i < 3; i++) {
            const int y = oy * sh + i, slot = y % 3;
            float *es = work + slot * step, *os = es + hw + DW_SLACK;
            if (held[slot] != y) { split_row512(src, h, w, padT, padL, y, pw, pad, es, os, hw); held[slot] = y; }
            e[i] = es; o[i] = os;
        }
        float *d = out + (size_t)oy * ow;
        if (pool) row3x3_eo512(e, o, 0, 0, d, ow, 1, 0, 0, 0);
        else row3x3_eo512(e, o, k, b, d, ow, 0, act, p0, p1);
    }
}

/* A whole plane at column stride 2 through the half planes in `work`; row stride sh. */
static DW_AVX512 void plane3x3_eo512(const float *src, int h, int w, int padT, int padL, int ph, int pw, int sh,
                                     const float *k, float b, int pool, int oh, int ow, int act, float p0, float p1,
                                     float *work, float *o) {
    const int hw = (pw + 1) / 2;
    float *E = work, *O = work + (size_t)ph * hw + DW_SLACK;
    zero_slack(E + (size_t)ph * hw);
    zero_slack(O + (size_t)ph * hw);
    pad_plane_eo512(src, h, w, padT, padL, ph, pw, pool ? -__builtin_inff() : 0.0f, E, O, hw);
    for (int oy = 0; oy < oh; oy++) {
        const size_t r = (size_t)oy * sh * hw;
        const float *const e[3] = { E + r, E + r + hw, E + r + 2 * hw }, *const od[3] = { O + r, O + r + hw, O + r + 2 * hw };
        if (pool) row3x3_eo512(e, od, 0, 0, o + (size_t)oy * ow, ow, 1, 0, 0, 0);
        else row3x3_eo512(e, od, k, b, o + (size_t)oy * ow, ow, 0, act, p0, p1);
    }
}

/* One output row of a 3×3 window, stride S (1 or 2), 16 columns per step, the last step
 * masked; `p` is the first padded input row of this output row. POOL: the maximum of the
 * window (k, b, act unused), else the depthwise filter k with bias and activation. */
DW_INLINE DW_AVX512 void row3x3_512(const float *p, int pw, const float *k, float b, float *dst, int ow,
                                    const int S, const int POOL, int act, float p0, float p1) {
    __m512 kv[9];
    for (int i = 0; i < 9; i++) kv[i] = POOL ? _mm512_setzero_ps() : _mm512_set1_ps(k[i]);
    for (int ox = 0; ox < ow; ox += 16) {
        const int n = ow - ox < 16 ? ow - ox : 16;
        const __mmask16 m = (__mmask16)(n == 16 ? 0xFFFF : (1u << n) - 1);
        __m512 acc = _mm512_set1_ps(POOL ? -__builtin_inff() : b);
        for (int i = 0; i < 3; i++) {
            const float *r = p + (size_t)i * pw + (size_t)ox * S;
            __m512 v[3];
            if (S == 1) { v[0] = _mm512_loadu_ps(r); v[1] = _mm512_loadu_ps(r + 1); v[2] = _mm512_loadu_ps(r + 2); }
            else { v[0] = dw_lanes2(r, 0); v[1] = dw_lanes2(r, 1); v[2] = dw_lanes2(r + 2, 0); }
            for (int j = 0; j < 3; j++)
                acc = POOL ? _mm512_max_ps(acc, v[j]) : _mm512_fmadd_ps(kv[3 * i + j], v[j], acc);
        }
        _mm512_mask_storeu_ps(dst + ox, m, POOL ? acc : dw_act512(acc, act, p0, p1));
    }
}

/* Calls, not inlined: dw_image and pool_planes are also compiled for AVX2. */
static DW_AVX512 void dw3x3_row512(const float *p, int pw, const float *k, float b, float *dst, int ow, int s,
                                   int act, float p0, float p1) {
    if (s == 1) row3x3_512(p, pw, k, b, dst, ow, 1, 0, act, p0, p1);
    else row3x3_512(p, pw, k, b, dst, ow, 2, 0, act, p0, p1);
}

static DW_AVX512 void max3x3_row512(const float *p, int pw, float *dst, int ow, int s) {
    if (s == 1) row3x3_512(p, pw, 0, 0, dst, ow, 1, 1, 0, 0, 0);
    else row3x3_512(p, pw, 0, 0, dst, ow, 2, 1, 0, 0, 0);
}

#endif

#ifdef DW_X86
/* A 3×3 stride-1 window straight from the source plane, without a padded copy: lanes whose
 * column falls outside [0, w) are masked off in the loads (0, or −∞ for POOL), rows outside
 * [0, h) are skipped (they add nothing), and four output rows share each load of their six input
 * rows (four independent sums). Against the padded copy read row by row (wider planes) or as one
 * flat row (ow ≤ 40), min of 400 in a harness, 32 channels (16 at 44² and up): 6² 1.7 → 1.2 µs,
 * 11² 3.3 → 1.8, 17² 7.3 → 5.2, 22² 9.5 → 6.4, 35² 24 → 14, 44² 16.0 → 8.7, 56² 25.7 → 15.1,
 * 112² 98 → 52 µs; Inception's 64-plane average pools at 35², 17², 8² 49 → 33, 14.4 → 11.1,
 * 4.9 → 3.0 µs (an average pool's 1/divisor multiplied after the plane: at the store, 35² took
 * 41 µs). Two rows per pass: 44² 10.3, 112² 62 µs; six: no better than four; eight spill.
 * Also the 3×3 stride-1 max pool: 64 × 35² 47 → 27 µs. */
#define DIRECT_MAX_CHUNKS 64   /* ow ≤ 1024: the masks of each 16-column step are kept */
/* The masks of the direct kernels per 16 output columns c (returns their count): `keep` the
 * columns stored; in[c][j] the lanes of load j inside [0, w). Stride 1: load j is the tap column
 * j (columns 16c + j − padL + lane); stride 2: the j-th 16 of the 33 columns the window spans
 * (32c + 16j − padL + lane), the third only its lane 0. */
DW_INLINE DW_AVX512 int direct_masks(int ow, int w, int padL, int S, __mmask16 in[][3], __mmask16 *keep) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const int chunks = (ow + 15) / 16;
    for (int c = 0; c < chunks; c++) {
        const int n = ow - 16 * c < 16 ? ow - 16 * c : 16;
        keep[c] = (__mmask16)(n == 16 ? 0xFFFF : (1u << n) - 1u);
        for (int j = 0; j < 3; j++) {
            const __m512i col = _mm512_add_epi32(lane, _mm512_set1_epi32(16 * S * c + (S == 1 ? j : 16 * j) - padL));
            in[c][j] = _mm512_cmpge_epi32_mask(col, _mm512_setzero_si512()) & _mm512_cmplt_epi32_mask(col, _mm512_set1_epi32(w))
                       & (S == 2 && j == 2 ? 1 : 0xFFFF);
        }
    }
    return chunks;
}
DW_INLINE int direct_fits(int sh, int sw, int ow) { return sh == 1 && sw == 1 && ow <= 16 * DIRECT_MAX_CHUNKS; }
/* The stride-2 direct depthwise kernel (dw3x3s2_direct512): the same bound on its masks. */
DW_INLINE int direct_s2_fits(int sh, int sw, int ow) { return sh == 2 && sw == 2 && ow <= 16 * DIRECT_MAX_CHUNKS; }
DW_INLINE DW_AVX512 void plane3x3_direct512(const float *src, int h, int w, int padT, int padL, const float *k, float b,
                                            const int pool, int oh, int ow, int act, float p0, float p1, float *o) {
    const __m512 fillv = _mm512_set1_ps(pool ? -__builtin_inff() : 0.0f);
    __mmask16 in[DIRECT_MAX_CHUNKS][3], keep[DIRECT_MAX_CHUNKS];
    const int chunks = direct_masks(ow, w, padL, 1, in, keep);
    __m512 kv[9];
    for (int i = 0; i < 9; i++) kv[i] = pool ? fillv : _mm512_set1_ps(k[i]);
    enum { R = 4 };
    for (int oy = 0; oy < oh; oy += R) {
        const int rows = oh - oy < R ? oh - oy : R;
        float *d = o + (size_t)oy * ow;
        for (int c = 0; c < chunks; c++) {
            __m512 a[R];
            for (int q = 0; q < R; q++) a[q] = pool ? fillv : _mm512_set1_ps(b);
            for (int i = 0; i < R + 2; i++) {
                const int iy = oy - padT + i;
                if (iy < 0 || iy >= h || i >= rows + 2) continue;
                const float *r = src + (size_t)iy * w + 16 * c - padL;
                for (int j = 0; j < 3; j++) {
                    const __m512 v = _mm512_mask_loadu_ps(fillv, in[c][j], r + j);
                    for (int q = 0; q < R; q++)
                        if (i - q >= 0 && i - q < 3)
                            a[q] = pool ? _mm512_max_ps(a[q], v) : _mm512_fmadd_ps(kv[3 * (i - q) + j], v, a[q]);
                }
            }
            for (int q = 0; q < R; q++) {   /* constant trip count: a[] stays in registers */
                if (q >= rows) break;
                const size_t at = (size_t)q * ow + 16 * c;
                __m512 v = pool ? a[q] : dw_act512(a[q], act, p0, p1);
                _mm512_mask_storeu_ps(d + at, keep[c], v);
            }
        }
    }
}

/* A 3×3 stride-2 depthwise window straight from the source plane, as plane3x3_direct512 at stride
 * 1: per input row and 16 output columns, two masked loads of its 32 columns split into the even
 * and odd taps (two permutes), the third tap the evens shifted by one with the next column (one
 * masked single-lane load and a valignd); four output rows share the nine input rows they read.
 * No split copy of the plane (plane3x3_eo512 stores each input row's halves, then loads every
 * tap back). MobileNetV2's four stride-2 layers (pad 1, ReLU6), medians of 200 alternating calls
 * against the split (tools/bench/harness/dw-s2-ab.c, AMD EPYC): 96 × 112² 0.227 → 0.132 ms,
 * 144 × 56² 0.080 → 0.050, 192 × 28² 0.031 → 0.018, 576 × 14² 0.047 → 0.028; pads 0 and 2,
 * 9², 3², one row and 1100 columns 0.54–0.71×. */
DW_INLINE DW_AVX512 __m512 dw_masked16(const float *r, __mmask16 m) { return _mm512_maskz_loadu_ps(m, r); }

/* Output rows oy.. (`rows` ≤ 4 of them, `ldo` apart at d) of 16 columns from the source rows
 * 2·oy − padT .. 2·oy − padT + 8; `in` the chunk's load masks, `r0` its first column in row 0. */
DW_INLINE DW_AVX512 void dw3x3s2_chunk(const float *r0, int h, int w, int iy0, int rows, const __mmask16 in[3],
                                       const __m512 kv[9], float b, int act, float p0, float p1, __mmask16 keep,
                                       float *d, int ldo) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    __m512 a[4];
    for (int q = 0; q < 4; q++) a[q] = _mm512_set1_ps(b);
    for (int i = 0; i < 9; i++) {   /* input row i feeds output rows q with 0 ≤ i − 2q ≤ 2 */
        const int iy = iy0 + i;
        if (iy < 0 || iy >= h || i >= 2 * rows + 1) continue;
        const float *r = r0 + (size_t)iy * w;
        const __m512 lo = dw_masked16(r, in[0]), hi = dw_masked16(r + 16, in[1]);
        const __m512 t0 = _mm512_permutex2var_ps(lo, ev, hi), t1 = _mm512_permutex2var_ps(lo, od, hi);
        const __m512 t2 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(dw_masked16(r + 32, in[2])),
                                                                  _mm512_castps_si512(t0), 1));
        for (int q = 0; q < 4; q++) {
            const int t = i - 2 * q;
            if (t < 0 || t > 2) continue;
            a[q] = _mm512_fmadd_ps(kv[3 * t + 2], t2, _mm512_fmadd_ps(kv[3 * t + 1], t1, _mm512_fmadd_ps(kv[3 * t], t0, a[q])));
        }
    }
    for (int q = 0; q < 4; q++) {   /* constant trip count: a[] stays in registers */
        if (q >= rows) break;
        _mm512_mask_storeu_ps(d + (size_t)q * ldo, keep, dw_act512(a[q], act, p0, p1));
    }
}

static DW_AVX512 void dw3x3s2_direct512(const float *src, int h, int w, int padT, int padL, const float *k, float b,
                                        int oh, int ow, int act, float p0, float p1, float *o) {
    __mmask16 in[DIRECT_MAX_CHUNKS][3], keep[DIRECT_MAX_CHUNKS];
    const int chunks = direct_masks(ow, w, padL, 2, in, keep);
    __m512 kv[9];
    for (int i = 0; i < 9; i++) kv[i] = _mm512_set1_ps(k[i]);
    for (int oy = 0; oy < oh; oy += 4)
        for (int c = 0; c < chunks; c++)
            dw3x3s2_chunk(src + 32 * c - padL, h, w, 2 * oy - padT, oh - oy < 4 ? oh - oy : 4, in[c], kv, b, act, p0, p1,
                          keep[c], o + (size_t)oy * ow + 16 * c, ow);
}

/* Calls, not inlined (as dw3x3_row512): each specialises the window for its kind. */
static DW_AVX512 void dw3x3_direct512(const float *src, int h, int w, int padT, int padL, const float *k, float b, int oh,
                                      int ow, int act, float p0, float p1, float *o) {
    plane3x3_direct512(src, h, w, padT, padL, k, b, 0, oh, ow, act, p0, p1, o);
}

static DW_AVX512 void max3x3_direct512(const float *src, int h, int w, int padT, int padL, int oh, int ow, float *o) {
    plane3x3_direct512(src, h, w, padT, padL, 0, 0, 1, oh, ow, 0, 0, 0, o);
}
#endif

#ifdef DW_X86
/* 3×3 stride-2 max pool whose windows all lie inside the plane (no padding: Inception's four pools),
 * separable: per 32 input columns the maximum of the three rows (6 loads), split into its even and
 * odd columns (2 permutes); output j is max(even j, odd j, even j + 1), the last from the next 32
 * columns' evens (one valignd). No split copy of the plane, 6 loads per 16 outputs instead of 9
 * plus the split's 4 loads and 4 stores. Medians of 200–300 alternating calls against the split
 * planes (tools/bench/harness/maxpool-ab.c), Inception's pools: 64 × 147² 0.37–0.53 → 0.29–0.35 ms,
 * 192 × 71² 0.31–0.44 → 0.20–0.24, 288 × 35² 0.12–0.21 → 0.064–0.090, 768 × 17² 0.09–0.16 →
 * 0.046–0.066 ms; same outputs. */
DW_INLINE DW_AVX512 void max3rows_eo512(const float *r0, const float *r1, const float *r2, int s, int w, __m512 *e,
                                        __m512 *o) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    /* columns past w read as 0: no output stored uses them (its windows end at column 2·ow ≤ w − 1) */
    const __mmask16 m0 = _mm512_cmplt_epi32_mask(_mm512_add_epi32(lane, _mm512_set1_epi32(s)), _mm512_set1_epi32(w));
    const __mmask16 m1 = _mm512_cmplt_epi32_mask(_mm512_add_epi32(lane, _mm512_set1_epi32(s + 16)), _mm512_set1_epi32(w));
    const __m512 a = _mm512_max_ps(_mm512_max_ps(_mm512_maskz_loadu_ps(m0, r0 + s), _mm512_maskz_loadu_ps(m0, r1 + s)),
                                   _mm512_maskz_loadu_ps(m0, r2 + s));
    const __m512 b = _mm512_max_ps(_mm512_max_ps(_mm512_maskz_loadu_ps(m1, r0 + s + 16), _mm512_maskz_loadu_ps(m1, r1 + s + 16)),
                                   _mm512_maskz_loadu_ps(m1, r2 + s + 16));
    *e = _mm512_permutex2var_ps(a, ev, b);
    *o = _mm512_permutex2var_ps(a, od, b);
}

static DW_AVX512 void max3x3s2_inside512(const float *src, int w, int oh, int ow, float *out) {
    for (int oy = 0; oy < oh; oy++) {
        const float *r0 = src + (size_t)2 * oy * w, *r1 = r0 + w, *r2 = r1 + w;
        float *d = out + (size_t)oy * ow;
        __m512 e, o;
        max3rows_eo512(r0, r1, r2, 0, w, &e, &o);
        for (int ox = 0; ox < ow; ox += 16) {
            __m512 en, on;
            max3rows_eo512(r0, r1, r2, 2 * (ox + 16), w, &en, &on);
            const __m512 e1 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(en), _mm512_castps_si512(e), 1));
            const int n = ow - ox < 16 ? ow - ox : 16;
            _mm512_mask_storeu_ps(d + ox, (__mmask16)(n == 16 ? 0xFFFF : (1u << n) - 1u), _mm512_max_ps(_mm512_max_ps(e, o), e1));
            e = en; o = on;
        }
    }
}
#endif

/* Whether a max pool is 3×3 at stride 2 with every window inside the plane (max3x3s2_inside512). */
DW_INLINE int inside_s2(int h, int w, int kh, int kw, int sh, int sw, int dh, int dw, int padT, int padL, int oh, int ow) {
    return kh == 3 && kw == 3 && sh == 2 && sw == 2 && dh == 1 && dw == 1 && padT == 0 && padL == 0
        && 2 * (oh - 1) + 3 <= h && 2 * (ow - 1) + 3 <= w;
}


#ifdef DW_X86
/* The same with padding: padding never wins, so a window's rows outside the plane are replaced by
 * one inside it (the maximum is idempotent) and its columns outside read as −∞ (a blend per 16
 * columns of the rows' maximum, not a merging load per row). A second function, not a flag on the
 * one above: with the flag compiled out, Inception's unpadded pools still took 1.07–1.2× (harness
 * medians, 768 × 17² to 64 × 147², against the function above). ResNet18's pad-1 pool, 64 × 112²
 * → 56², took the split planes: 0.14–0.18 → 0.08–0.10 ms hot, 0.75 → 0.58 ms with the caches
 * flushed (medians of 300 and 100 alternating calls, tools/bench/harness/maxpool-ab.c). */
DW_INLINE DW_AVX512 __m512 max3rows_padded512(const float *r0, const float *r1, const float *r2, int s, int w) {
    const __m512i col = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(s));
    const __mmask16 m = _mm512_cmpge_epi32_mask(col, _mm512_setzero_si512()) & _mm512_cmplt_epi32_mask(col, _mm512_set1_epi32(w));
    const __m512 v = _mm512_max_ps(_mm512_max_ps(_mm512_maskz_loadu_ps(m, r0 + s), _mm512_maskz_loadu_ps(m, r1 + s)),
                                   _mm512_maskz_loadu_ps(m, r2 + s));
    return _mm512_mask_blend_ps(m, _mm512_set1_ps(-__builtin_inff()), v);
}

/* Even and odd columns of the rows' maximum over columns s .. s + 31. */
DW_INLINE DW_AVX512 void max3rows_eo_padded512(const float *r0, const float *r1, const float *r2, int s, int w, __m512 *e,
                                               __m512 *o) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512 a = max3rows_padded512(r0, r1, r2, s, w), b = max3rows_padded512(r0, r1, r2, s + 16, w);
    *e = _mm512_permutex2var_ps(a, ev, b);
    *o = _mm512_permutex2var_ps(a, _mm512_add_epi32(ev, _mm512_set1_epi32(1)), b);
}

DW_INLINE int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static DW_AVX512 void max3x3s2_padded512(const float *src, int h, int w, int padT, int padL, int oh, int ow, float *out) {
    for (int oy = 0; oy < oh; oy++) {
        const int iy = 2 * oy - padT, lo = iy > 0 ? iy : 0, hi = iy + 2 < h ? iy + 2 : h - 1;
        const float *r0 = src + (size_t)clampi(iy, lo, hi) * w, *r1 = src + (size_t)clampi(iy + 1, lo, hi) * w;
        const float *r2 = src + (size_t)clampi(iy + 2, lo, hi) * w;
        float *d = out + (size_t)oy * ow;
        __m512 e, o;
        max3rows_eo_padded512(r0, r1, r2, -padL, w, &e, &o);
        for (int ox = 0; ox < ow; ox += 16) {
            __m512 en, on;
            max3rows_eo_padded512(r0, r1, r2, 2 * (ox + 16) - padL, w, &en, &on);
            const __m512 e1 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(en), _mm512_castps_si512(e), 1));
            const int n = ow - ox < 16 ? ow - ox : 16;
            _mm512_mask_storeu_ps(d + ox, (__mmask16)(n == 16 ? 0xFFFF : (1u << n) - 1u), _mm512_max_ps(_mm512_max_ps(e, o), e1));
            e = en; o = on;
        }
    }
}
#endif

/* Whether a max pool is 3×3 at stride 2 with pads of at most 2 before the plane and every window
 * holding at least one of its rows and columns (ceil mode's last windows included): the unpadded
 * kernel when every window lies inside the plane, else max3x3s2_padded512. */
DW_INLINE int max3x3s2_fits(int h, int w, int kh, int kw, int sh, int sw, int dh, int dw, int padT, int padL, int oh,
                            int ow) {
    return kh == 3 && kw == 3 && sh == 2 && sw == 2 && dh == 1 && dw == 1 && padT >= 0 && padT <= 2 && padL >= 0
        && padL <= 2 && 2 * (oh - 1) - padT <= h - 1 && 2 * (ow - 1) - padL <= w - 1;
}

/* One channel's plane `o` from its input plane `src` and filter `kc` (geometry as in dw_image). */
DW_INLINE void dw_plane(const float *src, int h, int w, const float *kc, int kh, int kw, int sh, int sw, int dh, int dw,
                        int padT, int padL, int ph, int pw, int oh, int ow, float b, int act, float p0, float p1,
                        float *o, float *work, const int wide) {
    const int k33 = kh == 3 && kw == 3 && dh == 1 && dw == 1;
#ifdef DW_X86
    if (wide && k33 && direct_s2_fits(sh, sw, ow)) {   /* no split copy */
        dw3x3s2_direct512(src, h, w, padT, padL, kc, b, oh, ow, act, p0, p1, o);
        return;
    }
    if (wide && k33 && sw == 2 && (eo_fits(sw, pw) || sh <= 3)) {
        if (eo_fits(sw, pw)) plane3x3_eo512(src, h, w, padT, padL, ph, pw, sh, kc, b, 0, oh, ow, act, p0, p1, work, o);
        else plane3x3_ring512(src, h, w, padT, padL, pw, sh, kc, b, 0, oh, ow, act, p0, p1, work, o);
        return;
    }
    if (wide && k33 && direct_fits(sh, sw, ow)) {
        dw3x3_direct512(src, h, w, padT, padL, kc, b, oh, ow, act, p0, p1, o);
        return;
    }
    if (wide) pad_plane512(src, h, w, padT, padL, ph, pw, 0.0f, work);
    else
#endif
    pad_plane(src, h, w, padT, padL, ph, pw, 0.0f, work);
    for (int oy = 0; oy < oh; oy++) {
        const float *p = work + (size_t)oy * sh * pw;
        float *d = o + (size_t)oy * ow;
#ifdef DW_X86
        if (wide && k33 && (sw == 1 || sw == 2)) { dw3x3_row512(p, pw, kc, b, d, ow, sw, act, p0, p1); continue; }
#endif
        if (k33 && sw == 1) dw_row(p, pw, kc, b, d, ow, 3, 3, 1, 1, 1, 0, 0, 0, 0, 0, act, p0, p1);
        else if (k33 && sw == 2) dw_row(p, pw, kc, b, d, ow, 3, 3, 2, 1, 1, 0, 0, 0, 0, 0, act, p0, p1);
        else dw_row(p, pw, kc, b, d, ow, 0, 0, 0, 0, 0, kh, kw, sw, dh, dw, act, p0, p1);
    }
}

/* All channels of one image. `wide` selects the explicit AVX-512 rows for 3×3 filters;
 * `ostride`: floats between output planes (oh·ow, or more for a band of a taller output).
 * `kstride`: floats between channels' filters (0: one filter shared by every plane, the
 * average pool); `recip`: when set, each output plane is multiplied by it element-wise
 * (an average pool's per-position 1/divisor). */
DW_INLINE void dw_image(const float *x, int C, int h, int w, const float *k, int kh, int kw, int sh, int sw,
                        int dh, int dw, int padT, int padL, int oh, int ow, const float *bias, int act, float p0,
                        float p1, float *out, float *work, const int wide, size_t kstride, const float *recip,
                        size_t ostride) {
    int ph, pw;
    padded_dims(kh, kw, sh, sw, dh, dw, oh, ow, &ph, &pw);
    memset(work + (size_t)ph * pw, 0, sizeof(float) * DW_SLACK);
    for (int c = 0; c < C; c++) {
        float *o = out + (size_t)c * ostride;
        dw_plane(x + (size_t)c * h * w, h, w, k + (size_t)c * kstride, kh, kw, sh, sw, dh, dw, padT, padL, ph, pw, oh, ow,
                 bias ? bias[c] : 0.0f, act, p0, p1, o, work, wide);
        if (recip) for (size_t i = 0; i < (size_t)oh * ow; i++) o[i] *= recip[i];
    }
}

/* One output row of a max pool, geometry as in dw_row. */
DW_INLINE void max_row(const float *restrict pad, int pw, float *restrict dst, int ow, const int KH, const int KW,
                       const int SW, int kh, int kw, int sw, int dh, int dw) {
    const int kH = KH ? KH : kh, kW = KW ? KW : kw, sW = SW ? SW : sw;
    for (int ox = 0; ox < ow; ox++) {
        float m = -__builtin_inff();
        for (int i = 0; i < kH; i++)
            for (int j = 0; j < kW; j++) {
                float v = pad[(size_t)i * dh * pw + ox * sW + j * dw];
                m = v > m ? v : m;
            }
        dst[ox] = m;
    }
}

DW_INLINE void pool_planes(const float *x, int planes, int h, int w, int kh, int kw, int sh, int sw, int dh, int dw,
                           int padT, int padL, int oh, int ow, float *out, float *work, const int wide) {
    int ph, pw;
    padded_dims(kh, kw, sh, sw, dh, dw, oh, ow, &ph, &pw);
    fill(work + (size_t)ph * pw, DW_SLACK, -__builtin_inff());
    const int k33 = kh == 3 && kw == 3 && dh == 1 && dw == 1 && (sw == 1 || sw == 2);
    const int inside = inside_s2(h, w, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow);
    const int separable = max3x3s2_fits(h, w, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow);
    for (int c = 0; c < planes; c++) {
#ifdef DW_X86
        if (wide && separable) {
            if (inside) max3x3s2_inside512(x + (size_t)c * h * w, w, oh, ow, out + (size_t)c * oh * ow);
            else max3x3s2_padded512(x + (size_t)c * h * w, h, w, padT, padL, oh, ow, out + (size_t)c * oh * ow);
            continue;
        }
        if (wide && k33 && sw == 2 && (eo_fits(sw, pw) || sh <= 3)) {
            float *o = out + (size_t)c * oh * ow;
            if (eo_fits(sw, pw)) plane3x3_eo512(x + (size_t)c * h * w, h, w, padT, padL, ph, pw, sh, 0, 0, 1, oh, ow, 0, 0, 0, work, o);
            else plane3x3_ring512(x + (size_t)c * h * w, h, w, padT, padL, pw, sh, 0, 0, 1, oh, ow, 0, 0, 0, work, o);
            continue;
        }
        if (wide && k33 && direct_fits(sh, sw, ow)) {
            max3x3_direct512(x + (size_t)c * h * w, h, w, padT, padL, oh, ow, out + (size_t)c * oh * ow);
            continue;
        }
        if (wide) pad_plane512(x + (size_t)c * h * w, h, w, padT, padL, ph, pw, -__builtin_inff(), work);
        else
#endif
        pad_plane(x + (size_t)c * h * w, h, w, padT, padL, ph, pw, -__builtin_inff(), work);
        float *o = out + (size_t)c * oh * ow;
        for (int oy = 0; oy < oh; oy++) {
            const float *p = work + (size_t)oy * sh * pw;
            float *d = o + (size_t)oy * ow;
#ifdef DW_X86
            if (wide && k33) { max3x3_row512(p, pw, d, ow, sw); continue; }
#endif
            if (k33 && sw == 2) max_row(p, pw, d, ow, 3, 3, 2, 0, 0, 0, 1, 1);
            else max_row(p, pw, d, ow, 0, 0, 0, kh, kw, sw, dh, dw);
        }
    }
}

#ifdef DW_X86
DW_AVX512 static void pool512(const float *x, int planes, int h, int w, int kh, int kw, int sh, int sw, int dh,
                              int dw, int padT, int padL, int oh, int ow, float *out, float *work) {
    pool_planes(x, planes, h, w, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow, out, work, 1);
}

DW_AVX2 static void pool256(const float *x, int planes, int h, int w, int kh, int kw, int sh, int sw, int dh,
                            int dw, int padT, int padL, int oh, int ow, float *out, float *work) {
    pool_planes(x, planes, h, w, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow, out, work, 0);
}

DW_AVX512 static void dw512(const float *x, int C, int h, int w, const float *k, int kh, int kw, int sh, int sw,
                            int dh, int dw, int padT, int padL, int oh, int ow, const float *bias, int act, float p0,
                            float p1, float *out, float *work, size_t kstride, const float *recip, size_t ostride) {
    dw_image(x, C, h, w, k, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow, bias, act, p0, p1, out, work, 1, kstride, recip, ostride);
}

DW_AVX2 static void dw256(const float *x, int C, int h, int w, const float *k, int kh, int kw, int sh, int sw,
                          int dh, int dw, int padT, int padL, int oh, int ow, const float *bias, int act, float p0,
                          float p1, float *out, float *work, size_t kstride, const float *recip, size_t ostride) {
    dw_image(x, C, h, w, k, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow, bias, act, p0, p1, out, work, 0, kstride, recip, ostride);
}
#endif

int emo_depthwise(int level, const float *x, int C, int h, int w, const float *k, int kh, int kw, int sh, int sw,
                  int dh, int dw, int padT, int padL, int oh, int ow, const float *bias, int act, float p0, float p1,
                  float *out, size_t ldo, float *work) {
    if (level > emo_kernels_cpu_level() || C <= 0 || oh <= 0 || ow <= 0) return -1;
#ifdef DW_X86
    const size_t ks = (size_t)kh * kw, os = ldo ? ldo : (size_t)oh * ow;
    if (level == EMO_LEVEL_AVX512) { dw512(x, C, h, w, k, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow, bias, act, p0, p1, out, work, ks, NULL, os); return 0; }
    if (level == EMO_LEVEL_AVX2) { dw256(x, C, h, w, k, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow, bias, act, p0, p1, out, work, ks, NULL, os); return 0; }
#endif
    (void)ldo; (void)x; (void)h; (void)w; (void)k; (void)kh; (void)kw; (void)sh; (void)sw; (void)dh; (void)dw; (void)padT;
    (void)padL; (void)bias; (void)act; (void)p0; (void)p1; (void)out; (void)work;
    return -1;
}

int emo_maxpool(int level, const float *x, int planes, int h, int w, int kh, int kw, int sh, int sw, int dh, int dw,
                int padT, int padL, int oh, int ow, float *out, float *work) {
    if (level > emo_kernels_cpu_level() || planes <= 0 || oh <= 0 || ow <= 0) return -1;
#ifdef DW_X86
    if (level == EMO_LEVEL_AVX512) { pool512(x, planes, h, w, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow, out, work); return 0; }
    if (level == EMO_LEVEL_AVX2) { pool256(x, planes, h, w, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow, out, work); return 0; }
#endif
    (void)x; (void)h; (void)w; (void)kh; (void)kw; (void)sh; (void)sw; (void)dh; (void)dw; (void)padT; (void)padL;
    (void)out; (void)work;
    return -1;
}

/* MaxPool 2×2 stride 2 without padding (floor): per 16 outputs two row pairs of 32 inputs, their
 * maximum, then the maximum of its even and odd lanes. FER4's and the default model's 32 × 48² →
 * 24² pool: 25 µs on the scalar loop, 10 µs here (medians of 1000, alternating builds). */
#ifdef DW_X86
static DW_AVX512 void maxpool2x2_512(const float *x, int planes, int h, int w, int oh, int ow, float *out) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int p = 0; p < planes; p++) {
        const float *src = x + (size_t)p * h * w;
        float *dst = out + (size_t)p * oh * ow;
        for (int oy = 0; oy < oh; oy++) {
            const float *r0 = src + (size_t)(2 * oy) * w, *r1 = r0 + w;
            for (int ox = 0; ox < ow; ox += 16) {
                const int n = ow - ox < 16 ? ow - ox : 16;   /* outputs; 2n inputs per row */
                const __mmask16 m = (__mmask16)((1u << n) - 1u);
                const __mmask16 lo = (__mmask16)(2 * n >= 16 ? 0xFFFF : (1u << (2 * n)) - 1u);
                const __mmask16 hi = (__mmask16)(2 * n <= 16 ? 0 : (1u << (2 * n - 16)) - 1u);
                const float *a = r0 + 2 * ox, *b = r1 + 2 * ox;
                __m512 v0 = _mm512_max_ps(_mm512_maskz_loadu_ps(lo, a), _mm512_maskz_loadu_ps(lo, b));
                __m512 v1 = _mm512_max_ps(_mm512_maskz_loadu_ps(hi, a + 16), _mm512_maskz_loadu_ps(hi, b + 16));
                __m512 r = _mm512_max_ps(_mm512_permutex2var_ps(v0, even, v1), _mm512_permutex2var_ps(v0, odd, v1));
                _mm512_mask_storeu_ps(dst + (size_t)oy * ow + ox, m, r);
            }
        }
    }
}
#endif

int emo_maxpool2x2(int level, const float *x, int planes, int h, int w, int oh, int ow, float *out) {
    if (level != EMO_LEVEL_AVX512 || level > emo_kernels_cpu_level() || planes <= 0 || oh <= 0 || ow <= 0) return -1;
    if (2 * oh > h || 2 * ow > w) return -1;
#ifdef DW_X86
    maxpool2x2_512(x, planes, h, w, oh, ow, out);
    return 0;
#else
    (void)x; (void)out;
    return -1;
#endif
}

/* Average pool: a depthwise convolution whose one filter `k` (kh·kw equal taps) is shared by
 * every plane, the padding read as zeros. With a uniform divisor the taps are 1/(kh·kw) and
 * `recip` is NULL; otherwise the taps are 1 and each plane is scaled by `recip` (oh·ow values).
 * Inception v3's ten 3×3/1 pools took 75 of its 278 ms on the plain loop (bounds checks and a
 * divisor per window). */
#ifdef DW_X86
/* A 3×3 stride-1 average pool padded by 1 on every side (Inception v3's branch pools: 35², 17², 8²)
 * on the plane as one flat row, separably: per 16 flat positions the sum of each position and its
 * left and right neighbours in the row (masked at the row's ends) into a scratch row with a zero
 * row before and after, then the sum of that row and the rows above and below, times the tap (and
 * the per-position 1/divisor, if any). 6 loads and 4 adds per 16 outputs against the direct
 * window's 9 multiply-adds per row-aligned vector, whose 17-column rows half-fill their second
 * vector. Medians of 300–1000 alternating calls against the direct window (tools/bench/harness/
 * avgpool-ab.c): 768 × 17² 0.089 → 0.041 ms, 288 × 35² 0.135 → 0.073, 2048 × 8² 0.100 → 0.031; then
 * 32 × 48² 0.88×, 16 × 56² 0.94×, 16 × 64² 1.01×, 16 × 40 × 70 1.09×, 7 × 90 × 91 1.42×: rows up to
 * FLAT_MAX_WIDTH only. */
#define FLAT_MAX_CHUNKS 512   /* planes of up to 8192 floats: the masks of each 16 positions are kept */
#define FLAT_MAX_WIDTH 48
DW_INLINE int avg3x3_flat_fits(int h, int w, int kh, int kw, int sh, int sw, int dh, int dw, int padT, int padL, int oh,
                               int ow) {
    return kh == 3 && kw == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 && padT == 1 && padL == 1 && oh == h && ow == w
        && w <= FLAT_MAX_WIDTH && ((long)h * w + 15) / 16 <= FLAT_MAX_CHUNKS;
}

/* `work` holds the scratch row: w zeros, h·w sums rounded up to 16, w + 16 zeros (within the padded
 * plane emo_dw_workspace sizes: (h + 2)(w + 2) + DW_SLACK). */
static DW_AVX512 void avg3x3_flat512(const float *x, int planes, int h, int w, float tap, const float *recip,
                                     float *out, float *work) {
    const int n = h * w, chunks = (n + 15) / 16;
    __mmask16 in[FLAT_MAX_CHUNKS], left[FLAT_MAX_CHUNKS], right[FLAT_MAX_CHUNKS];
    for (int c = 0, col = 0; c < chunks; c++) {   /* col: position mod w, carried */
        unsigned mi = 0, ml = 0, mr = 0;
        for (int l = 0, i = 16 * c; l < 16 && i < n; l++, i++) {
            mi |= 1u << l;
            if (col > 0) ml |= 1u << l;
            if (col < w - 1) mr |= 1u << l;
            if (++col == w) col = 0;
        }
        in[c] = (__mmask16)mi; left[c] = (__mmask16)ml; right[c] = (__mmask16)mr;
    }
    float *row = work + w;
    memset(work, 0, sizeof(float) * (size_t)w);
    memset(row + 16 * chunks, 0, sizeof(float) * (size_t)(w + 16));
    const __m512 t = _mm512_set1_ps(tap);
    for (int p = 0; p < planes; p++) {
        const float *xp = x + (size_t)p * n;
        float *o = out + (size_t)p * n;
        for (int c = 0; c < chunks; c++) {
            const float *q = xp + 16 * c;
            const __m512 v = _mm512_add_ps(_mm512_add_ps(_mm512_maskz_loadu_ps(left[c], q - 1), _mm512_maskz_loadu_ps(in[c], q)),
                                           _mm512_maskz_loadu_ps(right[c], q + 1));
            _mm512_storeu_ps(row + 16 * c, v);
        }
        for (int c = 0; c < chunks; c++) {
            const float *r = row + 16 * c;
            __m512 v = _mm512_mul_ps(_mm512_add_ps(_mm512_add_ps(_mm512_loadu_ps(r - w), _mm512_loadu_ps(r)),
                                                   _mm512_loadu_ps(r + w)), t);
            if (recip) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(in[c], recip + 16 * c));
            _mm512_mask_storeu_ps(o + 16 * c, in[c], v);
        }
    }
}
#endif

int emo_avgpool(int level, const float *x, int planes, int h, int w, const float *k, int kh, int kw, int sh, int sw,
                int dh, int dw, int padT, int padL, int oh, int ow, const float *recip, float *out, float *work) {
    if (level > emo_kernels_cpu_level() || planes <= 0 || oh <= 0 || ow <= 0) return -1;
#ifdef DW_X86
    if (level == EMO_LEVEL_AVX512 && avg3x3_flat_fits(h, w, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow)) {
        avg3x3_flat512(x, planes, h, w, k[0], recip, out, work);
        return 0;
    }
    if (level == EMO_LEVEL_AVX512) { dw512(x, planes, h, w, k, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow, NULL, EMO_ACT_NONE, 0, 0, out, work, 0, recip, (size_t)oh * ow); return 0; }
    if (level == EMO_LEVEL_AVX2) { dw256(x, planes, h, w, k, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow, NULL, EMO_ACT_NONE, 0, 0, out, work, 0, recip, (size_t)oh * ow); return 0; }
#endif
    (void)x; (void)h; (void)w; (void)k; (void)kh; (void)kw; (void)sh; (void)sw; (void)dh; (void)dw; (void)padT;
    (void)padL; (void)recip; (void)out; (void)work;
    return -1;
}
