#!/usr/bin/env python3
"""Renders the confusion matrix from `emotiond eval --json` output to a PNG for the model card.
  .build/release/emotiond eval --fer2013 FILE --json > /tmp/eval.json
  .venv/bin/python tools/train/confusion_png.py /tmp/eval.json models/emotion-fer4.confusion.png"""
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

r = json.load(open(sys.argv[1]))
c = np.array(r["confusion"], dtype=float)
norm = c / np.maximum(c.sum(1, keepdims=True), 1)
labels = r["labels"]
fig, ax = plt.subplots(figsize=(7, 6))
im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
ax.set_xticks(range(7)); ax.set_xticklabels(labels, rotation=45, ha="right")
ax.set_yticks(range(7)); ax.set_yticklabels(labels)
ax.set_xlabel("predicted"); ax.set_ylabel("true")
for i in range(7):
    for j in range(7):
        ax.text(j, i, f"{int(c[i, j])}\n{norm[i, j]:.2f}", ha="center", va="center", fontsize=7,
                color="white" if norm[i, j] > 0.5 else "black")
ax.set_title(f"FER2013 PublicTest, emotiond engine: accuracy {r['accuracy']*100:.2f}%, macro-F1 {r['macroF1']:.3f}")
fig.colorbar(im, ax=ax, fraction=0.046)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
