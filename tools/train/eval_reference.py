#!/usr/bin/env python3
"""Reference evaluation of an ONNX emotion model on FER2013 rows with onnxruntime
(a peer no one here wrote). Writes {"accuracy", "samples", "confusion", "pytorch_accuracy"}
as JSON; `pytorch_accuracy` is the PyTorch evaluation of the checkpoint the ONNX was
exported from, as recorded by tools/train/train.py in the model's metadata. Runs the views the
model's `tta` metadata declares (flip: the mean of the face and its mirror), as emotiond does.
Several --model: an ensemble, each member's probabilities (with its own TTA, mean/std) averaged
per face, as `emotiond eval --model A --model B` does; members must list the same labels."""
import argparse, gzip, json
import numpy as np
import onnx, onnxruntime as ort

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True, action="append", help="repeat for an ensemble")
ap.add_argument("--csv", required=True)
ap.add_argument("--usage", default="PublicTest")
ap.add_argument("--out", required=True)
a = ap.parse_args()
xs, ys = [], []
with (gzip.open if a.csv.endswith(".gz") else open)(a.csv, "rt") as f:
    f.readline()
    for line in f:
        e, px, usage = line.strip().split(",")
        if usage == a.usage:
            xs.append(np.array(px.split(), dtype=np.float32).reshape(1, 48, 48)); ys.append(int(e))
pixels = np.stack(xs) / 255.0


def member_probs(path):
    """One model's probabilities for every face, with its own normalisation and declared TTA."""
    meta = {p.key: p.value for p in onnx.load(path).metadata_props}
    x = (pixels - float(meta.get("mean", 0))) / float(meta.get("std", 1))
    so = ort.SessionOptions(); so.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    flip = meta.get("tta", "none") == "flip"  # the views the model declares, as emotiond runs them

    def probs(xb):
        p = sess.run(None, {name: xb.astype(np.float32)})[0]
        return (p + sess.run(None, {name: xb[..., ::-1].copy().astype(np.float32)})[0]) / 2 if flip else p
    return meta, np.concatenate([probs(x[i:i + 256]) for i in range(0, len(x), 256)])


members = [member_probs(m) for m in a.model]
labels = {m[0].get("labels") for m in members}
assert len(labels) == 1, f"ensemble members list different labels: {labels}"
meta = members[0][0]
pred = np.mean([p for _, p in members], axis=0).argmax(1)
y = np.array(ys)
conf = np.zeros((7, 7), dtype=int)
for t, p in zip(y, pred):
    conf[t, p] += 1
out = {"accuracy": float((pred == y).mean()), "samples": int(len(y)), "confusion": conf.tolist(),
       "pytorch_accuracy": float(meta["publictest_accuracy"]) if "publictest_accuracy" in meta and len(members) == 1 else None}
json.dump(out, open(a.out, "w"))
print(json.dumps({k: out[k] for k in ("accuracy", "samples", "pytorch_accuracy")}))
