#!/usr/bin/env python3
"""End-to-end test of palmrt_main on programs compiled for cuda.

palmrt-cuda-smoke-<D>x<M> is cuda_smoke_program.c built for `target cuda`,
palmrt-cuda-smoke-cpu-<D>x<M> the same program for the host. On meshes 1x1,
2x1, 1x2 and 2x2 this script runs both and checks that the cuda run

  * prints the step lines, with collectives timed on the device;
  * uses the same parameters (bit for bit) as the host run, and computes the
    same loss, results and saved inputs (to float rounding);
  * reads --weights, writes --trace with device-timed events;

and that without a usable GPU a cuda program stops every rank with one
clear line each: no driver, no device, fewer GPUs than processes.

With --fake-dir the "GPU" is the host emulation in fake_cuda/ (the libraries
come first on LD_LIBRARY_PATH); without it, this machine's GPU, and the
script exits 77 (skipped) when there is none.

Usage: cuda_smoke_test.py --bin-dir DIR --work-dir DIR [--mpirun PATH]
                          [--fake-dir DIR]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smoke_test import STEP_LINE, check, load_global, FAILURES  # noqa: E402

import numpy as np  # noqa: E402  (smoke_test exits 77 without it)

MESHES = {"1x1": 1, "2x1": 2, "1x2": 2, "2x2": 4}
CUDA_ERROR = "error: this program was compiled for cuda, but "


class Runner:
    def __init__(self, args):
        self.bin_dir = args.bin_dir
        self.mpirun = args.mpirun
        self.fake_dir = args.fake_dir

    def run(self, exe, mesh, flags, env=None, gpu=True):
        full = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        if self.fake_dir:
            # The fake libraries stand in for the GPU, or nothing does.
            full.pop("PALMRT_FAKE_CUDA_DEVICES", None)
            full.pop("LD_LIBRARY_PATH", None)
            if gpu:
                full["LD_LIBRARY_PATH"] = self.fake_dir
                full["PALMRT_FAKE_CUDA_DEVICES"] = "4"
        full.update(env or {})
        path = os.path.join(self.bin_dir, exe + "-" + mesh)
        np_ = MESHES[mesh]
        if np_ == 1:
            cmd = [path] + flags
        else:
            cmd = [self.mpirun, "--allow-run-as-root", "--oversubscribe",
                   "-np", str(np_)]
            for name in ("LD_LIBRARY_PATH", "PALMRT_FAKE_CUDA_DEVICES"):
                if name in full:
                    cmd += ["-x", name]
            cmd += [path] + flags
        p = subprocess.run(cmd, env=full, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr


def losses(stdout):
    out = []
    for line in stdout.splitlines():
        m = STEP_LINE.match(line)
        if m:
            out.append((float(m.group(2)), float(m.group(5))))
    return out


def close(a, b, tol=1e-5):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(
        np.all(np.abs(a - b) <= tol * (1 + np.abs(b))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--mpirun", default="")
    parser.add_argument("--fake-dir", default="")
    args = parser.parse_args()
    runner = Runner(args)
    work = args.work_dir
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    # Without any driver: one clear line from each rank, a non-zero exit.
    rc, out, err = runner.run("palmrt-cuda-smoke", "1x1", [], gpu=False)
    if not args.fake_dir and rc != 0:
        if CUDA_ERROR not in err:
            check(False, "cuda 1x1 fails without saying why: %s" % err)
            return 1
        print("skipped: no GPU here (%s)" % err.strip().splitlines()[-1])
        return 77
    if args.fake_dir:
        check(rc != 0 and err.count(CUDA_ERROR + "libcuda.so.1") == 1,
              "no driver: 1 process fails with one line (%r)" % err.strip())
        if args.mpirun:
            rc, out, err = runner.run("palmrt-cuda-smoke", "2x1", [],
                                      gpu=False)
            lines = [l for l in err.splitlines() if CUDA_ERROR in l]
            check(rc != 0 and len(lines) == 2 and
                  "rank 0" in lines[0] + lines[1] and
                  "rank 1" in lines[0] + lines[1],
                  "no driver: each of 2 ranks says so once (%r)" % lines)
        rc, out, err = runner.run("palmrt-cuda-smoke", "1x1", [],
                                  env={"PALMRT_FAKE_CUDA_DEVICES": "0"})
        check(rc != 0 and CUDA_ERROR + "the machine has no CUDA device" in err,
              "a driver without devices: says so (%r)" % err.strip())
        if args.mpirun:
            rc, out, err = runner.run("palmrt-cuda-smoke", "2x2", [],
                                      env={"PALMRT_FAKE_CUDA_DEVICES": "1"})
            check(rc != 0 and err.count(
                "this node runs 4 processes but has 1 GPU") == 4,
                "4 processes on 1 GPU: every rank says so (%r)" % err.strip())
        # A CPU program never touches the driver, with or without one.
        rc, out, err = runner.run("palmrt-cuda-smoke-cpu", "1x1", [],
                                  gpu=False)
        check(rc == 0 and losses(out), "the CPU program runs without a driver")

    reference_loss = {}
    for mesh, np_ in MESHES.items():
        if np_ > 1 and not args.mpirun:
            print("skipped mesh %s: mpirun not found" % mesh)
            continue
        dirs = {kind: os.path.join(work, "%s-%s" % (kind, mesh))
                for kind in ("cpu", "cuda")}
        results = {}
        for kind, exe in (("cpu", "palmrt-cuda-smoke-cpu"),
                          ("cuda", "palmrt-cuda-smoke")):
            d = dirs[kind]
            rc, out, err = runner.run(
                exe, mesh, ["--steps", "2", "--seed", "3", "--save-weights",
                            d + "/w", "--save-outputs", d + "/o"])
            if kind == "cuda" and not args.fake_dir and rc != 0 and \
                    "this node runs" in err:
                print("skipped mesh %s: %s" % (mesh, err.strip()))
                break
            results[kind] = losses(out)
            check(rc == 0 and len(results[kind]) == 2,
                  "%s %s runs 2 steps (rc %d, %s)" % (kind, mesh, rc,
                                                      err.strip()[-300:]))
        if "cuda" not in results or len(results["cuda"]) != 2 or \
                len(results["cpu"]) != 2:
            continue
        check(close([l for l, _ in results["cuda"]],
                    [l for l, _ in results["cpu"]]),
              "%s: cuda losses %s match the host's %s" %
              (mesh, results["cuda"], results["cpu"]))
        if np_ > 1:
            check(all(c >= 0 for _, c in results["cuda"]),
                  "%s: device-timed collectives are reported" % mesh)
        # Each model shard attends over its own columns: the loss depends
        # on `model`, not on `data`.
        model = mesh.split("x")[1]
        reference_loss.setdefault(model, results["cpu"][0][0])
        check(close(results["cuda"][0][0], reference_loss[model]),
              "%s: the loss does not depend on the data axis" % mesh)
        wc = load_global(dirs["cpu"] + "/w", "weights")
        wg = load_global(dirs["cuda"] + "/w", "weights")
        check(wc.keys() == wg.keys() and
              all(np.array_equal(wc[k], wg[k]) for k in wc),
              "%s: the same parameters, bit for bit" % mesh)
        oc = load_global(dirs["cpu"] + "/o", "outputs")
        og = load_global(dirs["cuda"] + "/o", "outputs")
        check(oc.keys() == og.keys() and
              all(close(og[k], oc[k]) for k in oc),
              "%s: outputs (%s) match the host's" %
              (mesh, ", ".join(sorted(oc))))
        check(np.array_equal(og["tokens"], oc["tokens"]) and
              np.array_equal(og["targets"], oc["targets"]),
              "%s: the same tokens and targets" % mesh)
        check(close(og["gathered"], og["attended"], 0),
              "%s: all_gather along the last dimension reassembles the "
              "result" % mesh)

    # --weights and --trace on the device.
    if args.mpirun and os.path.isdir(os.path.join(work, "cpu-2x2", "w")):
        trace = os.path.join(work, "trace.json")
        rc, out, err = runner.run(
            "palmrt-cuda-smoke", "2x2",
            ["--steps", "2", "--seed", "3", "--weights",
             os.path.join(work, "cpu-2x2", "w"), "--trace", trace,
             "--save-outputs", os.path.join(work, "weights-2x2")])
        if rc != 0 and not args.fake_dir and "this node runs" in err:
            print("skipped --weights/--trace: %s" % err.strip())
        else:
            check(rc == 0, "cuda 2x2 with --weights and --trace runs (%s)" %
                  err.strip()[-300:])
            a = load_global(os.path.join(work, "weights-2x2"), "outputs")
            b = load_global(os.path.join(work, "cuda-2x2", "o"), "outputs")
            check(all(np.array_equal(a[k], b[k]) for k in a),
                  "--weights reproduces the cuda run")
            names = set()
            for r in range(4):
                path = os.path.join(work, "trace.rank%d.json" % r)
                if os.path.exists(path):
                    events = json.load(open(path))["traceEvents"]
                    names |= {(e.get("cat"), e["name"]) for e in events}
            want = {("step", "step 1"), ("collective", "all_gather"),
                    ("collective", "all_reduce"), ("gemm", "gemm"),
                    ("kernel", "attention"), ("kernel", "launch"),
                    ("data", "copy")}
            check(want <= names, "the trace holds device-timed %s (missing %s)"
                  % (sorted(want), sorted(want - names)))

    print("%d check(s) failed" % len(FAILURES) if FAILURES else "all passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
