// simcam: a simulated UVC camera for tests, loaded with LD_PRELOAD.
//
// It interposes open/close/ioctl/mmap/munmap/poll for one device path and speaks the real
// V4L2 streaming protocol (QUERYCAP, ENUM_FMT, ENUM_FRAMESIZES, ENUM_FRAMEINTERVALS,
// G/S/TRY_FMT, G/S_PARM, REQBUFS, QUERYBUF, mmap, QBUF, DQBUF, STREAMON/OFF), serving frames
// decoded from a real video by ffmpeg (raw YUYV, or a stream of JPEGs for MJPEG), paced at the
// negotiated frame rate. So the capture code under test is exactly the code a camera would run.
//
// Environment:
//   SIMCAM_DEVICE   device path to take over (a regular file should exist there for stat())
//   SIMCAM_YUYV     raw yuyv422 frames file (SIMCAM_WIDTH x SIMCAM_HEIGHT)   } at least one
//   SIMCAM_MJPEG    concatenated JPEG frames file                           }
//   SIMCAM_GREY     set to also offer GREY (8-bit gray): the Y bytes of the SIMCAM_YUYV frames
//   SIMCAM_WIDTH, SIMCAM_HEIGHT   frame size (default 640x480)
//   SIMCAM_DEBUG    set to trace opens/ioctls on stderr
//   SIMCAM_FAULTS   comma list: busy | unplug@N:MS | eio@N | corrupt@N | stall@N:MS
//                   (N counts frames handed to the application since start, across reopens)
//
// Not emulated (fidelity limits): controls (VIDIOC_*CTRL), USERPTR/DMABUF memory, select(),
// read() I/O, multiple open file handles on the same device, interlaced fields, several frame
// sizes (one discrete size is advertised), and exact UVC timing jitter; dropped frames appear as
// sequence gaps when the consumer is slower than the frame rate.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAXBUF 16
#define MAXFRAMES 4096
#define MAXFAULTS 32

typedef struct { char kind; long at; long ms; int done; } fault;

static struct {
    int init, fd, streaming, width, height, fps_num, fps_den, nbuf, grey;
    uint32_t pixfmt;
    unsigned char *yuyv; size_t yuyv_len; long yuyv_frames;
    unsigned char *mjpeg; size_t mj_off[MAXFRAMES], mj_len[MAXFRAMES]; long mj_frames;
    void *buf[MAXBUF]; size_t buflen; int queued[MAXBUF]; long qorder[MAXBUF]; long qcounter;
    double t0; long delivered; long seq; long ndeliv; /* frames handed out since load: fault positions */
    double unplugged_until; double stall_until; int busy;
    fault faults[MAXFAULTS]; int nfaults;
    const char *path;
} S = { .fd = -1 };

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static int (*real_open)(const char *, int, ...);
static int (*real_close)(int);
static int (*real_ioctl)(int, unsigned long, ...);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static int (*real_poll)(struct pollfd *, nfds_t, int);

static unsigned char *slurp(const char *p, size_t *len) {
    FILE *f = fopen(p, "rb"); if (!f) return NULL;
    fseek(f, 0, SEEK_END); long n = ftell(f); fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc(n > 0 ? n : 1);
    if (fread(d, 1, n, f) != (size_t)n) { fclose(f); free(d); return NULL; }
    fclose(f); *len = n; return d;
}

static void setup_once(void);
static pthread_once_t once = PTHREAD_ONCE_INIT;
// Thread-safe: other threads (runtime, BLAS, dispatch) make interposed calls while the first
// caller is still loading the frame files; everyone waits for the load to finish.
static void setup(void) { pthread_once(&once, setup_once); }

static void setup_once(void) {
    S.init = 1;
    real_open = dlsym(RTLD_NEXT, "open"); real_close = dlsym(RTLD_NEXT, "close");
    real_ioctl = dlsym(RTLD_NEXT, "ioctl"); real_mmap = dlsym(RTLD_NEXT, "mmap");
    real_munmap = dlsym(RTLD_NEXT, "munmap"); real_poll = dlsym(RTLD_NEXT, "poll");
    S.path = getenv("SIMCAM_DEVICE");
    S.width = getenv("SIMCAM_WIDTH") ? atoi(getenv("SIMCAM_WIDTH")) : 640;
    S.height = getenv("SIMCAM_HEIGHT") ? atoi(getenv("SIMCAM_HEIGHT")) : 480;
    S.fps_num = 1; S.fps_den = 30;
    if (getenv("SIMCAM_YUYV")) {
        S.yuyv = slurp(getenv("SIMCAM_YUYV"), &S.yuyv_len);
        if (S.yuyv) S.yuyv_frames = S.yuyv_len / ((size_t)S.width * S.height * 2);
    }
    if (getenv("SIMCAM_MJPEG")) {
        size_t len = 0; S.mjpeg = slurp(getenv("SIMCAM_MJPEG"), &len);
        for (size_t i = 0; S.mjpeg && i + 3 < len && S.mj_frames < MAXFRAMES; i++) {
            if (S.mjpeg[i] == 0xFF && S.mjpeg[i + 1] == 0xD8 && S.mjpeg[i + 2] == 0xFF) {
                size_t j = i + 2;
                while (j + 1 < len && !(S.mjpeg[j] == 0xFF && S.mjpeg[j + 1] == 0xD9)) j++;
                S.mj_off[S.mj_frames] = i; S.mj_len[S.mj_frames] = j + 2 - i; S.mj_frames++;
                i = j + 1;
            }
        }
    }
    S.grey = getenv("SIMCAM_GREY") && S.yuyv_frames;
    S.pixfmt = S.yuyv_frames ? V4L2_PIX_FMT_YUYV : V4L2_PIX_FMT_MJPEG;
    const char *fl = getenv("SIMCAM_FAULTS");
    if (fl) {
        char *dup = strdup(fl), *save = NULL;
        for (char *t = strtok_r(dup, ",", &save); t && S.nfaults < MAXFAULTS; t = strtok_r(NULL, ",", &save)) {
            fault f = {0};
            if (!strcmp(t, "busy")) { S.busy = 1; continue; }
            if (!strncmp(t, "unplug@", 7)) { f.kind = 'u'; sscanf(t + 7, "%ld:%ld", &f.at, &f.ms); }
            else if (!strncmp(t, "eio@", 4)) { f.kind = 'e'; f.at = atol(t + 4); }
            else if (!strncmp(t, "corrupt@", 8)) { f.kind = 'c'; f.at = atol(t + 8); }
            else if (!strncmp(t, "stall@", 6)) { f.kind = 's'; sscanf(t + 6, "%ld:%ld", &f.at, &f.ms); }
            else continue;
            S.faults[S.nfaults++] = f;
        }
        free(dup);
    }
}

static int ours(int fd) { return S.fd >= 0 && fd == S.fd; }
static int unplugged(void) { return now() < S.unplugged_until; }
static size_t frame_bytes(void) {
    if (S.pixfmt == V4L2_PIX_FMT_GREY) return (size_t)S.width * S.height;
    return S.pixfmt == V4L2_PIX_FMT_YUYV ? (size_t)S.width * S.height * 2 : (size_t)S.width * S.height * 2; // MJPEG: worst case
}

int open(const char *path, int flags, ...) {
    setup();
    mode_t mode = 0;
    if (flags & O_CREAT) { va_list ap; va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); }
    if (getenv("SIMCAM_DEBUG") && path && strstr(path, "video")) fprintf(stderr, "simcam: open %s fd=%d busy=%d\n", path, S.fd, S.busy);
    if (S.path && path && !strcmp(path, S.path)) {
        if (unplugged()) { errno = ENOENT; return -1; }
        if (S.busy || S.fd >= 0) { errno = EBUSY; return -1; }
        int fd = real_open("/dev/null", O_RDWR | (flags & O_CLOEXEC));
        if (fd < 0) return -1;
        S.fd = fd; S.streaming = 0; S.nbuf = 0;
        if (getenv("SIMCAM_DEBUG")) fprintf(stderr, "simcam: opened as %d\n", fd);
        return fd;
    }
    return real_open(path, flags, mode);
}
int open64(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & O_CREAT) { va_list ap; va_start(ap, flags); mode = va_arg(ap, int); va_end(ap); }
    return open(path, flags, mode);
}

int close(int fd) {
    setup();
    if (getenv("SIMCAM_DEBUG") && ours(fd)) fprintf(stderr, "simcam: close %d\n", fd);
    if (ours(fd)) {
        for (int i = 0; i < S.nbuf; i++) if (S.buf[i]) { real_munmap(S.buf[i], S.buflen); S.buf[i] = NULL; }
        S.nbuf = 0; S.fd = -1; S.streaming = 0;
    }
    return real_close(fd);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    setup();
    if (ours(fd)) {
        if (unplugged()) { errno = ENODEV; return MAP_FAILED; }
        long i = off / (long)S.buflen;
        if (i < 0 || i >= S.nbuf || len > S.buflen) { errno = EINVAL; return MAP_FAILED; }
        return S.buf[i]; // the app's view of the driver buffer
    }
    return real_mmap(addr, len, prot, flags, fd, off);
}
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) { return mmap(addr, len, prot, flags, fd, off); }

int munmap(void *addr, size_t len) {
    setup();
    for (int i = 0; i < S.nbuf; i++) if (S.buf[i] == addr) return 0; // freed on close / REQBUFS 0
    return real_munmap(addr, len);
}

static long current_frame(void) { return (long)((now() - S.t0) * S.fps_den / S.fps_num); }

static fault *fault_at(char kind, long seq) {
    for (int i = 0; i < S.nfaults; i++) if (S.faults[i].kind == kind && !S.faults[i].done && S.faults[i].at <= seq) return &S.faults[i];
    return NULL;
}

int poll(struct pollfd *fds, nfds_t n, int timeout) {
    setup();
    for (nfds_t k = 0; k < n; k++) {
        if (!ours(fds[k].fd)) continue;
        // Single-fd poll on the camera (what capture loops do).
        double deadline = timeout < 0 ? 1e30 : now() + timeout / 1000.0;
        for (;;) {
            if (unplugged()) { fds[k].revents = POLLERR | POLLHUP; return 1; }
            int anyq = 0; for (int i = 0; i < S.nbuf; i++) anyq |= S.queued[i];
            if (S.streaming && anyq && now() >= S.stall_until && current_frame() > S.delivered) { fds[k].revents = POLLIN; return 1; }
            if (now() >= deadline) { fds[k].revents = 0; return 0; }
            usleep(2000);
        }
    }
    return real_poll(fds, n, timeout);
}

static int enodev(void) { errno = ENODEV; return -1; }

int ioctl(int fd, unsigned long req, ...) {
    setup();
    va_list ap; va_start(ap, req); void *arg = va_arg(ap, void *); va_end(ap);
    if (getenv("SIMCAM_DEBUG")) fprintf(stderr, "simcam: ioctl fd=%d (ours %d) req=%lx\n", fd, S.fd, req);
    if (!ours(fd)) return real_ioctl(fd, req, arg);
    if (unplugged()) return enodev();
    switch (req) {
    case VIDIOC_QUERYCAP: {
        struct v4l2_capability *c = arg; memset(c, 0, sizeof *c);
        strcpy((char *)c->driver, "uvcvideo"); strcpy((char *)c->card, "simcam UVC Camera");
        strcpy((char *)c->bus_info, "usb-simcam-1"); c->version = 0x060100;
        c->device_caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
        c->capabilities = c->device_caps | V4L2_CAP_DEVICE_CAPS;
        return 0;
    }
    case VIDIOC_ENUM_FMT: {
        struct v4l2_fmtdesc *d = arg;
        uint32_t list[3]; int n = 0;
        if (S.yuyv_frames) list[n++] = V4L2_PIX_FMT_YUYV;
        if (S.mj_frames) list[n++] = V4L2_PIX_FMT_MJPEG;
        if (S.grey) list[n++] = V4L2_PIX_FMT_GREY;
        if (d->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || d->index >= (uint32_t)n) { errno = EINVAL; return -1; }
        d->pixelformat = list[d->index];
        d->flags = list[d->index] == V4L2_PIX_FMT_MJPEG ? V4L2_FMT_FLAG_COMPRESSED : 0;
        strcpy((char *)d->description, list[d->index] == V4L2_PIX_FMT_MJPEG ? "Motion-JPEG"
                                       : list[d->index] == V4L2_PIX_FMT_GREY ? "8-bit Greyscale" : "YUYV 4:2:2");
        return 0;
    }
    case VIDIOC_ENUM_FRAMESIZES: {
        struct v4l2_frmsizeenum *s = arg;
        if (s->index != 0) { errno = EINVAL; return -1; }
        s->type = V4L2_FRMSIZE_TYPE_DISCRETE; s->discrete.width = S.width; s->discrete.height = S.height;
        return 0;
    }
    case VIDIOC_ENUM_FRAMEINTERVALS: {
        struct v4l2_frmivalenum *v = arg;
        if (v->index > 1 || v->width != (uint32_t)S.width || v->height != (uint32_t)S.height) { errno = EINVAL; return -1; }
        v->type = V4L2_FRMIVAL_TYPE_DISCRETE; v->discrete.numerator = 1; v->discrete.denominator = v->index == 0 ? 30 : 15;
        return 0;
    }
    case VIDIOC_G_FMT: case VIDIOC_S_FMT: case VIDIOC_TRY_FMT: {
        struct v4l2_format *f = arg;
        if (f->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) { errno = EINVAL; return -1; }
        if (req != VIDIOC_G_FMT) {
            if (S.streaming) { errno = EBUSY; return -1; }
            uint32_t want = f->fmt.pix.pixelformat;
            uint32_t got = (want == V4L2_PIX_FMT_MJPEG && S.mj_frames) ? V4L2_PIX_FMT_MJPEG
                         : (want == V4L2_PIX_FMT_YUYV && S.yuyv_frames) ? V4L2_PIX_FMT_YUYV
                         : (want == V4L2_PIX_FMT_GREY && S.grey) ? V4L2_PIX_FMT_GREY : S.pixfmt;
            if (req == VIDIOC_S_FMT) S.pixfmt = got;
            f->fmt.pix.pixelformat = got;
        } else f->fmt.pix.pixelformat = S.pixfmt;
        f->fmt.pix.width = S.width; f->fmt.pix.height = S.height; f->fmt.pix.field = V4L2_FIELD_NONE;
        f->fmt.pix.bytesperline = f->fmt.pix.pixelformat == V4L2_PIX_FMT_YUYV ? S.width * 2
                                : f->fmt.pix.pixelformat == V4L2_PIX_FMT_GREY ? S.width : 0;
        f->fmt.pix.sizeimage = (uint32_t)frame_bytes();
        return 0;
    }
    case VIDIOC_G_PARM: case VIDIOC_S_PARM: {
        struct v4l2_streamparm *p = arg;
        if (req == VIDIOC_S_PARM) {
            uint32_t n = p->parm.capture.timeperframe.numerator, d = p->parm.capture.timeperframe.denominator;
            S.fps_den = (n && d && d / n <= 15) ? 15 : 30; S.fps_num = 1;
        }
        p->parm.capture.capability = V4L2_CAP_TIMEPERFRAME;
        p->parm.capture.timeperframe.numerator = S.fps_num; p->parm.capture.timeperframe.denominator = S.fps_den;
        return 0;
    }
    case VIDIOC_REQBUFS: {
        struct v4l2_requestbuffers *r = arg;
        if (r->memory != V4L2_MEMORY_MMAP) { errno = EINVAL; return -1; }
        if (S.streaming) { errno = EBUSY; return -1; }
        for (int i = 0; i < S.nbuf; i++) if (S.buf[i]) { real_munmap(S.buf[i], S.buflen); S.buf[i] = NULL; }
        S.nbuf = r->count > MAXBUF ? MAXBUF : r->count;
        long page = sysconf(_SC_PAGESIZE);
        S.buflen = (frame_bytes() + page - 1) / page * page;
        for (int i = 0; i < S.nbuf; i++) {
            S.buf[i] = real_mmap(NULL, S.buflen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            S.queued[i] = 0;
        }
        r->count = S.nbuf;
        return 0;
    }
    case VIDIOC_QUERYBUF: case VIDIOC_QBUF: {
        struct v4l2_buffer *b = arg;
        if (b->index >= (uint32_t)S.nbuf || b->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) { errno = EINVAL; return -1; }
        if (req == VIDIOC_QUERYBUF) {
            b->length = (uint32_t)S.buflen; b->m.offset = b->index * (uint32_t)S.buflen; b->memory = V4L2_MEMORY_MMAP;
            b->flags = S.queued[b->index] ? V4L2_BUF_FLAG_QUEUED : 0;
        } else {
            if (S.queued[b->index]) { errno = EINVAL; return -1; }
            S.queued[b->index] = 1; S.qorder[b->index] = S.qcounter++;
        }
        return 0;
    }
    case VIDIOC_STREAMON: S.streaming = 1; S.t0 = now(); S.delivered = 0; return 0;
    case VIDIOC_STREAMOFF: S.streaming = 0; for (int i = 0; i < S.nbuf; i++) S.queued[i] = 0; return 0;
    case VIDIOC_DQBUF: {
        struct v4l2_buffer *b = arg;
        if (!S.streaming) { errno = EINVAL; return -1; }
        long cur = current_frame();
        int idx = -1;
        for (int i = 0; i < S.nbuf; i++) if (S.queued[i] && (idx < 0 || S.qorder[i] < S.qorder[idx])) idx = i;
        if (idx < 0 || cur <= S.delivered || now() < S.stall_until) { errno = EAGAIN; return -1; }
        long seq = cur; // frames between the last delivery and now were dropped (no buffer was ready)
        long nth = S.ndeliv;
        fault *f;
        if ((f = fault_at('s', nth))) { f->done = 1; S.stall_until = now() + f->ms / 1000.0; errno = EAGAIN; return -1; }
        if ((f = fault_at('e', nth))) { f->done = 1; S.delivered = cur; errno = EIO; return -1; }
        S.ndeliv++;
        S.queued[idx] = 0; S.delivered = cur;
        memset(b, 0, sizeof *b);
        b->index = idx; b->type = V4L2_BUF_TYPE_VIDEO_CAPTURE; b->memory = V4L2_MEMORY_MMAP;
        b->sequence = (uint32_t)seq; b->field = V4L2_FIELD_NONE; b->flags = V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
        double t = now(); b->timestamp.tv_sec = (long)t; b->timestamp.tv_usec = (long)((t - (long)t) * 1e6);
        if (S.pixfmt == V4L2_PIX_FMT_YUYV) {
            size_t fb = (size_t)S.width * S.height * 2;
            memcpy(S.buf[idx], S.yuyv + (seq % S.yuyv_frames) * fb, fb); b->bytesused = (uint32_t)fb;
        } else if (S.pixfmt == V4L2_PIX_FMT_GREY) {
            size_t n = (size_t)S.width * S.height;
            const unsigned char *src = S.yuyv + (seq % S.yuyv_frames) * n * 2;
            for (size_t i = 0; i < n; i++) ((unsigned char *)S.buf[idx])[i] = src[2 * i];
            b->bytesused = (uint32_t)n;
        } else {
            long k = seq % S.mj_frames;
            size_t n = S.mj_len[k] < S.buflen ? S.mj_len[k] : S.buflen;
            memcpy(S.buf[idx], S.mjpeg + S.mj_off[k], n); b->bytesused = (uint32_t)n;
            if ((f = fault_at('c', nth))) { f->done = 1; memset((char *)S.buf[idx] + n / 4, 0x5A, n / 2); b->bytesused = (uint32_t)(n / 2); }
        }
        if ((f = fault_at('u', nth))) { f->done = 1; S.unplugged_until = now() + f->ms / 1000.0; }
        return 0;
    }
    default:
        errno = ENOTTY; return -1;
    }
}
