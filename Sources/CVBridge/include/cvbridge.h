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

/// The gray plane of a gray or BGR image (BGR → gray as detection did) into dst (width*height bytes).
int cvb_to_gray(const cvb_image *src, uint8_t *dst, cvb_error *err);

/* ---- camera pixel formats (imgproc, imgcodecs) ---- */
/// YUYV 4:2:2 (stride bytes per row) → BGR into dst (width*height*3 bytes).
int cvb_yuyv_to_bgr(const uint8_t *src, int width, int height, size_t stride, uint8_t *dst, cvb_error *err);
/// YUYV 4:2:2 → gray into dst (width*height bytes): the Y bytes, mapped from video range (16–235)
/// to full range as cvb_yuyv_to_bgr then BGR → gray does for neutral chroma.
int cvb_yuyv_to_gray(const uint8_t *src, int width, int height, size_t stride, uint8_t *dst, cvb_error *err);
/// GREY → BGR into dst.
int cvb_gray_to_bgr(const uint8_t *src, int width, int height, size_t stride, uint8_t *dst, cvb_error *err);
/// Decodes a JPEG (MJPEG frame) that must be width×height into dst: BGR (channels 3, width*height*3
/// bytes) or gray (channels 1, width*height bytes; chroma is not decoded). 0 with err on corrupt data.
int cvb_decode_jpeg(const uint8_t *src, size_t len, int width, int height, int channels, uint8_t *dst, cvb_error *err);

/* ---- face detection (objdetect) ---- */
typedef struct cvb_cascade cvb_cascade;
typedef struct { int x, y, width, height; } cvb_rect;
/// Loads a Haar or LBP cascade XML. NULL on failure (err says why). `opencv_only`: never use
/// emotiond's SIMD Haar evaluator (also off with EMOTIOND_CASCADE_ENGINE=opencv; =avx2 limits it to AVX2).
cvb_cascade *cvb_cascade_load(const char *path, int opencv_only, cvb_error *err);
void cvb_cascade_free(cvb_cascade *c);
/// Windows per vector of emotiond's SIMD Haar evaluator (16: AVX-512, 8: AVX2); 0 when OpenCV's runs.
int cvb_cascade_simd_width(const cvb_cascade *c);
/// The same for stump Haar cascades loaded now (CPU and EMOTIOND_CASCADE_ENGINE).
int cvb_haar_simd_width(void);
/// Detects faces in a gray or BGR image. A BGR image is converted to gray; the image is optionally
/// downscaled by `scale` (0 < scale <= 1) and histogram-equalised; boxes are returned in
/// full-resolution coordinates. min/max sizes are in full-resolution pixels (0 = none). `mirror`:
/// search the horizontally mirrored image (boxes still in the image's coordinates).
/// Writes at most `cap` boxes into out; returns the number found (may exceed cap), -1 on error.
int cvb_cascade_detect(cvb_cascade *c, const cvb_image *img, double scale, double scale_factor,
                       int min_neighbors, int min_size, int max_size, int mirror, cvb_rect *out, int cap,
                       cvb_error *err);

/// Crops faces (a square of the box's longer side enlarged by `margin` per side, widened to the
/// output's aspect, clamped to the image), resized straight to width×height with INTER_AREA.
/// channels 1: gray (a BGR image is converted first); 3: BGR (a gray image is expanded).
/// Writes n*height*width*channels bytes (rows packed, channels interleaved) to out.
int cvb_crop_faces(const cvb_image *img, const cvb_rect *boxes, int n, double margin, int width, int height,
                   int channels, uint8_t *out, cvb_error *err);

/* ---- video files (videoio) ---- */
typedef struct cvb_video cvb_video;
typedef struct { double fps; int frame_count; int width, height; } cvb_video_info;
cvb_video *cvb_video_open(const char *path, cvb_video_info *info, cvb_error *err);
/// A network stream (rtsp, rtsps, http, https URL) through OpenCV's FFmpeg backend. Opening and
/// each read are bounded by the timeouts (OpenCV's interrupt callback); `ffmpeg_options` is
/// OPENCV_FFMPEG_CAPTURE_OPTIONS ("rtsp_transport;tcp"), set only while this open reads it.
/// FFmpeg's own error lines for this stream are not printed: the last one becomes err's reason.
/// Reads return -1 (with the reason) when the stream broke or timed out, 0 when it ended.
typedef struct { int open_timeout_ms, read_timeout_ms; const char *ffmpeg_options; } cvb_stream_options;
cvb_video *cvb_video_open_stream(const char *url, const cvb_stream_options *options, cvb_video_info *info,
                                 cvb_error *err);
/// Reads the next frame as BGR into a bridge-owned buffer valid until the next call.
/// Returns 1 with a frame, 0 at end of stream, -1 on error. pos_ms: media time of the frame.
int cvb_video_read(cvb_video *v, cvb_image *frame, double *pos_ms, cvb_error *err);
/// Skips the next frame without decoding it fully (grab only). 1 ok, 0 end.
int cvb_video_skip(cvb_video *v, cvb_error *err);
/* Timestamp (ms) of the frame last read or skipped, from the container. */
double cvb_video_position_ms(cvb_video *v);
void cvb_video_close(cvb_video *v);

typedef struct cvb_writer cvb_writer;
/// Opens an MP4 writer for BGR frames. In: *h264 != 0 asks for H.264. Out: *h264 = 1 if the file is
/// H.264, 0 if MPEG-4 Part 2 (mp4v: asked for, or FFmpeg has no H.264 encoder).
cvb_writer *cvb_writer_open(const char *path, double fps, int width, int height, int *h264, cvb_error *err);
int cvb_writer_write(cvb_writer *w, const cvb_image *frame, cvb_error *err);
void cvb_writer_close(cvb_writer *w);

/* ---- drawing (imgproc) and encoding (imgcodecs) on BGR images, in place ---- */
int cvb_draw_box(cvb_image *img, cvb_rect r, uint8_t b, uint8_t g, uint8_t red, int thickness, cvb_error *err);
/// Label with a filled background box above (or inside) the rectangle's top-left corner.
int cvb_draw_label(cvb_image *img, int x, int y, const char *text, uint8_t b, uint8_t g, uint8_t red, double font_scale, cvb_error *err);
int cvb_draw_text(cvb_image *img, int x, int y, const char *text, uint8_t b, uint8_t g, uint8_t red, double font_scale, cvb_error *err);
int cvb_fill_rect(cvb_image *img, cvb_rect r, uint8_t b, uint8_t g, uint8_t red, cvb_error *err);
int cvb_polyline(cvb_image *img, const int *xy, int npoints, uint8_t b, uint8_t g, uint8_t red, int thickness, cvb_error *err);
/// Allocates a w×h BGR image filled with one colour.
int cvb_image_new(int width, int height, uint8_t b, uint8_t g, uint8_t red, cvb_image *out, cvb_error *err);
int cvb_imwrite(const char *path, const cvb_image *img, cvb_error *err);
/// Encodes img as JPEG (quality 1–100) into a malloc'ed buffer the caller frees with free(3).
int cvb_encode_jpeg(const cvb_image *img, int quality, uint8_t **out, size_t *len, cvb_error *err);

#ifdef __cplusplus
}
#endif
#endif
