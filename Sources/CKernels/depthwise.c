/* Depthwise convolution (groups == C == M, one input channel per filter): MobileNetV2's
 * and mini-Xception's separable blocks.
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
#define DW_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define DW_AVX2 __attribute__((target("avx2,fma")))
#endif
#define DW_INLINE static inline __attribute__((always_inline))

/* Padded plane geometry: every tap of every output lands inside it. */
static void padded_dims(int kh, int kw, int sh, int sw, int dh, int dw, int oh, int ow, int *ph, int *pw) {
    *ph = (oh - 1) * sh + (kh - 1) * dh + 1;
    *pw = (ow - 1) * sw + (kw - 1) * dw + 1;
}

size_t emo_dw_workspace(int kh, int kw, int sh, int sw, int dh, int dw, int oh, int ow) {
    int ph, pw;
    padded_dims(kh, kw, sh, sw, dh, dw, oh, ow, &ph, &pw);
    return (size_t)ph * pw;
}

DW_INLINE void pad_plane(const float *src, int h, int w, int padT, int padL, int ph, int pw, float *dst) {
    for (int y = 0; y < ph; y++) {
        float *row = dst + (size_t)y * pw;
        int iy = y - padT;
        if (iy < 0 || iy >= h) { memset(row, 0, sizeof(float) * pw); continue; }
        int x0 = padL < pw ? padL : pw;                       /* first column copied */
        int n = w < pw - x0 ? w : pw - x0;                     /* columns copied */
        if (n < 0) n = 0;
        memset(row, 0, sizeof(float) * x0);
        memcpy(row + x0, src + (size_t)iy * w, sizeof(float) * n);
        memset(row + x0 + n, 0, sizeof(float) * (pw - x0 - n));
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
DW_INLINE void dw_row(const float *pad, int pw, const float *k, float b, float *dst, int ow,
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

/* All channels of one image. */
DW_INLINE void dw_image(const float *x, int C, int h, int w, const float *k, int kh, int kw, int sh, int sw,
                        int dh, int dw, int padT, int padL, int oh, int ow, const float *bias, int act, float p0,
                        float p1, float *out, float *work) {
    int ph, pw;
    padded_dims(kh, kw, sh, sw, dh, dw, oh, ow, &ph, &pw);
    const int k33 = kh == 3 && kw == 3 && dh == 1 && dw == 1;
    for (int c = 0; c < C; c++) {
        pad_plane(x + (size_t)c * h * w, h, w, padT, padL, ph, pw, work);
        const float *kc = k + (size_t)c * kh * kw;
        const float b = bias ? bias[c] : 0.0f;
        float *o = out + (size_t)c * oh * ow;
        for (int oy = 0; oy < oh; oy++) {
            const float *p = work + (size_t)oy * sh * pw;
            float *d = o + (size_t)oy * ow;
            if (k33 && sw == 1) dw_row(p, pw, kc, b, d, ow, 3, 3, 1, 1, 1, 0, 0, 0, 0, 0, act, p0, p1);
            else if (k33 && sw == 2) dw_row(p, pw, kc, b, d, ow, 3, 3, 2, 1, 1, 0, 0, 0, 0, 0, act, p0, p1);
            else dw_row(p, pw, kc, b, d, ow, 0, 0, 0, 0, 0, kh, kw, sw, dh, dw, act, p0, p1);
        }
    }
}

#ifdef DW_X86
DW_AVX512 static void dw512(const float *x, int C, int h, int w, const float *k, int kh, int kw, int sh, int sw,
                            int dh, int dw, int padT, int padL, int oh, int ow, const float *bias, int act, float p0,
                            float p1, float *out, float *work) {
    dw_image(x, C, h, w, k, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow, bias, act, p0, p1, out, work);
}

DW_AVX2 static void dw256(const float *x, int C, int h, int w, const float *k, int kh, int kw, int sh, int sw,
                          int dh, int dw, int padT, int padL, int oh, int ow, const float *bias, int act, float p0,
                          float p1, float *out, float *work) {
    dw_image(x, C, h, w, k, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow, bias, act, p0, p1, out, work);
}
#endif

int emo_depthwise(int level, const float *x, int C, int h, int w, const float *k, int kh, int kw, int sh, int sw,
                  int dh, int dw, int padT, int padL, int oh, int ow, const float *bias, int act, float p0, float p1,
                  float *out, float *work) {
    if (level > emo_kernels_cpu_level() || C <= 0 || oh <= 0 || ow <= 0) return -1;
#ifdef DW_X86
    if (level == EMO_LEVEL_AVX512) { dw512(x, C, h, w, k, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow, bias, act, p0, p1, out, work); return 0; }
    if (level == EMO_LEVEL_AVX2) { dw256(x, C, h, w, k, kh, kw, sh, sw, dh, dw, padT, padL, oh, ow, bias, act, p0, p1, out, work); return 0; }
#endif
    (void)x; (void)h; (void)w; (void)k; (void)kh; (void)kw; (void)sh; (void)sw; (void)dh; (void)dw; (void)padT;
    (void)padL; (void)bias; (void)act; (void)p0; (void)p1; (void)out; (void)work;
    return -1;
}
