#!/usr/bin/env python3
"""onnxruntime's own per-node times for one model, one thread, batch 1 (its profiler, medians of
--runs runs after 10 warm-up runs), printed as `NODE  MS` lines for tools/bench/layer-gap.py.
onnxruntime fuses Relu/Add into its convolutions and names the fused node after its last op."""
import argparse, collections, json, os, tempfile
import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        o = ort.SessionOptions()
        o.intra_op_num_threads = o.inter_op_num_threads = 1
        o.enable_profiling = True
        o.profile_file_prefix = os.path.join(tmp, "p")
        s = ort.InferenceSession(a.model, o, providers=["CPUExecutionProvider"])
        i = s.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        for _ in range(10):
            s.run(None, {i.name: x})
        for _ in range(a.runs):
            s.run(None, {i.name: x})
        events = json.load(open(s.end_profiling()))
    times = collections.defaultdict(list)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            times[e["name"][: -len("_kernel_time")]].append(e["dur"] / 1000)
    for name, t in times.items():
        # the first 10 are the warm-up runs
        print(f"{name} {float(np.median(t[10:] or t)):.4f}")


if __name__ == "__main__":
    main()
