#!/usr/bin/env python3
"""Trains the default emotiond model on FER2013 and exports it to ONNX.

Reproducible recipe: fixed seeds, deterministic data order, checkpoint every epoch
(`--resume` continues an interrupted run; training may span sessions).

  .venv/bin/python tools/train/train.py --arch fer4 --width 32 --epochs 60 --run runs/fer4-w32
  .venv/bin/python tools/train/train.py --run runs/fer4-w32 --export-only --out models/emotion-fer4.onnx
  # a second, shorter cycle from the best weights (warm restart):
  .venv/bin/python tools/train/train.py --arch fer4 --width 32 --epochs 20 --lr 0.01 --seed 2 \
      --init runs/fer4-w32/best.pt --run runs/fer4-w32-ft

Data: FER2013 CSV (emotion,pixels,Usage); trains on Training, selects the checkpoint on PublicTest.
Augmentation: random affine (shift ±10%, scale 0.9-1.1, rotation ±10°), horizontal flip,
random erasing. Class imbalance: cross-entropy weighted by 1/sqrt(class frequency),
plus label smoothing 0.1.
"""
import argparse, gzip, json, math, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from models import FER4, MiniXception, VGGish, WithSoftmax  # noqa: E402

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
MEAN, STD = 0.5, 0.25
CROP_MARGIN = 0.02  # measured by tools/train/calibrate_crop.py: a Haar box is ~0.96 of the FER2013 crop side
DEFAULT_CSV = os.path.join(os.path.dirname(__file__), "../../../shared/data/fer2013/fer2013-train-public.csv.gz")


def load_fer(csv_path, cache_dir):
    """Returns {usage: (images uint8 [N,48,48], labels int64 [N])}; caches as .npz (git-ignored)."""
    os.makedirs(cache_dir, exist_ok=True)
    cache = os.path.join(cache_dir, "fer2013.npz")
    if os.path.exists(cache) and os.path.getmtime(cache) >= os.path.getmtime(csv_path):
        z = np.load(cache)
        return {u: (z[f"{u}_x"], z[f"{u}_y"]) for u in ("Training", "PublicTest")}
    opener = gzip.open if csv_path.endswith(".gz") else open
    data = {"Training": ([], []), "PublicTest": ([], [])}
    with opener(csv_path, "rt") as f:
        header = f.readline().strip().split(",")
        assert header[:3] == ["emotion", "pixels", "Usage"], f"unexpected header {header}"
        for line in f:
            e, px, usage = line.strip().split(",")
            if usage in data:
                data[usage][0].append(np.array(px.split(), dtype=np.uint8).reshape(48, 48))
                data[usage][1].append(int(e))
    out = {u: (np.stack(x), np.array(y, dtype=np.int64)) for u, (x, y) in data.items()}
    np.savez(cache, **{f"{u}_x": v[0] for u, v in out.items()}, **{f"{u}_y": v[1] for u, v in out.items()})
    return out


def build(arch, width):
    if arch == "fer4":
        return FER4(width=width)
    if arch == "minixception":
        return MiniXception()
    if arch == "vggish":
        return VGGish(widths=tuple(width * m for m in (1, 2, 4, 8)))
    raise SystemExit(f"unknown arch {arch}")


def augment(x, gen):
    """x: float [B,1,48,48] in normalised units. Random affine + flip + erasing, batched."""
    b = x.shape[0]
    ang = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(10)
    scale = 1 + (torch.rand(b, generator=gen) * 2 - 1) * 0.1
    tx = (torch.rand(b, generator=gen) * 2 - 1) * 0.2
    ty = (torch.rand(b, generator=gen) * 2 - 1) * 0.2
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    # Random erasing of a 12-20 px square in half the images.
    for i in torch.nonzero(torch.rand(b, generator=gen) < 0.5).flatten().tolist():
        s = int(torch.randint(12, 21, (1,), generator=gen))
        y0, x0 = (int(v) for v in torch.randint(0, 48 - s, (2,), generator=gen))
        x[i, :, y0:y0 + s, x0:x0 + s] = 0
    return x


def to_input(imgs):
    return (torch.from_numpy(imgs).float().unsqueeze(1) / 255.0 - MEAN) / STD


def evaluate(model, x, y, batch=512, tta=False):
    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = to_input(x[i:i + batch])
            p = F.softmax(model(xb), 1)
            if tta:
                p = (p + F.softmax(model(torch.flip(xb, dims=[3])), 1)) / 2
            preds.append(p.argmax(1).numpy())
    pred = np.concatenate(preds)
    return float((pred == y).mean()), pred


def export(model, path, arch, meta_extra):
    import onnx
    wrapped = WithSoftmax(model).eval()
    torch.onnx.export(wrapped, torch.zeros(1, 1, 48, 48), path, dynamo=False, opset_version=13,
                      input_names=["face"], output_names=["probs"],
                      dynamic_axes={"face": {0: "batch"}, "probs": {0: "batch"}})
    m = onnx.load(path)
    meta = {"labels": ",".join(LABELS), "input_size": "48x48", "color": "gray", "mean": str(MEAN), "std": str(STD),
            "crop_margin": str(CROP_MARGIN), "architecture": arch, "dataset": "FER2013 (Training split)"}
    meta.update(meta_extra)
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add(); p.key = k; p.value = v
    m.producer_name = "emotiond tools/train/train.py"
    onnx.checker.check_model(m)
    onnx.save(m, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", default=DEFAULT_CSV)
    ap.add_argument("--arch", default="fer4", choices=["fer4", "minixception", "vggish"])
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--run", required=True, help="run directory (checkpoints, log)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", help="start from this checkpoint's weights (a second cycle; fresh optimizer and schedule)")
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument("--out", help="ONNX path to export the best checkpoint to")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed); np.random.seed(args.seed)
    os.makedirs(args.run, exist_ok=True)
    data = load_fer(args.csv, os.path.join(os.path.dirname(__file__), "checkpoints"))
    xtr, ytr = data["Training"]; xva, yva = data["PublicTest"]
    model = build(args.arch, args.width)
    ckpt_path, best_path = os.path.join(args.run, "last.pt"), os.path.join(args.run, "best.pt")

    if args.export_only:
        ck = torch.load(best_path, weights_only=False)
        model.load_state_dict(ck["model"])
        assert args.out, "--out required"
        export(model, args.out, args.arch, {"publictest_accuracy": f"{ck['acc']:.4f}", "epoch": str(ck["epoch"])})
        print(f"exported {best_path} (PublicTest {ck['acc']:.4f}) to {args.out}")
        return

    counts = np.bincount(ytr, minlength=7)
    weights = torch.tensor((counts.sum() / counts) ** 0.5, dtype=torch.float32)
    weights = weights / weights.mean()
    crit = nn.CrossEntropyLoss(weight=weights, label_smoothing=0.1)
    if args.init and not (args.resume and os.path.exists(ckpt_path)):
        model.load_state_dict(torch.load(args.init, weights_only=False)["model"])
        print(f"initialised from {args.init}", flush=True)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.wd)
    steps_per_epoch = math.ceil(len(xtr) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch, pct_start=0.15)
    start, best = 0, 0.0
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(ck["model"]); opt.load_state_dict(ck["opt"]); sched.load_state_dict(ck["sched"])
        start, best = ck["epoch"] + 1, ck["best"]
        torch.set_rng_state(ck["rng"])
        print(f"resumed at epoch {start}, best {best:.4f}", flush=True)
    gen = torch.Generator().manual_seed(args.seed * 1000 + start)
    log = open(os.path.join(args.run, "log.ndjson"), "a")
    for epoch in range(start, args.epochs):
        model.train()
        t0 = time.time()
        perm = np.random.default_rng(args.seed * 7919 + epoch).permutation(len(xtr))
        tot, n = 0.0, 0
        for i in range(0, len(perm), args.batch):
            idx = perm[i:i + args.batch]
            xb = augment(to_input(xtr[idx]), gen)
            yb = torch.from_numpy(ytr[idx])
            loss = crit(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step(); sched.step()
            tot += float(loss) * len(idx); n += len(idx)
        acc, _ = evaluate(model, xva, yva)
        rec = {"epoch": epoch, "loss": tot / n, "publictest_acc": acc, "lr": sched.get_last_lr()[0], "seconds": time.time() - t0}
        print(json.dumps(rec), flush=True); log.write(json.dumps(rec) + "\n"); log.flush()
        if acc > best:
            best = acc
            torch.save({"model": model.state_dict(), "acc": acc, "epoch": epoch, "arch": args.arch, "width": args.width}, best_path)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "epoch": epoch,
                    "best": best, "rng": torch.get_rng_state()}, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)
    print(f"best PublicTest accuracy {best:.4f}")


if __name__ == "__main__":
    main()
