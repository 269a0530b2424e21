#!/usr/bin/env python3
"""Forward-pass throughput on CPU: the compiled palm executable vs PyTorch.

Times one forward step (embedding, layers, final LayerNorm, tied logits and
the cross-entropy loss with z-loss) of the `small` preset (4 layers, d_model
512, 8 heads x 64, kv_heads 1, d_ff 2048, vocab 8192, batch 4 x seq 256) in
f32, with the same number of threads for both systems, and prints tokens/s
for each and the ratio palm/pytorch measured in the same run.

PyTorch: a module written here from docs/model.md (parallel block,
multi-query attention with RoPE, SwiGLU, tied embedding), eager mode under
torch.inference_mode(), attention through
torch.nn.functional.scaled_dot_product_attention (causal) when available;
torch.set_num_threads(N); median step time of --runs steps after --warmup.
With --torch-compile the module goes through torch.compile first.

palm: `PATH --steps K` run as one process with OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS set to N; its lines
  step 3 loss 9.01 tokens/s 1234.5 step_time 0.0123 s collectives ...
give tokens/s; the first --palm-skip steps are warm-up and the median of
the rest is reported.

Usage:
  bench/cpu_forward.py [--threads N] [--preset small|tiny | --config JSON]
                       [--palm-exe PATH [--palm-steps 10] [--palm-skip 2]]
                       [--warmup 3] [--runs 10] [--no-torch] [--check]

PyTorch is optional: without it the script says so (and still times palm
when --palm-exe is given) and exits 0. This is a benchmark, not a test.
"""

import argparse
import os
import shlex
import statistics
import sys
import time

from torch_palm import (DEFAULTS, PRESETS, build_torch_model,
                        check_against_reference, compile_palm,
                        forward_flops_per_token, load_config, machine_text,
                        time_palm)


# ---------------------------------------------------------------- PyTorch

def time_torch(torch, c, threads, warmup, runs, compile_model):
    torch.set_num_threads(threads)
    model, _ = build_torch_model(torch, c)
    if compile_model:
        model = torch.compile(model)
    gen = torch.Generator().manual_seed(3)
    tokens = torch.randint(0, c["vocab"], (c["batch"], c["seq"]),
                           generator=gen)
    targets = torch.randint(0, c["vocab"], (c["batch"], c["seq"]),
                            generator=gen)
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            start = time.perf_counter()
            _, loss = model(tokens, targets)
            float(loss)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times, float(loss)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--preset", choices=sorted(PRESETS), default="small")
    group.add_argument("--config", help="palm-gen config or stats JSON")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--palm-exe", help="compiled palm executable (1 rank); "
                    "default: compile the model with --build's palm-gen and "
                    "palm-compile")
    ap.add_argument("--build", default="build",
                    help="build directory holding bin/palm-gen and "
                    "bin/palm-compile")
    ap.add_argument("--palm-steps", type=int, default=10)
    ap.add_argument("--palm-skip", type=int, default=2,
                    help="warm-up steps of the palm run left out")
    ap.add_argument("--palm-args", default="",
                    help="extra arguments for the palm executable")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--torch-compile", action="store_true",
                    help="time torch.compile(model) instead of eager")
    ap.add_argument("--check", action="store_true",
                    help="first compare the torch module with the numpy "
                         "reference on tiny and a grouped serial config")
    args = ap.parse_args()
    if args.threads < 1 or args.runs < 1 or args.palm_steps < 1:
        ap.error("--threads, --runs and --palm-steps must be positive")

    name, cfg = load_config(args, "cpu_forward")
    if not args.palm_exe:
        args.palm_exe = compile_palm(args)
    tokens = cfg["batch"] * cfg["seq"]
    flops = forward_flops_per_token(cfg)

    torch = None
    torch_note = ""
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            torch_note = ("PyTorch is not installed (pip install torch); "
                          "timing palm only")
    else:
        torch_note = "PyTorch skipped (--no-torch)"

    print("command: %s" % shlex.join([sys.executable] + sys.argv))
    print("machine: %s" % machine_text())
    print("model: %s (%d layers, d_model %d, %d heads x %d, kv_heads %d, "
          "d_ff %d, vocab %d, %s block), f32" % (
              name, cfg["layers"], cfg["d_model"], cfg["heads"],
              cfg["head_dim"], cfg["kv_heads"], cfg["d_ff"], cfg["vocab"],
              cfg["block"]))
    print("step: forward + loss, batch %d x seq %d = %d tokens; "
          "%.4g MFLOP/token forward (2N + 4LHQT)"
          % (cfg["batch"], cfg["seq"], tokens, flops / 1e6))
    print("threads: %d" % args.threads)
    if torch_note:
        print(torch_note)
    if not torch and not args.palm_exe:
        print("nothing to time: give --palm-exe PATH or install PyTorch")
        return 0

    if torch and args.check:
        ok = True
        for cname, c in (("tiny", dict(DEFAULTS, **PRESETS["tiny"])),
                         ("serial-gqa", dict(DEFAULTS, layers=2, d_model=24,
                                             heads=6, kv_heads=2, head_dim=8,
                                             d_ff=40, vocab=50, seq=12,
                                             batch=3, block="serial",
                                             layer_norm_epsilon=1e-5,
                                             z_loss=1e-3))):
            torch.set_num_threads(args.threads)
            ok = check_against_reference(torch, cname, c) and ok
        if not ok:
            return 1

    rows = []
    if torch:
        times, loss = time_torch(torch, cfg, args.threads, args.warmup,
                                 args.runs, args.torch_compile)
        med = statistics.median(times)
        label = "pytorch %s%s" % (torch.__version__,
                                  " compiled" if args.torch_compile else "")
        rows.append((label, args.threads, len(times), med, tokens / med,
                     "min %.4f s, loss %.4f" % (min(times), loss)))
    if args.palm_exe:
        cmd, rates, steady = time_palm(args.palm_exe, args.palm_steps,
                                       args.palm_skip, args.threads,
                                       shlex.split(args.palm_args))
        rate = statistics.median(steady)
        rows.append(("palm", args.threads, len(steady), tokens / rate, rate,
                     "%s; all steps: %s" % (shlex.join(cmd), " ".join(
                         "%.0f" % r for _, r in rates))))

    print()
    print("%-28s %7s %5s %14s %12s %9s  %s" % (
        "system", "threads", "runs", "median step s", "tokens/s",
        "GFLOP/s", "notes"))
    for label, thr, n, step, rate, note in rows:
        print("%-28s %7d %5d %14.4f %12.1f %9.1f  %s" % (
            label, thr, n, step, rate, rate * flops / 1e9, note))
    if len(rows) == 2:
        print()
        print("ratio palm/pytorch (tokens/s): %.2f" % (rows[1][4] /
                                                      rows[0][4]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
