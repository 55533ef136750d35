#include "cvwindow.h"
#include <opencv2/core.hpp>
#include <opencv2/highgui.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <exception>

namespace {
// Like CVBridge's guarded(), with a plain char buffer: this library shares no types with the binary.
template <typename F> int guarded(char *err, size_t errlen, F body) {
    const char *msg = "unknown C++ exception";
    try {
        if (err && errlen) err[0] = 0;
        body();
        return 1;
    } catch (const std::exception &e) { // cv::Exception derives from std::exception
        msg = e.what();
    } catch (...) {}
    if (err && errlen) std::snprintf(err, errlen, "%s", msg);
    return 0;
}

// Qt's xcb platform plugin calls qFatal (abort) when DISPLAY names an X server it cannot reach, so
// the process would die inside namedWindow. Connect once ourselves first (libxcb, which the plugin
// itself uses, loaded at run time so building needs no X headers) and report a clear error instead.
// Returns 1 when the display is reachable or not ours to check (Wayland, another Qt platform).
int probe_x_display(char *err, size_t errlen) {
    const char *platform = std::getenv("QT_QPA_PLATFORM");
    if (platform && *platform && std::strncmp(platform, "xcb", 3) != 0) return 1;
    const char *display = std::getenv("DISPLAY");
    if (!display || !*display) return 1; // Wayland-only session: Qt picks its wayland plugin
    void *xcb = dlopen("libxcb.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!xcb) return 1; // Qt will report the missing library itself, without aborting us here
    using connect_fn = void *(*)(const char *, int *);
    using has_error_fn = int (*)(void *);
    using disconnect_fn = void (*)(void *);
    auto connect = (connect_fn)dlsym(xcb, "xcb_connect");
    auto has_error = (has_error_fn)dlsym(xcb, "xcb_connection_has_error");
    auto disconnect = (disconnect_fn)dlsym(xcb, "xcb_disconnect");
    int ok = 1;
    if (connect && has_error && disconnect) {
        void *c = connect(display, nullptr);
        if (!c || has_error(c)) {
            if (err && errlen) std::snprintf(err, errlen, "cannot connect to the X display DISPLAY=%s (is the X server running, and may this user connect to it?)", display);
            ok = 0;
        }
        if (c) disconnect(c);
    }
    dlclose(xcb);
    return ok;
}
} // namespace

extern "C" int cvw_abi_version(void) { return 1; }

extern "C" int cvw_open(const char *name, char *err, size_t errlen) {
    if (!probe_x_display(err, errlen)) return 0;
    return guarded(err, errlen, [&] { cv::namedWindow(name, cv::WINDOW_AUTOSIZE | cv::WINDOW_GUI_NORMAL); });
}

extern "C" int cvw_show(const char *name, const uint8_t *data, int width, int height, size_t stride, int channels,
                        char *err, size_t errlen) {
    return guarded(err, errlen, [&] {
        cv::Mat m(height, width, channels == 1 ? CV_8UC1 : CV_8UC3, const_cast<uint8_t *>(data), stride);
        cv::imshow(name, m);
    });
}

extern "C" int cvw_wait_key(int ms) {
    try { return cv::waitKey(ms); } catch (...) { return -1; }
}

extern "C" void cvw_close_all(void) {
    try { cv::destroyAllWindows(); } catch (...) {}
}
