#!/usr/bin/env python3
"""Pools the per-round ratios of several `tools/bench/engine-nets.sh` passes (their saved outputs) per
net: the median ratio ours/onnxruntime at batch 1 over all rounds, its 95 % interval by order statistics
(ranks n/2 ∓ 1.96·√n/2, no assumption on the distribution), and each pass's own median. The host's
speed drifts between passes more than within one, so a pass alone can land on either side of 1.0.

    tools/bench/engine-nets.sh 41 > /tmp/pass1.txt; ...; tools/bench/nets-pooled.py /tmp/pass*.txt
"""
import math, re, statistics, sys


def passes(path):
    """{net: [per-round ratios to onnxruntime]} from one engine-nets.sh output."""
    out, net = {}, None
    for line in open(path):
        m = re.match(r"== (\S+)", line)
        if m:
            net = m.group(1)
        m = re.search(r"ratio ours/onnxruntime at batch 1: median [\d.]+ \(per round: ([\d. ]+)\)", line)
        if m and net:
            out[net] = [float(v) for v in m.group(1).split()]
    return out


def interval(values):
    s, n = sorted(values), len(values)
    d = 1.96 * math.sqrt(n) / 2
    return s[max(0, math.floor(n / 2 - d))], s[min(n - 1, math.ceil(n / 2 + d))]


def main(paths):
    if not paths:
        sys.exit("usage: nets-pooled.py ENGINE_NETS_OUTPUT...")
    runs = [passes(p) for p in paths]
    nets = [n for n in runs[0] if all(n in r for r in runs)]
    print(f"{'net':14} {'rounds':>6} {'median':>7} {'95 % interval':>15}  per pass")
    for net in nets:
        pooled = [v for r in runs for v in r[net]]
        lo, hi = interval(pooled)
        each = " ".join(f"{statistics.median(r[net]):.2f}" for r in runs)
        print(f"{net:14} {len(pooled):6d} {statistics.median(pooled):7.3f} {lo:7.3f}–{hi:.3f}  {each}")


if __name__ == "__main__":
    main(sys.argv[1:])
