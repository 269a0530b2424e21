#!/usr/bin/env python3
"""Checkpoints, resume, re-partitioning on load and faults, end to end.

    checkpoint_case.py --bin DIR --work DIR SCENARIO [options]

Every scenario trains a `palm-gen --train` program on the synthetic stream
(seed 0) and compares with an uninterrupted run of the same length:

  exact --layout L --mesh M [--config F] [--async]
      a run stopped after step 10 (checkpoints every 5) and resumed to step
      20 ends with checkpoint and output files byte-identical to the
      uninterrupted run's, and identical losses and gradient norms for steps
      11-20. With --async the interrupted and resumed runs save with
      --async-save (checkpoints every 2 steps).
  reshard --from-layout L --from-mesh M --layout L2 --mesh M2 [--config F]
      a checkpoint of step 10 taken by the first program resumes on the
      second: steps 11-20's losses within 1e-5 relative of the second
      program's uninterrupted run.
  faults --layout L --mesh M
      a process killed at each point of a save (PALMRT_FAULT), a full disk
      during a save, a flipped byte and a truncated shard, a process killed
      in the middle of a step, a poisoned batch: each leaves a checkpoint the
      next run resumes from, ending byte-identical to the reference (for the
      poisoned batch: the uninterrupted run that skips the same batches).

Prints one line per check ("ok   ..." or "FAIL ...") and "PASS <scenario>"
at the end; exits non-zero on any failure.
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_case import devices  # noqa: E402

STEPS = 20
FAILURES = []


def check(ok, what):
    print("%s %s" % ("ok  " if ok else "FAIL", what))
    sys.stdout.flush()
    if not ok:
        FAILURES.append(what)
    return ok


class Runner:
    def __init__(self, bin_dir, work):
        self.bin = bin_dir
        self.work = work
        os.makedirs(work, exist_ok=True)

    def program(self, layout, mesh, config):
        name = "%s-%s" % (layout, mesh.replace("=", "").replace(",", "-"))
        exe = os.path.join(self.work, name)
        if os.path.exists(exe):
            return exe, devices(mesh)
        model = ["--config", config] if config else ["--preset", "tiny"]
        mlir = exe + ".mlir"
        subprocess.run([os.path.join(self.bin, "palm-gen")] + model +
                       ["--train", "--layout", layout, "--mesh", mesh, "-o",
                        mlir], check=True)
        subprocess.run([os.path.join(self.bin, "palm-compile"), mlir, "-o",
                        exe], check=True)
        return exe, devices(mesh)

    def run(self, program, flags, fault=None, expect_ok=True, timeout=120):
        """Runs the program; returns (exit code, output, seconds)."""
        exe, n = program
        cmd = [exe] + flags
        if n > 1:
            launcher = ["mpirun", "--oversubscribe", "-np", str(n)]
            if os.geteuid() == 0:
                launcher.insert(1, "--allow-run-as-root")
            cmd = launcher + cmd
        env = dict(os.environ)
        env.pop("PALMRT_FAULT", None)
        if fault:
            env["PALMRT_FAULT"] = fault
        print("$ %s%s" % ("PALMRT_FAULT=%s " % fault if fault else "",
                          " ".join(cmd)))
        start = time.time()
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True,
                           timeout=timeout)
        seconds = time.time() - start
        if expect_ok and p.returncode != 0:
            print(p.stdout)
            sys.exit("FAIL: exit code %d" % p.returncode)
        return p.returncode, p.stdout, seconds


def metrics(path):
    """{step: (loss, grad_norm)} of the last line of each step."""
    out = {}
    with open(path) as f:
        for line in f:
            m = json.loads(line)
            if "loss" in m:
                out[m["step"]] = (m["loss"], m.get("grad_norm"))
    return out


def same_files(a, b, pattern):
    fa = sorted(glob.glob(os.path.join(a, pattern)))
    fb = sorted(glob.glob(os.path.join(b, pattern)))
    if not fa or [os.path.basename(x) for x in fa] != [
            os.path.basename(x) for x in fb]:
        return False
    for x, y in zip(fa, fb):
        with open(x, "rb") as f, open(y, "rb") as g:
            if f.read() != g.read():
                return False
    return True


def latest(ckpt):
    try:
        with open(os.path.join(ckpt, "latest")) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def step_dir(ckpt, step):
    return os.path.join(ckpt, "step-%08d" % step)


def reference(r, prog, name, extra=()):
    """The uninterrupted STEPS-step run (checkpoints every 5)."""
    d = os.path.join(r.work, name)
    if not os.path.exists(os.path.join(d, "done")):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        r.run(prog, ["--steps", str(STEPS), "--checkpoint-dir",
                     os.path.join(d, "ckpt"), "--checkpoint-every", "5",
                     "--save-outputs", os.path.join(d, "out"), "--metrics",
                     os.path.join(d, "m.jsonl")] + list(extra))
        open(os.path.join(d, "done"), "w").close()
    return d


def resumed_matches(r, prog, ref, d, what):
    """Resumes the run in d/ckpt to STEPS; its outputs and last checkpoint
    equal the reference's byte for byte."""
    out = os.path.join(d, "out")
    shutil.rmtree(out, ignore_errors=True)
    _, text, _ = r.run(prog, ["--steps", str(STEPS), "--checkpoint-dir",
                              os.path.join(d, "ckpt"), "--checkpoint-every",
                              "5", "--resume", "--save-outputs", out])
    ok = check(same_files(out, os.path.join(ref, "out"), "*.safetensors"),
               "%s: resumed outputs byte-identical to the reference" % what)
    ok &= check(same_files(step_dir(os.path.join(d, "ckpt"), STEPS),
                           step_dir(os.path.join(ref, "ckpt"), STEPS),
                           "*.safetensors"),
                "%s: step %d checkpoint byte-identical" % (what, STEPS))
    return ok, text


def scenario_exact(r, a):
    prog = r.program(a.layout, a.mesh, a.config)
    ref = reference(r, prog, "ref")
    d = os.path.join(r.work, "split-async" if a.async_save else "split")
    shutil.rmtree(d, ignore_errors=True)
    ck = os.path.join(d, "ckpt")
    saving = ["--checkpoint-every", "5"]
    if a.async_save:
        saving = ["--checkpoint-every", "2", "--async-save"]
    _, text, _ = r.run(prog, ["--steps", "10", "--checkpoint-dir", ck] +
                       saving)
    check(latest(ck) == "step-00000010", "latest names step 10")
    if a.async_save:
        check(text.count("in the background") == 5,
              "5 checkpoints saved in the background")
    _, text, _ = r.run(prog, ["--steps", str(STEPS), "--checkpoint-dir", ck,
                              "--resume", "--save-outputs",
                              os.path.join(d, "out"), "--metrics",
                              os.path.join(d, "m.jsonl")] + saving)
    check("resume: step 10 from" in text, "resumed from step 10")
    got, want = metrics(os.path.join(d, "m.jsonl")), metrics(
        os.path.join(ref, "m.jsonl"))
    check(sorted(got) == list(range(11, STEPS + 1)) and
          all(got[k] == want[k] for k in got),
          "steps 11-%d: identical losses and gradient norms" % STEPS)
    check(same_files(os.path.join(d, "out"), os.path.join(ref, "out"),
                     "*.safetensors"), "outputs byte-identical")
    check(same_files(step_dir(ck, STEPS), step_dir(os.path.join(ref, "ckpt"),
                                                    STEPS), "*"),
          "step %d checkpoint (parameters, state, index) byte-identical" %
          STEPS)
    # The files are standard safetensors (the library, where installed).
    try:
        from safetensors.numpy import load_file
    except ImportError:
        load_file = None
    if load_file:
        f = sorted(glob.glob(os.path.join(step_dir(ck, STEPS),
                                          "*.safetensors")))[0]
        check(len(load_file(f)) > 0, "the safetensors library reads %s" %
              os.path.basename(f))


def scenario_reshard(r, a):
    src = r.program(a.from_layout, a.from_mesh, a.config)
    dst = r.program(a.layout, a.mesh, a.config)
    ref = reference(r, dst, "ref-%s" % os.path.basename(dst[0]))
    d = os.path.join(r.work, "reshard-%s-to-%s" % (
        os.path.basename(src[0]), os.path.basename(dst[0])))
    shutil.rmtree(d, ignore_errors=True)
    ck = os.path.join(d, "ckpt")
    r.run(src, ["--steps", "10", "--checkpoint-dir", ck])
    _, text, _ = r.run(dst, ["--steps", str(STEPS), "--checkpoint-dir", ck,
                             "--resume", "--metrics",
                             os.path.join(d, "m.jsonl")])
    check("resume: step 10 from" in text, "resumed from step 10")
    got, want = metrics(os.path.join(d, "m.jsonl")), metrics(
        os.path.join(ref, "m.jsonl"))
    worst = max(abs(got[k][0] - want[k][0]) / abs(want[k][0]) for k in got)
    check(sorted(got) == list(range(11, STEPS + 1)) and worst <= 1e-5,
          "%s %s -> %s %s: steps 11-%d losses within %.1e relative (<= 1e-5)"
          % (a.from_layout, a.from_mesh, a.layout, a.mesh, STEPS, worst))


def killed_save(r, prog, ref, point, rank, extra=()):
    what = "kill@%s:15%s" % (point, ",rank=%d" % rank if rank else "")
    d = os.path.join(r.work, "kill-" + point + "".join(extra))
    shutil.rmtree(d, ignore_errors=True)
    ck = os.path.join(d, "ckpt")
    code, text, _ = r.run(prog, ["--steps", str(STEPS), "--checkpoint-dir", ck,
                                 "--checkpoint-every", "5"] + list(extra),
                          fault=what, expect_ok=False)
    what += " ".join([""] + list(extra))
    check(code != 0, "%s: the run fails (exit %d)" % (what, code))
    # The rename commits only with `latest`; either way step 10 is intact.
    check(latest(ck) == "step-00000010", "%s: latest still names step 10" %
          what)
    resumed_matches(r, prog, ref, d, what)
    check(not glob.glob(os.path.join(ck, ".partial-*")),
          "%s: the next save removed the partial checkpoint" % what)


def damaged(r, prog, ref, how):
    d = os.path.join(r.work, "damaged-" + how)
    shutil.rmtree(d, ignore_errors=True)
    ck = os.path.join(d, "ckpt")
    r.run(prog, ["--steps", "15", "--checkpoint-dir", ck,
                 "--checkpoint-every", "5"])
    victim = sorted(glob.glob(os.path.join(step_dir(ck, 15),
                                           "*.safetensors")))[-1]
    with open(victim, "r+b") as f:
        if how == "flip":
            f.seek(os.path.getsize(victim) // 2)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0x40]))
        else:
            f.truncate(os.path.getsize(victim) - 100)
    code, text, _ = r.run(prog, ["--steps", str(STEPS), "--checkpoint-dir",
                                 ck, "--resume=15"], expect_ok=False)
    check(code != 0 and os.path.basename(victim) in text,
          "%s: --resume=15 is an error naming %s" % (
              how, os.path.basename(victim)))
    ok, text = resumed_matches(r, prog, ref, d, how)
    check("step-00000015" in text and "trying step 10" in text,
          "%s: --resume said step 15 is damaged and fell back to step 10" %
          how)


def scenario_faults(r, a):
    prog = r.program(a.layout, a.mesh, a.config)
    ref = reference(r, prog, "ref")
    n = prog[1]
    for point, rank in [("save-begin", 0), ("save-written", n - 1),
                        ("save-index", 0), ("save-commit", 0),
                        ("save-latest", 0)]:
        killed_save(r, prog, ref, point, rank)
    # The writer thread of --async-save killed while it writes.
    killed_save(r, prog, ref, "save-written", n - 1, ["--async-save"])

    # A full disk while writing a shard, and while writing the index.
    for point, rank in [("save-shard", n - 1), ("save-index", 0)]:
        what = "enospc@%s:15,rank=%d" % (point, rank)
        d = os.path.join(r.work, "enospc-" + point)
        shutil.rmtree(d, ignore_errors=True)
        ck = os.path.join(d, "ckpt")
        code, text, _ = r.run(prog, ["--steps", str(STEPS), "--checkpoint-dir",
                                     ck, "--checkpoint-every", "5"],
                              fault=what, expect_ok=False)
        check(code != 0 and "No space left on device" in text and
              "the checkpoint of step 10 is intact" in text,
              "%s: a clear error, step 10 kept" % what)
        check(latest(ck) == "step-00000010" and
              not glob.glob(os.path.join(ck, ".partial-*")),
              "%s: latest names step 10, no partial directory left" % what)
        resumed_matches(r, prog, ref, d, what)

    # A directory that cannot be made: an error before the first step.
    blocker = os.path.join(r.work, "not-a-directory")
    open(blocker, "w").close()
    code, text, _ = r.run(prog, ["--steps", "2", "--checkpoint-dir",
                                 os.path.join(blocker, "ckpt")],
                          expect_ok=False)
    check(code != 0 and "--checkpoint-dir" in text and "step 1 " not in text,
          "an unusable --checkpoint-dir is an error before step 1")

    for how in ("flip", "truncate"):
        damaged(r, prog, ref, how)

    # A process killed in the middle of step 13: the job ends, non-zero,
    # within 30 s, and step 10 resumes.
    d = os.path.join(r.work, "kill-step")
    shutil.rmtree(d, ignore_errors=True)
    ck = os.path.join(d, "ckpt")
    fault = "kill@step:13,rank=%d" % (n - 1)
    code, text, seconds = r.run(prog, ["--steps", str(STEPS),
                                       "--checkpoint-dir", ck,
                                       "--checkpoint-every", "5"],
                                fault=fault, expect_ok=False, timeout=60)
    check(code != 0 and seconds < 30,
          "%s: the job exits %d after %.1f s (< 30)" % (fault, code, seconds))
    check(n == 1 or "signal 9" in text or "Killed" in text,
          "%s: the launcher names the killed process" % fault)
    resumed_matches(r, prog, ref, d, fault)

    # A poisoned batch (its loss NaN): roll back to step 10 and skip batches
    # 11-13, like the uninterrupted run with --skip-batches 11-13.
    skip_ref = reference(r, prog, "ref-skip", ["--skip-batches", "11-13"])
    d = os.path.join(r.work, "poison")
    shutil.rmtree(d, ignore_errors=True)
    ck = os.path.join(d, "ckpt")
    _, text, _ = r.run(prog, ["--steps", str(STEPS), "--checkpoint-dir", ck,
                              "--checkpoint-every", "5", "--spike-factor", "3",
                              "--spike-window", "4", "--spike-skip", "3",
                              "--save-outputs", os.path.join(d, "out")],
                       fault="poison@batch:12")
    check("spike: step 12: loss nan" in text and
          "rollback: to step 10" in text and "skipping batches 11-13" in text,
          "poison@batch:12: rolled back to step 10 and skipped batches 11-13")
    check(same_files(os.path.join(d, "out"), os.path.join(skip_ref, "out"),
                     "*.safetensors"),
          "poison@batch:12: outputs byte-identical to --skip-batches 11-13")
    check(same_files(step_dir(ck, STEPS), step_dir(os.path.join(
        skip_ref, "ckpt"), STEPS), "*.safetensors"),
          "poison@batch:12: step %d checkpoint byte-identical" % STEPS)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenario", choices=["exact", "reshard", "faults"])
    p.add_argument("--bin", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--config")
    p.add_argument("--layout", default="replicated")
    p.add_argument("--mesh", default="data=1,model=1")
    p.add_argument("--from-layout", default="replicated")
    p.add_argument("--from-mesh", default="data=1,model=1")
    p.add_argument("--async", dest="async_save", action="store_true")
    a = p.parse_args()
    r = Runner(a.bin, a.work)
    {"exact": scenario_exact, "reshard": scenario_reshard,
     "faults": scenario_faults}[a.scenario](r, a)
    if FAILURES:
        print("FAILED %s: %d checks" % (a.scenario, len(FAILURES)))
        sys.exit(1)
    print("PASS %s %s %s%s" % (a.scenario, a.layout, a.mesh,
                               " async" if a.async_save else ""))


if __name__ == "__main__":
    main()
