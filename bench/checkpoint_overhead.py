#!/usr/bin/env python3
"""What checkpoints cost the training loop: synchronous and --async-save.

    python3 bench/checkpoint_overhead.py [--build build] [--preset small]
        [--steps 12] [--every 2] [--runs 3] [--dir /tmp/palm-ckpt-bench]

Compiles `palm-gen --preset P --train` (Adafactor, one process) and runs it
--steps steps three ways, --runs times each, alternating: without
checkpoints, with a checkpoint every --every steps written synchronously,
and with --async-save. Prints a table of the median wall time per step (the
whole run over the steps: saves included) and the median of the step lines'
step_time (the compiled step alone), with each mode's overhead over the
run without checkpoints, and the checkpoint's size. The checkpoint directory
should be on the disk a real run would use (default under /tmp).
"""

import argparse
import glob
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, **kw)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default="build")
    p.add_argument("--preset", default="small")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--every", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dir", default="/tmp/palm-ckpt-bench")
    a = p.parse_args()
    shutil.rmtree(a.dir, ignore_errors=True)
    os.makedirs(a.dir)
    b = os.path.join(a.build, "bin")
    mlir, exe = os.path.join(a.dir, "step.mlir"), os.path.join(a.dir, "step")
    run([os.path.join(b, "palm-gen"), "--preset", a.preset, "--train", "-o",
         mlir])
    run([os.path.join(b, "palm-compile"), mlir, "-o", exe])

    modes = {
        "no checkpoints": [],
        "sync, every %d" % a.every: ["--checkpoint-every", str(a.every)],
        "--async-save, every %d" % a.every: ["--checkpoint-every",
                                             str(a.every), "--async-save"],
    }
    wall = {m: [] for m in modes}
    step = {m: [] for m in modes}
    size = 0
    for r in range(a.runs):
        for mode, flags in modes.items():
            ck = os.path.join(a.dir, "ck")
            shutil.rmtree(ck, ignore_errors=True)
            metrics = os.path.join(a.dir, "m.jsonl")
            if os.path.exists(metrics):
                os.remove(metrics)
            cmd = [exe, "--steps", str(a.steps), "--metrics", metrics]
            if flags:
                # The last step's save is left out of neither mode: every
                # run with checkpoints saves after its last step too.
                cmd += ["--checkpoint-dir", ck] + flags
            start = time.time()
            run(cmd)
            wall[mode].append((time.time() - start) / a.steps)
            with open(metrics) as f:
                steps = [json.loads(line)["step_s"] for line in f]
            step[mode].append(statistics.median(steps))
            if flags and not size:
                size = sum(os.path.getsize(f) for f in glob.glob(
                    os.path.join(ck, "step-*", "*.safetensors"))) // len(
                        glob.glob(os.path.join(ck, "step-*")))
            print("run %d %-24s %.4f s/step" % (r + 1, mode, wall[mode][-1]),
                  file=sys.stderr)

    print("command: python3 bench/checkpoint_overhead.py --preset %s --steps "
          "%d --every %d --runs %d" % (a.preset, a.steps, a.every, a.runs))
    print("machine: %s, %d CPUs (%s); checkpoint %.1f MiB in %s" % (
        platform.node(), os.cpu_count(), platform.processor() or "?",
        size / 2**20, a.dir))
    base_wall = statistics.median(wall["no checkpoints"])
    base_step = statistics.median(step["no checkpoints"])
    print()
    print("| mode | wall s/step | overhead | step_time s | overhead |")
    print("|---|---|---|---|---|")
    for mode in modes:
        w, s = statistics.median(wall[mode]), statistics.median(step[mode])
        print("| %s | %.4f | %+.1f%% | %.4f | %+.1f%% |" % (
            mode, w, 100 * (w / base_wall - 1), s, 100 * (s / base_step - 1)))


if __name__ == "__main__":
    main()
