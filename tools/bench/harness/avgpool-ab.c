/* Two builds of the kernels' emo_avgpool in alternating calls in one process (dlopen), on a 3×3
 * stride-1 average pool padded by 1 (Inception v3's branch pools, count_include_pad: taps of 1/9) of C
 * planes of H×W; checks the second build against a direct loop. DIV=1 in the environment: per-position
 * divisors instead (count_include_pad 0).
 *
 *   git show REV:Sources/CKernels/depthwise.c > /tmp/old_dw.c && cp Sources/CKernels/split_row.h /tmp/
 *   clang -O3 -fPIC -shared -I Sources/CKernels/include -I /tmp -o /tmp/libold.so /tmp/old_dw.c Sources/CKernels/kernels.c
 *   clang -O3 -fPIC -shared -I Sources/CKernels/include -o /tmp/libnew.so Sources/CKernels/depthwise.c Sources/CKernels/kernels.c
 *   clang -O3 -o /tmp/aab tools/bench/harness/avgpool-ab.c -ldl && /tmp/aab /tmp/libold.so /tmp/libnew.so 768 17 17 [RUNS] */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
typedef int (*pool_t)(int, const float *, int, int, int, const float *, int, int, int, int, int, int, int, int, int, int,
                      const float *, float *, float *);
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: %s OLD.so NEW.so C H W [RUNS]\n", argv[0]); return 2; }
    const int C = atoi(argv[3]), h = atoi(argv[4]), w = atoi(argv[5]), runs = argc > 6 ? atoi(argv[6]) : 300;
    const int div = getenv("DIV") != NULL;
    pool_t p[2];
    for (int v = 0; v < 2; v++) {
        void *hd = dlopen(argv[1 + v], RTLD_NOW | RTLD_LOCAL);
        if (!hd) { printf("%s\n", dlerror()); return 1; }
        p[v] = (pool_t)dlsym(hd, "emo_avgpool");
    }
    const size_t n = (size_t)C * h * w;
    float *x = malloc(4 * n), *o[2] = { malloc(4 * n), malloc(4 * n) }, *recip = malloc(4 * (size_t)h * w), k[9];
    float *work = aligned_alloc(64, 4 * ((size_t)(h + 4) * (w + 4) * 4 + 4096));
    for (size_t i = 0; i < n; i++) x[i] = rand() / (float)RAND_MAX - 0.5f;
    for (int i = 0; i < 9; i++) k[i] = div ? 1.0f : 1.0f / 9;
    for (int y = 0; y < h; y++)   /* taps inside the plane per position */
        for (int xx = 0; xx < w; xx++)
            recip[y * w + xx] = 1.0f / (float)(((y > 0) + 1 + (y < h - 1)) * ((xx > 0) + 1 + (xx < w - 1)));
    double *t[2] = { malloc(8 * runs), malloc(8 * runs) };
    for (int r = 0; r < runs + 10; r++)
        for (int v0 = 0; v0 < 2; v0++) {
            const int v = (r & 1) ? 1 - v0 : v0;
            const double t0 = now();
            if (p[v](2, x, C, h, w, k, 3, 3, 1, 1, 1, 1, 1, 1, h, w, div ? recip : NULL, o[v], work)) { printf("rc\n"); return 1; }
            if (r >= 10) t[v][r - 10] = now() - t0;
        }
    int bad = 0;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                float s = 0;
                for (int i = -1; i <= 1; i++)
                    for (int j = -1; j <= 1; j++)
                        if (y + i >= 0 && y + i < h && xx + j >= 0 && xx + j < w) s += x[((size_t)c * h + y + i) * w + xx + j];
                const float want = div ? s * recip[y * w + xx] : s / 9;
                if (fabsf(want - o[1][((size_t)c * h + y) * w + xx]) > 1e-5f) bad++;
            }
    qsort(t[0], runs, 8, cmp);
    qsort(t[1], runs, 8, cmp);
    printf("%d x %dx%d%s: old med %.4f min %.4f | new med %.4f min %.4f ms | new/old med %.3f min %.3f | wrong %d\n", C, h, w,
           div ? " (divisors)" : "", 1e3 * t[0][runs / 2], 1e3 * t[0][0], 1e3 * t[1][runs / 2], 1e3 * t[1][0],
           t[1][runs / 2] / t[0][runs / 2], t[1][0] / t[0][0], bad);
    return 0;
}
