#ifndef EMOTIOND_CV4L2_H
#define EMOTIOND_CV4L2_H
// V4L2 for Swift: the VIDIOC_* request codes and V4L2_PIX_FMT_* fourccs are macros that
// do not import into Swift, and ioctl(2) is variadic; this shim exports both.
#include <linux/videodev2.h>
#include <stdint.h>

extern const unsigned long EMO_VIDIOC_QUERYCAP, EMO_VIDIOC_ENUM_FMT, EMO_VIDIOC_ENUM_FRAMESIZES,
    EMO_VIDIOC_ENUM_FRAMEINTERVALS, EMO_VIDIOC_G_FMT, EMO_VIDIOC_S_FMT, EMO_VIDIOC_TRY_FMT,
    EMO_VIDIOC_G_PARM, EMO_VIDIOC_S_PARM, EMO_VIDIOC_REQBUFS, EMO_VIDIOC_QUERYBUF, EMO_VIDIOC_QBUF,
    EMO_VIDIOC_DQBUF, EMO_VIDIOC_STREAMON, EMO_VIDIOC_STREAMOFF;
extern const uint32_t EMO_PIX_FMT_YUYV, EMO_PIX_FMT_MJPEG, EMO_PIX_FMT_GREY, EMO_PIX_FMT_JPEG;
extern const uint32_t EMO_CAP_VIDEO_CAPTURE, EMO_CAP_STREAMING, EMO_CAP_DEVICE_CAPS;
extern const uint32_t EMO_BUF_TYPE_VIDEO_CAPTURE, EMO_MEMORY_MMAP, EMO_FIELD_NONE, EMO_BUF_FLAG_ERROR;
extern const uint32_t EMO_FRMSIZE_TYPE_DISCRETE, EMO_FRMIVAL_TYPE_DISCRETE;

/// ioctl(2) with one pointer argument, retried on EINTR. Returns 0 or -errno.
int emo_ioctl(int fd, unsigned long request, void *arg);
#endif
