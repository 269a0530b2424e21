#!/usr/bin/env python3
"""End-to-end test of palmrt's training loop with a hand-written step.

palmrt-smoke-train-<D> is smoke_train_program.c (w' = w - 0.1 step,
m' = m + step, loss = sum(w), grad_norm = 2 step, lr = 1e-3 step) on a mesh
of data=D. This script checks:

  * the step lines carry loss, grad_norm and lr, and the mfu of
    --peak-flops; the step scalar counts 1, 2, 3; aliased results replace
    their parameter and state between steps, and --save-outputs sees the
    last step's results; --save-weights holds parameters only;
  * --metrics appends one JSON object per step;
  * --data: the tokens and targets of a token file are those palm_tokens.py
    predicts, on 1 and 2 processes; malformed files and a vocabulary larger
    than the model's are refused with the file named;
  * --eval-data/--eval-every/--eval-batches: an eval line (and a --metrics
    object) after every N-th and the last step, whose loss is that of the
    step's updated parameters; training with evaluation prints the same step
    lines and saves the same outputs as without, on 1 and 2 processes; flag
    misuse and a program that updates no parameter are refused.

Usage: smoke_train_test.py --bin-dir DIR --work-dir DIR [--mpirun PATH]
Exit status 0 on success, 1 on a failed check, 77 when nothing could run.
"""

import argparse
import json
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "e2e"))
# smoke_test skips (77) without numpy; its helpers read shard directories.
from smoke_test import Runner, check, load_global, FAILURES  # noqa: E402
import numpy as np  # noqa: E402
import palm_tokens as pt  # noqa: E402

STEP_LINE = re.compile(
    r"^step (\d+) loss (-?[0-9.]+) grad_norm ([0-9.]+) lr ([0-9.e+-]+) "
    r"tokens/s ([0-9.]+) mfu ([0-9.]+)% step_time ([0-9.]+) s "
    r"collectives ([0-9.]+) s \(([0-9.]+)%\)$")


class TrainRunner(Runner):
    def command(self, mesh, np_, args):
        exe = os.path.join(self.bin_dir, "palmrt-smoke-train-" + mesh)
        if np_ is None:
            return [exe] + args
        return [self.mpirun, "--allow-run-as-root", "--oversubscribe",
                "-np", str(np_), exe] + args


def close(a, b, tol=1e-6):
    return abs(a - b) <= tol * max(1.0, abs(b))


def check_loop(runner, work):
    rc, out, err, _ = runner.run("1", None, [
        "--steps", "3", "--seed", "5", "--peak-flops", "1e9",
        "--metrics", f"{work}/m.jsonl", "--save-outputs", f"{work}/o",
        "--save-weights", f"{work}/w"])
    if not check(rc == 0, "the training step runs (rc %d: %s)" % (rc, err)):
        return
    lines = [l for l in out.splitlines() if l.startswith("step ")]
    matches = [STEP_LINE.match(l) for l in lines]
    if not check(len(lines) == 3 and all(matches),
                 "3 step lines with grad_norm, lr and mfu: %r" % lines):
        return
    for k, m in enumerate(matches, 1):
        want = (4 - 0.4 * (k * (k - 1) / 2), 2.0 * k, 1e-3 * k)
        got = tuple(float(m.group(i)) for i in (2, 3, 4))
        check(all(close(g, w, 1e-5) for g, w in zip(got, want)),
              "step %d: loss, grad_norm, lr %s are %s (w updated through "
              "its alias, step scalar %d)" % (k, got, want, k))
    check(m.group(4) == "3.000e-03" and m.group(3) == "6.0000",
          "lr is printed as %.3e and grad_norm as %.4f")

    o = load_global(f"{work}/o", "outputs")
    check(float(o["seen_step"]) == 3.0, "the last step's scalar is 3")
    check(np.allclose(o["w_new"], 1 - 0.1 * 6) and
          np.allclose(o["m_new"], 6),
          "saved outputs are the last step's: w %s m %s"
          % (o["w_new"], o["m_new"]))
    check(close(float(o["loss"]), 2.8, 1e-6), "the saved loss is step 3's")
    w = load_global(f"{work}/w", "weights")
    check(sorted(w) == ["w"], "--save-weights holds the parameter only: %s"
          % sorted(w))

    records = [json.loads(l) for l in open(f"{work}/m.jsonl")]
    check(len(records) == 3 and [r["step"] for r in records] == [1, 2, 3],
          "--metrics wrote 3 lines: %s" % records)
    want_keys = {"step", "loss", "grad_norm", "lr", "tokens_per_s", "step_s",
                 "mfu"}
    check(all(set(r) == want_keys for r in records),
          "every metrics line has %s" % sorted(want_keys))
    check(all(close(r["loss"], l, 1e-6) and close(r["lr"], 1e-3 * k, 1e-6)
              for k, (r, l) in enumerate(zip(records, (4, 3.6, 2.8)), 1)),
          "metrics losses and lrs are the steps'")
    r = records[-1]
    check(close(r["mfu"], 1e6 / (r["step_s"] * 1e9), 1e-3),
          "mfu = flops / (step_s * peak)")
    rc, _, _, _ = runner.run("1", None, ["--metrics", f"{work}/m.jsonl"])
    n = len(open(f"{work}/m.jsonl").read().splitlines())
    check(rc == 0 and n == 4, "--metrics appends (%d lines)" % n)

    rc, out, err, _ = runner.run("1", None, ["--metrics", work])
    check(rc != 0 and "--metrics %s: cannot open" % work in err,
          "an unopenable --metrics fails with a message: %r" % err.strip())
    rc, out, err, _ = runner.run("1", None, ["--peak-flops", "fast"])
    check(rc == 2 and "--peak-flops wants a positive number" in err,
          "a bad --peak-flops is named")


def check_data(runner, work, mpirun):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 50, size=200)
    path = f"{work}/data.tok"
    pt.write_tokens(path, tokens, 50)
    for steps in (1, 3):
        rc, out, err, _ = runner.run("1", None, [
            "--steps", str(steps), "--seed", "7", "--data", path,
            "--save-outputs", f"{work}/d{steps}"])
        if not check(rc == 0, "--data runs (rc %d: %s)" % (rc, err)):
            return
        o = load_global(f"{work}/d{steps}", "outputs")
        tok, tgt = pt.batch(tokens, seed=7, k=steps, rows=3, seq=5)
        check(np.array_equal(o["tokens"], tok) and
              np.array_equal(o["targets"], tgt),
              "step %d's tokens and targets are palm_tokens.batch's:\n%s\n%s"
              % (steps, o["tokens"], tok))
    wide = f"{work}/data4.tok"
    pt.write_tokens(wide, tokens, 50, width=4)
    rc, out, err, _ = runner.run("1", None, [
        "--steps", "3", "--seed", "7", "--data", wide, "--save-outputs",
        f"{work}/d4"])
    check(rc == 0 and np.array_equal(load_global(f"{work}/d4", "outputs")
                                     ["tokens"], tok),
          "a 4-byte token file gives the same batch")
    if mpirun:
        rc, out, err, _ = runner.run("2", 2, [
            "--steps", "3", "--seed", "7", "--data", path, "--save-outputs",
            f"{work}/d3x2"])
        if check(rc == 0, "--data on 2 processes (rc %d: %s)" % (rc, err)):
            o = load_global(f"{work}/d3x2", "outputs")
            check(np.array_equal(o["tokens"], tok) and
                  np.array_equal(o["targets"], tgt),
                  "2 processes read the same batch, split over data")

    bad = f"{work}/bad.tok"
    blob = open(path, "rb").read()
    open(bad, "wb").write(b"PALMTOX\0" + blob[8:])
    rc, out, err, _ = runner.run("1", None, ["--data", bad])
    check(rc != 0 and "%s: not a usable token file: bad magic" % bad in err,
          "bad magic is named: %r" % err.strip())
    open(bad, "wb").write(blob[:-1])
    rc, out, err, _ = runner.run("1", None, ["--data", bad])
    check(rc != 0 and bad in err and "truncated or corrupt" in err,
          "a truncated file is named: %r" % err.strip())
    pt.write_tokens(bad, tokens, 60)
    rc, out, err, _ = runner.run("1", None, ["--data", bad])
    check(rc != 0 and "the data's vocabulary (60) is larger than the "
          "model's (50)" in err, "a larger vocabulary is refused: %r"
          % err.strip())
    pt.write_tokens(bad, tokens[:5], 50)
    rc, out, err, _ = runner.run("1", None, ["--data", bad])
    check(rc != 0 and "fewer than one window of seq + 1 = 6" in err,
          "a file shorter than a window is refused: %r" % err.strip())
    # A token past the declared vocabulary, found when a batch reads it.
    blob = open(path, "rb").read()
    open(bad, "wb").write(blob[:32] + b"\x37\x00" * 200)
    rc, out, err, _ = runner.run("1", None, ["--data", bad])
    check(rc != 0 and "is 55, not below the declared vocabulary size 50"
          in err and bad in err, "a token past the vocabulary is an error: %r"
          % err.strip())
    rc, out, err, _ = runner.run("1", None, ["--data", path, "--inputs",
                                             work])
    check(rc == 2 and "--data and --inputs" in err,
          "--data with --inputs is refused")


EVAL_LINE = re.compile(
    r"^eval step (\d+) heldout_loss (-?[0-9.]+) \((\d+) batch(?:es)?\)$")


def numbers(line):
    """A step line's loss, grad_norm and lr, as printed."""
    return line.split(" tokens/s ")[0]


def check_eval(runner, work, mpirun):
    rng = np.random.default_rng(1)
    path = f"{work}/heldout.tok"
    pt.write_tokens(path, rng.integers(0, 50, size=100), 50)
    meshes = [("1", None)] + ([("2", 2)] if mpirun else [])
    for mesh, np_ in meshes:
        common = ["--steps", "5", "--seed", "3"]
        rc, plain, err, _ = runner.run(mesh, np_, common + [
            "--save-outputs", f"{work}/plain{mesh}"])
        if not check(rc == 0, "5 steps run (rc %d: %s)" % (rc, err)):
            return
        metrics = f"{work}/eval{mesh}.jsonl"
        rc, out, err, _ = runner.run(mesh, np_, common + [
            "--save-outputs", f"{work}/eval{mesh}", "--metrics", metrics,
            "--eval-data", path, "--eval-every", "2", "--eval-batches", "3"])
        if not check(rc == 0, "5 steps with --eval-every 2 run on %s "
                     "process(es) (rc %d: %s)" % (mesh, rc, err)):
            return
        lines = [l for l in out.splitlines()
                 if l.startswith("step ") or l.startswith("eval ")]
        kinds = [re.sub(r"^eval step (\d+) .*", r"eval \1",
                        re.sub(r"^step (\d+) .*", r"step \1", l))
                 for l in lines]
        check(kinds == ["step 1", "step 2", "eval 2", "step 3", "step 4",
                        "eval 4", "step 5", "eval 5"],
              "eval lines follow steps 2, 4 and the last: %r" % kinds)
        check([numbers(l) for l in plain.splitlines()
               if l.startswith("step ")] ==
              [numbers(l) for l in lines if l.startswith("step ")],
              "the step lines are those of training without evaluation")
        for line in lines:
            m = EVAL_LINE.match(line)
            if not line.startswith("eval "):
                continue
            if not check(m, "an eval line: %r" % line):
                continue
            k = int(m.group(1))
            # The loss of the parameters after step k: w = 1 - 0.1 k(k+1)/2.
            want = 4 * (1 - 0.1 * k * (k + 1) / 2)
            check(close(float(m.group(2)), want, 1e-5) and m.group(3) == "3",
                  "eval at step %d: loss %s of the updated parameters is %g "
                  "(3 batches)" % (k, m.group(2), want))
        a = load_global(f"{work}/plain{mesh}", "outputs")
        b = load_global(f"{work}/eval{mesh}", "outputs")
        check(sorted(a) == sorted(b) and
              all(np.array_equal(a[n], b[n]) for n in a),
              "--save-outputs is bit for bit the same with evaluation")
        records = [json.loads(l) for l in open(metrics)]
        held = [(r["step"], r["heldout_loss"]) for r in records
                if "heldout_loss" in r]
        check([k for k, _ in held] == [2, 4, 5] and
              all(set(r) == {"step", "heldout_loss"} for r in records
                  if "heldout_loss" in r) and len(records) == 8 and
              all(close(l, 4 * (1 - 0.1 * k * (k + 1) / 2), 1e-6)
                  for k, l in held),
              "--metrics has {step, heldout_loss} after steps 2, 4, 5: %s"
              % held)

    rc, out, err, _ = runner.run("1", None, ["--steps", "2", "--eval-data",
                                             path, "--eval-batches", "1"])
    kinds = [l for l in out.splitlines() if l.startswith("eval ")]
    check(rc == 0 and len(kinds) == 1 and
          kinds[0].startswith("eval step 2 ") and
          kinds[0].endswith("(1 batch)"),
          "without --eval-every, one evaluation after the last step: %r"
          % kinds)
    for args, message in [
            (["--eval-every", "2"],
             "--eval-every needs --eval-data FILE"),
            (["--eval-data", path, "--eval-every", "0"],
             "--eval-every wants a positive integer, not '0'"),
            (["--eval-data", path, "--eval-batches", "x"],
             "--eval-batches wants a positive integer, not 'x'"),
            (["--eval-data", path, "--inputs", work],
             "--eval-data cannot be combined with --inputs")]:
        rc, out, err, _ = runner.run("1", None, args)
        check(rc == 2 and message in err, "%s is refused: %r"
              % (" ".join(args), err.strip()))
    rc, out, err, _ = runner.run("1", None, ["--eval-data", f"{work}/none"])
    check(rc == 1 and f"{work}/none" in err,
          "a missing --eval-data file is named: %r" % err.strip())
    forward = Runner(runner.bin_dir, mpirun)
    rc, out, err, _ = forward.run("1x1", None, ["--eval-data", path,
                                                "--eval-every", "1"])
    check(rc == 1 and "no result of the program updates a parameter" in err,
          "a forward program cannot be evaluated: %r" % err.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--mpirun", default="")
    args = ap.parse_args()
    work = args.work_dir
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    mpirun = args.mpirun if args.mpirun and os.path.exists(args.mpirun) \
        else shutil.which("mpirun")
    runner = TrainRunner(args.bin_dir, mpirun)
    check_loop(runner, work)
    check_data(runner, work, mpirun)
    check_eval(runner, work, mpirun)
    print("%d check(s) failed" % len(FAILURES) if FAILURES else "all passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
