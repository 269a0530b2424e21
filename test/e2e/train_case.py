#!/usr/bin/env python3
"""Trains a palm model for a few steps and checks it against JAX + optax.

    train_case.py --bin DIR --work DIR (--preset P | --config FILE)
                  --jax-python PY [--layout L] [--mesh data=D,model=M]
                  [--steps K] [--seed S] [--optimizer adafactor|adamw]
                  [--remat none|layers] [--microbatches M]
                  [--lr-schedule S --peak-lr X --warmup-steps N
                   --total-steps N --final-lr X --weight-decay X]
                  [--first-tol 1e-5] [--curve-tol 1e-3] [--param-tol X]
                  [--expect-from DIR] [--expect-identical DIR]
                  [--target cuda [--fake-cuda DIR]] [--dtype bf16]
                  [--no-jax]

Generates the training step with `palm-gen --train` (the optimizer flags
are palm-gen's, passed to the JAX side too; --remat and --microbatches only
to palm-gen: JAX trains on the whole batch at once), compiles it, runs K
steps on D*M processes with --save-weights (the initial parameters),
--save-outputs (the updated parameters after step K) and --metrics (every
step's loss), then runs jax_train_check.py under the JAX venv's python PY:
JAX + optax (test/e2e/jax_optimizer.py) train the same model from the same
weights on the runtime's synthetic batches. Checked:
  * step 1's loss within --first-tol relative (identical inputs),
  * every step's loss within --curve-tol relative,
  * with K = 1, every updated parameter within --param-tol (default
    --first-tol) of its largest magnitude: one full optimizer step from
    identical inputs,
  * --expect-from DIR: every step's loss within --curve-tol (step 1:
    --first-tol) of another run's (the 1-process run).
  * --expect-identical DIR: every step's loss and gradient norm bit for bit
    equal to another run's of the same program, seed and mesh (training is
    deterministic), and the updated parameters byte-identical.
--no-jax skips JAX (jax_train_check.py) for a run compared with another
that was checked against it (--expect-from or --expect-identical).
--dtype bf16 trains in bf16 with f32 master weights (palm-gen's default for
a bf16 --train; JAX trains the same weights in f32, so pass tolerances for
bf16's rounding). --target cuda compiles for the GPU; --fake-cuda DIR runs it on this machine
against the emulated libcuda/cuBLASLt/NCCL in DIR (as run_case.py does).
Prints what it runs; exits non-zero on any failure.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_case import devices, launch, run  # noqa: E402


def read_losses(metrics):
    with open(metrics) as f:
        return [json.loads(line)["loss"] for line in f if line.strip()]


def identical(work, other):
    """Step lines' numbers and saved outputs bit for bit equal."""
    def steps(d):
        with open(os.path.join(d, "metrics.jsonl")) as f:
            return [(m["step"], m["loss"], m.get("grad_norm"))
                    for m in map(json.loads, f) if "loss" in m]
    ok = steps(work) == steps(other)
    print("%s identical losses and gradient norms to %s" % (
        "ok  " if ok else "FAIL", other))
    import palm_shards
    a, _ = palm_shards.load_shards(os.path.join(work, "outputs"))
    b, _ = palm_shards.load_shards(os.path.join(other, "outputs"))
    same = sorted(a) == sorted(b) and all(
        a[k].tobytes() == b[k].tobytes() for k in a)
    print("%s identical outputs (%d tensors)" % ("ok  " if same else "FAIL",
                                               len(a)))
    return ok and same


def compare_curves(name, got, want, first_tol, curve_tol):
    if len(got) != len(want):
        print("FAIL %s: %d steps vs %d" % (name, len(got), len(want)))
        return False
    ok = True
    for k, (g, w) in enumerate(zip(got, want), start=1):
        tol = first_tol if k == 1 else curve_tol
        rel = abs(g - w) / max(abs(w), 1e-30)
        good = rel <= tol
        ok &= good
        if not good or k in (1, len(got)):
            print("%s %s step %d: loss %.7g vs %.7g (relative %.2g, "
                  "tolerance %.0e)" % ("ok  " if good else "FAIL", name, k, g,
                                       w, rel, tol))
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--work", required=True)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset")
    source.add_argument("--config")
    p.add_argument("--jax-python", required=True)
    p.add_argument("--layout", default="replicated")
    p.add_argument("--mesh", default="data=1,model=1")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--seed", default="0")
    p.add_argument("--optimizer", default="adafactor")
    p.add_argument("--remat", help="palm-gen --remat (none or layers); the "
                   "values do not change, so it is not passed to JAX")
    p.add_argument("--microbatches", help="palm-gen --microbatches: the "
                   "step's batch in M micro-batches; JAX takes the whole "
                   "batch, whose loss and gradient they must give")
    hyper = ["lr-schedule", "peak-lr", "warmup-steps", "total-steps",
             "final-lr", "weight-decay"]
    for flag in hyper:
        p.add_argument("--" + flag)
    p.add_argument("--first-tol", default="1e-5")
    p.add_argument("--curve-tol", default="1e-3")
    p.add_argument("--param-tol")
    p.add_argument("--expect-from")
    p.add_argument("--expect-identical")
    p.add_argument("--target", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--dtype", choices=["f32", "bf16"])
    p.add_argument("--no-jax", action="store_true")
    p.add_argument("--fake-cuda", metavar="DIR")
    args = p.parse_args()
    if args.fake_cuda and args.target != "cuda":
        sys.exit("--fake-cuda needs --target cuda")
    if args.no_jax and not (args.expect_from or args.expect_identical):
        sys.exit("--no-jax needs --expect-from or --expect-identical: a run "
                 "is checked against JAX or against one that was")

    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    model = os.path.join(args.work, "step.mlir")
    exe = os.path.join(args.work, "step")
    stats = os.path.join(args.work, "stats.json")
    gen = [os.path.join(args.bin, "palm-gen"), "--layout", args.layout,
           "--mesh", args.mesh]
    gen += ["--preset", args.preset] if args.preset else ["--config",
                                                           args.config]
    if args.dtype:
        gen += ["--dtype", args.dtype]
    hyper_flags = []
    for flag in hyper:
        value = getattr(args, flag.replace("-", "_"))
        if value is not None:
            hyper_flags += ["--" + flag, value]
    remat = ["--remat", args.remat] if args.remat else []
    if args.microbatches:
        remat += ["--microbatches", args.microbatches]
    run(gen + ["--train", "--optimizer", args.optimizer] + hyper_flags +
        remat + ["-o", model])
    with open(stats, "w") as f:
        run(gen + ["--stats", "--stats-format=json"], stdout=f)
    run([os.path.join(args.bin, "palm-compile"), model, "--target",
         args.target, "-o", exe])

    weights = os.path.join(args.work, "weights")
    outputs = os.path.join(args.work, "outputs")
    metrics = os.path.join(args.work, "metrics.jsonl")
    flags = ["--steps", str(args.steps), "--seed", args.seed,
             "--save-weights", weights, "--save-outputs", outputs,
             "--metrics", metrics]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    if args.fake_cuda:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            [os.path.abspath(args.fake_cuda)] +
            [p for p in [env.get("LD_LIBRARY_PATH")] if p])
        env["PALMRT_FAKE_CUDA_DEVICES"] = str(devices(args.mesh))
    launch(exe, flags, devices(args.mesh), env)

    check = [args.jax_python, os.path.join(HERE, "jax_train_check.py"),
             "--weights", weights, "--outputs", outputs, "--metrics", metrics,
             "--config", stats, "--seed", args.seed, "--steps",
             str(args.steps), "--optimizer", args.optimizer,
             "--first-tol", args.first_tol, "--curve-tol", args.curve_tol,
             "--param-tol", args.param_tol or args.first_tol]
    check += hyper_flags
    if not args.no_jax:
        run(check)
    ok = True
    if args.expect_from:
        ok = compare_curves("vs --expect-from", read_losses(metrics),
                            read_losses(os.path.join(args.expect_from,
                                                     "metrics.jsonl")),
                            float(args.first_tol), float(args.curve_tol))
    if args.expect_identical:
        ok &= identical(args.work, args.expect_identical)
    if not ok:
        sys.exit(1)
    print("PASS train %s %s %s %s %d steps%s" % (
        args.preset or os.path.basename(args.config), args.optimizer,
        args.layout, args.mesh, args.steps,
        " cuda (emulated)" if args.fake_cuda else
        " cuda" if args.target == "cuda" else ""))


if __name__ == "__main__":
    main()
