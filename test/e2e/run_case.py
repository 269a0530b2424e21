#!/usr/bin/env python3
"""Compiles a palm model, runs it under mpirun, and checks its numbers.

    run_case.py --bin DIR --work DIR (--preset P | --config FILE)
                --layout L --mesh data=D,model=M [--block serial]
                [--dtype bf16] [--batch N] [--target cuda [--fake-cuda DIR]]
                [--expect-loss-from DIR] [--steps K] [--seed S]
                [--logit-tol X] [--rel-tol X]
                [--grads --jax-python PY [--grad-tol X]]

Generates the model with `palm-gen --return-logits`, compiles it with
palm-compile, runs it on D*M processes (`mpirun --oversubscribe`, or
directly for one process) with --save-weights and --save-outputs, and runs
check_run.py: the logits against the numpy reference (1e-4 of the largest
logit), the loss against the reference (1e-5 relative) and, with
--expect-loss-from, against another run's loss (the 1-rank run: 1e-5
relative). Prints what it runs; exits non-zero on any failure.

With --grads the program is differentiated (palm-opt -palm-autodiff) and
returns every parameter's gradient too; jax_palm.py, run by the JAX venv's
python PY, recomputes them from the saved weights and tokens (float64) and
checks each within --grad-tol (default 1e-4) of its largest magnitude, and
--expect-loss-from also compares them with that run's gradients (the
1-rank run: same tolerance).

With --target cuda the program is compiled for GPUs and runs one process
per GPU; with --fake-cuda DIR it runs on this machine against the fake
libcuda/cuBLASLt/NCCL in DIR (runtime/tests/fake_cuda), which interpret the
program's PTX kernels. bf16 programs need looser tolerances (--logit-tol,
--rel-tol): the reference computes in f32 from the same bf16 weights.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, **kwargs):
    print("$ " + " ".join(cmd), flush=True)
    result = subprocess.run(cmd, **kwargs)
    if result.returncode != 0:
        sys.exit("command failed with exit code %d" % result.returncode)
    return result


def devices(mesh):
    n = 1
    for part in mesh.split(","):
        n *= int(part.split("=")[1])
    return n


def launch(exe, flags, n, env, **kwargs):
    """Runs `exe flags` as n processes (mpirun for more than one); kwargs go
    to subprocess.run."""
    if n == 1:
        run([exe] + flags, env=env, **kwargs)
        return
    mpirun = shutil.which("mpirun")
    if not mpirun:
        sys.exit("mpirun not found: install openmpi-bin")
    launcher = [mpirun, "--oversubscribe", "-np", str(n)]
    if os.geteuid() == 0:
        launcher.insert(1, "--allow-run-as-root")
    run(launcher + [exe] + flags, env=env, **kwargs)


def read_loss(outputs):
    sys.path.insert(0, HERE)
    import palm_shards
    tensors, _ = palm_shards.load_shards(outputs, names=["loss"])
    return float(tensors["loss"])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--work", required=True)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset")
    source.add_argument("--config")
    p.add_argument("--layout", default="replicated")
    p.add_argument("--mesh", default="data=1,model=1")
    p.add_argument("--block")
    p.add_argument("--steps", default="1")
    p.add_argument("--seed", default="0")
    p.add_argument("--dtype", choices=["f32", "bf16"])
    p.add_argument("--batch", help="palm-gen --batch: sequences per step")
    p.add_argument("--target", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--fake-cuda", metavar="DIR")
    p.add_argument("--logit-tol")
    p.add_argument("--rel-tol")
    p.add_argument("--expect-loss-from")
    p.add_argument("--grads", action="store_true")
    p.add_argument("--jax-python")
    p.add_argument("--grad-tol", default="1e-4")
    args = p.parse_args()
    if args.grads and not args.jax_python:
        sys.exit("--grads needs --jax-python (the JAX venv's python)")
    if args.fake_cuda and args.target != "cuda":
        sys.exit("--fake-cuda needs --target cuda")

    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    model = os.path.join(args.work, "model.mlir")
    exe = os.path.join(args.work, "model")
    stats = os.path.join(args.work, "stats.json")
    gen = [os.path.join(args.bin, "palm-gen"), "--layout", args.layout,
           "--mesh", args.mesh]
    gen += ["--preset", args.preset] if args.preset else ["--config",
                                                           args.config]
    if args.block:
        gen += ["--block", args.block]
    if args.dtype:
        gen += ["--dtype", args.dtype]
    if args.batch:
        gen += ["--batch", args.batch]
    run(gen + ["--return-logits", "-o", model])
    if args.grads:
        forward = os.path.join(args.work, "forward.mlir")
        os.rename(model, forward)
        run([os.path.join(args.bin, "palm-opt"), forward, "-palm-autodiff",
             "-o", model])
    with open(stats, "w") as f:
        run(gen + ["--stats", "--stats-format=json"], stdout=f)
    run([os.path.join(args.bin, "palm-compile"), model, "--target",
         args.target, "-o", exe])

    weights = os.path.join(args.work, "weights")
    outputs = os.path.join(args.work, "outputs")
    flags = ["--steps", args.steps, "--seed", args.seed, "--save-weights",
             weights, "--save-outputs", outputs]
    n = devices(args.mesh)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    if args.fake_cuda:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            [os.path.abspath(args.fake_cuda)] +
            [p for p in [env.get("LD_LIBRARY_PATH")] if p])
        env["PALMRT_FAKE_CUDA_DEVICES"] = str(n)
    launch(exe, flags, n, env)

    check = [sys.executable, os.path.join(HERE, "check_run.py"),
             "--weights", weights, "--outputs", outputs, "--config", stats]
    for flag in ("logit_tol", "rel_tol"):
        if getattr(args, flag):
            check += ["--" + flag.replace("_", "-"), getattr(args, flag)]
    if args.expect_loss_from:
        check += ["--expect-loss",
                  repr(read_loss(os.path.join(args.expect_loss_from,
                                              "outputs")))]
    run(check)
    if args.grads:
        jax_check = [args.jax_python, os.path.join(HERE, "jax_palm.py"),
                     "grads", "--weights", weights, "--inputs", outputs,
                     "--config", stats, "--compare-outputs", outputs,
                     "--grad-tol", args.grad_tol]
        run(jax_check)
        if args.expect_loss_from:
            run([sys.executable, os.path.join(HERE, "compare_outputs.py"),
                 outputs, os.path.join(args.expect_loss_from, "outputs"),
                 "--prefix", "grad.", "--tol", args.grad_tol])
    extra = "".join(" " + x for x in [
        args.dtype, "grads" if args.grads else None,
        "cuda" if args.target == "cuda" else None,
        "(emulated)" if args.fake_cuda else None] if x)
    print("PASS %s %s %s%s" % (args.preset or os.path.basename(args.config),
                               args.layout, args.mesh, extra))


if __name__ == "__main__":
    main()
