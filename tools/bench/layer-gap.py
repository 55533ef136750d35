#!/usr/bin/env python3
"""Where our engine loses time to onnxruntime, layer by layer: `emotiond bench inference
--profile` (median per layer) beside onnxruntime's profiler (tools/bench/ort_profile.py), one
thread, batch 1, alternating for --rounds rounds (each layer's best round counts). Prints the layers with the largest gap first and the
totals per layer kind. Layers onnxruntime fused away (Relu, Add into a Conv) count as 0 there.

    .venv/bin/python tools/bench/layer-gap.py Tests/fixtures/generated/resnet18.onnx [--runs 20] [--top 25]
"""
import argparse, collections, os, re, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


FUSED = {"Relu", "Clip", "Add", "Sum", "BatchNormalization", "LeakyRelu", "Sigmoid"}


def ort_to_node(model_path):
    """Maps onnxruntime's profiled names to our layer names (the ONNX node names). onnxruntime
    names a fused convolution after its output tensor (`/net/relu/Relu_output_0_nchwc` for
    Conv + Relu, or Conv + Add + Relu): walk from that tensor's producer back through the ops it
    fuses to the convolution."""
    import onnx
    g = onnx.load(model_path, load_external_data=False).graph
    producer = {o: n for n in g.node for o in n.output}

    def base(node):
        seen = 0
        while node.op_type in FUSED and seen < 8:
            ins = [producer[i] for i in node.input if i in producer]
            convs = [n for n in ins if n.op_type == "Conv"]
            if not ins:
                break
            node, seen = (convs[-1] if convs else ins[0]), seen + 1
        return node.name

    def mapped(name):
        tensor = re.sub(r"_nchwc$", "", name)
        return base(producer[tensor]) if tensor in producer else name
    return mapped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--emotiond", default=os.path.join(ROOT, ".build/release/emotiond"))
    a = ap.parse_args()
    mapped = ort_to_node(a.model)
    ours, theirs = {}, collections.defaultdict(lambda: float("inf"))
    for _ in range(a.rounds):   # alternating; each layer's best round (a shared host's slow phases)
        out = subprocess.run([a.emotiond, "bench", "inference", a.model, "--batches", "1", "--runs", str(a.runs),
                              "--rounds", "1", "--profile", "--no-peers"], check=True, capture_output=True, text=True).stdout
        for m in re.finditer(r"^(\w+)\s+(\S+)\s+\[[^\]]*\]\s+([\d.]+) ms$", out, re.M):
            ours[m[2]] = (m[1], min(float(m[3]), ours.get(m[2], ("", float("inf")))[1]))
        prof = subprocess.run([sys.executable, os.path.join(ROOT, "tools/bench/ort_profile.py"), a.model, "--runs",
                               str(a.runs)], check=True, capture_output=True, text=True).stdout
        round_ = collections.defaultdict(float)
        for n, t in (l.split() for l in prof.splitlines() if l.strip()):
            round_[mapped(n)] += float(t)
        for n, t in round_.items():
            theirs[n] = min(theirs[n], t)
    ours = [(kind, name, ms) for name, (kind, ms) in ours.items()]
    rows, kinds = [], collections.defaultdict(lambda: [0.0, 0.0])
    for kind, name, ms in ours:
        peer = theirs.get(name, 0.0)
        rows.append((ms - peer, ms, peer, kind, name))
        kinds[kind][0] += ms
        kinds[kind][1] += peer
    rows.sort(reverse=True)
    print(f"{'gap ms':>8} {'ours':>8} {'ort':>8}  layer")
    for gap, ms, peer, kind, name in rows[: a.top]:
        print(f"{gap:+8.3f} {ms:8.3f} {peer:8.3f}  {kind:12s} {name}")
    print("per kind (ours / onnxruntime, ms):")
    for kind, (o, p) in sorted(kinds.items(), key=lambda kv: -kv[1][0]):
        print(f"  {kind:14s} {o:8.3f} {p:8.3f}")
    print(f"  {'all layers':14s} {sum(r[1] for r in rows):8.3f} {sum(theirs.values()):8.3f}")


if __name__ == "__main__":
    main()
