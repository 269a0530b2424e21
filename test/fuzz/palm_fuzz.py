#!/usr/bin/env python3
"""Differential fuzzer of the palm partitioner (issue 11).

    palm_fuzz.py [--bin DIR] [--cases N] [--seed S] [--jobs J] [--batch B]
                 [--keep DIR] [--case K[,K...]] [--print-case K]
                 [--replay FILE] [--shrink N] [--shrink-budget M]
                 [--interp-every E] [--regressions DIR [--xfail]] [--grads]

Generates random well-typed global palm programs (fuzz_program.py), compiles
each on its random mesh and on the same mesh with every axis of size 1,
runs both with the same seed (the first under mpirun) and compares every
output: f32 outputs must agree within 1e-5 of the largest |value| of the
1-process output (bf16-derived ones within 5e-2), integers exactly. Every
E-th case is also checked against an f64 numpy interpreter
(fuzz_interp.py) with the parameters and tokens the 1-process run saved.
A case is exact, refused (the compiler exits with an `error:` diagnostic),
wrong, or crashed (signal, assertion, LLVM ERROR, a runtime abort, a link
failure, a palm verifier error during compiling: invalid IR from a pass).
A wrong case is localized (the first op whose value is wrong); wrong and
crashed cases are shrunk (fuzz_shrink.py) and written as lit regression
tests. Exits 1 if any case is wrong or crashed, or a generated program does
not verify (a generator bug).

--grads (issue 12): each program also ends in a cross-entropy loss that
every parameter reaches, is differentiated (palm-opt -palm-autodiff) before
it is compiled, and every gradient (grad.<name>) is compared too, within
1e-4 of the larger of its own and its case's largest gradient; where the
interpreter checks a case, its 1-process gradients also along a random
direction against a central difference of the interpreter's f64 loss.

Cases are checked B at a time: each is first compiled alone to an object
(cheap: refusals and compiler failures show there), then the rest of the
batch, which shares a mesh, is merged into one function, so one link and
one mpirun serve up to B cases. See README.md.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import fuzz_interp  # noqa: E402
import fuzz_program as fp  # noqa: E402
import fuzz_shrink  # noqa: E402
import palm_shards  # noqa: E402
from compare_outputs import compare  # noqa: E402

F32_TOL = 1e-5      # the "exact": max|diff| <= 1e-5 max|ref|
GRAD_TOL = 1e-4     # gradients (--grads), as e2e/grads.test: mesh vs 1
                    # device, sums in another order through a longer chain
BF16_TOL = 5e-2     # outputs computed from bf16 values
INTERP_TOL = 1e-4   # f32 program against the f64 interpreter
CRASH_MARKS = ("LLVM ERROR", "Stack dump", "Assertion", "PLEASE submit",
               "Segmentation fault", "Aborted", "terminate called",
               "UNREACHABLE", "core dumped", "signal")
LOG_LOCK = threading.Lock()
# Messages of the palm ops' verifiers (lib/Dialect/Palm/IR). Every generated
# program verifies before it is compiled, so one of these during compiling
# means a pass made invalid IR.
INVALID_IR = [r"must be a multiple of key/value heads", r"must be even",
              r"result type should be", r"must be rank", r"differ",
              r"must have the .* shape", r"is out of range for rank",
              r"must be \[batch, seq, heads", r"expects \[batch, seq",
              r"changes the element count", r"needs equal",
              r"must agree", r"must have rank",
              r"names argument .* not the result's"]


def log(msg):
    with LOG_LOCK:
        print(msg, flush=True)


# ----------------------------------------------------------------------------
# Compiling and running


def normalize(msg):
    """An error message with names, numbers and types abstracted, so that
    refusals of one kind count together."""
    msg = re.sub(r"^.*?error: ", "", msg.strip())
    msg = re.sub(r"loc\([^)]*\)", "<loc>", msg)
    msg = re.sub(r"#palm\.sharding<[^>]*>", "<sharding>", msg)
    msg = re.sub(r"tensor<[^>]*>", "<tensor>", msg)
    # Op names stay ('palm.attention'), other quoted names go; so do
    # numbers, but not those of type names (f32, i64).
    msg = re.sub(r"'[^']*'", lambda m: m.group(0) if m.group(0).startswith(
        "'palm.") else "'_'", msg)
    msg = re.sub(r"\"[^\"]*\"", "\"_\"", msg)
    msg = re.sub(r"@\w+", "@_", msg)
    msg = re.sub(r"(?<![A-Za-z0-9])\d+", "N", msg)
    return msg[:160]


def classify(rc, text):
    """('crashed', signature) or ('refused', reason) of a failed command."""
    if rc < 0 or rc in (134, 136, 139) or any(m in text for m in CRASH_MARKS):
        first = next((l for l in text.splitlines()
                      if any(m in l for m in CRASH_MARKS)),
                     "exit status %d" % rc)
        return "crashed", normalize(first)
    if "linking with" in text:
        # An object the linker rejects is the compiler's fault, not a
        # refusal of the program.
        undef = re.search(r"undefined reference to `([^']*)'", text)
        return "crashed", "link failed" + (
            ": undefined reference to %s" % undef.group(1) if undef else "")
    errors = [l for l in text.splitlines() if "error:" in l]
    if errors and any(re.search(p, errors[0]) for p in INVALID_IR):
        # The input verified, so a pass produced an op its own verifier
        # rejects: the compiler's fault, not a refusal.
        return "crashed", "invalid IR after a pass: " + normalize(errors[0])
    if errors:
        return "refused", normalize(errors[0])
    return "crashed", "exit status %d without a diagnostic" % rc


class Runner:
    def __init__(self, bindir, seed, timeout=120):
        self.bin = bindir
        self.seed = seed
        self.timeout = timeout
        self.mpirun = shutil.which("mpirun")
        self.stats = {}
        self.bad_symbols = {}       # undefined at link -> the crash reason
        self.seconds = {}
        self.env = dict(os.environ, OPENBLAS_NUM_THREADS="1",
                        OMP_NUM_THREADS="1")

    def compile_start(self, mlir, exe, emit=None):
        self.count("compile" + (" --emit " + emit if emit else ""))
        cmd = [os.path.join(self.bin, "palm-compile"), mlir, "-o", exe]
        if emit:
            cmd += ["--emit", emit]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def run_start(self, exe, devices, work, tag):
        flags = ["--seed", str(self.seed), "--save-outputs",
                 os.path.join(work, "out" + tag), "--save-weights",
                 os.path.join(work, "w" + tag)]
        cmd = [exe] + flags
        if devices > 1:
            launcher = [self.mpirun, "--oversubscribe", "-np", str(devices)]
            if os.geteuid() == 0:
                launcher.insert(1, "--allow-run-as-root")
            cmd = launcher + cmd
        self.count("run on %d" % devices)
        return subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                env=self.env)

    def autodiff(self, path, out):
        """palm-opt -palm-autodiff of the program in path into out, keeping
        the input's locations, so that diagnostics of the compile name the
        lines of path: (exit status, output)."""
        self.count("palm-opt -palm-autodiff")
        cmd = [os.path.join(self.bin, "palm-opt"), "-palm-autodiff",
               "--mlir-print-debuginfo", path, "-o", out]
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               timeout=self.timeout)
        except subprocess.TimeoutExpired as e:
            return -9, (e.output or "") + "\ntimed out (signal)"
        return r.returncode, r.stdout

    def verifies(self, text):
        """Whether palm-opt parses and verifies text (every generated
        program must)."""
        self.count("palm-opt")
        r = subprocess.run([os.path.join(self.bin, "palm-opt"), "-o",
                            os.devnull, "-"], input=text, text=True,
                           capture_output=True)
        return r.returncode == 0, normalize(next(
            (l for l in r.stderr.splitlines() if "error:" in l), r.stderr))

    def count(self, what):
        with LOG_LOCK:
            self.stats[what] = self.stats.get(what, 0) + 1

    def wait(self, proc):
        start = time.time()
        try:
            out, _ = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            return -9, (out or "") + "\ntimed out (signal)"
        what = "run" if "palm-compile" not in proc.args[0] else (
            "compile obj" if "--emit" in proc.args else "compile")
        with LOG_LOCK:
            self.seconds[what] = self.seconds.get(what, 0) + (
                time.time() - start)
        return proc.returncode, out or ""


def devices_of(prog):
    n = 1
    for _, s in prog["mesh"]:
        n *= s
    return n


def member_of(name):
    """The case a value, result or gradient (`grad.c<K>.p1`) belongs to;
    None for the batch's shared ones (the loss, `grad.embedding`)."""
    m = re.match(r"(?:grad\.)?c(\d+)\.", name)
    return int(m.group(1)) if m else None


def evaluate(runner, prog, work, interp=False):
    """Compiles and runs prog on its mesh and on one device; compares.

    Returns {"status": "ran"|"refused"|"crashed", "reason", "text",
    "members": set of cases the failing diagnostics name,
    "outputs": {result name: (ok, detail)}, "interp": {...}}."""
    os.makedirs(work, exist_ok=True)
    text, op_lines = fp.print_program(prog)
    text1, _ = fp.print_program(prog, one_device=True)
    paths = {}
    for tag, t in (("", text), ("1", text1)):
        paths[tag] = os.path.join(work, "prog%s.mlir" % tag)
        with open(paths[tag], "w") as f:
            f.write(t)
    result = {"outputs": {}, "interp": {}, "members": set()}
    if prog.get("grads"):
        # Differentiated first: the compiles take the training program.
        for tag in ("", "1"):
            ad = os.path.join(work, "prog%s.grad.mlir" % tag)
            rc, out = runner.autodiff(paths[tag], ad)
            if rc != 0:
                status, reason = classify(rc, out)
                result["members"] = named_members(text, op_lines, out)
                result.update(status=status, reason="autodiff: " + reason,
                              text=out)
                return result
            paths[tag] = ad
    procs = {tag: runner.compile_start(paths[tag], os.path.join(
        work, "exe" + tag)) for tag in ("", "1")}
    done = {tag: runner.wait(p) for tag, p in procs.items()}
    for tag in ("", "1"):
        rc, out = done[tag]
        if rc != 0:
            status, reason = classify(rc, out)
            if tag == "1":
                reason = "1-device: " + reason
            result["members"] = named_members(text, op_lines, out)
            result.update(status=status, reason=reason, text=out)
            return result
    n = devices_of(prog)
    procs = {"": runner.run_start(os.path.join(work, "exe"), n, work, ""),
             "1": runner.run_start(os.path.join(work, "exe1"), 1, work, "1")}
    done = {tag: runner.wait(p) for tag, p in procs.items()}
    for tag in ("", "1"):
        rc, out = done[tag]
        if rc != 0:
            errs = [l for l in out.splitlines() if "error" in l]
            reason = "runtime%s: %s" % (" (1 device)" if tag else "",
                                        normalize(errs[0]) if errs else
                                        "exit status %d" % rc)
            result.update(status="crashed", reason=reason, text=out)
            return result
    try:
        mesh_out, _ = palm_shards.load_shards(os.path.join(work, "out"))
        ref_out, _ = palm_shards.load_shards(os.path.join(work, "out1"))
    except Exception as e:  # a malformed shard file is the runtime's fault
        result.update(status="crashed", reason="outputs: %s" % normalize(
            str(e)), text=str(e))
        return result
    tainted = fp.bf16_tainted(prog)
    for j, r in enumerate(prog["results"]):
        name = fp.result_name(r, j)
        ok, detail = compare(mesh_out[name], ref_out[name],
                             BF16_TOL if r["value"] in tainted else F32_TOL)
        result["outputs"][name] = (ok, "mesh vs 1 device: " + detail)
    if prog.get("grads"):
        # Every gradient: each reads the cotangent of the loss's logits,
        # which a bf16 value anywhere upstream of the loss makes bf16's.
        grads = sorted(n for n in ref_out if n.startswith("grad."))
        missing = sorted(set(n for n in mesh_out if n.startswith("grad."))
                         ^ set(grads))
        if not grads or missing:
            result.update(status="crashed", reason="outputs: gradients "
                          "missing", text="missing: %s" % missing)
            return result
        tol = BF16_TOL if "loss" in tainted else GRAD_TOL
        # Relative to the largest gradient of the case, not only its own
        # largest value: a gradient far smaller than its case's largest is
        # the cancellation of larger terms (a saturated softmax in an
        # attention or in the loss), and its f32 rounding noise, in any
        # summation order, is as large as it is.
        scale = {}
        for name in grads:
            k = member_of(name)
            a = np.abs(np.asarray(ref_out[name], np.float64))
            scale[k] = max(scale.get(k, 0.0),
                           float(np.max(a[np.isfinite(a)], initial=0.0)))
        for name in grads:
            ok, detail = compare_gradient(mesh_out[name], ref_out[name],
                                          tol, scale[member_of(name)])
            result["outputs"][name] = (ok, "mesh vs 1 device: " + detail)
    if interp:
        result["interp"] = check_interp(prog, work, ref_out, tainted)
        if prog.get("grads") and "loss" not in tainted:
            result["interp"].update(check_directional(prog, work, ref_out))
    result["status"] = "ran"
    return result


def compare_gradient(got, ref, tol, case_scale):
    """compare() within tol of the larger of the gradient's own largest
    |value| and its case's largest gradient (case_scale)."""
    ok, detail = compare(got, ref, tol)
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if ok or got.shape != ref.shape or not np.array_equal(
            np.isfinite(got), np.isfinite(ref)):
        return ok, detail
    fin = np.isfinite(ref)
    diff = float(np.max(np.abs(got[fin] - ref[fin]), initial=0.0))
    return diff <= tol * case_scale, detail + (
        ", the case's largest gradient %.3g" % case_scale)


def check_interp(prog, work, ref_out, tainted):
    """The 1-process outputs against the f64 interpreter, fed the run's own
    parameters and tokens; the tolerance grows with how much the value
    moves between an f32 and an f64 evaluation (ill-conditioned values)."""
    weights, _ = palm_shards.load_shards(os.path.join(work, "w1"))
    inputs = dict(weights)
    for name in ("tokens", "targets"):
        if name in ref_out:
            inputs[name] = ref_out[name]
    env64 = fuzz_interp.run(prog, inputs, np.float64)
    env32 = fuzz_interp.run(prog, inputs, np.float32)
    out = {}
    for j, r in enumerate(prog["results"]):
        name = fp.result_name(r, j)
        ref = env64[r["value"]]
        got = ref_out[name]
        if np.asarray(ref).dtype.kind in "iu":
            out[name] = compare(got, ref, 0)
            continue
        fin = np.isfinite(ref)
        scale = float(np.max(np.abs(ref[fin]))) if fin.any() else 0.0
        noise = np.abs(env32[r["value"]].astype(np.float64) - ref)
        noise = float(np.max(noise[fin])) if fin.any() else 0.0
        tol = BF16_TOL if r["value"] in tainted else INTERP_TOL
        if scale > 0:
            tol = max(tol, 10 * noise / scale)
        ok, detail = compare(got, ref, tol)
        out[name] = (ok, "1 device vs f64 interpreter: " + detail)
    return out


FD_STEP = 1e-6      # central differences of the f64 interpreter's loss
FD_TOL = 1e-5       # of sum |grad| |direction|: f32 gradients vs f64


def check_directional(prog, work, ref_out):
    """Gradient mode: the 1-process gradients against the f64 interpreter,
    one direction per case. For a random direction d over the case's
    parameters, sum <grad, d> must match the central difference of the
    interpreter's loss along d, within FD_TOL of sum |grad| |d| (so that a
    rule both runs share is checked too, not the partitioning only).
    Skipped for bf16 programs (rounding makes the loss a step function)."""
    weights, _ = palm_shards.load_shards(os.path.join(work, "w1"))
    inputs = {n: np.asarray(v, np.float64) if np.asarray(v).dtype.kind ==
              "f" else v for n, v in weights.items()}
    for name in ("tokens", "targets"):
        if name in ref_out:
            inputs[name] = ref_out[name]
    groups = {}
    for a in prog["args"]:
        if a["init"] and "grad." + a["name"] in ref_out:
            groups.setdefault(member_of(a["name"]), []).append(a["name"])
    rng = np.random.default_rng(0)
    out = {}
    for k, names in sorted(groups.items(), key=lambda kv: str(kv[0])):
        d = {n: rng.standard_normal(np.shape(inputs[n])) for n in names}
        losses = []
        for sign in (1, -1):
            moved = dict(inputs)
            for n in names:
                moved[n] = inputs[n] + sign * FD_STEP * d[n]
            losses.append(float(fuzz_interp.run(prog, moved)["loss"]))
        fd = (losses[0] - losses[1]) / (2 * FD_STEP)
        g = {n: np.asarray(ref_out["grad." + n], np.float64) for n in names}
        dot = sum(float(np.sum(g[n] * d[n])) for n in names)
        scale = sum(float(np.sum(np.abs(g[n] * d[n]))) for n in names)
        name = ("c%d." % k if k is not None else "") + "gradients"
        if not np.isfinite(fd) or not np.isfinite(dot):
            out[name] = (np.isfinite(fd) == np.isfinite(dot),
                         "1 device vs f64 central difference: not finite")
            continue
        diff = abs(fd - dot)
        out[name] = (diff <= FD_TOL * scale + 1e-12,
                     "1 device vs f64 central difference along a random "
                     "direction: <grad, d> %.6g, difference %.6g, |diff| "
                     "%.3g, sum |grad d| %.3g (%.2g of it, tolerance %.0e)" %
                     (dot, fd, diff, scale, diff / scale if scale else 0.0,
                      FD_TOL))
    return out


def failures(res):
    """[(output, detail)] of wrong outputs in an evaluation that ran."""
    bad = [(n, d) for n, (ok, d) in res["outputs"].items() if not ok]
    bad += [(n, d) for n, (ok, d) in res["interp"].items() if not ok]
    return bad


def verdict(res, case=None):
    """exact | wrong | refused | crashed of one case (or the whole program)
    in an evaluation, and a detail."""
    if res["status"] != "ran":
        return res["status"], res["reason"]
    bad = [(n, d) for n, d in failures(res)
           if case is None or member_of(n) == case]
    if bad:
        return "wrong", "; ".join("%s: %s" % b for b in bad[:3])
    return "exact", ""


def failure_kind(res):
    """What a shrunk program must keep: crashed with the same signature,
    or wrong in the same comparison (mesh vs 1 device, or vs f64)."""
    if res["status"] == "crashed":
        return ("crashed", res["reason"])
    if res["status"] == "ran":
        kinds = set()
        for n, (ok, d) in res["outputs"].items():
            if not ok:
                kinds.add("mesh")
        for n, (ok, d) in res["interp"].items():
            if not ok:
                kinds.add("interp")
        if kinds:
            return ("wrong", "mesh" if "mesh" in kinds else "interp")
    return None


# ----------------------------------------------------------------------------
# A batch of cases


def interp_wanted(args, case):
    if args.interp_every <= 0:
        return False
    h = int(hashlib.sha256(("%d-%d" % (args.seed, case)).encode())
            .hexdigest(), 16)
    return h % args.interp_every == 0


def standalone(mesh, ctx, member):
    return fp.build_program(mesh, ctx, [member])


def compile_start(runner, prog, work, emit=None):
    """The compile of prog, started; in gradient mode (exit status, output)
    instead when -palm-autodiff fails."""
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "prog.mlir")
    text, op_lines = fp.print_program(prog)
    with open(path, "w") as f:
        f.write(text)
    if prog.get("grads"):
        ad = os.path.join(work, "prog.grad.mlir")
        rc, out = runner.autodiff(path, ad)
        if rc != 0:
            return rc, out
        path = ad
    return runner.compile_start(path, os.path.join(
        work, "exe.o" if emit else "exe"), emit)


def named_members(text, op_lines, out):
    """The cases whose arguments, results or ops the diagnostics point at
    (by line: ops print without names)."""
    line_member = {}
    for i, l in enumerate(text.splitlines()):
        m = re.search(r'"c(\d+)\.', l)
        if m:
            line_member[i + 1] = int(m.group(1))
    for name, line in op_lines.items():
        if member_of(name) is not None:
            line_member[line] = member_of(name)
    found = set()
    for m in re.finditer(r"prog1?\.mlir:(\d+):\d+: error", out):
        k = line_member.get(int(m.group(1)))
        if k is not None:
            found.add(k)
    return found


def undefined_symbols(obj):
    r = subprocess.run(["nm", "-u", obj], capture_output=True, text=True)
    return {l.split()[-1] for l in r.stdout.splitlines() if l.strip()}


def screen(runner, mesh, ctx, members, work):
    """Compiles each member alone to an object (no link, no run: cheap):
    {case: (rc, output, undefined symbols of its object, stage)}, the stage
    "autodiff: " where -palm-autodiff failed (gradient mode), else ""."""
    out = {}
    for chunk in range(0, len(members), 4):
        procs = [(m, compile_start(runner, standalone(mesh, ctx, m),
                                   os.path.join(work, "obj%d" % m["case"]),
                                   "obj"))
                 for m in members[chunk:chunk + 4]]
        for m, p in procs:
            if isinstance(p, tuple):
                out[m["case"]] = p + (set(), "autodiff: ")
                continue
            rc, text = runner.wait(p)
            undef = set()
            if rc == 0:
                undef = undefined_symbols(os.path.join(
                    work, "obj%d" % m["case"], "exe.o"))
            out[m["case"]] = (rc, text, undef, "")
    return out


def check_batch(args, runner, first, count, workroot):
    """{case: (verdict, detail, program to shrink or None)} of one batch.

    Each member is first compiled alone to an object: refusals and compiler
    failures are found there, without linking or running. The rest run as
    one program; a link failure takes out the members whose objects need
    the missing symbol; members whose outputs are wrong are checked alone
    (so the regression is the member, or the batch if only the batch
    fails)."""
    mesh, ctx, members = fp.generate_batch(args.seed, first, count,
                                           args.grads)
    verdicts = {}
    if not runner.verifies(fp.print_program(
            fp.build_program(mesh, ctx, members))[0])[0]:
        # A generator bug: name the cases the verifier rejects.
        for m in members:
            ok, error = runner.verifies(
                fp.print_program(standalone(mesh, ctx, m))[0])
            if not ok:
                verdicts[m["case"]] = ("invalid", error, None)
        members = [m for m in members if m["case"] not in verdicts]
    objs = screen(runner, mesh, ctx, members, workroot)
    pending = []
    for m in members:
        rc, text, undef, stage = objs[m["case"]]
        known = sorted(undef & set(runner.bad_symbols))
        if rc == 0 and not known:
            pending.append(m)
            continue
        if known:
            # A symbol an earlier link could not find: it fails alike.
            verdicts[m["case"]] = ("crashed", runner.bad_symbols[known[0]],
                                   standalone(mesh, ctx, m))
            continue
        v, reason = classify(rc, text)
        verdicts[m["case"]] = (v, stage + reason, standalone(mesh, ctx, m)
                               if v == "crashed" else None)
    attempt = 0
    while pending:
        attempt += 1
        prog = fp.build_program(mesh, ctx, pending)
        work = os.path.join(workroot, "run%d" % attempt)
        want = any(interp_wanted(args, m["case"]) for m in pending)
        res = evaluate(runner, prog, work, interp=want)
        if res["status"] == "ran" and args.grads and failures(res):
            # The members share the loss, so one member's wrong value
            # makes every gradient wrong: each alone says which it is.
            alone = check_members(args, runner, mesh, ctx, pending,
                                  os.path.join(work, "each"))
            verdicts.update(alone)
            if not any(v in ("wrong", "crashed")
                       for v, _, _ in alone.values()):
                for m in pending:
                    v, d = verdict(res, m["case"])
                    if v == "wrong":
                        verdicts[m["case"]] = (
                            v, d + " (only in a batch)", prog)
                if not any(verdicts[m["case"]][0] == "wrong"
                           for m in pending):
                    # Only the shared outputs (the loss, grad.embedding).
                    v, d = verdict(res)
                    for m in pending:
                        verdicts[m["case"]] = (
                            v, d + " (only in a batch)", prog)
            break
        if res["status"] == "ran":
            for m in pending:
                v, d = verdict(res, m["case"])
                if v != "wrong":
                    verdicts[m["case"]] = (v, d, None)
                    continue
                # Alone too? Then the case itself is the regression;
                # otherwise the batch is (the members interfere).
                alone = standalone(mesh, ctx, m)
                r1 = evaluate(runner, alone, os.path.join(
                    work, "c%d" % m["case"]), interp=True)
                v1, d1 = verdict(r1)
                if v1 == "wrong":
                    d1 = localize(runner, alone, os.path.join(
                        work, "l%d" % m["case"])) + d1
                if v1 in ("wrong", "crashed"):
                    verdicts[m["case"]] = (v1, d1, alone)
                else:
                    verdicts[m["case"]] = ("wrong", d + " (only in a batch)",
                                           prog)
            break
        named = [m for m in pending if m["case"] in res["members"]]
        undef = re.search(r"undefined reference to `([^']*)'",
                          res.get("text", ""))
        if undef and not named:
            named = [m for m in pending
                     if undef.group(1) in objs[m["case"]][2]]
            if named:
                with LOG_LOCK:
                    runner.bad_symbols[undef.group(1)] = res["reason"]
        if named:
            for m in named:
                verdicts[m["case"]] = (res["status"], res["reason"],
                                       standalone(mesh, ctx, m)
                                       if res["status"] == "crashed" else
                                       None)
            pending = [m for m in pending if m not in named]
            continue
        # The batch fails and no member is to blame: each on its own.
        verdicts.update(check_members(args, runner, mesh, ctx, pending,
                                      os.path.join(work, "each")))
        break
    if not args.keep:
        shutil.rmtree(workroot, ignore_errors=True)
    return verdicts


def check_members(args, runner, mesh, ctx, members, work):
    """Each member alone: {case: (verdict, detail, program or None)}."""
    out = {}
    for m in members:
        prog = standalone(mesh, ctx, m)
        res = evaluate(runner, prog, os.path.join(work, "c%d" % m["case"]),
                       interp=True)
        v, d = verdict(res)
        if v == "wrong":
            d = localize(runner, prog, os.path.join(work, "l%d" %
                                                    m["case"])) + d
        out[m["case"]] = (v, d, prog if v in ("wrong", "crashed") else None)
    return out


def localize(runner, prog, work):
    """'first wrong value from <op kind>; ' of a wrong program: the same
    program with every value a result, and the first op in program order
    whose value is wrong (its operands being right)."""
    p = json.loads(fp.to_json(prog))
    have = {r["value"] for r in p["results"]}
    p["results"] += [{"value": op["name"], "sharding": None}
                     for op in p["ops"] if op["name"] not in have]
    res = evaluate(runner, p, work, interp=True)
    if res["status"] != "ran":
        return "first wrong value unknown (%s); " % res["status"]
    wrong = {n.rsplit(".r", 1)[0] for n, _ in failures(res)}
    for op in p["ops"]:
        if op["name"] in wrong or (op["name"] == "loss" and "loss" in wrong):
            return "first wrong value from %s; " % op["kind"]
    # Gradient mode, the forward exact: name what reads the parameters
    # whose gradients are wrong (the backward ops built for them).
    params = sorted(n[len("grad."):] for n in wrong if n.startswith("grad."))
    if params:
        kinds = sorted({op["kind"] for op in p["ops"] for q in params
                        if q in op["operands"]})
        return "first wrong value from the backward of %s; " % (
            "/".join(kinds) or "nothing")
    return "first wrong value unknown (exact with every value a result); "


# ----------------------------------------------------------------------------
# Shrinking and regression tests


def shrink_case(args, runner, case, prog, workroot):
    first = evaluate(runner, prog, os.path.join(workroot, "s0"), interp=True)
    kind = failure_kind(first)
    if kind is None:
        return None
    counter = [0]

    def still_fails(p):
        counter[0] += 1
        r = evaluate(runner, p, os.path.join(workroot, "s%d" % counter[0]),
                     interp=True)
        if not args.keep:
            shutil.rmtree(os.path.join(workroot, "s%d" % counter[0]),
                          ignore_errors=True)
        return failure_kind(r) == kind

    small, spent = fuzz_shrink.shrink(prog, still_fails,
                                      budget=args.shrink_budget)
    final = evaluate(runner, small, os.path.join(workroot, "final"),
                     interp=True)
    v, detail = verdict(final)
    return write_regression(args, case, prog, small, v, detail, spent)


def describe(prog):
    kinds = sorted({op["kind"] for op in prog["ops"]})
    return ", ".join(kinds) or "no ops"


def write_regression(args, case, orig, prog, v, detail, spent):
    text, _ = fp.print_program(prog)
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    mesh = ",".join("%s=%d" % (a, s) for a, s in prog["mesh"])
    header = [
        "// palm_fuzz regression: %s on mesh %s (%s)." % (v, mesh,
                                                          describe(prog)),
        "// Found by palm_fuzz.py %s--seed %d (case %d, batch %d), shrunk "
        "from %d ops to %d in %d tries." % ("--grads " if prog.get("grads")
                                           else "", args.seed, case,
                                           args.batch,
                                            len(orig["ops"]),
                                            len(prog["ops"]), spent),
        "// %s" % detail[:400].replace("\n", " "),
        "// REQUIRES: mpi, numpy",
    ] + ([
        "// A known bug (issue 11): remove the XFAIL line when it is fixed.",
        "// XFAIL: *",
    ] if args.xfail else []) + [
        "// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin "
        "--work %t --replay %s --expect exact",
        "// FUZZ-PROGRAM: " + fp.to_json(prog),
        "",
    ]
    body = "\n".join(header) + text
    path = None
    if args.regressions:
        os.makedirs(args.regressions, exist_ok=True)
        where = re.search(r"first wrong value from (\w+)", detail)
        kind = "crash" if v == "crashed" else "wrong" + (
            "-" + where.group(1).replace("_", "-") if where else "")
        path = os.path.join(args.regressions, "%s-%s.mlir" % (kind, digest))
        with open(path, "w") as f:
            f.write(body)
    return {"path": path, "text": body, "ops": len(prog["ops"]),
            "verdict": v, "detail": detail, "describe": describe(prog)}


def replay(args, runner):
    """Checks a regression file: exact or refused passes (with --expect,
    only that verdict)."""
    with open(args.replay) as f:
        for line in f:
            if line.startswith("// FUZZ-PROGRAM: "):
                prog = json.loads(line[len("// FUZZ-PROGRAM: "):])
                break
        else:
            sys.exit("%s: no FUZZ-PROGRAM line" % args.replay)
    work = args.work or tempfile.mkdtemp(prefix="palm-fuzz-")
    res = evaluate(runner, prog, work, interp=True)
    v, detail = verdict(res)
    for name, (ok, d) in sorted(res["outputs"].items()):
        print("%s %s: %s" % ("ok  " if ok else "FAIL", name, d))
    for name, (ok, d) in sorted(res["interp"].items()):
        print("%s %s: %s" % ("ok  " if ok else "FAIL", name, d))
    print("%s %s" % (v, detail))
    if res["status"] != "ran" and res.get("text"):
        print(res["text"][-3000:])
    if args.expect and v != args.expect:
        print("expected %s, got %s" % (args.expect, v))
        return 1
    return 1 if v in ("wrong", "crashed") else 0


# ----------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", default=os.path.join(HERE, "..", "..", "build",
                                                 "bin"))
    p.add_argument("--cases", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--batch", type=int, default=8,
                   help="cases per compile and mpirun (default 8)")
    p.add_argument("--case", metavar="K[,K...]",
                   help="check only these cases, each alone")
    p.add_argument("--keep", metavar="DIR", help="keep every file in DIR")
    p.add_argument("--work", help="work directory of --replay")
    p.add_argument("--replay", metavar="FILE",
                   help="check a regression file written by the fuzzer")
    p.add_argument("--expect", choices=["exact", "refused"],
                   help="with --replay: fail unless the case gives this "
                        "verdict (a fixed bug's case must stay exact, not "
                        "become a refusal)")
    p.add_argument("--shrink", type=int, default=10, metavar="N",
                   help="shrink at most N failing cases (default 10)")
    p.add_argument("--shrink-budget", type=int, default=60,
                   help="evaluations per shrink (default 60)")
    p.add_argument("--interp-every", type=int, default=5, metavar="E",
                   help="check every E-th case against the f64 interpreter "
                        "(1: all, 0: none; default 5)")
    p.add_argument("--regressions", metavar="DIR",
                   help="write shrunk cases as lit tests into DIR")
    p.add_argument("--xfail", action="store_true",
                   help="mark the regression tests written XFAIL")
    p.add_argument("--grads", action="store_true",
                   help="gradient mode: each program ends in a loss, is "
                        "differentiated (-palm-autodiff) and every gradient "
                        "is compared too")
    p.add_argument("--print-case", type=int, metavar="K",
                   help="print case K's program (alone) and exit")
    args = p.parse_args()
    args.bin = os.path.abspath(args.bin)
    runner = Runner(args.bin, args.seed)
    if args.replay:
        return replay(args, runner)
    if not runner.mpirun:
        sys.exit("palm_fuzz: mpirun not found (install openmpi-bin)")
    if args.print_case is not None:
        first = args.print_case - args.print_case % args.batch
        mesh, ctx, members = fp.generate_batch(args.seed, first, args.batch,
                                               args.grads)
        m = next(m for m in members if m["case"] == args.print_case)
        print(fp.print_program(standalone(mesh, ctx, m))[0], end="")
        return 0

    root = args.keep or tempfile.mkdtemp(prefix="palm-fuzz-")
    os.makedirs(root, exist_ok=True)
    start = time.time()
    if args.case is not None:
        wanted = [int(k) for k in args.case.split(",")]
        batches = [(k - k % args.batch, args.batch, k) for k in wanted]
    else:
        batches = [(b, min(args.batch, args.cases - b), None)
                   for b in range(0, args.cases, args.batch)]
    verdicts = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {}
        for first, count, case in batches:
            if case is not None:
                mesh, ctx, members = fp.generate_batch(args.seed, first,
                                                       count, args.grads)
                m = next(m for m in members if m["case"] == case)
                futures[pool.submit(
                    check_members, args, runner, mesh, ctx, [m],
                    os.path.join(root, "case%d" % case))] = first
            else:
                futures[pool.submit(check_batch, args, runner, first, count,
                                    os.path.join(root, "b%d" % first))] = \
                    first
        for fut in concurrent.futures.as_completed(futures):
            got = fut.result()
            verdicts.update(got)
            for k, (v, d, _) in sorted(got.items()):
                if v in ("wrong", "crashed"):
                    log("case %d: %s: %s" % (k, v, d))
    checked = time.time() - start

    bad = sorted(k for k, (v, _, _) in verdicts.items()
                 if v in ("wrong", "crashed"))
    invalid = sorted(k for k, (v, _, _) in verdicts.items()
                     if v == "invalid")
    shrunk = []
    if args.shrink and bad:
        # One case per signature (crash reason, first wrong op) first.
        todo, seen, later = [], set(), []
        for k in bad:
            v, d, _ = verdicts[k]
            sig = d if v == "crashed" else d.split(";")[0]
            if sig in seen:
                if v == "wrong":
                    later.append(k)
                continue
            seen.add(sig)
            todo.append(k)
        todo = (todo + later)[:args.shrink]
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futs = {pool.submit(shrink_case, args, runner, k, verdicts[k][2],
                                os.path.join(root, "shrink%d" % k)): k
                    for k in todo if verdicts[k][2] is not None}
            for fut in concurrent.futures.as_completed(futs):
                k = futs[fut]
                r = fut.result()
                if r:
                    shrunk.append((k, r))
                    log("case %d shrunk to %d ops (%s): %s" % (
                        k, r["ops"], r["describe"],
                        r["path"] or "see below"))
                    if not r["path"]:
                        print(r["text"])
    total = time.time() - start

    counts = {}
    reasons = {}
    for k, (v, d, _) in verdicts.items():
        counts[v] = counts.get(v, 0) + 1
        if v in ("refused", "crashed", "invalid"):
            reasons.setdefault(v, {}).setdefault(d, []).append(k)
        if v == "wrong":
            where = re.match(r"(first wrong value [^;]*)", d)
            reasons.setdefault(v, {}).setdefault(
                (where.group(1) if where else "wrong") +
                (" (only in a batch)" if "only in a batch" in d else ""),
                []).append(k)
    print("palm_fuzz: %sseed %d, %d cases in %d batches of %d, %d jobs: "
          "%.1f s (checking %.1f s, shrinking %.1f s)" % (
              "gradients, " if args.grads else "", args.seed, len(verdicts), len(batches), args.batch, args.jobs,
              total, checked, total - checked))
    print("  cases %d" % len(verdicts))
    for v in ("exact", "refused", "wrong", "crashed", "invalid"):
        if v == "invalid" and not counts.get(v):
            continue
        print("  %s %d%s" % (v, counts.get(v, 0), " (generator bugs: "
                             "programs the verifier rejects)"
                             if v == "invalid" else ""))
        for d, ks in sorted(reasons.get(v, {}).items(),
                            key=lambda x: -len(x[1])):
            print("    %4d  %s  (cases %s)" % (
                len(ks), d, ", ".join(map(str, sorted(ks)[:8])) +
                (", ..." if len(ks) > 8 else "")))
    print("  commands: " + ", ".join("%s %d" % kv for kv in
                                     sorted(runner.stats.items())))
    print("  seconds waited: " + ", ".join(
        "%s %.1f" % kv for kv in sorted(runner.seconds.items())))
    if args.keep:
        with open(os.path.join(root, "summary.json"), "w") as f:
            json.dump({str(k): [v, d] for k, (v, d, _) in
                       sorted(verdicts.items())}, f, indent=1)
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if bad or invalid else 0


if __name__ == "__main__":
    sys.exit(main())
