"""Narrow the last stage of a FERVGG checkpoint (e.g. 256 -> 192 channels at 6x6) to start a
distilled fine-tune from (`train.py --init OUT --widths ...`).

The 6x6 stage and the classifier read most of the shipped model's weights per face: w32 at 1.61-1.66
ms per face against 1.40-1.42 for the same net with 192 channels there (`emotiond bench inference
--batches 2`, untrained exports, one round each, same minute). Training the narrow net from scratch
ended below the wide one (w28 distilled: 69.18 % against 70.24 %); starting it from the wide one's
weights keeps what they learned. Kept channels: the largest |BN gamma| x the L2 norm of the
weights that read the channel (next conv, or the classifier's nine inputs per channel).

  .venv/bin/python tools/train/prune.py tools/train/checkpoints/fervgg-w32-e160/best.pt 192 /tmp/pruned.pt
"""
import argparse
import os

import torch


def keep(gamma, readers, n):
    """Indices (sorted) of the n channels with the largest |gamma| * ||readers[:, c]||."""
    score = gamma.abs() * readers.norm(dim=0)
    return score.topk(n).indices.sort().values


def bn_slice(sd, prefix, idx):
    for k in ("weight", "bias", "running_mean", "running_var"):
        sd[f"{prefix}.{k}"] = sd[f"{prefix}.{k}"][idx].clone()


def prune_last_stage(sd, n):
    """features.8 (stage 4's first conv) and features.9 (its second) to n output channels; returns the
    state dict and the kept channels of each."""
    w8, w9, fc = sd["features.8.0.weight"], sd["features.9.0.weight"], sd["classifier.2.weight"]
    c9 = w9.shape[0]
    if fc.shape[1] != c9 * 9:
        raise SystemExit(f"classifier reads {fc.shape[1]} inputs, not 3x3x{c9}: not a 48 px FERVGG")
    if not 1 <= n <= c9:
        raise SystemExit(f"channels {n}: the last stage has {c9}, keep 1..{c9}")
    k8 = keep(sd["features.8.1.weight"], w9.permute(1, 0, 2, 3).reshape(w9.shape[1], -1).T, n)
    k9 = keep(sd["features.9.1.weight"], fc.reshape(fc.shape[0], c9, 9).permute(0, 2, 1).reshape(-1, c9), n)
    sd["features.8.0.weight"] = w8[k8].clone()
    bn_slice(sd, "features.8.1", k8)
    sd["features.9.0.weight"] = w9[k9][:, k8].clone()
    bn_slice(sd, "features.9.1", k9)
    cols = (k9[:, None] * 9 + torch.arange(9)[None, :]).reshape(-1)   # flatten order: channel-major
    sd["classifier.2.weight"] = fc[:, cols].clone()
    return sd, {"features.8": k8.tolist(), "features.9": k9.tolist()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("channels", type=int, help="channels of the last stage after pruning")
    ap.add_argument("out")
    a = ap.parse_args()
    if not os.path.isfile(a.checkpoint):
        raise SystemExit(f"{a.checkpoint}: no such checkpoint file")
    if os.path.exists(a.out) and os.path.samefile(a.out, a.checkpoint):
        raise SystemExit(f"{a.out}: the output would overwrite the checkpoint it prunes")
    ck = torch.load(a.checkpoint, weights_only=False, map_location="cpu")
    if ck.get("arch") != "fervgg":
        raise SystemExit(f"{a.checkpoint}: arch {ck.get('arch')}, not fervgg")
    sd, kept = prune_last_stage(dict(ck["model"]), a.channels)
    widths = list(ck.get("widths") or [ck["width"] * m for m in (1, 2, 4, 8)])
    widths[3] = a.channels
    torch.save({"model": sd, "arch": "fervgg", "width": ck["width"], "widths": widths, "acc": ck["acc"],
                "epoch": ck["epoch"], "pruned_from": a.checkpoint, "kept": kept}, a.out)
    print(f"{a.checkpoint} -> {a.out}: widths {widths}")


if __name__ == "__main__":
    main()
