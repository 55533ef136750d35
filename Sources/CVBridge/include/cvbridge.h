#ifndef EMOTIOND_CVBRIDGE_H
#define EMOTIOND_CVBRIDGE_H
// extern "C" shim over OpenCV. Every entry point catches all C++ exceptions and
// reports them through `cvb_error` (message copied into a caller-owned buffer), so
// a cv::Exception can never unwind into Swift and kill the process.
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int ok;              // 1 on success, 0 on failure
    char message[512];   // failure description (what(), or a description of the fault)
} cvb_error;

/// A pixel buffer owned by the bridge; free with cvb_image_free.
typedef struct {
    int width, height, channels; // channels: 1 (gray) or 3 (BGR)
    size_t stride;               // bytes per row (== width*channels: buffers are always continuous)
    uint8_t *data;
} cvb_image;

/// Decodes an image file. channels: 1 = grayscale, 3 = BGR.
int cvb_imread(const char *path, int channels, cvb_image *out, cvb_error *err);
/// Resizes src into a newly allocated dst (INTER_AREA when shrinking, INTER_LINEAR when growing).
int cvb_resize(const cvb_image *src, int width, int height, cvb_image *dst, cvb_error *err);
void cvb_image_free(cvb_image *img);
/// OpenCV version string, e.g. "4.6.0".
const char *cvb_version(void);
/// Sets OpenCV's internal thread pool size (0 = sequential).
void cvb_set_num_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
