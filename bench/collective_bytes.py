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

With --train the program is the whole training step (palm-gen --train:
forward, backward, Adafactor), and the optimum adds what the backward pass
must move (docs/collectives.md, "The training step"):

  dp           one all-reduce over data of every weight's gradient
  fsdp         the forward's all-gather, then one reduce-scatter of every
               gradient over data (the gathered weights are kept for the
               backward pass)
  megatron     the forward's all-reduce and one of the activation's
               cotangent, every gradient all-reduced over data (each as split
               over model), and the multi-query key/value projections'
               gradients, partial over model too, reduced over both axes
  megatron-sp  as megatron, with an all-gather + reduce-scatter each way;
               the layer norm scale's gradient, summed over a sequence
               split over model, is reduced over both axes
  palm-2d      the forward's gathers and all-reduce, the cotangent's
               all-reduce, every gradient reduce-scattered over data (the
               key/value projections' then all-reduced over model)

Usage: bench/collective_bytes.py [--build build] [--preset palm-8b] [--layer 1]
                                 [--train]
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


def layer_weights(c, layout=None):
    """(elements, split over model by megatron/palm-2d?, partial over model
    in the backward pass?) of one layer's weights: the key/value projections
    of multi-query attention serve every query head, so with the heads split
    their gradients are sums over the model axis. Under megatron-sp the
    layer norm runs on the sequence split over model, so its scale's
    gradient (a sum over the tokens) is a sum over the model axis too, as in
    Megatron-LM's sequence parallelism."""
    d, h, kv, k, ff = (c["d_model"], c["heads"], c["kv_heads"], c["head_dim"],
                       c["d_ff"])
    return [
        (d, False, layout == "megatron-sp"),  # layer norm scale
        (d * h * k, True, False),     # wq [d, heads, head_dim]
        (d * kv * k, False, True),    # wk
        (d * kv * k, False, True),    # wv
        (h * k * d, True, False),     # wo [heads, head_dim, d]
        (d * ff, True, False),        # wgate
        (d * ff, True, False),        # wup
        (ff * d, True, False),        # wdown
    ]


def optimum(layout, c, data, model, train=False):
    activation = c["batch"] // data * c["seq"] * c["d_model"] * F32
    weights = layer_weights(c, layout)
    forward = 0
    if layout == "fsdp":
        forward = sum(ring(n * F32, data) for n, _, _ in weights)
    elif layout in ("megatron", "megatron-sp"):
        forward = ring(2 * activation, model)
    elif layout == "palm-2d":
        forward = sum(ring((n // model if split else n) * F32, data)
                      for n, split, _ in weights) + ring(2 * activation, model)
    elif layout != "dp":
        raise ValueError(layout)
    if not train:
        return forward
    # The backward pass: the activation's cotangent costs what the forward
    # activation did; each gradient is reduced over data (a reduce-scatter
    # where the weight is split over data, else an all-reduce) and, if
    # partial over model, over model as well.
    backward = forward - sum(ring(n * F32, data) for n, _, _ in weights) \
        if layout == "fsdp" else 0
    if layout in ("megatron", "megatron-sp", "palm-2d"):
        backward += ring(2 * activation, model)
    sharded = layout in ("fsdp", "palm-2d")
    split_model = layout != "dp" and layout != "fsdp"
    for n, split, partial in weights:
        local = n // model if split and split_model else n
        if sharded:
            backward += ring(local * F32, data)
            if partial and split_model:
                backward += ring(2 * (local // data) * F32, model)
        elif partial and split_model:
            backward += ring(2 * local * F32, data * model)
        else:
            backward += ring(2 * local * F32, data)
    return forward + backward


def measure(build, preset, layout, data, model, layer, train=False):
    gen = subprocess.run(
        [os.path.join(build, "bin", "palm-gen"), "--preset", preset, "--layout",
         layout, "--mesh", f"data={data},model={model}"] +
        (["--train"] if train else []),
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
    parser.add_argument("--train", action="store_true",
                        help="the whole training step, not the forward pass")
    args = parser.parse_args()

    c = model_config(args.build, args.preset)
    print(f"command: {' '.join(sys.argv)}")
    print(f"machine: {platform.node()} ({platform.machine()}), "
          f"{os.cpu_count()} cores")
    print(f"model: {args.preset} (batch {c['batch']}, seq {c['seq']}, "
          f"d_model {c['d_model']}, f32), layer {args.layer}, "
          f"{'training step' if args.train else 'forward pass'}")
    print()
    header = (f"{'layout':<12} {'mesh':<16} {'collectives in the layer':<44} "
              f"{'palm B/device':>15} {'optimum':>15} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    worst = 1.0
    for layout, (data, model) in LAYOUTS:
        rows = measure(args.build, args.preset, layout, data, model, args.layer,
                       args.train)
        palm = sum(r["bytes_per_device"] for r in rows)
        best = optimum(layout, c, data, model, args.train)
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
