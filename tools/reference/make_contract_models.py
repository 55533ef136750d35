#!/usr/bin/env python3
"""Small random-weight emotion models whose contract (metadata_props) is not FER2013's, for the
model-contract tests (Tests/EmotiondTests/ModelContractTests.swift). Random weights are enough:
the tests check that the outputs carry the model's labels and validate against its schemas.

Writes into OUT (default Tests/fixtures/generated/contract, git-ignored):
  six_rgb64.onnx        6 classes (no fear), RGB 64x64, ImageNet mean/std per channel
  ferplus8_gray48.onnx  8 FER+ classes (with contempt; FER+ names), gray 48x48
  inception6_bgr299.onnx  Inception-v3-shaped (stem, an Inception-A block, global pool), 6 classes
                        (one outside FER2013: "confused"), BGR 299x299, small widths
  bad_*.onnx            six_rgb64 with one inconsistent key each (the named-error tests)
  manifest.json         {file: {labels, input_size, color}}
"""
import argparse, copy, json, os, sys
import torch
import torch.nn as nn
import torch.nn.functional as F
import onnx

sys.path.insert(0, os.path.dirname(__file__))
from models import FER4, WithSoftmax, conv_bn, randomize_bn


class SmallNet(nn.Module):
    """3 conv blocks and global average pooling: any input size and channel count."""
    def __init__(self, cin, classes, w=8):
        super().__init__()
        self.features = nn.Sequential(conv_bn(cin, w), nn.MaxPool2d(2), conv_bn(w, 2 * w), nn.MaxPool2d(2),
                                      conv_bn(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(4 * w, classes)

    def forward(self, x):
        return self.fc(self.features(x))


class MiniInceptionA(nn.Module):
    """Inception v3's block A (1x1 | 1x1→5x5 | 1x1→3x3→3x3 | avg-pool→1x1, concatenated), narrow."""
    def __init__(self, cin, w=8):
        super().__init__()
        self.b1 = conv_bn(cin, w, 1, 1, 0)
        self.b5 = nn.Sequential(conv_bn(cin, 6, 1, 1, 0), conv_bn(6, w, 5, 1, 2))
        self.b3 = nn.Sequential(conv_bn(cin, w, 1, 1, 0), conv_bn(w, 12, 3, 1, 1), conv_bn(12, 12, 3, 1, 1))
        self.bp = conv_bn(cin, w, 1, 1, 0)

    def forward(self, x):
        p = F.avg_pool2d(x, 3, 1, 1)
        return torch.cat([self.b1(x), self.b5(x), self.b3(x), self.bp(p)], 1)


class TinyInceptionV3(nn.Module):
    """Inception v3's shape at 299x299 (its stem: 3x3 s2, 3x3, 3x3, max-pool, 1x1, 3x3, max-pool
    down to 35x35, then an A block, global pooling, dropout, FC) with widths 8-24 (~45 M MACs)."""
    def __init__(self, classes):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 8, 3, 2, 0), conv_bn(8, 8, 3, 1, 0), conv_bn(8, 16, 3, 1, 1),
                                  nn.MaxPool2d(3, 2), conv_bn(16, 16, 1, 1, 0), conv_bn(16, 24, 3, 1, 0),
                                  nn.MaxPool2d(3, 2))
        self.block = MiniInceptionA(24)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(36, classes))

    def forward(self, x):
        return self.head(self.block(self.stem(x)))


IMAGENET = {"mean": "0.485,0.456,0.406", "std": "0.229,0.224,0.225"}
SPECS = [
    # file, net, (C, H, W), metadata
    ("six_rgb64.onnx", lambda: SmallNet(3, 6), (3, 64, 64),
     dict(labels="angry,disgust,happy,sad,surprise,neutral", input_size="64x64", color="rgb", crop_margin="0.1", **IMAGENET)),
    ("ferplus8_gray48.onnx", lambda: FER4(width=8, classes=8, dropout=0.0), (1, 48, 48),
     dict(labels="neutral,happiness,surprise,sadness,anger,disgust,fear,contempt", input_size="48x48", color="gray",
          mean="0.5", std="0.25", crop_margin="0.05")),
    ("inception6_bgr299.onnx", lambda: TinyInceptionV3(6), (3, 299, 299),
     dict(labels="angry,happy,sad,surprise,neutral,confused", input_size="299x299", color="bgr", crop_margin="0.15",
          mean="0.5", std="0.5")),
]
# One inconsistent key each, on top of six_rgb64's metadata: (file, key, value).
BAD = [
    ("bad_label_count.onnx", "labels", "angry,happy,sad"),
    ("bad_input_size.onnx", "input_size", "48x48"),
    ("bad_mean_count.onnx", "mean", "0.5,0.5"),
    ("bad_color.onnx", "color", "gray"),
    ("bad_duplicate_label.onnx", "labels", "angry,angry,happy,sad,surprise,neutral"),
]


def export(net, chw, meta, path):
    wrapped = WithSoftmax(net, k=4.0).eval()
    torch.onnx.export(wrapped, torch.zeros(1, *chw), path, dynamo=False, opset_version=13, input_names=["face"],
                      output_names=["probs"], dynamic_axes={"face": {0: "batch"}, "probs": {0: "batch"}})
    set_metadata(path, meta)


def set_metadata(path, meta, out=None):
    m = onnx.load(path)
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add(); p.key = k; p.value = v
    m.producer_name = "emotiond tools/reference/make_contract_models.py"
    onnx.checker.check_model(m)
    onnx.save(m, out or path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../../Tests/fixtures/generated/contract"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(7)
    manifest = {}
    for name, ctor, chw, meta in SPECS:
        net = ctor()
        randomize_bn(net, g)
        export(net.eval(), chw, meta, os.path.join(args.out, name))
        manifest[name] = {k: meta[k] for k in ("labels", "input_size", "color")}
        print(f"{name}: {chw}, labels {meta['labels']}", file=sys.stderr)
    base = os.path.join(args.out, SPECS[0][0])
    for name, key, value in BAD:
        meta = dict(SPECS[0][3]); meta[key] = value
        set_metadata(base, meta, os.path.join(args.out, name))
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
