#!/usr/bin/env python3
"""End-to-end test of palmrt with a hand-written compiled program.

palmrt-smoke-<D>x<M> is smoke_program.c (an embedding, a LayerNorm, tied
logits and a sharded cross-entropy) linked with libpalmrt_main for a mesh of
data=D, model=M. This script runs it on 1, 2 and 4 processes and checks:

  * the per-step lines, and that the loss is the same on every mesh;
  * generated parameters are the same global tensors on every mesh, and the
    loss and logits match a numpy reference computed from the saved weights
    and tokens (an implementation independent of the runtime's kernels);
  * --weights reproduces the run, --trace writes valid per-rank JSON;
  * failures: wrong process count, missing/corrupt/mismatched weights, bad
    flags, an unwritable output directory, a rank that crashes, a launcher
    that is killed -- each ends every rank with a non-zero status, promptly,
    with a message.

Usage: smoke_test.py --bin-dir DIR --work-dir DIR [--mpirun PATH]
Exit status 0 on success, 1 on a failed check, 77 when nothing could run.
"""

import argparse
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

try:
    import numpy as np
except ImportError:
    # CI installs numpy (scripts/install-deps.sh): missing there is a failure.
    if os.environ.get("CI"):
        print("error: CI is set but numpy is missing for %s (install "
              "python3-numpy)" % sys.executable)
        sys.exit(1)
    print("skipped: numpy is missing (install python3-numpy)")
    sys.exit(77)

STEP_LINE = re.compile(
    r"^step (\d+) loss (-?[0-9.]+) tokens/s ([0-9.]+) step_time ([0-9.]+) s "
    r"collectives ([0-9.]+) s \(([0-9.]+)%\)$")

FAILURES = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        FAILURES.append(what)
    return ok


class Runner:
    def __init__(self, bin_dir, mpirun):
        self.bin_dir = bin_dir
        self.mpirun = mpirun

    def command(self, mesh, np_, args):
        exe = os.path.join(self.bin_dir, "palmrt-smoke-" + mesh)
        if np_ is None:
            return [exe] + args
        return [self.mpirun, "--allow-run-as-root", "--oversubscribe",
                "-np", str(np_), exe] + args

    def run(self, mesh, np_, args, env=None, timeout=120):
        full_env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        full_env.update(env or {})
        start = time.time()
        p = subprocess.run(self.command(mesh, np_, args), env=full_env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr, time.time() - start


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    dtypes = {"F32": "<f4", "I32": "<i4", "I64": "<i8", "BF16": "<u2"}
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(blob[8 + n + b:8 + n + end],
                                  dtype=dtypes[e["dtype"]]).reshape(e["shape"])
    return out


def load_global(directory, prefix):
    """{name: global array} assembled from a shard directory."""
    with open(os.path.join(directory, prefix + ".index.json")) as f:
        index = json.load(f)
    axes, shape = index["mesh"]["axes"], index["mesh"]["shape"]
    files = [read_safetensors(os.path.join(directory, name))
             for name in index["files"]]
    out = {}
    for name, t in index["tensors"].items():
        whole = np.zeros(t["global_shape"], dtype=files[0][name].dtype)
        for rank, tensors in enumerate(files):
            coords, r = [], rank
            for size in reversed(shape):
                coords.insert(0, r % size)
                r //= size
            src, dst = [], []
            for d, dim_axes in enumerate(t["sharding"]):
                c = 0
                for a in dim_axes:
                    c = c * shape[axes.index(a)] + coords[axes.index(a)]
                local = t["local_shape"][d]
                begin = c * local
                end = min(begin + local, t["global_shape"][d])
                dst.append(slice(begin, max(begin, end)))
                src.append(slice(0, max(0, end - begin)))
            whole[tuple(dst)] = tensors[name][tuple(src)]
        out[name] = whole
    return out


def step_lines(stdout):
    lines = [l for l in stdout.splitlines() if l.startswith("step ")]
    return [STEP_LINE.match(l) for l in lines], lines


def reference(weights, outputs):
    """(loss, logits) of smoke_program.c in float64."""
    e = weights["embedding"].astype(np.float64)
    ln = weights["final_ln"].astype(np.float64)
    tokens, targets = outputs["tokens"], outputs["targets"]
    x = e[tokens]
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    h = (x - mean) / np.sqrt(var + 1e-6) * ln
    logits = h @ e.T / np.sqrt(e.shape[1])
    m = logits.max(-1, keepdims=True)
    logz = (m + np.log(np.exp(logits - m).sum(-1, keepdims=True)))[..., 0]
    picked = np.take_along_axis(logits, targets[..., None], -1)[..., 0]
    loss = np.mean(logz - picked + 1e-4 * logz ** 2)
    return loss, logits


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-30)


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
    runner = Runner(args.bin_dir, mpirun)
    flags = ["--steps", "3", "--seed", "5"]

    # One process.
    rc, out, err, _ = runner.run("1x1", None, flags + [
        "--save-weights", f"{work}/w1x1", "--save-outputs", f"{work}/o1x1",
        "--trace", f"{work}/t1x1.json"])
    if not check(rc == 0, "1x1 runs as one process (rc %d: %s)" % (rc, err)):
        return 1
    matches, lines = step_lines(out)
    check(len(lines) == 3 and all(matches),
          "1x1 prints 3 well-formed step lines: %r" % lines)
    base = [float(m.group(2)) for m in matches if m]

    w1 = load_global(f"{work}/w1x1", "weights")
    o1 = load_global(f"{work}/o1x1", "outputs")
    loss, logits = reference(w1, o1)
    check(rel(base[-1], loss) < 1e-5,
          "loss of the last step %.7f equals the numpy reference %.7f"
          % (base[-1], loss))
    err_logits = np.abs(o1["logits"] - logits).max()
    check(err_logits <= 1e-4 * np.abs(logits).max(),
          "logits within 1e-4 of the largest logit of the reference "
          "(max error %.2e)" % err_logits)
    check(float(o1["loss"]) == base[-1] or rel(float(o1["loss"]), base[-1])
          < 1e-6, "saved loss equals the printed one")
    trace = json.load(open(f"{work}/t1x1.rank0.json"))
    cats = {e.get("cat") for e in trace["traceEvents"]}
    check({"step", "gemm", "kernel", "collective"} <= cats,
          "trace has step, gemm, kernel and collective events: %s" % cats)

    # --skip-batches: step k reads the k-th batch not skipped. The program
    # has no state, so a run of 2 steps skipping batches 2-3 ends on batch
    # 4: the same tokens, logits and loss as step 4 of a plain run.
    rc, out, err, _ = runner.run("1x1", None, [
        "--steps", "4", "--seed", "5", "--save-outputs", f"{work}/plain4"])
    rc2, out2, err2, _ = runner.run("1x1", None, [
        "--steps", "2", "--seed", "5", "--skip-batches", "2-3",
        "--save-outputs", f"{work}/skip2"])
    if check(rc == 0 and rc2 == 0,
             "--skip-batches runs (rc %d, %d: %s)" % (rc, rc2, err + err2)):
        plain, skipped = (load_global(f"{work}/plain4", "outputs"),
                          load_global(f"{work}/skip2", "outputs"))
        check(sorted(plain) == sorted(skipped) and all(
            np.array_equal(plain[k], skipped[k]) for k in plain),
              "step 2 skipping batches 2-3 reads batch 4: every output and "
              "input equals step 4's of the plain run")
        plain_lines, skip_lines = step_lines(out)[0], step_lines(out2)[0]
        losses = ([m.group(2) for m in plain_lines if m],
                  [m.group(2) for m in skip_lines if m])
        check(len(losses[0]) == 4 and len(losses[1]) == 2 and
              losses[1] == [losses[0][0], losses[0][3]],
              "the skipping run's losses are steps 1 and 4 of the plain "
              "run's: %r %r" % losses)
    rc, out, err, _ = runner.run("1x1", None, ["--skip-batches", "3-2"])
    check(rc == 2 and "--skip-batches wants" in err,
          "a bad --skip-batches range is named: %r" % err.strip())

    rc, out, err, _ = runner.run("1x1", None, ["--help"])
    check(rc == 0 and "usage:" in out and "--save-outputs" in out,
          "--help prints the usage")
    rc, out, err, _ = runner.run("1x1", None, ["--stepz", "3"])
    check(rc == 2 and "unknown flag '--stepz'" in err,
          "a bad flag exits 2 with a message: %r" % err.strip())
    rc, out, err, _ = runner.run("1x1", None, ["--steps", "x"])
    check(rc == 2 and "--steps wants" in err, "a bad --steps value is named")
    rc, out, err, _ = runner.run("1x1", None, ["--steps", "1", "--weights",
                                               f"{work}/w1x1", "--seed", "5"])
    m = step_lines(out)[0]
    check(rc == 0 and m and m[0] and rel(float(m[0].group(2)), base[0]) < 1e-7,
          "--weights gives the generated run's first loss")
    open(f"{work}/a-file", "w").close()
    rc, out, err, _ = runner.run("1x1", None, ["--save-outputs",
                                               f"{work}/a-file"])
    check(rc != 0 and "not a directory" in err,
          "an unwritable --save-outputs fails with a message: %r"
          % err.strip())

    rc, out, err, _ = runner.run("2x2", None, [])
    check(rc != 0 and "needs 4 processes (mesh data=2,model=2)" in err
          and "mpirun -np 4" in err,
          "a 4-device program run alone says how to run it: %r" % err.strip())

    if not mpirun:
        print("skipped: the multi-process checks (mpirun not found; install "
              "openmpi-bin)")
        return 1 if FAILURES else 0

    # Meshes of 2 and 4 processes give the same numbers.
    for mesh, n in (("2x1", 2), ("1x2", 2), ("2x2", 4)):
        rc, out, err, _ = runner.run(mesh, n, flags + [
            "--save-weights", f"{work}/w{mesh}", "--save-outputs",
            f"{work}/o{mesh}", "--trace", f"{work}/t{mesh}.json"])
        if not check(rc == 0, "%s runs on %d processes (rc %d: %s)"
                     % (mesh, n, rc, err)):
            continue
        matches, lines = step_lines(out)
        check(len(lines) == 3 and all(matches),
              "%s: rank 0 alone prints 3 step lines" % mesh)
        losses = [float(m.group(2)) for m in matches if m]
        check(len(losses) == 3 and all(rel(a, b) < 1e-5
                                        for a, b in zip(losses, base)),
              "%s: losses %s equal the 1-process losses %s"
              % (mesh, losses, base))
        w = load_global(f"{work}/w{mesh}", "weights")
        check(all(np.array_equal(w[k], w1[k]) for k in w1),
              "%s: generated parameters equal the 1-process ones bit for bit"
              % mesh)
        o = load_global(f"{work}/o{mesh}", "outputs")
        check(np.array_equal(o["tokens"], o1["tokens"]) and
              np.array_equal(o["targets"], o1["targets"]),
              "%s: tokens and targets equal the 1-process ones" % mesh)
        check(np.abs(o["logits"] - o1["logits"]).max()
              <= 1e-5 * np.abs(o1["logits"]).max(),
              "%s: logits equal the 1-process logits" % mesh)
        for r in range(n):
            path = f"{work}/t{mesh}.rank{r}.json"
            try:
                events = json.load(open(path))["traceEvents"]
                ok = any(e.get("cat") == "collective" for e in events)
            except (OSError, ValueError):
                ok = False
            check(ok, "%s: %s is trace JSON with collectives" % (mesh, path))

    rc, out, err, _ = runner.run("2x2", 4, flags + ["--weights",
                                                    f"{work}/w2x2"])
    losses = [float(m.group(2)) for m in step_lines(out)[0] if m]
    check(rc == 0 and losses == [float(x) for x in base] or
          (len(losses) == 3 and all(rel(a, b) < 1e-5
                                    for a, b in zip(losses, base))),
          "2x2 with --weights reproduces the losses")

    # Start-up failures: every rank says why, every rank exits non-zero.
    rc, out, err, t = runner.run("2x2", 2, [])
    check(rc != 0 and all("rank %d: error: this program needs 4 processes"
                          % r in err for r in (0, 1)) and t < 30,
          "2 processes for a 4-device mesh: both ranks explain, exit non-zero")
    rc, out, err, t = runner.run("2x2", 4, ["--weights", f"{work}/nowhere"])
    check(rc != 0 and all("rank %d: error: %s/nowhere/weights.index.json"
                          % (r, work) in err for r in range(4)),
          "missing weights: every rank names the missing index")
    bad = f"{work}/wbad"
    shutil.copytree(f"{work}/w2x2", bad)
    with open(f"{bad}/weights-rank00001.safetensors", "r+b") as f:
        f.truncate(100)
    rc, out, err, t = runner.run("2x2", 4, ["--weights", bad])
    check(rc != 0 and "rank 1: error: %s/weights-rank00001.safetensors" % bad
          in err and all("rank %d: error: stopping: rank 1 failed" % r in err
                         for r in (0, 2, 3)) and t < 30,
          "a truncated weights file on rank 1: rank 1 names it, the others "
          "stop: %r" % err.strip()[:400])
    # Weights saved on another mesh are re-partitioned on load.
    rc, out, err, t = runner.run("1x2", 2, flags + ["--weights",
                                                    f"{work}/w2x2"])
    losses = [float(m.group(2)) for m in step_lines(out)[0] if m]
    check(rc == 0 and len(losses) == 3 and
          all(rel(a, b) < 1e-5 for a, b in zip(losses, base)),
          "1x2 with the 2x2 run's --weights reproduces the losses")
    rc, out, err, t = runner.run("2x2", 4, ["--save-outputs",
                                            f"{work}/a-file"])
    check(rc != 0 and err.count("not a directory") == 4,
          "an unwritable --save-outputs: every rank says so")

    # A rank dies mid-step: the others must not wait for it.
    rc, out, err, t = runner.run("2x2", 4, ["--steps", "2"],
                                 env={"PALM_SMOKE_CRASH_RANK": "1"})
    check(rc != 0 and t < 30,
          "rank 1 aborting mid-step ends the job non-zero in %.1f s" % t)

    # The launcher dies while ranks wait in a collective: the watchdog ends
    # them.
    pid_dir = f"{work}/pids"
    os.makedirs(pid_dir)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1",
               PALM_SMOKE_HANG_RANK="3", PALM_SMOKE_PID_DIR=pid_dir)
    launcher = subprocess.Popen(runner.command("2x2", 4, []), env=env,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.time() + 30
    while len(os.listdir(pid_dir)) < 4 and time.time() < deadline:
        time.sleep(0.1)
    pids = [int(open(os.path.join(pid_dir, f)).read())
            for f in os.listdir(pid_dir)]
    launcher.kill()
    launcher.wait()
    deadline = time.time() + 15
    alive = pids
    while alive and time.time() < deadline:
        time.sleep(0.2)
        alive = [p for p in alive if os.path.exists("/proc/%d" % p) and
                 not open("/proc/%d/stat" % p).read().split()[2] == "Z"]
    # The rank told to hang sleeps outside MPI; it too must go.
    check(len(pids) == 4 and not alive,
          "killing mpirun ends all 4 ranks within 15 s (left: %s)" % alive)
    for p in alive:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass

    print("%d check(s) failed" % len(FAILURES) if FAILURES else "all passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
