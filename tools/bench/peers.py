#!/usr/bin/env python3
"""Peer timings for `emotiond bench inference`: the same ONNX model under onnxruntime
and OpenCV DNN, one thread, random inputs.

Loads both peers once and prints {"onnxruntime": {"version": ...}, ...} (or an "error" per
peer) on one line, then answers each stdin line "BATCH RUNS" with one line
{"onnxruntime": ms, "opencv_dnn": ms} (medians of RUNS runs; 10 warm-up runs the first time a
batch size is asked for; a peer's error message in place of its time when a run fails).
emotiond keeps this process for the whole benchmark, so that each of its rounds times the peers
right after our engine: a process per round put seconds of interpreter and model start between
the two, and the shared host's speed changes within seconds (ratios per round of one Inception
v3 run ranged 0.55–1.81 that way)."""
import argparse, json, sys, time
import numpy as np


def median_ms(fn, runs, warmup=10):
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(runs):
        s = time.perf_counter(); fn(); t.append((time.perf_counter() - s) * 1e3)
    return float(np.median(t))


def load_peers(model):
    """{name: (run(x), version) or error string} for onnxruntime and OpenCV DNN, one thread each."""
    peers = {}
    try:
        import onnxruntime as ort
        so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        peers["onnxruntime"] = (lambda x: sess.run(None, {name: x}), ort.__version__)
    except Exception as e:  # report, don't hide
        peers["onnxruntime"] = str(e)
    try:
        import cv2
        cv2.setNumThreads(1)
        net = cv2.dnn.readNetFromONNX(model)
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV); net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

        def run(x):
            net.setInput(x); net.forward()
        peers["opencv_dnn"] = (run, cv2.__version__)
    except Exception as e:
        peers["opencv_dnn"] = str(e)
    return peers


def serve(peers, chw, rng):
    print(json.dumps({k: ({"error": p} if isinstance(p, str) else {"version": p[1]}) for k, p in peers.items()}), flush=True)
    inputs = {}
    for line in sys.stdin:
        b, runs = (int(v) for v in line.split())
        first = b not in inputs
        if first:
            inputs[b] = rng.standard_normal((b, *chw)).astype(np.float32)
        res = {}
        for key, peer in peers.items():
            if isinstance(peer, str):
                continue
            try:
                res[key] = median_ms(lambda: peer[0](inputs[b]), runs, warmup=10 if first else 1)
            except Exception as e:
                res[key] = str(e)
        print(json.dumps(res), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--shape", required=True, help="input shape without batch, e.g. 1x48x48")
    ap.add_argument("--serve", action="store_true", help="answer 'BATCH RUNS' lines on stdin (the only mode)")
    a = ap.parse_args()
    serve(load_peers(a.model), [int(v) for v in a.shape.split("x")], np.random.default_rng(0))


if __name__ == "__main__":
    main()
