#include "cvbridge.h"
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <cstdio>
#include <cstring>
#include <exception>

namespace {
void fail(cvb_error *err, const char *msg) {
    if (!err) return;
    err->ok = 0;
    std::snprintf(err->message, sizeof err->message, "%s", msg);
}
void succeed(cvb_error *err) {
    if (err) { err->ok = 1; err->message[0] = 0; }
}

// Runs `body`, converting any C++ exception into an error result.
template <typename F> int guarded(cvb_error *err, F body) {
    try {
        succeed(err);
        return body() ? 1 : 0;
    } catch (const cv::Exception &e) {
        fail(err, e.what());
    } catch (const std::exception &e) {
        fail(err, e.what());
    } catch (...) {
        fail(err, "unknown C++ exception");
    }
    return 0;
}

// Copies a Mat into a malloc'd continuous cvb_image.
bool export_mat(const cv::Mat &m, cvb_image *out) {
    out->width = m.cols; out->height = m.rows; out->channels = m.channels();
    out->stride = (size_t)m.cols * m.channels();
    size_t n = out->stride * m.rows;
    out->data = (uint8_t *)std::malloc(n ? n : 1);
    if (!out->data) return false;
    for (int y = 0; y < m.rows; y++) std::memcpy(out->data + y * out->stride, m.ptr(y), out->stride);
    return true;
}

cv::Mat wrap(const cvb_image *img) {
    return cv::Mat(img->height, img->width, img->channels == 1 ? CV_8UC1 : CV_8UC3, img->data, img->stride);
}
} // namespace

extern "C" int cvb_imread(const char *path, int channels, cvb_image *out, cvb_error *err) {
    return guarded(err, [&] {
        std::memset(out, 0, sizeof *out);
        cv::Mat m = cv::imread(path, channels == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
        if (m.empty()) { fail(err, "cannot decode image (missing, unreadable or not an image)"); return false; }
        if (!export_mat(m, out)) { fail(err, "out of memory"); return false; }
        return true;
    });
}

extern "C" int cvb_resize(const cvb_image *src, int width, int height, cvb_image *dst, cvb_error *err) {
    return guarded(err, [&] {
        std::memset(dst, 0, sizeof *dst);
        if (width <= 0 || height <= 0 || src->width <= 0 || src->height <= 0) { fail(err, "invalid size"); return false; }
        cv::Mat out;
        bool shrink = width < src->width || height < src->height;
        cv::resize(wrap(src), out, cv::Size(width, height), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
        return export_mat(out, dst);
    });
}

extern "C" void cvb_image_free(cvb_image *img) {
    if (img && img->data) { std::free(img->data); img->data = nullptr; }
}

extern "C" const char *cvb_version(void) { return CV_VERSION; }

extern "C" void cvb_set_num_threads(int n) {
    try { cv::setNumThreads(n); } catch (...) {}
}
