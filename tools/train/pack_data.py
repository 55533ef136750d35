#!/usr/bin/env python3
"""Packs FER2013 Training + PublicTest losslessly for a training run on another machine.

A remote GPU machine receives only the repository's working tree, at most 64 MiB in all, and
cannot reach ../shared. The decoded rows are 74 MB (32,298 x 48 x 48 bytes); zlib saves 4 % and
xz 24 %, lossless WebP 28 % -> 54 MB (measured on this data), so each face is stored as one
lossless WebP. `unpack` checks that every image decodes to 48 x 48. The pack is written into a
git-ignored folder and never committed.

  .venv/bin/python tools/train/pack_data.py --out .gpu/fer2013.webp.npz
"""
import argparse, os, sys
import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))


def pack(data, out):
    blobs, offsets, arrays = [], [0], {}
    for usage, (x, y) in data.items():
        for img in x:
            ok, b = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 101])  # 101 = lossless
            assert ok, "WebP encoding failed"
            blobs.append(b.tobytes()); offsets.append(offsets[-1] + len(b))
        arrays[f"{usage}_y"], arrays[f"{usage}_n"] = y, np.array(len(y))
    np.savez(out, blob=np.frombuffer(b"".join(blobs), np.uint8), offsets=np.array(offsets), **arrays)


def unpack(path):
    z = np.load(path)
    blob, off = z["blob"], z["offsets"]
    out, i = {}, 0
    for usage in ("Training", "PublicTest"):
        n = int(z[f"{usage}_n"])
        x = np.stack([cv2.imdecode(blob[off[k]:off[k + 1]], cv2.IMREAD_GRAYSCALE) for k in range(i, i + n)])
        assert x.shape == (n, 48, 48), f"{path}: {usage} decoded to {x.shape}"
        out[usage], i = (x, z[f"{usage}_y"]), i + n
    return out


def main():
    from train import DEFAULT_CSV, load_fer
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", default=DEFAULT_CSV)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    data = load_fer(args.csv)
    pack(data, args.out)
    back = unpack(args.out)
    for u in data:
        assert np.array_equal(back[u][0], data[u][0]) and np.array_equal(back[u][1], data[u][1]), f"{u} not lossless"
    print(f"{args.out}: {os.path.getsize(args.out) / 1e6:.1f} MB, lossless round trip checked")


if __name__ == "__main__":
    main()
