#!/usr/bin/env python3
"""Trains an emotiond emotion model on FER2013 and exports it to ONNX (recipe v2).

Built for a 2-core CPU: bf16 autocast + channels_last (~3x fp32 on AVX512-BF16: FER4 w32
66 -> 22 s/epoch), and every augmentation is a tensor op on the whole batch (no per-sample
Python), so the cores stay on the model. Runs are resumable across sessions and machines:
`<run>/last.pt` (model, EMA, optimizer, schedule, RNG; fp32, a few MB) is rewritten
atomically every epoch, `<run>/best.pt` holds the best EMA weights, `<run>/log.ndjson` one line
per epoch. Commit `tools/train/checkpoints/<run>/` when stopping; `--resume` continues.

  .venv/bin/python tools/train/train.py --arch fervgg --epochs 160 --run tools/train/checkpoints/fervgg-v2
  .venv/bin/python tools/train/train.py --arch fervgg --epochs 160 --run tools/train/checkpoints/fervgg-v2 --resume
  .venv/bin/python tools/train/train.py --arch fervgg --run tools/train/checkpoints/fervgg-v2 --export-only \
      --out models/emotion-fervgg.onnx

Recipe: random affine (rotation +-15 deg, scale 0.85-1.15, shift +-12 %: the random shifted /
resized crops of the >= 72 % recipes, kept at the 48 px input), horizontal flip, random erasing,
CutMix or mixup on alternating batches, label smoothing 0.1, class weights 1/sqrt(frequency),
SGD Nesterov with linear warm-up then cosine decay, EMA of the weights (decay 0.999) which is what
is evaluated, selected and exported. Selection on PublicTest (with the flip TTA that the
exported metadata declares); Training alone is used to fit.
"""
import argparse, copy, gzip, json, math, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from models import FER4, FERResNet, FERVGG, MiniXception, VGGish, WithSoftmax  # noqa: E402

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
MEAN, STD = 0.5, 0.25
CROP_MARGIN = 0.02  # measured by tools/train/calibrate_crop.py: a Haar box is ~0.96 of the FER2013 crop side
DEFAULT_CSV = os.path.join(os.path.dirname(__file__), "../../../shared/data/fer2013/fer2013-train-public.csv.gz")
CACHE_DIR = os.path.join(os.path.dirname(__file__), "cache")  # git-ignored: decoded rows never enter the repo


def load_fer(csv_path, cache_dir=CACHE_DIR, limit=None):
    """Returns {usage: (images uint8 [N,48,48], labels int64 [N])}; caches as .npz (git-ignored).
    `limit` keeps N evenly spaced rows of each usage (smoke tests; the CSV is sorted by label).
    A `.webp.npz` path is the lossless pack made by tools/train/pack_data.py (for a remote machine)."""
    if csv_path.endswith(".webp.npz"):
        from pack_data import unpack
        return subset(unpack(csv_path), limit)
    os.makedirs(cache_dir, exist_ok=True)
    cache = os.path.join(cache_dir, "fer2013.npz")
    if os.path.exists(cache) and os.path.getmtime(cache) >= os.path.getmtime(csv_path):
        z = np.load(cache)
        return subset({u: (z[f"{u}_x"], z[f"{u}_y"]) for u in ("Training", "PublicTest")}, limit)
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
    return subset(out, limit)


def subset(data, limit):
    if limit is None:
        return data
    pick = lambda n: np.linspace(0, n - 1, min(n, limit)).astype(int)  # noqa: E731
    return {u: (x[pick(len(x))], y[pick(len(x))]) for u, (x, y) in data.items()}


def build(arch, width, widths=None):
    """widths: per-stage channels (fervgg), e.g. (32, 64, 128, 192); default width × (1, 2, 4, 8)."""
    if arch == "fer4":
        return FER4(width=width)
    if arch == "fervgg":
        return FERVGG(widths=tuple(widths) if widths else tuple(width * m for m in (1, 2, 4, 8)))
    if arch == "ferresnet":
        return FERResNet(widths=tuple(width * m for m in (1, 2, 4, 8)))
    if arch == "minixception":
        return MiniXception()
    if arch == "vggish":
        return VGGish(widths=tuple(width * m for m in (1, 2, 4, 8)))
    raise SystemExit(f"unknown arch {arch}")


def augment(x, gen):
    """x: float [B,1,48,48] in normalised units. Random affine + flip + erasing, all batched."""
    b, dev = x.shape[0], x.device
    rand = lambda *shape: torch.rand(*shape, generator=gen, device=dev)  # noqa: E731
    u = lambda: rand(b) * 2 - 1  # noqa: E731
    ang, scale, tx, ty = u() * math.radians(15), 1 + u() * 0.15, u() * 0.24, u() * 0.24
    flip = torch.where(rand(b) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    x = F.grid_sample(x, F.affine_grid(theta, x.shape, align_corners=False), padding_mode="border", align_corners=False)
    # Random erasing (half the images): a 10-20 px square, as one mask over the batch.
    s = torch.randint(10, 21, (b, 1, 1), generator=gen, device=dev)
    y0 = (rand(b, 1, 1) * (48 - s)).long()
    x0 = (rand(b, 1, 1) * (48 - s)).long()
    r = torch.arange(48, device=dev)
    rows = (r.view(1, 48, 1) >= y0) & (r.view(1, 48, 1) < y0 + s)
    cols = (r.view(1, 1, 48) >= x0) & (r.view(1, 1, 48) < x0 + s)
    on = (rand(b, 1, 1) < 0.5)
    return x.masked_fill((rows & cols & on).unsqueeze(1), 0.0)


def mix(x, y1h, step, gen):
    """CutMix on even steps, mixup on odd ones (alpha 1.0 / 0.2); returns mixed x and soft targets."""
    perm = torch.randperm(x.shape[0], generator=gen, device=x.device)
    if step % 2 == 0:
        lam = float(torch.distributions.Beta(1.0, 1.0).sample())
        cut = int(48 * math.sqrt(1 - lam))
        cy, cx = (int(v) for v in torch.randint(0, 48, (2,), generator=gen, device=x.device))
        ya, yb, xa, xb = max(cy - cut // 2, 0), min(cy + cut // 2, 48), max(cx - cut // 2, 0), min(cx + cut // 2, 48)
        x = x.clone()
        x[:, :, ya:yb, xa:xb] = x[perm, :, ya:yb, xa:xb]
        lam = 1 - (yb - ya) * (xb - xa) / (48 * 48)
    else:
        lam = float(torch.distributions.Beta(0.2, 0.2).sample())
        x = lam * x + (1 - lam) * x[perm]
    return x, lam * y1h + (1 - lam) * y1h[perm]


def to_input(imgs):
    """uint8 [N,48,48] (numpy, or a tensor already on the training device) -> normalised [N,1,48,48]."""
    t = torch.from_numpy(imgs) if isinstance(imgs, np.ndarray) else imgs
    return (t.float().unsqueeze(1) / 255.0 - MEAN) / STD


def predict(model, x, batch=512, tta=True):
    """Softmax probabilities [N,7] (on x's device); with TTA, the mean over the image and its mirror
    (what the exported metadata's `tta: flip` makes emotiond run)."""
    model.eval()
    out = []
    dev = x.device.type if torch.is_tensor(x) else "cpu"
    with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16):
        for i in range(0, len(x), batch):
            xb = to_input(x[i:i + batch]).contiguous(memory_format=torch.channels_last)
            p = F.softmax(model(xb).float(), 1)
            if tta:
                p = (p + F.softmax(model(torch.flip(xb, dims=[3])).float(), 1)) / 2
            out.append(p)
    return torch.cat(out)


def export(model, path, arch, meta_extra, tta="flip"):
    wrapped = WithSoftmax(copy.deepcopy(model).float().to(memory_format=torch.contiguous_format)).eval()
    meta = {"labels": ",".join(LABELS), "input_size": "48x48", "color": "gray", "mean": str(MEAN), "std": str(STD),
            "crop_margin": str(CROP_MARGIN), "tta": tta, "architecture": arch, "dataset": "FER2013 (Training split)"}
    meta.update(meta_extra)
    write_onnx(wrapped, (1, 1, 48, 48), path, meta, "emotiond tools/train/train.py")


def write_onnx(net, shape, path, meta, producer):
    """`net` (eval mode, probabilities out) as ONNX opset 13 with a dynamic batch, `meta` as its
    metadata (emotiond's model contract reads it), checked by onnx's checker. Shared by every recipe."""
    import onnx
    torch.onnx.export(net, torch.zeros(*shape), path, dynamo=False, opset_version=13,
                      input_names=["face"], output_names=["probs"],
                      dynamic_axes={"face": {0: "batch"}, "probs": {0: "batch"}})
    m = onnx.load(path)
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add(); p.key = k; p.value = v
    m.producer_name = producer
    onnx.checker.check_model(m)
    onnx.save(m, path)


def lr_at(step, total, warm, base):
    if step < warm:
        return base * (step + 1) / warm
    return base * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def compact(opt_state):
    """Momentum buffers stored as bf16: keeps last.pt of the 1.8 M-parameter fervgg under the 20 MB
    limit for committed checkpoints (fp32 would be 21 MB); the rounding is far below SGD's noise.
    Converts copies: state_dict() shares its per-parameter dicts with the live optimizer, and
    converting those in place left training with bf16 momentum (and broke the fused GPU step)."""
    state = {k: dict(st) for k, st in opt_state["state"].items()}
    for st in state.values():
        if st.get("momentum_buffer") is not None:
            st["momentum_buffer"] = st["momentum_buffer"].to(torch.bfloat16)
    return {**opt_state, "state": state}


def expand(opt_state):
    for st in opt_state["state"].values():
        if "momentum_buffer" in st and st["momentum_buffer"] is not None:
            st["momentum_buffer"] = st["momentum_buffer"].float()
    return opt_state


def save_atomic(obj, path):
    torch.save(obj, path + ".tmp")
    os.replace(path + ".tmp", path)


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", default=DEFAULT_CSV)
    ap.add_argument("--arch", default="fervgg", choices=["fer4", "fervgg", "ferresnet", "minixception", "vggish"])
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--widths", type=lambda v: [int(x) for x in v.split(",")],
                    help="fervgg: channels of the four stages, e.g. 32,64,128,192 (overrides --width)")
    ap.add_argument("--epochs", type=int, default=160)
    ap.add_argument("--warmup", type=int, default=5, help="epochs of linear LR warm-up")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--no-mix", action="store_true", help="no CutMix/mixup")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--limit", type=int, help="use the first N rows of each split (smoke test)")
    ap.add_argument("--max-epochs-now", type=int, help="stop after this many epochs in this invocation")
    ap.add_argument("--run", required=True, help="run directory (checkpoints, log)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", help="start from this checkpoint's weights (fresh optimizer and schedule)")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda on a machine with a GPU (the data moves there once)")
    ap.add_argument("--budget-seconds", type=float,
                    help="fit the schedule to a wall-clock budget: after two epochs, lower --epochs so the run ends in time")
    ap.add_argument("--teachers", help="comma-separated best.pt files: distil from their mean prediction on each batch")
    ap.add_argument("--kd-alpha", type=float, default=0.7, help="weight of the distillation term")
    ap.add_argument("--kd-temp", type=float, default=2.0, help="softmax temperature of the distillation term")
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument("--tta", choices=["flip", "none"], default="flip",
                    help="views the export declares; its publictest_accuracy is PyTorch's on those views")
    ap.add_argument("--out", help="ONNX path to export the best checkpoint to")
    return ap.parse_args()


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed); np.random.seed(args.seed)
    os.makedirs(args.run, exist_ok=True)
    model = build(args.arch, args.width, args.widths).to(memory_format=torch.channels_last)
    ckpt_path, best_path = os.path.join(args.run, "last.pt"), os.path.join(args.run, "best.pt")
    if args.export_only:
        ck = torch.load(best_path, weights_only=False, map_location="cpu")  # saved on a GPU too
        model = build(ck["arch"], ck["width"], ck.get("widths")).to(memory_format=torch.channels_last)
        model.load_state_dict(ck["model"])
        assert args.out, "--out required"
        xva, yva = load_fer(args.csv, limit=args.limit)["PublicTest"]
        acc = float((predict(model, xva, tta=args.tta == "flip").argmax(1).numpy() == yva).mean())
        meta = {"publictest_accuracy": f"{acc:.4f}", "epoch": str(ck["epoch"])}
        if os.path.exists(ckpt_path):  # the run's arguments: a distilled model names its teachers
            run_args = torch.load(ckpt_path, weights_only=False, map_location="cpu").get("args", {})
            if run_args.get("teachers"):
                meta["distilled_from"] = "; ".join(teacher_name(p) for p in run_args["teachers"].split(","))
        export(model, args.out, arch_name(ck), meta, args.tta)
        print(f"exported {best_path} (PyTorch PublicTest {acc:.4f}, TTA {args.tta}) to {args.out}")
        return
    train(args, model, ckpt_path, best_path)


def arch_name(ck):
    """"fervgg w32", or "fervgg 32-64-128-192" for a checkpoint trained with --widths."""
    widths = ck.get("widths")
    return f"{ck['arch']} " + ("-".join(map(str, widths)) if widths else f"w{ck['width']}")


def teacher_name(path):
    """"fervgg w32 (PublicTest 0.7024, tools/train/checkpoints/…/best.pt)" for a teacher checkpoint."""
    ck = torch.load(path, weights_only=False, map_location="cpu")
    return f"{arch_name(ck)} (PublicTest {ck['acc']:.4f}, {path})"


def load_teacher(path, dev):
    ck = torch.load(path, weights_only=False, map_location="cpu")
    m = build(ck["arch"], ck["width"], ck.get("widths"))
    m.load_state_dict(ck["model"])
    print(f"teacher {path}: {arch_name(ck)}, PublicTest {ck['acc']:.4f}", flush=True)
    return m.to(dev).to(memory_format=torch.channels_last).eval()


def ema_update(ema_f, model_f, ema_i, model_i, d):
    """One fused multiply-add per tensor list instead of a Python loop over ~60 tensors: on a GPU
    the per-tensor launches cost more than the model's own step."""
    torch._foreach_mul_(ema_f, d)
    torch._foreach_add_(ema_f, model_f, alpha=1 - d)
    for a, b in zip(ema_i, model_i):
        a.copy_(b)


def distil(loss, logits, teachers, xb, args):
    """(1 - alpha) * the label loss + alpha * T^2 * cross-entropy to the teachers' mean softened prediction."""
    t = args.kd_temp
    with torch.no_grad(), torch.autocast(xb.device.type, dtype=torch.bfloat16):
        pt = torch.stack([F.softmax(m(xb).float() / t, 1) for m in teachers]).mean(0)
    kd = -(pt * F.log_softmax(logits.float() / t, 1)).sum(1).mean() * t * t
    return (1 - args.kd_alpha) * loss + args.kd_alpha * kd


def fit_budget(args, t_begin, t_loop, steps_per_epoch, epoch, end):
    """After two timed epochs (epochs 1-2, still in the warm-up, whose learning rate does not depend
    on the length of the schedule), shorten the cosine schedule so that the run ends within the budget."""
    per_epoch = (time.time() - t_loop) / 2
    fit = epoch + int((args.budget_seconds - (time.time() - t_begin)) / per_epoch)
    args.epochs = max(epoch + 1, min(args.epochs, fit))
    print(f"budget {args.budget_seconds:.0f} s at {per_epoch:.2f} s/epoch: {args.epochs} epochs", flush=True)
    return args.epochs * steps_per_epoch, min(end, args.epochs)


def train(args, model, ckpt_path, best_path):
    t_begin = time.time()
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = load_fer(args.csv, limit=args.limit)
    xtr, ytr = data["Training"]; xva, yva = data["PublicTest"]
    counts = np.maximum(np.bincount(ytr, minlength=7), 1)
    cw = torch.tensor((counts.sum() / counts) ** 0.5, dtype=torch.float32)
    cw = (cw / cw.mean()).to(dev)
    xtr_d, ytr_d, xva_d = (torch.from_numpy(a).to(dev) for a in (xtr, ytr, xva))
    model.to(dev)
    teachers = [load_teacher(p, dev) for p in args.teachers.split(",")] if args.teachers else []
    if args.init and not (args.resume and os.path.exists(ckpt_path)):
        model.load_state_dict(torch.load(args.init, weights_only=False, map_location=dev)["model"])
        print(f"initialised from {args.init}", flush=True)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    split = lambda m, fl: [v for v in m.state_dict().values() if v.dtype.is_floating_point == fl]  # noqa: E731
    ema_lists = (split(ema, True), split(model, True), split(ema, False), split(model, False))
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0}],
                          lr=args.lr, momentum=0.9, nesterov=True)
    steps_per_epoch = math.ceil(len(xtr) / args.batch)
    total = args.epochs * steps_per_epoch
    warm = min(args.warmup * steps_per_epoch, total // 4)  # short (smoke) runs still reach the cosine part
    start, best = 0, 0.0
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, weights_only=False, map_location=dev)
        model.load_state_dict(ck["model"]); ema.load_state_dict(ck["ema"]); opt.load_state_dict(expand(ck["opt"]))
        start, best = ck["epoch"] + 1, ck["best"]
        torch.set_rng_state(ck["rng"])
        print(f"resumed at epoch {start}, best {best:.4f}", flush=True)
    gen = torch.Generator(device=dev).manual_seed(args.seed * 1000 + start)
    log = open(os.path.join(args.run, "log.ndjson"), "a")
    end = args.epochs if args.max_epochs_now is None else min(args.epochs, start + args.max_epochs_now)
    t_loop = time.time()
    epoch = start - 1
    while (epoch := epoch + 1) < end:  # not range(): fit_budget moves the end
        if epoch == start + 1:
            t_loop = time.time()  # the first epoch also pays for cuDNN's algorithm search: not timed
        if args.budget_seconds and epoch == start + 3:
            total, end = fit_budget(args, t_begin, t_loop, steps_per_epoch, epoch, end)
            if epoch >= end:
                break
        model.train()
        t0 = time.time()
        perm = torch.from_numpy(np.random.default_rng(args.seed * 7919 + epoch).permutation(len(xtr))).to(dev)
        tot, n = torch.zeros((), device=dev), 0
        for i in range(0, len(perm), args.batch):
            step = epoch * steps_per_epoch + i // args.batch
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, warm, args.lr)
            idx = perm[i:i + args.batch]
            xb = augment(to_input(xtr_d[idx]), gen)
            yb = F.one_hot(ytr_d[idx], 7).float()
            if not args.no_mix:
                xb, yb = mix(xb, yb, step, gen)
            yb = yb * 0.9 + 0.1 / 7  # label smoothing 0.1
            xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(dev.type, dtype=torch.bfloat16):
                logits = model(xb)
            logp = F.log_softmax(logits.float(), 1)
            loss = -((yb * logp) * cw).sum(1).mean()
            if teachers:
                loss = distil(loss, logits, teachers, xb, args)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                ema_update(*ema_lists, min(args.ema, (1 + step) / (10 + step)))
            tot += loss.detach() * len(idx); n += len(idx)
        acc = float((predict(ema, xva_d).argmax(1).cpu().numpy() == yva).mean())
        rec = {"epoch": epoch, "loss": float(tot) / n, "publictest_acc_ema_flip": acc, "lr": opt.param_groups[0]["lr"],
               "seconds": round(time.time() - t0, 1)}
        print(json.dumps(rec), flush=True); log.write(json.dumps(rec) + "\n"); log.flush()
        if acc > best:
            best = acc
            save_atomic({"model": ema.state_dict(), "acc": acc, "epoch": epoch, "arch": args.arch, "width": args.width,
                         "widths": args.widths}, best_path)
        save_atomic({"model": model.state_dict(), "ema": ema.state_dict(), "opt": compact(opt.state_dict()),
                     "epoch": epoch, "best": best, "rng": torch.get_rng_state(), "args": vars(args)}, ckpt_path)
    print(f"best PublicTest accuracy (EMA, flip TTA) {best:.4f}")


if __name__ == "__main__":
    main()
