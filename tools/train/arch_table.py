#!/usr/bin/env python3
"""Cost of candidate architectures for the default model (issue #13's budget: <= 2 ms per face in
our engine, batch 1, one thread, including the default flip TTA, i.e. two views per face).

Exports each candidate with random weights (cost does not depend on the weights) and prints
parameters and MACs; `emotiond bench inference` then times each file in our engine and onnxruntime:

  .venv/bin/python tools/train/arch_table.py --out /tmp/arch
  for f in /tmp/arch/*.onnx; do .build/release/emotiond bench inference "$f" --batches 1,2 --rounds 5; done
"""
import argparse, os, sys
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
from train import build, export  # noqa: E402

CANDIDATES = [("fer4", 32), ("fer4", 48), ("fervgg", 24), ("fervgg", 32), ("ferresnet", 32), ("ferresnet", 48)]


def macs(model):
    total = 0

    def hook(m, inp, out):
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += m.in_features * m.out_features
    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()(torch.zeros(1, 1, 48, 48))
    for h in hs:
        h.remove()
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    print("| architecture | params | MACs per view |")
    print("| --- | --- | --- |")
    for arch, w in CANDIDATES:
        m = build(arch, w)
        params = sum(p.numel() for p in m.parameters())
        print(f"| {arch} w{w} | {params / 1e6:.2f} M | {macs(m) / 1e6:.1f} M |")
        export(m, os.path.join(a.out, f"{arch}-w{w}.onnx"), arch, {})


if __name__ == "__main__":
    main()
