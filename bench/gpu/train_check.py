#!/usr/bin/env python3
"""Training numerics on a GPU: a cuda training step against the CPU backend.

For each NAME given, runs NAME.train.cuda (next to this script) twice for 20
steps with --seed 7 --metrics, and compares every step's loss with
NAME.cpu.jsonl, the CPU backend's --metrics of the same program and seed,
and the two GPU runs with each other bit for bit (training is
deterministic). A NAME containing ".f32" is held to 1e-5 relative at step 1
and 1e-3 over the 20 steps, others (bf16 compute) to 2e-2 and 5e-2. Prints
a verdict per NAME and both loss curves; exits non-zero on any failure.

Prepare on a machine with the build (the learning rate keeps small's batch-1
steps out of the chaotic regime where any rounding difference grows, which
PaLM's default 1e-2 for AdamW reaches):

  mkdir -p gpu-check && cp bench/gpu/train_check.py gpu-check/
  for dt in f32 bf16; do
    build/bin/palm-gen --preset small --batch 1 --dtype $dt --train \\
        --optimizer adamw --peak-lr 0.05 -o /tmp/s.$dt.mlir
    build/bin/palm-compile /tmp/s.$dt.mlir --target cuda \\
        -o gpu-check/small.$dt.train.cuda
    build/bin/palm-compile /tmp/s.$dt.mlir -o /tmp/s.$dt.cpu
    /tmp/s.$dt.cpu --seed 7 --steps 20 --metrics gpu-check/small.$dt.cpu.jsonl
  done

then on the GPU machine (PALMRT_ATTENTION chooses cuDNN or palmrt's
attention; PALMRT_CUDA_LIBRARY_PATH where cuDNN is):

  python3 gpu-check/train_check.py small.f32 small.bf16
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 20


def main():
    names = sys.argv[1:]
    if not names:
        sys.exit(__doc__)
    out = os.environ.get("OUT", HERE)
    impl = os.environ.get("PALMRT_ATTENTION", "auto")
    ok = True
    for name in names:
        tol_first, tol_all = (1e-5, 1e-3) if ".f32" in name else (2e-2, 5e-2)
        runs = []
        for r in range(2):
            path = os.path.join(out, "%s.%s.gpu%d.jsonl" % (name, impl, r))
            if os.path.exists(path):
                os.remove(path)
            p = subprocess.run(
                [os.path.join(HERE, name + ".train.cuda"), "--seed", "7",
                 "--steps", str(STEPS), "--metrics", path],
                capture_output=True, text=True)
            if p.returncode != 0:
                print("%s: FAIL (run %d, exit %d): %s" % (
                    name, r, p.returncode, p.stderr.strip()[-500:]))
                ok = False
                break
            with open(path) as f:
                runs.append([json.loads(line) for line in f])
        if len(runs) < 2:
            continue
        with open(os.path.join(HERE, name + ".cpu.jsonl")) as f:
            cpu = [json.loads(line) for line in f]
        same = all(a["loss"] == b["loss"] and a["grad_norm"] == b["grad_norm"]
                   for a, b in zip(*runs))
        errs = [abs(g["loss"] - c["loss"]) / abs(c["loss"])
                for g, c in zip(runs[0], cpu)]
        norms = [abs(g["grad_norm"] - c["grad_norm"]) / abs(c["grad_norm"])
                 for g, c in zip(runs[0], cpu)]
        good = (same and len(errs) == STEPS and errs[0] <= tol_first and
                max(errs) <= tol_all)
        ok = ok and good
        print("%s (attention %s): %s; two GPU runs bit-identical: %s; loss "
              "vs CPU: step 1 %.2e, max over %d %.2e (tolerances %.0e, %.0e); "
              "grad_norm vs CPU: max %.2e" % (
                  name, impl, "ok" if good else "FAIL", same, errs[0],
                  len(errs), max(errs), tol_first, tol_all, max(norms)))
        print("  losses GPU: " + " ".join("%.6f" % s["loss"] for s in runs[0]))
        print("  losses CPU: " + " ".join("%.6f" % s["loss"] for s in cpu))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
