#ifndef EMOTIOND_CZLIB_H
#define EMOTIOND_CZLIB_H
// Line reader over zlib's gz* API (reads gzip and plain files alike).
// A C shim because zlib's gzFile is an opaque struct pointer macro-heavy API.
#ifdef __cplusplus
extern "C" {
#endif
typedef struct emo_gz emo_gz;
emo_gz *emo_gz_open(const char *path);
/// Reads up to n-1 bytes or through a newline into buf; returns 0 at EOF, -1 on error.
int emo_gz_gets(emo_gz *f, char *buf, int n);
/// zlib's error message for the last failure ("" if none).
const char *emo_gz_error(emo_gz *f);
void emo_gz_close(emo_gz *f);
#ifdef __cplusplus
}
#endif
#endif
