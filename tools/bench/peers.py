#!/usr/bin/env python3
"""Peer timings for `emotiond bench inference`: the same ONNX model under onnxruntime
and OpenCV DNN, one thread, random inputs, median of --runs runs per batch size.
Prints one JSON object: {"onnxruntime": {...}, "opencv_dnn": {...}} with per-batch
medians in milliseconds, versions, or an "error" per peer."""
import argparse, json, sys, time
import numpy as np


def median_ms(fn, runs, warmup=10):
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(runs):
        s = time.perf_counter(); fn(); t.append((time.perf_counter() - s) * 1e3)
    return float(np.median(t))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--shape", required=True, help="input shape without batch, e.g. 1x48x48")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--runs", type=int, default=200)
    a = ap.parse_args()
    chw = [int(v) for v in a.shape.split("x")]
    batches = [int(b) for b in a.batches.split(",")]
    rng = np.random.default_rng(0)
    out = {}
    try:
        import onnxruntime as ort
        so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        res = {}
        for b in batches:
            x = rng.standard_normal((b, *chw)).astype(np.float32)
            res[str(b)] = median_ms(lambda: sess.run(None, {name: x}), a.runs)
        out["onnxruntime"] = {"version": ort.__version__, "median_ms": res}
    except Exception as e:  # report, don't hide
        out["onnxruntime"] = {"error": str(e)}
    try:
        import cv2
        cv2.setNumThreads(1)
        net = cv2.dnn.readNetFromONNX(a.model)
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV); net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        res = {}
        for b in batches:
            x = rng.standard_normal((b, *chw)).astype(np.float32)
            def run():
                net.setInput(x); net.forward()
            res[str(b)] = median_ms(run, a.runs)
        out["opencv_dnn"] = {"version": cv2.__version__, "median_ms": res}
    except Exception as e:
        out["opencv_dnn"] = {"error": str(e)}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
