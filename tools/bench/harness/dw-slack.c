/* A stride-2 depthwise 3×3 (emo_depthwise, AVX-512) with its scratch filled by subnormal floats
 * before every call, as leftover heap bytes can be, against scratch filled by zeros: times both
 * (median of RUNS alternating calls) and checks they give the same output. The ring of split rows
 * (planes wider than 96 padded columns) and the whole split (narrower) read a lane or two past
 * each split row; before the slack was zeroed, those multiply-adds on subnormals were assisted in
 * microcode. `ldo` = 1 for builds whose emo_depthwise takes the output plane stride (from the
 * expand+depthwise fusion on), 0 for older ones.
 *
 *   clang -O3 -fPIC -shared -I Sources/CKernels/include -I Sources/CKernels -o /tmp/libdw.so \
 *     Sources/CKernels/depthwise.c Sources/CKernels/kernels.c
 *   clang -O3 -o /tmp/dws tools/bench/harness/dw-slack.c -ldl
 *   /tmp/dws /tmp/libdw.so 1 96 112 [RUNS]     (ring: 112² → 56²)
 *   /tmp/dws /tmp/libdw.so 1 144 56 [RUNS]     (whole split: 56² → 28²) */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
typedef int (*dw_new)(int, const float *, int, int, int, const float *, int, int, int, int, int, int, int, int, int, int,
                      const float *, int, float, float, float *, size_t, float *);
typedef int (*dw_old)(int, const float *, int, int, int, const float *, int, int, int, int, int, int, int, int, int, int,
                      const float *, int, float, float, float *, float *);
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s LIB.so LDO C SIZE [RUNS]\n", argv[0]); return 2; }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { printf("%s\n", dlerror()); return 1; }
    void *fn = dlsym(lib, "emo_depthwise");
    const int ldo = atoi(argv[2]), C = atoi(argv[3]), h = atoi(argv[4]), w = h, runs = argc > 5 ? atoi(argv[5]) : 200;
    const int oh = (h + 2 - 3) / 2 + 1, ow = oh;
    const size_t nwork = 4 * (size_t)(h + 4) * (w + 4) + 4096;
    float *x = malloc(4 * (size_t)C * h * w), *k = malloc(4 * (size_t)C * 9), *b = calloc(C, 4);
    float *o[2] = { malloc(4 * (size_t)C * oh * ow), malloc(4 * (size_t)C * oh * ow) }, *work = malloc(4 * nwork);
    for (size_t i = 0; i < (size_t)C * h * w; i++) x[i] = rand() / (float)RAND_MAX;
    for (int i = 0; i < C * 9; i++) k[i] = rand() / (float)RAND_MAX - 0.5f;
    double *t[2] = { malloc(8 * runs), malloc(8 * runs) };
    for (int r = 0; r < runs + 5; r++)
        for (int v0 = 0; v0 < 2; v0++) {
            const int v = (r & 1) ? 1 - v0 : v0;   /* v = 1: subnormal scratch */
            for (size_t i = 0; i < nwork; i++) { uint32_t bits = v ? 0x00012345u : 0; memcpy(work + i, &bits, 4); }
            const double t0 = now();
            const int rc = ldo ? ((dw_new)fn)(2, x, C, h, w, k, 3, 3, 2, 2, 1, 1, 1, 1, oh, ow, b, 0, 0, 0, o[v], 0, work)
                               : ((dw_old)fn)(2, x, C, h, w, k, 3, 3, 2, 2, 1, 1, 1, 1, oh, ow, b, 0, 0, 0, o[v], work);
            if (rc) { printf("emo_depthwise: rc %d\n", rc); return 1; }
            if (r >= 5) t[v][r - 5] = now() - t0;
        }
    qsort(t[0], runs, 8, cmp); qsort(t[1], runs, 8, cmp);
    printf("%d x %d² -> %d² stride 2: zeroed scratch %.4f ms, subnormal scratch %.4f ms (%.2fx); outputs %s\n", C, h, oh,
           t[0][runs / 2] * 1e3, t[1][runs / 2] * 1e3, t[1][runs / 2] / t[0][runs / 2],
           memcmp(o[0], o[1], 4 * (size_t)C * oh * ow) ? "DIFFER" : "equal");
    return 0;
}
