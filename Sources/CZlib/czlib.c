#include "czlib.h"
#include <zlib.h>
#include <stdlib.h>

struct emo_gz { gzFile f; };

emo_gz *emo_gz_open(const char *path) {
    gzFile f = gzopen(path, "rb");
    if (!f) return NULL;
    gzbuffer(f, 1 << 17);
    emo_gz *g = malloc(sizeof *g);
    if (!g) { gzclose(f); return NULL; }
    g->f = f;
    return g;
}

int emo_gz_gets(emo_gz *g, char *buf, int n) {
    if (gzgets(g->f, buf, n) != NULL) return 1;
    int err = 0;
    gzerror(g->f, &err);
    return (err == Z_OK || err == Z_STREAM_END) && gzeof(g->f) ? 0 : -1;
}

const char *emo_gz_error(emo_gz *g) {
    int err = 0;
    const char *m = gzerror(g->f, &err);
    return m ? m : "";
}

void emo_gz_close(emo_gz *g) {
    if (!g) return;
    gzclose(g->f);
    free(g);
}
