#!/usr/bin/env python3
"""palm-compile --memory-report against the memory a run really takes.

    memory_check.py --bin DIR --work DIR [palm-gen flags ...]
                    [--tolerance 0.10] [--above-baseline] [--no-run]
                    [--expect-smaller-than DIR]

Generates a training step with `palm-gen --train FLAGS`, compiles it with
--memory-report, runs one step with the executable's --memory-report and
checks:
  * the executable's planned bytes per device equal the report's total
    (both read the same program description),
  * rank 0's peak resident memory (VmHWM) is within --tolerance of the
    planned total: nothing large is allocated that the plan does not show,
    and the plan is not far above what is used; with --above-baseline, the
    peak less what the process held before allocating (libraries, MPI: some
    50 MB per rank, which dwarfs a small model's shard),
  * palm-gen --stats's estimate of the step's intermediates at their peak
    is within --estimate-tolerance (default 0.25) of the report's peak of
    live intermediates, and its parameters, optimizer state and results are
    the report's,
  * --expect-smaller-than DIR: the report's arena is smaller than that of
    another run of this script (rematerialization, micro-batches).
--no-run: the report alone (and --expect-smaller-than), nothing run.
Prints the report, the numbers and PASS; exits non-zero on a failure.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_case import devices, launch, run  # noqa: E402


def report_numbers(text):
    """The rows of the report: name -> bytes."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\s+([a-z ]+?)\s+(\d+)\s+[\d.]+", line)
        if m:
            rows[m.group(1).strip()] = int(m.group(2))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--mesh", default="data=1,model=1")
    p.add_argument("--tolerance", type=float, default=0.10)
    p.add_argument("--above-baseline", action="store_true")
    p.add_argument("--expect-smaller-than")
    p.add_argument("--no-run", action="store_true")
    p.add_argument("--estimate-tolerance", type=float, default=0.25)
    args, gen_flags = p.parse_known_args()

    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    model = os.path.join(args.work, "step.mlir")
    exe = os.path.join(args.work, "step")
    run([os.path.join(args.bin, "palm-gen"), "--train", "--mesh", args.mesh] +
        gen_flags + ["-o", model])
    compiled = subprocess.run(
        [os.path.join(args.bin, "palm-compile"), model, "-o", exe,
         "--memory-report"], capture_output=True, text=True)
    sys.stdout.write(compiled.stderr)
    if compiled.returncode != 0:
        sys.exit("palm-compile failed")
    rows = report_numbers(compiled.stderr)
    with open(os.path.join(args.work, "report.json"), "w") as f:
        json.dump(rows, f)

    stats = subprocess.run(
        [os.path.join(args.bin, "palm-gen"), "--stats", "--stats-format=json",
         "--mesh", args.mesh] + gen_flags, capture_output=True, text=True,
        check=True)
    estimate = json.loads(stats.stdout)["training_bytes_per_device"]
    ok = True
    for key, row in (("optimizer_state", "optimizer state"),
                     ("results", "results")):
        # The results also hold the loss, the norm and the learning rate.
        same = 0 <= rows[row] - estimate[key] <= 64
        ok &= same
        print("%s estimated %s %d bytes, planned %d" % (
            "ok  " if same else "FAIL", row, estimate[key], rows[row]))
    rel = estimate["intermediates"] / rows["peak live"] - 1
    close = abs(rel) <= args.estimate_tolerance
    ok &= close
    print("%s estimated intermediates %d bytes, planned peak live %d (%+.1f%%,"
          " tolerance %.0f%%)" % ("ok  " if close else "FAIL",
                                  estimate["intermediates"], rows["peak live"],
                                  100 * rel, 100 * args.estimate_tolerance))
    if not args.no_run:
        ok &= check_run(args, exe, rows)
    if args.expect_smaller_than:
        with open(os.path.join(args.expect_smaller_than, "report.json")) as f:
            other = json.load(f)
        smaller = rows["arena"] < other["arena"]
        ok &= smaller
        print("%s arena %d bytes vs %d (%.2f)" % (
            "ok  " if smaller else "FAIL", rows["arena"], other["arena"],
            rows["arena"] / other["arena"]))
    if not ok:
        sys.exit(1)
    print("PASS memory %s" % " ".join(gen_flags + ["--mesh", args.mesh]))


def check_run(args, exe, rows):
    """Runs one step; the planned and the measured memory agree."""
    out = os.path.join(args.work, "run.txt")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    with open(out, "w") as f:
        launch(exe, ["--steps", "1", "--memory-report"], devices(args.mesh),
               env, stdout=f)
    with open(out) as f:
        text = f.read()
    m = re.search(r"memory: planned (\d+) bytes.*peak resident (\d+) bytes"
                  r".*, (\d+) before allocating", text)
    if not m:
        sys.exit("the run printed no memory line:\n" + text)
    planned, peak, baseline = (int(g) for g in m.groups())
    print(text.strip())
    ok = True
    same = planned == rows.get("total")
    ok &= same
    print("%s planned %d bytes per device, the report's total %s" % (
        "ok  " if same else "FAIL", planned, rows.get("total")))
    measured = peak - baseline if args.above_baseline else peak
    ratio = measured / planned
    close = abs(ratio - 1) <= args.tolerance
    ok &= close
    print("%s peak resident %s%d bytes = %.3f of planned (tolerance %.2f)" % (
        "ok  " if close else "FAIL",
        "above the baseline " if args.above_baseline else "", measured,
        ratio, args.tolerance))
    return ok


if __name__ == "__main__":
    main()
