#!/usr/bin/env python3
"""Exports the reference models to ONNX and records onnxruntime outputs for random inputs.

Writes into OUT (default Tests/fixtures/generated, git-ignored):
  NAME.onnx, NAME.bN.input.f32, NAME.bN.output.f32 (raw little-endian float32)
  manifest.json: [{name, model, opset, batches: [{batch, input_shape, output_shape, input, output}]}]
The Swift test (ReferenceModelTests) runs our engine on the same inputs and
compares the softmax outputs with onnxruntime's (max abs diff <= 1e-4).
"""
import argparse, json, os, sys
import numpy as np
import torch, torchvision
import onnx, onnxruntime as ort

sys.path.insert(0, os.path.dirname(__file__))
from models import FER4, MiniXception, VGGish, OpZoo, WithSoftmax, randomize_bn

SPECS = [
    # name, constructor, input shape (C,H,W), opset
    ("fer4", lambda: FER4(), (1, 48, 48), 17),
    ("minixception", lambda: MiniXception(), (1, 48, 48), 13),
    ("vggish", lambda: VGGish(), (1, 48, 48), 12),
    ("opzoo", lambda: OpZoo(), (1, 48, 48), 11),
    ("mobilenet_v2", lambda: torchvision.models.mobilenet_v2(weights=None), (3, 224, 224), 13),
    ("resnet18", lambda: torchvision.models.resnet18(weights=None), (3, 224, 224), 17),
    ("inception_v3", lambda: torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=True), (3, 299, 299), 11),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../../Tests/fixtures/generated"))
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1234)
    rng = np.random.default_rng(42)
    manifest = []
    for name, ctor, chw, opset in SPECS:
        if args.only and name not in args.only:
            continue
        path = os.path.join(args.out, f"{name}.onnx")
        net = ctor()
        randomize_bn(net, g)
        net.eval()
        dummy = torch.randn(4, *chw)
        with torch.no_grad():
            std = float(net(dummy).std())
        model = WithSoftmax(net, k=4.0 / max(std, 1e-6)).eval()
        dummy = dummy[:1]
        torch.onnx.export(model, dummy, path, dynamo=False, opset_version=opset, input_names=["input"],
                          output_names=["probs"], dynamic_axes={"input": {0: "batch"}, "probs": {0: "batch"}})
        onnx.checker.check_model(onnx.load(path))
        so = ort.SessionOptions(); so.intra_op_num_threads = 1
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        entry = {"name": name, "model": os.path.basename(path), "opset": opset,
                 "ops": sorted({n.op_type for n in onnx.load(path).graph.node}), "batches": []}
        for batch in (1, 3):
            x = rng.standard_normal((batch, *chw)).astype(np.float32)
            y = sess.run(None, {"input": x})[0].astype(np.float32)
            with torch.no_grad():
                yt = model(torch.from_numpy(x)).numpy()
            assert np.abs(yt - y).max() < 1e-4, f"{name}: torch and onnxruntime disagree"
            print(f"  batch {batch}: max probability {y.max():.3f}", file=sys.stderr)
            base = f"{name}.b{batch}"
            x.tofile(os.path.join(args.out, base + ".input.f32"))
            y.tofile(os.path.join(args.out, base + ".output.f32"))
            entry["batches"].append({"batch": batch, "input_shape": list(x.shape), "output_shape": list(y.shape),
                                     "input": base + ".input.f32", "output": base + ".output.f32"})
        manifest.append(entry)
        print(f"{name}: opset {opset}, ops {entry['ops']}", file=sys.stderr)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
