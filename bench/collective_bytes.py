#!/usr/bin/env python3
"""Collective bytes per Transformer layer per device: palm vs the analytic optimum.

For each layout, generates palm-8b with palm-gen, partitions it with
`palm-opt -palm-spmd-pipeline`, reads the per-layer table of
`-palm-collective-report=format=json`, and prints it next to what a
hand-written implementation of that layout must move (docs/collectives.md):

  dp           nothing in the forward pass
  fsdp         one all-gather of every weight of the layer over data
  megatron     one all-reduce over model of the [b, s, d] activation
  megatron-sp  one all-gather plus one reduce-scatter of it (the same bytes)
  palm-2d      the layer's weights all-gathered over data (each already split
               over model where the layout splits it) plus the all-reduce

Usage: bench/collective_bytes.py [--build build] [--preset palm-8b] [--layer 1]
"""

import argparse
import json
import os
import platform
import subprocess
import sys

F32 = 4

LAYOUTS = [
    # layout, mesh (data, model)
    ("dp", (32, 1)),
    ("fsdp", (32, 1)),
    ("megatron", (4, 8)),
    ("megatron-sp", (4, 8)),
    ("palm-2d", (4, 8)),
]


def ring(nbytes, n):
    return nbytes * (n - 1) // n


def model_config(build, preset):
    out = subprocess.run(
        [os.path.join(build, "bin", "palm-gen"), "--preset", preset, "--stats",
         "--stats-format=json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["model"]


def layer_weights(c):
    """(elements, split over model by megatron/palm-2d?) of one layer's weights."""
    d, h, kv, k, ff = (c["d_model"], c["heads"], c["kv_heads"], c["head_dim"],
                       c["d_ff"])
    return [
        (d, False),            # layer norm scale
        (d * h * k, True),     # wq [d, heads, head_dim]
        (d * kv * k, False),   # wk
        (d * kv * k, False),   # wv
        (h * k * d, True),     # wo [heads, head_dim, d]
        (d * ff, True),        # wgate
        (d * ff, True),        # wup
        (ff * d, True),        # wdown
    ]


def optimum(layout, c, data, model):
    activation = c["batch"] // data * c["seq"] * c["d_model"] * F32
    weights = layer_weights(c)
    if layout == "dp":
        return 0
    if layout == "fsdp":
        return sum(ring(n * F32, data) for n, _ in weights)
    if layout in ("megatron", "megatron-sp"):
        return ring(2 * activation, model)
    if layout == "palm-2d":
        gathers = sum(ring((n // model if split else n) * F32, data)
                      for n, split in weights)
        return gathers + ring(2 * activation, model)
    raise ValueError(layout)


def measure(build, preset, layout, data, model, layer):
    gen = subprocess.run(
        [os.path.join(build, "bin", "palm-gen"), "--preset", preset, "--layout",
         layout, "--mesh", f"data={data},model={model}"],
        check=True, capture_output=True, text=True)
    report = subprocess.run(
        [os.path.join(build, "bin", "palm-opt"), "-palm-spmd-pipeline",
         "-palm-collective-report=format=json", "-o", os.devnull],
        input=gen.stdout, check=True, capture_output=True, text=True)
    fn = json.loads(report.stdout)[0]
    for entry in fn["layers"]:
        if entry["layer"] == layer:
            return entry["collectives"]
    return []


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--preset", default="palm-8b")
    parser.add_argument("--layer", type=int, default=1,
                        help="layer whose collectives are compared")
    args = parser.parse_args()

    c = model_config(args.build, args.preset)
    print(f"command: {' '.join(sys.argv)}")
    print(f"machine: {platform.node()} ({platform.machine()}), "
          f"{os.cpu_count()} cores")
    print(f"model: {args.preset} (batch {c['batch']}, seq {c['seq']}, "
          f"d_model {c['d_model']}, f32), layer {args.layer}, forward pass")
    print()
    header = (f"{'layout':<12} {'mesh':<16} {'collectives in the layer':<44} "
              f"{'palm B/device':>15} {'optimum':>15} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    worst = 1.0
    for layout, (data, model) in LAYOUTS:
        rows = measure(args.build, args.preset, layout, data, model, args.layer)
        palm = sum(r["bytes_per_device"] for r in rows)
        best = optimum(layout, c, data, model)
        kinds = ", ".join(f"{r['count']} {r['kind']} [{r['axes']}]"
                          for r in rows) or "none"
        ratio = "1.00" if palm == best == 0 else (
            f"{palm / best:.2f}" if best else "inf")
        if best:
            worst = max(worst, palm / best)
        mesh = f"data={data},model={model}"
        print(f"{layout:<12} {mesh:<16} {kinds:<44} "
              f"{palm:>15,} {best:>15,} {ratio:>6}")
    print()
    print(f"largest ratio: {worst:.2f}")


if __name__ == "__main__":
    main()
