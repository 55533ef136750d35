#!/usr/bin/env python3
"""The seeds' systems, reproduced (issue #16): each seed architecture trained briefly, from scratch,
on FER2013 and exported as an emotiond emotion model (ONNX opset 13, dynamic batch, metadata that
emotiond's model contract reads: labels, input_size, color, mean, std, crop_margin, tta, architecture).

  nice -n 19 .venv/bin/python tools/train/seeds.py --arch fer4 --budget-seconds 300
  nice -n 19 .venv/bin/python tools/train/seeds.py --arch all --budget-seconds 300   # smallest first
  tools/train/seeds_table.sh                                                       # eval + bench -> markdown

No pretrained weights (nothing can be downloaded here): every net starts from its own init. The 48x48
gray faces are augmented at 48 px (train.py's batched affine/flip/erasing), then upsampled to the
net's input inside the batch (bilinear, as OpenCV's resize that `emotiond eval` uses) and, for RGB
nets, repeated in the three channels. The schedule is a function of wall-clock time: linear warm-up
over the first 5 % of --budget-seconds, then cosine to zero at the budget, AdamW, label smoothing 0.1,
class weights 1/sqrt(frequency), EMA of the weights (exported). "Brief" is the point: these rows show
what each architecture costs in emotiond and what a few minutes of CPU training buys, not its ceiling.
"""
import argparse, copy, json, math, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from train import DEFAULT_CSV, LABELS, MEAN, STD, CROP_MARGIN, augment, load_fer, ema_update, write_onnx  # noqa: E402
from models import FER4, VGGish  # noqa: E402

SIX = [l for l in LABELS if l != "fear"]  # the Inception seed's classes (it dropped fear)

# name: (constructor(classes), input side, colour, labels, batch, learning rate, what it is)
ARCHS = {
    "fer4": (lambda k: FER4(width=32, classes=k), 48, "gray", LABELS, 128, 2e-3,
             "4-conv CNN (tools/reference/models.py FER4, width 32)"),
    "mobilenet_v2": (lambda k: torchvision.models.mobilenet_v2(num_classes=k), 96, "rgb", LABELS, 64, 2e-3,
                     "torchvision mobilenet_v2"),
    "resnet18": (lambda k: torchvision.models.resnet18(num_classes=k), 64, "rgb", LABELS, 64, 2e-3,
                 "torchvision resnet18"),
    "vggish": (lambda k: VGGish(classes=k), 48, "gray", LABELS, 64, 1e-3,
               "VGG16-style: models.py VGGish, conv blocks 2-2-3-3 (10 conv + BN, 64-512 ch) + 3 FC (1024)"),
    "inception_v3": (lambda k: torchvision.models.inception_v3(num_classes=k, aux_logits=False, init_weights=True), 75,
                     "rgb", SIX, 64, 1e-3, "torchvision inception_v3, aux_logits=False, 6 classes (no fear)"),
}
ORDER = ["fer4", "mobilenet_v2", "resnet18", "vggish", "inception_v3"]


def batch_input(x, size, color):
    """x: normalised [B,1,48,48] -> [B,C,size,size], upsampled as tensor ops."""
    if size != 48:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.expand(-1, 3, -1, -1) if color == "rgb" else x


def data_for(labels, csv):
    data = load_fer(csv)
    keep = [LABELS.index(l) for l in labels]
    remap = np.full(7, -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    out = {}
    for u, (x, y) in data.items():
        m = remap[y] >= 0
        out[u] = (x[m], remap[y[m]])
    return out


def export(model, path, arch, size, color, labels, extra):
    n = 1 if color == "gray" else 3
    net = nn.Sequential(copy.deepcopy(model).float().to(memory_format=torch.contiguous_format), nn.Softmax(dim=1)).eval()
    per = lambda v: ",".join([str(v)] * n)  # noqa: E731  one value per channel, in the tensor's order
    meta = {"labels": ",".join(labels), "input_size": f"{size}x{size}", "color": color, "mean": per(MEAN),
            "std": per(STD), "crop_margin": str(CROP_MARGIN), "tta": "none", "architecture": arch,
            "dataset": "FER2013 (Training split)" + ("; fear rows dropped" if "fear" not in labels else "")}
    meta.update(extra)
    write_onnx(net, (1, n, size, size), path, meta, "emotiond tools/train/seeds.py")
    return net


def check_export(net, path, n, size):
    """onnxruntime vs PyTorch (fp32) on a random batch of 3: the file computes what was trained."""
    import onnxruntime as ort
    x = torch.rand(3, n, size, size) * 4 - 2
    with torch.no_grad():
        ref = net(x).numpy()
    so = ort.SessionOptions(); so.intra_op_num_threads = 2
    got = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"face": x.numpy()})[0]
    return float(np.abs(got - ref).max())


def run(arch, args):
    make, size, color, labels, bs, lr, desc = ARCHS[arch]
    torch.manual_seed(args.seed); np.random.seed(args.seed)
    k = len(labels)
    data = data_for(labels, args.csv)
    xtr, ytr = (torch.from_numpy(a) for a in data["Training"])
    counts = np.maximum(np.bincount(ytr.numpy(), minlength=k), 1)
    cw = torch.tensor((counts.sum() / counts) ** 0.5, dtype=torch.float32); cw = cw / cw.mean()
    model = make(k).to(memory_format=torch.channels_last)
    params = sum(p.numel() for p in model.parameters())
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    split = lambda m, fl: [v for v in m.state_dict().values() if v.dtype.is_floating_point == fl]  # noqa: E731
    ema_lists = (split(ema, True), split(model, True), split(ema, False), split(model, False))
    decay = [p for p in model.parameters() if p.ndim > 1]; no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0}], lr=lr)
    gen = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    budget = args.budget_seconds
    print(f"{arch}: {desc}; {size}x{size} {color}, {k} classes, {params/1e6:.2f} M params, batch {bs}, "
          f"lr {lr}, budget {budget:.0f} s, {len(xtr)} training faces", flush=True)
    t0 = time.time(); seen, step, perm, pos, tot, nb = 0, 0, rng.permutation(len(xtr)), 0, 0.0, 0
    model.train()
    while (el := time.time() - t0) < budget:
        f = el / budget
        for g in opt.param_groups:
            g["lr"] = lr * (f / 0.05 if f < 0.05 else 0.5 * (1 + math.cos(math.pi * (f - 0.05) / 0.95)))
        if pos + bs > len(perm):
            perm, pos = rng.permutation(len(xtr)), 0
        idx = torch.from_numpy(perm[pos:pos + bs]); pos += bs
        xb = augment((xtr[idx].float().unsqueeze(1) / 255.0 - MEAN) / STD, gen)
        xb = batch_input(xb, size, color).contiguous(memory_format=torch.channels_last)
        yb = F.one_hot(ytr[idx], k).float() * 0.9 + 0.1 / k
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(xb)
        loss = -((yb * F.log_softmax(logits.float(), 1)) * cw).sum(1).mean()
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        with torch.no_grad():
            ema_update(*ema_lists, min(0.998, (1 + step) / (10 + step)))
        step += 1; seen += len(idx); tot += float(loss); nb += 1
        if step % 50 == 0:
            print(f"  {el:6.0f} s step {step} epochs {seen/len(xtr):.2f} loss {tot/nb:.3f} lr {opt.param_groups[0]['lr']:.2e}",
                  flush=True)
            tot, nb = 0.0, 0
    train_s = time.time() - t0
    epochs = seen / len(xtr)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{arch}.onnx")
    net = export(ema, path, arch, size, color, labels,
                 {"training": f"seeds.py: from scratch, {train_s:.0f} s wall on CPU, {step} steps of {bs}, {epochs:.2f} epochs",
                  "epochs_seen": f"{epochs:.2f}", "training_seconds": f"{train_s:.0f}"})
    diff = check_export(net, path, 1 if color == "gray" else 3, size)
    rec = {"arch": arch, "description": desc, "input": f"{size}x{size} {color}", "classes": k, "params_m": round(params / 1e6, 2),
           "batch": bs, "budget_s": budget, "train_s": round(train_s, 1), "steps": step, "epochs": round(epochs, 3),
           "onnx": path, "ort_vs_torch_max_abs": diff}
    with open(os.path.join(args.out, f"{arch}.json"), "w") as fh:
        json.dump(rec, fh, indent=1)
    print(json.dumps(rec), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="all", help=f"one of {', '.join(ORDER)}, or 'all' (that order: smallest first)")
    ap.add_argument("--budget-seconds", type=float, default=300, help="wall-clock training budget per architecture")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "runs", "seeds"), help="(git-ignored)")
    ap.add_argument("--csv", default=DEFAULT_CSV)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    archs = ORDER if args.arch == "all" else args.arch.split(",")
    for a in archs:
        if a not in ARCHS:
            raise SystemExit(f"unknown arch {a} (known: {', '.join(ORDER)})")
    for a in archs:
        run(a, args)


if __name__ == "__main__":
    main()
