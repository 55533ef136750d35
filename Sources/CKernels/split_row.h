/* Shared by depthwise.c (3×3 stride-2 depthwise and max pool) and kernels.c (convolutions by rows
 * at column stride 2): one padded input row split into its even and odd columns, in one pass.
 * Private to CKernels (not under include/). */
#ifndef EMO_SPLIT_ROW_H
#define EMO_SPLIT_ROW_H
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

/* The padded plane split by columns into even and odd half planes (padded column 2j → E[j],
 * 2j + 1 → O[j]; rows of hw = ⌈pw/2⌉ floats): at column stride 2 the taps of a 3×3 window are
 * E[ox], O[ox] and E[ox + 1], read with plain loads (row3x3_eo512). Reading the padded plane
 * instead took two loads and a permute per tap, 9 shuffles per 16 outputs: MobileNetV2's stride-2
 * depthwise layers at 56² and 28² input took 0.13 and 0.05 ms against onnxruntime's 0.07 and 0.02
 * (now 0.10 and 0.04 in the harness). Here one pair of permutes per 32 input columns. `pad` fills
 * outside the source. */
static inline __attribute__((always_inline, target("avx512f,avx2,fma"))) void
split_row512(const float *src, int h, int w, int padT, int padL, int y, int pw, float pad, float *e, float *o, int hw) {
    const __m512 pv = _mm512_set1_ps(pad);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const int iy = y - padT, inside = iy >= 0 && iy < h;
    const float *s = inside ? src + (size_t)iy * w - padL : NULL;
    for (int x = 0; x < pw; x += 32) {
        __m512 v[2];
        for (int q = 0; q < 2; q++) {
            const __m512i col = _mm512_add_epi32(lane, _mm512_set1_epi32(x + 16 * q - padL));
            const __mmask16 in = inside ? _mm512_cmpge_epi32_mask(col, _mm512_setzero_si512())
                                              & _mm512_cmplt_epi32_mask(col, _mm512_set1_epi32(w)) : 0;
            v[q] = in ? _mm512_mask_loadu_ps(pv, in, s + x + 16 * q) : pv;
        }
        const int left = hw - x / 2;   /* half-row columns still to write */
        const __mmask16 m = left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1u);
        _mm512_mask_storeu_ps(e + x / 2, m, _mm512_permutex2var_ps(v[0], even, v[1]));
        _mm512_mask_storeu_ps(o + x / 2, m, _mm512_permutex2var_ps(v[0], odd, v[1]));
    }
}

#endif
#endif
