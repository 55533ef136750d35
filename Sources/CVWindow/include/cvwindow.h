#ifndef EMOTIOND_CVWINDOW_H
#define EMOTIOND_CVWINDOW_H
// The OpenCV window (highgui), built as its own shared library (libEmotiondWindow.so) and
// loaded with dlopen only by `emotiond live`. highgui pulls in Qt5, OpenGL and their
// dependencies (12 libraries, ~7.4 MiB resident); the batch, image and daemon modes never
// map them. Plain C types only, so the loader (Swift, dlsym) needs no shared header types.
// Every entry point catches C++ exceptions and reports them in `err` (errlen bytes).
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

/// ABI version of this interface; the loader refuses a library that reports another one.
int cvw_abi_version(void);
int cvw_open(const char *name, char *err, size_t errlen);
/// Shows a BGR (channels 3) or gray (1) image of width×height with `stride` bytes per row.
int cvw_show(const char *name, const uint8_t *data, int width, int height, size_t stride, int channels,
             char *err, size_t errlen);
/// Processes window events for up to ms milliseconds; returns the key pressed or -1.
int cvw_wait_key(int ms);
void cvw_close_all(void);

#ifdef __cplusplus
}
#endif
#endif
