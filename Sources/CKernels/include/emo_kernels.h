#ifndef EMO_KERNELS_H
#define EMO_KERNELS_H
#include <stddef.h>

/* Hand-written SIMD GEMM for convolutions (see kernels.c for why it exists).
 *
 * C[M×N] (row stride ldc) = act(A·B + bias), where
 *   A is M×K, packed once at load by emo_pack_a into [ceil(M/8)][K][8] (zero padded),
 *   B is K×N row-major with row stride ldb (an im2col matrix or the input itself),
 *   bias has M entries, act is one of EMO_ACT_* with parameters p0/p1.
 */
enum { EMO_ACT_NONE = 0, EMO_ACT_RELU = 1, EMO_ACT_LEAKY = 2, EMO_ACT_CLIP = 3 };
enum { EMO_LEVEL_NONE = 0, EMO_LEVEL_AVX2 = 1, EMO_LEVEL_AVX512 = 2 };
#define EMO_PACK_MR 8

/* The instruction-set level the CPU supports (cpuid), capped by the environment
 * variable EMOTIOND_KERNELS=none|avx2|avx512 (Inference reads it once per process, as
 * the default InferenceOptions; tests pass other levels per call instead). */
int emo_kernels_level(void);
/* What the CPU supports, ignoring the environment. */
int emo_kernels_cpu_level(void);
const char *emo_kernels_level_name(int level);

/* Number of floats emo_pack_a writes. */
size_t emo_pack_a_size(int M, int K);
void emo_pack_a(const float *A, int M, int K, float *packed);

/* C = act(A·B + bias + res): `res` (NULL: none) is laid out like C (rows ldc apart), e.g. a
 * residual connection's other branch, added before the activation. Returns 0 on success, -1
 * when level is not supported by this CPU/build (caller falls back). */
int emo_gemm_packed(int level, int M, int N, int K, const float *Ap, const float *B, int ldb,
                    float *C, int ldc, const float *bias, int act, float p0, float p1, const float *res);

/* Steps k0..k1 of K of that GEMM, B holding rows k0..k1 only: C accumulates what it holds when
 * k0 > 0; bias, `res` and `act` apply when k1 = K. A K-blocked convolution calls it once per block
 * of im2col rows (emo_im2col_k). AVX512 only; returns 0, or -1. */
int emo_gemm_packed_k(int level, int M, int N, int K, int k0, int k1, const float *Ap, const float *B, int ldb,
                      float *C, int ldc, const float *bias, int act, float p0, float p1, const float *res);

/* Convolution at stride 1, dilation 1 of one image (and group) whose output rows are as wide as
 * its input's (ow = w), oh rows: out[M][oh·w] = act(W·im2col(x) + bias + res), the im2col matrix
 * packed panel by panel straight from x (c planes of h×w) instead of written first. W packed by
 * emo_pack_a as [M][c·kh·kw] (taps (ci, ki, kj), ki·kw + kj within a channel); padT/padL place
 * tap (0, 0) at input (oy − padT, ox − padL). AVX512 only; returns 0, or -1 (level, shape, more
 * than 12 output pixels required, or !emo_conv_same_fits). */
#define EMO_SAME_MAX_MASKS 8192
int emo_conv_same(int level, const float *x, int c, int h, int w, int kh, int kw, int padT, int padL, int oh,
                  const float *Ap, int M, float *out, const float *bias, int act, float p0, float p1, const float *res);
/* Whether emo_conv_same takes N = oh·w output pixels of a kernel kw wide: its column masks
 * (kw · ⌈N/16⌉ of them, on the stack) fit EMO_SAME_MAX_MASKS. */
int emo_conv_same_fits(int N, int kw);

/* Convolution at column stride 1 without im2col, AVX-512 only: `xp` holds C input planes of
 * ph×pw, padding included (row stride pw); output [M][oh][ow] = act(W·patches + bias + res),
 * output (oy, ox) of tap (ci, ki, kj) reading float (oy·sh + ki·dh)·pw + kj·dw + ox of plane ci;
 * ow may pass pw (oh = 1: a flattened image, see emo_flat_to_planes) while every read stays
 * inside its plane,
 * W packed by emo_pack_a as [M][C·kh·kw]. `off` is scratch for C·kh·kw ints. Returns 0, or -1
 * if `level` is not AVX-512 or the geometry does not fit the planes. */
int emo_conv_rows(int level, const float *xp, int C, int ph, int pw, int kh, int kw, int sh, int dh, int dw, int oh,
                  int ow, const float *Ap, int M, float *out, const float *bias, int act, float p0, float p1,
                  const float *res, int *off);

/* The planes of a flat emo_conv_rows call (oh = 1, ow = n = (oh' − 1)·pw + ow') over padded planes
 * wider than the output (pw > ow'): `flat` holds M rows of n floats, output row oy of channel m at
 * m·n + oy·pw; copies each row's first ow' floats to `out` ([M][oh'][ow']), adding `res` (NULL: none,
 * laid out like `out`) and then applying `act` (pass EMO_ACT_NONE if the GEMM applied it). */
void emo_flat_to_planes(const float *flat, int M, int n, int oh, int ow, int pw, float *out, const float *res, int act,
                        float p0, float p1);

/* emo_conv_rows at column stride 2, from the unpadded input x (C planes of h×w): the planes are
 * padded (zeros, at padT/padL, to ph×pw) and split into even and odd columns in one pass, into
 * `halves`, scratch for 2·C·ph·⌈pw/2⌉ floats. */
int emo_conv_rows_s2(int level, const float *x, int C, int h, int w, int padT, int padL, int ph, int pw, int kh, int kw,
                     int sh, int dh, int dw, int oh, int ow, const float *Ap, int M, float *out, const float *bias, int act,
                     float p0, float p1, const float *res, int *off, float *halves);

/* Winograd F(2×2,3×3) for 3×3, stride 1, dilation 1, one group: weights [M][C][3][3]
 * transformed and packed once (emo_wino_weights_size floats); `n` images (x: n × [C][h][w]) per
 * call, whole small images transformed side by side so that the GEMMs read the weights once for
 * them all; `work` must hold emo_wino_workspace(…, n) floats. pool2 != 0 fuses a following 2×2
 * stride-2 max pool (floor): `out` is then n × [M][oh/2][ow/2], else n × [M][oh][ow]. `res`
 * (NULL: none, not with pool2): laid out like `out`, added before the activation. Returns 0, or
 * -1 if `level` is unavailable. */
size_t emo_wino_weights_size(int M, int C);
/* Returns -1 (packed untouched) when its temporary buffer cannot be allocated. */
int emo_wino_pack_weights(const float *g, int M, int C, float *packed);
size_t emo_wino_workspace(int M, int C, int oh, int ow, int n);
int emo_wino_conv(int level, const float *x, int n, int C, int h, int w, int padT, int padL, int oh, int ow,
                  const float *Up, int M, const float *bias, int act, float p0, float p1, int pool2,
                  const float *res, float *out, float *work);

/* Winograd F(4×4,3×3), AVX-512 only: as the emo_wino_* functions above (same arguments and
 * layouts), 36 transformed weight planes. Returns -1 below AVX-512. */
size_t emo_w43_weights_size(int M, int C);
int emo_w43_pack_weights(const float *g, int M, int C, float *packed);
size_t emo_w43_workspace(int M, int C, int oh, int ow, int n);
int emo_w43_conv(int level, const float *x, int n, int C, int h, int w, int padT, int padL, int oh, int ow,
                 const float *Up, int M, const float *bias, int act, float p0, float p1, int pool2,
                 const float *res, float *out, float *work);

/* Y[r][n] += alpha · dot(W[n], X[r]), r < M, n < N: rows of K floats, W's `ldw` apart, X's `ldx`,
 * Y's `ldy` (a small-batch Gemm with transB; W is read once per two rows of X). Returns 0, or -1
 * if `level` is unavailable or M, N, K ≤ 0. */
int emo_gemv_rows(int level, int M, int N, int K, const float *W, int ldw, const float *X, int ldx, float alpha,
                  float *Y, int ldy);

/* im2col of c channels of one image (h×w each), output rows oy0..oy1 (of width ow), into
 * col[c·kh·kw][(oy1 - oy0)·ow]; `level` AVX512 takes masked-vector rows at strides 1 and 2
 * (same values). */
void emo_im2col_rows(int level, const float *x, int c, int h, int w, int kh, int kw, int sh, int sw, int dh, int dw,
                     int padT, int padL, int oy0, int oy1, int ow, float *col);

/* Rows k0..k1 of that im2col matrix (row k = (ci·kh + ki)·kw + kj, of the c channels at x) into
 * col[k1 - k0][(oy1 - oy0)·ow]: a block of K for emo_gemm_packed_k. AVX512 only, column
 * strides 1 and 2 (any on planes of ≤ 64 floats); returns 0, or -1 (nothing written). */
int emo_im2col_k(int level, const float *x, int c, int h, int w, int kh, int kw, int sh, int sw, int dh, int dw, int padT,
                 int padL, int k0, int k1, int oy0, int oy1, int ow, float *col);

/* Depthwise convolution (one input channel per filter, groups == C == M) of one image:
 * x [C][h][w], k [C][kh][kw], out [C][oh][ow] with output planes `ldo` floats apart (0: oh·ow;
 * more: oh rows of a taller output); `work` must hold emo_dw_workspace floats. Rows outside
 * [0, h) read as padding, so x may be a band of a taller input (padT relative to the band).
 * Returns 0, or -1 if `level` is unavailable (the caller keeps its reference path). */
size_t emo_dw_workspace(int kh, int kw, int sh, int sw, int dh, int dw, int oh, int ow);
int emo_depthwise(int level, const float *x, int C, int h, int w, const float *k, int kh, int kw, int sh, int sw,
                  int dh, int dw, int padT, int padL, int oh, int ow, const float *bias, int act, float p0, float p1,
                  float *out, size_t ldo, float *work);

/* Max pool of `planes` planes (N·C), padding never wins; `work` as for emo_dw_workspace
 * (dilated kh×kw window, strides sh/sw). Returns 0, or -1 if `level` is unavailable. */
/* MaxPool 2×2 stride 2, no padding, floor: AVX-512 only; -1 if `level` is not AVX-512 or
 * 2·oh × 2·ow does not fit h × w. */
int emo_maxpool2x2(int level, const float *x, int planes, int h, int w, int oh, int ow, float *out);
int emo_maxpool(int level, const float *x, int planes, int h, int w, int kh, int kw, int sh, int sw, int dh, int dw,
                int padT, int padL, int oh, int ow, float *out, float *work);

/* Average pool of `planes` planes: `k` holds kh·kw equal taps (1/(kh·kw) when every window's
 * divisor is kh·kw, `recip` NULL; else 1, and `recip` the oh·ow reciprocal divisors). `work`
 * as for emo_dw_workspace. Returns 0, or -1 if `level` is unavailable. */
int emo_avgpool(int level, const float *x, int planes, int h, int w, const float *k, int kh, int kw, int sh, int sw,
                int dh, int dw, int padT, int padL, int oh, int ow, const float *recip, float *out, float *work);

#endif
