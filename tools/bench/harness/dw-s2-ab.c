/* Two builds of the kernels' emo_depthwise in alternating calls in one process (dlopen), on a 3×3
 * stride-2 depthwise convolution (pads PAD before and after, default 1, ReLU6) of C planes of H×W;
 * checks the second build against a direct loop (≤ 1e-5 relative).
 *
 *   git show REV:Sources/CKernels/depthwise.c > /tmp/old_dw.c && cp Sources/CKernels/split_row.h /tmp/
 *   clang -O3 -fPIC -shared -I Sources/CKernels/include -I /tmp -o /tmp/libold.so /tmp/old_dw.c Sources/CKernels/kernels.c
 *   clang -O3 -fPIC -shared -I Sources/CKernels/include -o /tmp/libnew.so Sources/CKernels/depthwise.c Sources/CKernels/kernels.c
 *   clang -O3 -o /tmp/dab tools/bench/harness/dw-s2-ab.c -ldl -lm && /tmp/dab /tmp/libold.so /tmp/libnew.so 144 56 56 [RUNS [PAD]]
 *   (MobileNetV2's stride-2 layers: 96 112 112, 144 56 56, 192 28 28, 576 14 14) */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
typedef int (*dw_t)(int, const float *, int, int, int, const float *, int, int, int, int, int, int, int, int, int, int,
                    const float *, int, float, float, float *, size_t, float *);
typedef size_t (*ws_t)(int, int, int, int, int, int, int, int);
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
static float frand(void) { return rand() / (float)RAND_MAX - 0.5f; }
int main(int argc, char **argv) {
    int C = atoi(argv[3]), h = atoi(argv[4]), w = atoi(argv[5]), runs = argc > 6 ? atoi(argv[6]) : 300;
    int pad = argc > 7 ? atoi(argv[7]) : 1, oh = (h + 2 * pad - 3) / 2 + 1, ow = (w + 2 * pad - 3) / 2 + 1;
    dw_t f[2]; ws_t ws = 0;
    for (int v = 0; v < 2; v++) {
        void *hd = dlopen(argv[1 + v], RTLD_NOW | RTLD_LOCAL);
        if (!hd) { printf("%s\n", dlerror()); return 1; }
        f[v] = (dw_t)dlsym(hd, "emo_depthwise"); ws = (ws_t)dlsym(hd, "emo_dw_workspace");
    }
    size_t n = (size_t)C * h * w, on = (size_t)C * oh * ow;
    float *x = malloc(4 * n), *k = malloc(4 * 9 * C), *b = malloc(4 * C), *o[2] = { malloc(4 * on), malloc(4 * on) };
    float *work = aligned_alloc(64, 4 * ((ws(3, 3, 2, 2, 1, 1, oh, ow) + 15) / 16 * 16));
    for (size_t i = 0; i < n; i++) x[i] = frand();
    for (int i = 0; i < 9 * C; i++) k[i] = frand();
    for (int i = 0; i < C; i++) b[i] = frand();
    double *t[2] = { malloc(8 * runs), malloc(8 * runs) };
    for (int r = 0; r < runs + 10; r++)
        for (int v0 = 0; v0 < 2; v0++) {
            int v = (r & 1) ? 1 - v0 : v0; double t0 = now();
            if (f[v](2, x, C, h, w, k, 3, 3, 2, 2, 1, 1, pad, pad, oh, ow, b, 3, 0, 6, o[v], 0, work)) { printf("rc\n"); return 1; }
            if (r >= 10) t[v][r - 10] = now() - t0;
        }
    int bad = 0;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < oh; y++)
            for (int xx = 0; xx < ow; xx++) {
                float s = b[c];
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) {
                        int iy = 2 * y + i - pad, ix = 2 * xx + j - pad;
                        if (iy >= 0 && iy < h && ix >= 0 && ix < w) s += k[9 * c + 3 * i + j] * x[((size_t)c * h + iy) * w + ix];
                    }
                s = s < 0 ? 0 : s > 6 ? 6 : s;
                if (fabsf(s - o[1][((size_t)c * oh + y) * ow + xx]) > 1e-5f * (1 + fabsf(s))) bad++;
            }
    qsort(t[0], runs, 8, cmp); qsort(t[1], runs, 8, cmp);
    printf("%d x %dx%d -> %dx%d: old med %.4f min %.4f | new med %.4f min %.4f ms | new/old med %.3f | wrong %d\n", C, h, w, oh,
           ow, t[0][runs / 2] * 1e3, t[0][0] * 1e3, t[1][runs / 2] * 1e3, t[1][0] * 1e3, t[1][runs / 2] / t[0][runs / 2], bad);
    return bad != 0;
}
