#!/usr/bin/env python3
"""Training-step throughput on CPU: the compiled palm executable vs PyTorch.

Times one whole training step (forward, cross-entropy loss with z-loss,
backward, global-norm clipping at 1.0, AdamW update with linear warmup and
cosine decay) of the `small` preset (4 layers, d_model 512, 8 heads x 64,
kv_heads 1, d_ff 2048, vocab 8192, batch 4 x seq 256) in f32 on one process,
with the same number of threads for both systems, at each --threads count
(default 1 and 2), and prints tokens/s for each and the ratio palm/pytorch
measured in the same run.

palm: the model from
  palm-gen --preset small --train --optimizer adamw \\
           --lr-schedule warmup-cosine --peak-lr 1e-3 --warmup-steps 10 \\
           --total-steps 1000
compiled by palm-compile, run as `EXE --steps K` with OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS set to N. Its lines
  step 3 loss 13.78 grad_norm 3.36 lr 2.000e-04 tokens/s 150.0 step_time ...
give tokens/s; the first --palm-skip steps are warm-up and the median of the
rest is reported.

PyTorch: the module of bench/torch_palm.py (written from docs/model.md, the
one cpu_forward.py times), eager, torch.set_num_threads(N),
torch.optim.AdamW(betas (0.9, 0.95), eps 1e-8, weight_decay 0.1: palm-gen's
AdamW defaults) with the learning rate of optax's
warmup_cosine_decay_schedule(0, 1e-3, 10, 1000, 0) at count k - 1 set before
step k, as palm does. One step = zero_grad, forward + loss, backward,
torch.nn.utils.clip_grad_norm_(params, 1.0), optimizer.step; the median of
--runs steps after --warmup. Forward + backward alone (zero_grad, forward +
loss, backward) is timed the same way and printed for reference.

--check (before timing): palm runs 1 step saving its initial weights
(--save-weights) and that step's tokens (--save-outputs), then 3 steps from
those weights on those tokens (--weights, --inputs); PyTorch runs the same 3
steps from the same weights, and the script compares each step's loss,
grad_norm and lr, and the updated parameters after step 3.

--profile: the timed palm run also writes --trace; the script prints palm's
kernels by total time over the timed steps (the steps after --palm-skip),
and the time the trace does not cover (the compiled code between runtime
calls: fused elementwise loops, the optimizer's glue).

Setup (PyTorch is not in the project's dependencies; PyPI only):
  bench/torch-venv.sh build/bench-venv       # pinned torch 2.15.0, ~4 GB
  build/bench-venv/bin/python bench/cpu_train.py --build build
or run it with any python and --venv build/bench-venv (the script re-runs
itself under that environment's python when torch is not importable).

Usage:
  bench/cpu_train.py [--threads 1 2] [--preset small|tiny | --config JSON]
                     [--build DIR | --palm-exe PATH] [--palm-steps 8]
                     [--palm-skip 2] [--warmup 2] [--runs 8] [--rounds 1]
                     [--no-torch]
                     [--venv DIR] [--check] [--profile [--top 15]]

The machine is shared: the load average is printed at the start and with
every row; rerun when it is well above the thread count. --rounds R times
both systems R times per thread count, alternating which goes first, and
reports medians over the rounds with each round's ratio, so that a change
of load between the two systems' timings does not decide the ratio. This is a
benchmark, not a test.
"""

import argparse
import collections
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

from torch_palm import (E2E, PRESETS, build_torch_model, compile_palm,
                        load_average_text, load_config, machine_text,
                        parse_palm_values, run_palm, time_palm,
                        training_flops_per_token)

PROG = "cpu_train"


class AdamWOptions:
    """palm-gen --optimizer adamw --lr-schedule warmup-cosine, and the same
    for torch."""

    def __init__(self, peak, warmup, total, end=0.0, b1=0.9, b2=0.95,
                 eps=1e-8, weight_decay=0.1):
        self.peak, self.warmup, self.total, self.end = peak, warmup, total, end
        self.b1, self.b2, self.eps = b1, b2, eps
        self.weight_decay = weight_decay

    def gen_args(self):
        return ["--train", "--optimizer", "adamw",
                "--lr-schedule", "warmup-cosine",
                "--peak-lr", repr(self.peak),
                "--warmup-steps", str(self.warmup),
                "--total-steps", str(self.total)]

    def lr(self, k):
        """optax.warmup_cosine_decay_schedule(0, peak, warmup, total, end)
        at count k - 1 (k counts steps from 1)."""
        c = k - 1
        if c < self.warmup:
            return self.peak * c / self.warmup
        decay = max(self.total - self.warmup, 1)
        t = min(c - self.warmup, decay)
        cosine = 0.5 * (1 + math.cos(math.pi * t / decay))
        alpha = self.end / self.peak if self.peak else 0.0
        return self.peak * ((1 - alpha) * cosine + alpha)


# ---------------------------------------------------------------- PyTorch

class TorchTrainer:
    """The model, its AdamW and one batch; step(k) is one training step."""

    def __init__(self, torch, c, opt, weights=None, tokens=None,
                 targets=None):
        self.torch, self.opt = torch, opt
        self.model, self.weights = build_torch_model(torch, c,
                                                     trainable=True)
        if weights is not None:
            with torch.no_grad():
                for name, w in self.weights.items():
                    w.copy_(torch.from_numpy(weights[name]))
        self.params = list(self.weights.values())
        self.optimizer = torch.optim.AdamW(
            self.params, lr=opt.lr(1), betas=(opt.b1, opt.b2), eps=opt.eps,
            weight_decay=opt.weight_decay)
        if tokens is None:
            gen = torch.Generator().manual_seed(3)
            shape = (c["batch"], c["seq"])
            tokens = torch.randint(0, c["vocab"], shape, generator=gen)
            targets = torch.randint(0, c["vocab"], shape, generator=gen)
        self.tokens, self.targets = tokens, targets

    def forward_backward(self):
        self.optimizer.zero_grad(set_to_none=True)
        _, loss = self.model(self.tokens, self.targets)
        loss.backward()
        return float(loss.detach())

    def step(self, k):
        lr = self.opt.lr(k)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss = self.forward_backward()
        norm = self.torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        return loss, float(norm), lr


def time_torch(torch, c, opt, threads, warmup, runs):
    """Median-able step times: (train step times, forward + backward
    times, last loss)."""
    torch.set_num_threads(threads)
    trainer = TorchTrainer(torch, c, opt)
    steps, fwd_bwd = [], []
    loss = float("nan")
    for i in range(warmup + runs):
        start = time.perf_counter()
        loss, _, _ = trainer.step(i + 1)
        if i >= warmup:
            steps.append(time.perf_counter() - start)
    for i in range(warmup + runs):
        start = time.perf_counter()
        trainer.forward_backward()
        if i >= warmup:
            fwd_bwd.append(time.perf_counter() - start)
    return steps, fwd_bwd, loss


# ---------------------------------------------------------------- check

def check_train_step(torch, exe, c, opt, threads, steps=3):
    """palm's first `steps` steps against PyTorch's from the same weights
    on the same batch; True if they agree."""
    sys.path.insert(0, E2E)
    import numpy as np
    import palm_shards
    work = tempfile.mkdtemp(prefix="palm-train-check-")
    w0 = os.path.join(work, "weights")
    batch = os.path.join(work, "batch")
    last = os.path.join(work, "after")
    run_palm(exe, ["--steps", "1", "--save-weights", w0,
                   "--save-outputs", batch], threads, PROG)
    _, out = run_palm(exe, ["--steps", str(steps), "--weights", w0,
                            "--inputs", batch, "--save-outputs", last],
                      threads, PROG)
    palm_steps = parse_palm_values(out)
    weights, _ = palm_shards.load_shards(w0)
    saved, _ = palm_shards.load_shards(batch, names=["tokens", "targets"])
    tokens = torch.from_numpy(saved["tokens"].astype(np.int64))
    targets = torch.from_numpy(saved["targets"].astype(np.int64))
    torch.set_num_threads(threads)
    trainer = TorchTrainer(torch, c, opt, weights, tokens, targets)
    ok = True
    for k in range(1, steps + 1):
        loss, norm, lr = trainer.step(k)
        p = palm_steps.get(k, {})
        errs = []
        for key, mine, tol in (("loss", loss, 1e-5),
                               ("grad_norm", norm, 1e-3),
                               ("lr", lr, 1e-3)):
            theirs = p.get(key, float("nan"))
            rel = abs(theirs - mine) / max(abs(mine), 1e-30)
            good = rel <= tol or (mine == 0 and theirs == 0)
            ok = ok and good
            errs.append("%s %.7g vs %.7g (rel %.1e%s)" % (
                key, theirs, mine, rel, "" if good else " MISMATCH"))
        print("check: step %d palm vs pytorch: %s" % (k, ", ".join(errs)))
    updated, _ = palm_shards.load_shards(
        last, names=["updated." + n for n in trainer.weights])
    # AdamW moves an element by about lr * sign(g) wherever |g| >> eps, so
    # an element whose gradient nearly cancels (rounding noise in f32) can
    # move differently in the two systems: a few per million do (measured
    # up to 2% of the tensor's largest move on small). The check is
    # therefore on the whole tensor: |palm - pytorch| over |move| (2-norms)
    # within 1e-3 (measured <= 4e-4 on small); the largest single element
    # is reported for information.
    worst, worst_name, worst_elem, elem_name = 0.0, "", 0.0, ""
    for name, w in trainer.weights.items():
        mine = w.detach().numpy()
        move = mine - weights[name]
        diff = updated["updated." + name] - mine
        norm = float(np.linalg.norm(move))
        frac = (float(np.linalg.norm(diff)) / norm if norm else
                (0.0 if not diff.any() else math.inf))
        elem = (float(np.max(np.abs(diff))) / float(np.max(np.abs(move)))
                if norm else frac)
        if frac >= worst:
            worst, worst_name = frac, name
        if elem >= worst_elem:
            worst_elem, elem_name = elem, name
    good = worst <= 1e-3
    ok = ok and good
    print("check: parameters after step %d: |palm - pytorch| is %.2e of "
          "|move| (2-norms, worst tensor %s; largest element %.2e of the "
          "largest move, %s): %s" % (steps, worst, worst_name, worst_elem,
                                    elem_name, "ok" if good else "MISMATCH"))
    return ok


# ---------------------------------------------------------------- profile

def summarize_trace(path, skip, top):
    """Lines describing palm's time by kernel over the steps after skip,
    from a Chrome trace written by --trace (rank 0)."""
    with open(path) as f:
        data = json.load(f)
    events = [e for e in data.get("traceEvents", data) if e.get("ph") == "X"]
    steps = []
    for e in events:
        if e.get("cat") == "step":
            k = int(e["name"].split()[1])
            if k > skip:
                steps.append((e["ts"], e["ts"] + e["dur"]))
    if not steps:
        return ["profile: no timed steps in %s" % path]
    step_total = sum(b - a for a, b in steps)
    by_name = collections.defaultdict(lambda: [0.0, 0, 0.0])
    by_gemm = collections.defaultdict(lambda: [0.0, 0, 0.0])
    covered = 0.0
    for e in events:
        if e.get("cat") == "step":
            continue
        if not any(a <= e["ts"] < b for a, b in steps):
            continue
        covered += e["dur"]
        flops = 0.0
        if e.get("cat") == "gemm":
            a = e.get("args", {})
            flops = 2.0 * a.get("batch", 1) * a["m"] * a["n"] * a["k"]
            key = "m %d n %d k %d ta %d tb %d batch %d" % (
                a["m"], a["n"], a["k"], a.get("ta", 0), a.get("tb", 0),
                a.get("batch", 1))
            g = by_gemm[key]
            g[0] += e["dur"]
            g[1] += 1
            g[2] += flops
        s = by_name[(e.get("cat"), e["name"])]
        s[0] += e["dur"]
        s[1] += 1
        s[2] += flops
    n = len(steps)
    rows = sorted(by_name.items(), key=lambda kv: -kv[1][0])
    out = ["palm time by kernel over %d timed steps (%.3f s/step):"
           % (n, step_total / n / 1e6),
           "  %-30s %10s %7s %10s %9s" % ("kernel (category)", "ms/step",
                                          "% step", "calls/step", "GFLOP/s")]
    for (cat, name), (dur, calls, flops) in rows[:top]:
        out.append("  %-30s %10.2f %6.1f%% %10.0f %9s" % (
            "%s (%s)" % (name, cat), dur / n / 1e3, 100 * dur / step_total,
            calls / n, "%.1f" % (flops / dur / 1e3) if flops else "-"))
    rest = step_total - covered
    out.append("  %-30s %10.2f %6.1f%% %10s %9s" % (
        "(not traced: compiled code)", rest / n / 1e3,
        100 * rest / step_total, "-", "-"))
    out.append("palm GEMMs by shape (top %d):" % min(top, len(by_gemm)))
    for key, (dur, calls, flops) in sorted(by_gemm.items(),
                                           key=lambda kv: -kv[1][0])[:top]:
        out.append("  %-40s %9.2f ms/step %6.1f%% %4.0f calls/step "
                   "%7.1f GFLOP/s" % (key, dur / n / 1e3,
                                      100 * dur / step_total, calls / n,
                                      flops / dur / 1e3))
    return out


# ---------------------------------------------------------------- main

def progress(text):
    """A progress line on stderr (the table goes to stdout)."""
    sys.stdout.flush()
    print("%s: %s" % (PROG, text), file=sys.stderr, flush=True)


def import_torch_or_reexec(venv):
    """torch, or None; when it is not importable here and venv holds a
    python, re-runs this script under it (once)."""
    try:
        import torch
        return torch
    except ImportError:
        pass
    python = os.path.join(venv, "bin", "python") if venv else None
    if (python and os.path.exists(python) and
            not os.environ.get("PALM_BENCH_REEXEC")):
        os.environ["PALM_BENCH_REEXEC"] = "1"
        os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])
    return None


def versions_text(torch, build):
    parts = ["python %s" % platform.python_version()]
    if torch is not None:
        parts.append("torch %s (%s)" % (
            torch.__version__,
            "MKL" if torch.backends.mkl.is_available() else "no MKL"))
    try:
        import numpy
        parts.append("numpy %s" % numpy.__version__)
    except ImportError:
        pass
    try:   # palm's runtime dlopens this OpenBLAS for its GEMMs
        import ctypes
        blas = ctypes.CDLL("libopenblas.so.0")
        blas.openblas_get_config.restype = ctypes.c_char_p
        parts.append("palm's BLAS: %s" % blas.openblas_get_config().decode(
            "ascii", "replace").strip())
    except (OSError, AttributeError):
        pass
    try:
        head = subprocess.run(
            ["git", "-C", os.path.dirname(os.path.abspath(build)),
             "log", "-1", "--format=%h %cs"], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, universal_newlines=True).stdout.strip()
        if head:
            parts.append("palm: HEAD %s of the tree holding %s (the build "
                         "itself is not stamped)" % (head, build))
    except OSError:
        pass
    return ", ".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--preset", choices=sorted(PRESETS), default="small")
    group.add_argument("--config", help="palm-gen config or stats JSON")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="thread counts to time (default: 1 2)")
    ap.add_argument("--warmup", type=int, default=2,
                    help="PyTorch warm-up steps left out")
    ap.add_argument("--runs", type=int, default=8,
                    help="timed PyTorch steps")
    ap.add_argument("--rounds", type=int, default=1,
                    help="time both systems this many times per thread "
                    "count, alternating which goes first; each row reports "
                    "the median over rounds and the ratio is that of the "
                    "medians (the machine is shared: one round's systems "
                    "can see different loads)")
    ap.add_argument("--palm-exe", help="compiled palm training step (1 rank, "
                    "palm-gen --train with the AdamW flags above); default: "
                    "generate and compile it with --build's tools")
    ap.add_argument("--build", default="build",
                    help="build directory holding bin/palm-gen and "
                    "bin/palm-compile")
    ap.add_argument("--palm-steps", type=int, default=8)
    ap.add_argument("--palm-skip", type=int, default=2,
                    help="warm-up steps of the palm run left out")
    ap.add_argument("--palm-args", default="",
                    help="extra arguments for the palm executable")
    ap.add_argument("--peak-lr", type=float, default=1e-3)
    ap.add_argument("--warmup-steps", type=int, default=10)
    ap.add_argument("--total-steps", type=int, default=1000)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--venv", default=os.path.join("build", "bench-venv"),
                    help="environment with torch (bench/torch-venv.sh) to "
                    "re-run under when torch is not importable")
    ap.add_argument("--check", action="store_true",
                    help="first compare 3 training steps of palm and "
                    "PyTorch from the same weights")
    ap.add_argument("--profile", action="store_true",
                    help="trace the timed palm runs and print the top "
                    "kernels by time")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    if (min(args.threads) < 1 or args.runs < 1 or args.palm_steps < 1
            or args.rounds < 1 or args.palm_skip >= args.palm_steps):
        ap.error("--threads, --runs, --rounds and --palm-steps must be "
                 "positive and --palm-skip below --palm-steps")

    torch = None
    torch_note = ""
    if args.no_torch:
        torch_note = "PyTorch skipped (--no-torch)"
    else:
        torch = import_torch_or_reexec(args.venv)
        if torch is None:
            torch_note = ("PyTorch is not installed (bench/torch-venv.sh "
                          "DIR, then --venv DIR); timing palm only")

    name, cfg = load_config(args, PROG)
    opt = AdamWOptions(args.peak_lr, args.warmup_steps, args.total_steps)
    gen_cmd = None
    if not args.palm_exe:
        args.palm_exe = compile_palm(args, opt.gen_args(), stem="train")
        source = (["--config", args.config] if args.config
                  else ["--preset", args.preset])
        gen_cmd = shlex.join(["palm-gen"] + source + opt.gen_args())
    tokens = cfg["batch"] * cfg["seq"]
    flops = training_flops_per_token(cfg)

    print("command: %s" % shlex.join([sys.executable] + sys.argv))
    print("machine: %s" % machine_text())
    print("load average at start: %s" % load_average_text())
    print("versions: %s" % versions_text(torch, args.build))
    print("model: %s (%d layers, d_model %d, %d heads x %d, kv_heads %d, "
          "d_ff %d, vocab %d, %s block), f32" % (
              name, cfg["layers"], cfg["d_model"], cfg["heads"],
              cfg["head_dim"], cfg["kv_heads"], cfg["d_ff"], cfg["vocab"],
              cfg["block"]))
    print("step: forward + loss + backward + clip 1.0 + AdamW (b1 %g, b2 %g, "
          "eps %g, wd %g, warmup-cosine peak %g, warmup %d, total %d), "
          "batch %d x seq %d = %d tokens; %.4g MFLOP/token (6N + 12LHQT)"
          % (opt.b1, opt.b2, opt.eps, opt.weight_decay, opt.peak,
             opt.warmup, opt.total, cfg["batch"], cfg["seq"], tokens,
             flops / 1e6))
    if gen_cmd:
        print("palm: %s | palm-compile -> %s" % (gen_cmd, args.palm_exe))
    print("threads: %s" % " ".join(str(t) for t in args.threads))
    if torch_note:
        print(torch_note)
    if not torch and not args.palm_exe:
        print("nothing to time: give --palm-exe PATH or install PyTorch")
        return 0

    if args.check:
        if not (torch and args.palm_exe):
            print("check: needs both PyTorch and palm; skipped")
        elif not check_train_step(torch, args.palm_exe, cfg, opt,
                                  max(args.threads)):
            return 1

    rows, ratios, profiles = [], [], []
    for threads in args.threads:
        # Per round: (PyTorch step medians, fwd+bwd medians, palm rates).
        torch_rounds, palm_rounds = [], []
        torch_note = palm_note = ""
        for round_index in range(args.rounds):
            order = ["torch", "palm"] if round_index % 2 == 0 else \
                ["palm", "torch"]
            for system in order:
                if system == "torch" and torch:
                    progress("timing PyTorch, %d thread(s), round %d, load "
                             "%s" % (threads, round_index + 1,
                                     load_average_text()))
                    steps, fwd_bwd, loss = time_torch(
                        torch, cfg, opt, threads, args.warmup, args.runs)
                    load = load_average_text().split()[0]
                    torch_rounds.append((statistics.median(steps),
                                         statistics.median(fwd_bwd)))
                    torch_note = "min %.4f s, loss %.4f, load %s" % (
                        min(steps), loss, load)
                if system == "palm" and args.palm_exe:
                    extra = shlex.split(args.palm_args)
                    trace = None
                    if args.profile and round_index == 0:
                        trace = os.path.join(
                            tempfile.mkdtemp(prefix="palm-trace-"),
                            "t%d.json" % threads)
                        extra += ["--trace", trace]
                    progress("timing palm, %d thread(s), round %d, load %s"
                             % (threads, round_index + 1,
                                load_average_text()))
                    cmd, rates, steady = time_palm(
                        args.palm_exe, args.palm_steps, args.palm_skip,
                        threads, extra, PROG)
                    load = load_average_text().split()[0]
                    palm_rounds.append(statistics.median(steady))
                    palm_note = "load %s; %s; all steps: %s" % (
                        load, shlex.join(cmd),
                        " ".join("%.0f" % r for _, r in rates))
                    if trace:
                        root, ext = os.path.splitext(trace)
                        profiles.append((threads, summarize_trace(
                            root + ".rank0" + ext, args.palm_skip,
                            args.top)))

        def per_round(rates):
            return "" if args.rounds == 1 else "; rounds: %s tokens/s; " % (
                " ".join("%.0f" % r for r in rates))

        torch_rate = palm_rate = None
        if torch_rounds:
            med = statistics.median(r[0] for r in torch_rounds)
            med_fb = statistics.median(r[1] for r in torch_rounds)
            torch_rate = tokens / med
            rows.append(("pytorch %s train step" % torch.__version__,
                         threads, args.runs * args.rounds, med, torch_rate,
                         per_round([tokens / r[0] for r in torch_rounds])
                         .lstrip("; ") + torch_note))
            rows.append(("pytorch fwd+bwd only (ref)", threads,
                         args.runs * args.rounds, med_fb, tokens / med_fb,
                         ""))
        if palm_rounds:
            palm_rate = statistics.median(palm_rounds)
            rows.append(("palm", threads,
                         (args.palm_steps - args.palm_skip) * args.rounds,
                         tokens / palm_rate, palm_rate,
                         per_round(palm_rounds).lstrip("; ") + palm_note))
        if torch_rate and palm_rate:
            each = [p / (tokens / t[0])
                    for p, t in zip(palm_rounds, torch_rounds)]
            ratios.append((threads, palm_rate / torch_rate, each))

    print()
    print("%-30s %7s %5s %14s %12s %9s  %s" % (
        "system", "threads", "runs", "median step s", "tokens/s",
        "GFLOP/s", "notes"))
    for label, thr, n, step, rate, note in rows:
        print("%-30s %7d %5d %14.4f %12.1f %9.1f  %s" % (
            label, thr, n, step, rate, rate * flops / 1e9, note))
    print("(GFLOP/s of the forward + backward row also counts 6N + 12LHQT)")
    if ratios:
        print()
        for threads, ratio, each in ratios:
            print("ratio palm/pytorch train step (tokens/s), %d thread%s: "
                  "%.2f%s" % (threads, "" if threads == 1 else "s", ratio,
                              "" if len(each) == 1 else
                              " (of the medians; each round: %s)" %
                              " ".join("%.2f" % r for r in each)))
    print("load average at end: %s" % load_average_text())
    for threads, lines in profiles:
        print()
        print("profile, %d thread%s:" % (threads, "" if threads == 1
                                          else "s"))
        for line in lines:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
