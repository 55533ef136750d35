#!/usr/bin/env python3
"""Peer benchmark: the Python `fer` package (PyPI, Haar detector, its Keras/TFLite model)
on the same clip emotiond's `bench pipeline` uses. Prints frames/s, real-time factor,
peak RSS and the share of frames with a face, so the README can show the ratio.

Run through tools/bench/fer-peer.sh (creates .venv-fer with fer + tensorflow-cpu).
"""
import argparse, json, os, platform, resource, sys, time

import cv2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("video", nargs="?", default="media/WolfgangLanger_Pexels.mp4")
    ap.add_argument("--passes", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="TensorFlow/OpenCV threads (0: library default)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import fer as fer_pkg
    from fer.fer import FER  # fer 25.x no longer re-exports FER at the top level
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
        cv2.setNumThreads(args.threads)
    t_load = time.perf_counter()
    det = FER(mtcnn=False)  # Haar cascade, scaleFactor 1.1, minNeighbors 5, min face 50 px
    load_s = time.perf_counter() - t_load

    cap = cv2.VideoCapture(args.video)
    if not cap.isOpened():
        sys.exit(f"cannot open {args.video}")
    fps_in = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    if not frames:
        sys.exit(f"{args.video}: no frames")
    h, w = frames[0].shape[:2]
    # One warm-up frame (model graph build) outside the timing.
    det.detect_emotions(frames[0])
    with_face, n = 0, 0
    t0 = time.perf_counter()
    for _ in range(args.passes):
        for f in frames:
            res = det.detect_emotions(f)
            with_face += 1 if res else 0
            n += 1
    wall = time.perf_counter() - t0
    out = {
        "peer": f"fer {fer_pkg.__version__ if hasattr(fer_pkg, '__version__') else '?'} (tensorflow {tf.__version__}, opencv {cv2.__version__})",
        "video": args.video, "size": f"{w}x{h}", "frames": n, "seconds": wall,
        "fps": n / wall, "realtime_factor": (n / wall) / fps_in,
        "faces_in_frames": with_face / n, "model_load_s": load_s,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(f"peer      {out['peer']}")
        print(f"video     {args.video} {out['size']}, {n} frames")
        print(f"speed     {out['fps']:.1f} frames/s = {out['realtime_factor']:.2f}x real time")
        print(f"faces     in {100 * out['faces_in_frames']:.0f}% of frames")
        print(f"memory    peak RSS {out['peak_rss_mib']:.0f} MiB (model load {load_s:.2f} s)")


if __name__ == "__main__":
    main()
