#!/usr/bin/env python3
"""Runs, on a GPU machine, what bench/gpu/prepare.sh built, and prints a table.

0. The runtime's GPU unit tests (palmrt-cuda-tests: GEMM, attention, copies,
   launches, against the host backend), a GPU required; then
   palmrt-cudnn-tests: cuDNN's attention forward and backward against the
   host (PALMRT_ATTENTION=cudnn), and its graphs accepted by this cuDNN.
1. Numerics: tiny and small compiled for cuda (f32 and bf16) run with the
   seed of the CPU reference runs; their loss and logits are compared with
   the CPU backend's f32 outputs (ref/): f32 within 1e-3 of the largest
   logit and 1e-4 relative on the loss; bf16 within 5e-2 and 2e-2.
2. Throughput: the ~1B-parameter config (bf16, one GPU) runs --steps N;
   tokens/s is the median of the steps after the first two, and MFU is
   tokens/s x forward FLOPs per token (2N + 4LHQT, palm-gen's statistics)
   over the GPU's dense bf16 peak (H100/H200 SXM 989 TFLOP/s, A100 312).
3. Where the time goes: one more run with --trace; the device time of its
   last step by kind of work (GEMMs and attention with their TFLOP/s, each
   kind of generated kernel, copies, collectives).
4. palm's attention (forward, forward with statistics, backward; on cuDNN
   and on palmrt's own kernels) and GEMM alone at palm-1b's sizes and
   palm-8b's attention (palmrt-cuda-bench), next to PyTorch's
   (scaled_dot_product_attention forward and backward, matmul) measured in
   the same run, where PyTorch with CUDA is installed.
5. palm-8b's forward (bf16, 2 x 2048 tokens) on the one GPU.
6. The peers, in the same run: the same models in PyTorch eager,
   torch.compile and JAX (peers.py, each in its own process, with whatever
   PyTorch and JAX this Python has), and the ratio palm / peer of tokens/s.
7. The training step (--part train): palm-1b's forward, backward, global-norm
   clipping and AdamW with bf16 compute and f32 master weights, its time
   breakdown, and the peers' training steps. MFU counts 6N + 12LHQT FLOPs
   per token (palm-gen's statistics) for every system.

--part forward runs 0-6, --part train 7 (each within about 4 minutes on an
H100, the peers' compilation included); the default runs both.

Needs numpy (PyTorch machines have it). Usage: python3 run.py [--steps 10]
--models tiny and --no-throughput make a short run (the emulated check of
this script on a machine without a GPU uses them: test/e2e/gpu-bench.test).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# Dense bf16 tensor-core peaks by nvidia-smi name (first match wins).
PEAKS = [("H200", 989e12), ("H100 PCIe", 756e12), ("H100 NVL", 835e12),
         ("H100", 989e12), ("A100", 312e12)]


def gpu_name():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name",
                              "--format=csv,noheader"], capture_output=True,
                             text=True, check=True).stdout.strip()
        return out.splitlines()[0] if out else "unknown GPU"
    except (OSError, subprocess.CalledProcessError):
        return "unknown GPU (nvidia-smi failed)"


def wheel_library_dirs():
    """Directories of cuBLASLt 13, NCCL 2, cuDNN 9 and NVRTC (which cuDNN's
    runtime-compiled engines load) inside Python's NVIDIA wheels
    (nvidia/cu13/lib, nvidia/nccl/lib, nvidia/cudnn/lib, ...), which PyTorch
    and JAX machines have where the dynamic loader does not look."""
    import glob
    dirs = []
    for base in sys.path:
        for name in ("libcublasLt.so.13", "libnccl.so.2", "libcudnn.so.9",
                     "libnvrtc.so.*"):
            for path in glob.glob(os.path.join(base, "nvidia", "**", name),
                                  recursive=True):
                d = os.path.dirname(path)
                if d not in dirs:
                    dirs.append(d)
    return dirs


def run(cmd):
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, capture_output=True, text=True)


def check(name, dtype, tol_logits, tol_loss):
    import numpy as np
    import palm_shards as ps
    exe = os.path.join(HERE, "%s.%s.cuda" % (name, dtype))
    out = os.path.join(HERE, "out", "%s.%s" % (name, dtype))
    result = run([exe, "--seed", "7", "--save-outputs", out])
    if result.returncode != 0:
        return "FAIL (exit %d: %s)" % (result.returncode,
                                      result.stderr.strip()[-300:])
    got, _ = ps.load_shards(out, names=["logits", "loss"])
    ref, _ = ps.load_shards(os.path.join(HERE, "ref", name),
                            names=["logits", "loss"])
    scale = float(np.max(np.abs(ref["logits"])))
    err = float(np.max(np.abs(got["logits"].astype(np.float64) -
                              ref["logits"].astype(np.float64)))) / scale
    loss_err = abs(float(got["loss"]) - float(ref["loss"])) / abs(
        float(ref["loss"]))
    ok = err <= tol_logits and loss_err <= tol_loss
    return "%s (logits %.2e of max, loss %.2e relative; tolerances %.0e, %.0e)" % (
        "ok" if ok else "FAIL", err, loss_err, tol_logits, tol_loss)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--models", default="tiny,small",
                   help="models to check numerics of (default tiny,small)")
    p.add_argument("--no-throughput", action="store_true",
                   help="skip the throughput run")
    p.add_argument("--kernel-sizes", default="",
                   help="flags for palmrt-cuda-bench and the PyTorch "
                        "comparison, e.g. '--b 1 --s 128' (default: "
                        "palm-1b's sizes)")
    p.add_argument("--no-unit-tests", action="store_true")
    p.add_argument("--throughput-model", default="palm-1b",
                   help="palm-1b (default), or tiny or small (bf16) for a "
                        "quick run of this script")
    p.add_argument("--part", choices=["forward", "train", "all"],
                   default="all")
    p.add_argument("--large-model", default="palm-8b",
                   help="the large forward (default palm-8b; none skips it)")
    p.add_argument("--peers", default="torch,torch-compile,jax",
                   help="peers to measure (none: no peers)")
    p.add_argument("--peer-steps", type=int, default=5)
    p.add_argument("--peer-timeout", type=float, default=150,
                   help="seconds a peer may take, compilation included")
    args = p.parse_args()
    name = gpu_name()
    extra = wheel_library_dirs()
    if extra:
        os.environ["PALMRT_CUDA_LIBRARY_PATH"] = os.pathsep.join(
            [p for p in [os.environ.get("PALMRT_CUDA_LIBRARY_PATH")] if p] +
            extra)
    print("command: %s" % " ".join([sys.executable] + sys.argv))
    print("machine: %s" % name)
    if extra:
        print("libraries from Python wheels: %s" % ", ".join(extra))
    print()
    env = dict(os.environ, LD_LIBRARY_PATH=os.pathsep.join(
        [os.path.join(HERE, "lib")] + extra +
        [p for p in [os.environ.get("LD_LIBRARY_PATH")] if p]))
    if args.part == "train":
        return train_part(args, name, env)
    if not args.no_unit_tests:
        for exe, extra_env in (("palmrt-cuda-tests", {}),
                               ("palmrt-cudnn-tests",
                                {"PALMRT_ATTENTION": "cudnn"})):
            result = subprocess.run(
                [os.path.join(HERE, "bin", exe)], capture_output=True,
                text=True,
                env=dict(env, PALMRT_TEST_REQUIRE_GPU="1", **extra_env))
            lines = [l for l in (result.stdout + result.stderr).splitlines()
                     if "PASSED" in l or "FAILED" in l or "Failure" in l or
                     "error" in l]
            print("GPU unit tests (%s): %s" % (
                exe, "ok" if result.returncode == 0 else
                "FAIL (exit %d)" % result.returncode))
            for line in lines[:20]:
                print("  " + line)
        print()
    print("numerics against the CPU backend (f32):")
    for model in args.models.split(","):
        for dtype, tl, tloss in (("f32", 1e-3, 1e-4), ("bf16", 5e-2, 2e-2)):
            print("  %-6s %-5s %s" % (model, dtype, check(model, dtype, tl,
                                                          tloss)))
    print()
    if args.no_throughput:
        return 0
    model = args.throughput_model
    exe = os.path.join(HERE, model + (".cuda" if model == "palm-1b"
                                      else ".bf16.cuda"))
    with open(os.path.join(HERE, model + ".stats.json")) as f:
        stats = json.load(f)
    flops = stats["forward_flops_per_token"]
    result = run([exe, "--steps", str(args.steps)])
    if result.returncode != 0:
        print("%s: FAIL (exit %d): %s" % (model, result.returncode,
                                         result.stderr.strip()[-500:]))
        return 1
    rates = [float(m.group(1)) for m in
             re.finditer(r"tokens/s ([0-9.]+)", result.stdout)]
    steady = rates[2:] or rates
    rate = statistics.median(steady)
    peak = next((v for k, v in PEAKS if k in name), None)
    mfu = "%.1f%%" % (100 * rate * flops / peak) if peak else "n/a (peak unknown)"
    print("%-10s %-6s %10s %12s %14s %8s" % ("model", "dtype", "params",
                                             "tokens/s", "TFLOP/s", "MFU"))
    print("%-10s %-6s %9.2fB %12.1f %14.1f %8s" % (
        model, "bf16", stats["parameters"] / 1e9, rate,
        rate * flops / 1e12, mfu))
    print("all steps: %s" % " ".join("%.0f" % r for r in rates))
    own = [float(m.group(1)) for m in
           re.finditer(r"mfu ([0-9.]+)%", result.stdout)]
    if own:
        # The runtime's own MFU: the compiler's FLOP count (no LayerNorm
        # scales) over the same peak.
        print("the step lines' mfu (median after warm-up): %.1f%%"
              % statistics.median(own[2:] or own))
    print()
    if not traced(exe, model):
        return 1
    print()
    kernels(args.kernel_sizes.split(), env)
    print()
    compare(args, name, model, "forward", stats, rate,
            stats["forward_flops_per_token"])
    if args.large_model != "none":
        large = args.large_model
        with open(os.path.join(HERE, large + ".stats.json")) as f:
            large_stats = json.load(f)
        large_rate, _, err = palm_rate(os.path.join(HERE, large + ".cuda"),
                                       max(3, args.steps // 2))
        if err:
            print("%s: FAIL %s" % (large, err))
            return 1
        compare(args, name, large, "forward", large_stats, large_rate,
                large_stats["forward_flops_per_token"],
                peers=[p for p in args.peers.split(",")
                       if p != "torch-compile"])
    if args.part == "all":
        print()
        return train_part(args, name, env)
    return 0


def traced(exe, stem):
    """Runs two traced steps and prints the last one's breakdown; False
    (after saying why) when the run fails."""
    trace = os.path.join(HERE, "out", stem + ".trace.json")
    result = run([exe, "--steps", "2", "--trace", trace])
    if result.returncode != 0:
        print("trace run: FAIL (exit %d): %s" % (
            result.returncode, result.stderr.strip()[-500:]))
        return False
    breakdown(trace.replace(".json", ".rank0.json"))
    return True


def palm_rate(exe, steps):
    """(median tokens/s after warm-up, every step's, error or None) of a
    palm executable's step lines."""
    result = run([exe, "--steps", str(steps)])
    if result.returncode != 0:
        return None, [], "(exit %d): %s" % (result.returncode,
                                            result.stderr.strip()[-500:])
    rates = [float(m.group(1)) for m in
             re.finditer(r"tokens/s ([0-9.]+)", result.stdout)]
    if not rates:
        return None, [], "(no step lines)"
    return statistics.median(rates[2:] or rates), rates, None


def peer(args, system, stats_path, mode):
    """peers.py's JSON for one system, or the reason it was not measured."""
    cmd = [sys.executable, os.path.join(HERE, "peers.py"), "--system", system,
           "--config", stats_path, "--mode", mode, "--steps",
           str(args.peer_steps)]
    print("$ " + " ".join(cmd), flush=True)
    try:
        result = subprocess.run(cmd, capture_output=True, text=True,
                                timeout=args.peer_timeout)
    except subprocess.TimeoutExpired:
        return "not measured (over %.0f s)" % args.peer_timeout
    if result.returncode != 0:
        why = (result.stderr.strip().splitlines() or ["exit %d" %
                                                      result.returncode])[-1]
        return "not measured (%s)" % why[:160]
    return json.loads(result.stdout.strip().splitlines()[-1])


def compare(args, gpu, model, mode, stats, palm, flops, peers=None):
    """The table of palm and its peers on one model and mode."""
    peak = next((v for k, v in PEAKS if k in gpu), None)
    tokens = stats["tokens_per_step"]
    m = stats["model"]
    print("%s %s (batch %d x %d, bf16%s) on %s:" % (
        model, "forward + loss" if mode == "forward" else
        "training step (AdamW)", m["batch"], m["seq"],
        ", f32 master weights" if mode == "train" else "", gpu))
    print("  %-15s %-14s %10s %12s %8s %11s" % (
        "system", "version", "step ms", "tokens/s", "MFU", "palm/peer"))

    def row(system, version, rate, ratio):
        mfu = "%.1f%%" % (100 * rate * flops / peak) if peak else "n/a"
        print("  %-15s %-14s %10.2f %12.1f %8s %11s" % (
            system, version, 1e3 * tokens / rate, rate, mfu, ratio))

    row("palm", "", palm, "")
    stats_path = os.path.join(HERE, model + (".train" if mode == "train"
                                             else "") + ".stats.json")
    names = {"torch": "PyTorch eager", "torch-compile": "torch.compile",
             "jax": "JAX jit"}
    for system in peers if peers is not None else args.peers.split(","):
        if system == "none":
            continue
        got = peer(args, system, stats_path, mode)
        if isinstance(got, str):
            print("  %-15s %s" % (names.get(system, system), got))
            continue
        rate = tokens / got["step_seconds"]
        row(names.get(system, system), got["version"], rate,
            "%.2f" % (palm / rate))
        print("  %-15s (first step, compilation included: %.1f s)" % (
            "", got["compile_seconds"]))


def train_part(args, gpu, env):
    """palm's training step, its breakdown, and the peers'."""
    model = args.throughput_model
    exe = os.path.join(HERE, model + ".train.cuda")
    stats_path = os.path.join(HERE, model + ".train.stats.json")
    with open(stats_path) as f:
        stats = json.load(f)
    rate, rates, err = palm_rate(exe, args.steps)
    if err:
        print("%s training step: FAIL %s" % (model, err))
        return 1
    print("all steps: %s" % " ".join("%.0f" % r for r in rates))
    if not traced(exe, model + ".train"):
        return 1
    print()
    compare(args, gpu, model, "train", stats, rate,
            stats["training_flops_per_token"])
    return 0


def kernels(flags, env):
    """palmrt-cuda-bench with cuDNN's attention and with palmrt's kernels, at
    palm-1b's sizes and palm-8b's attention (heads of 256, 2 x 2048), then
    PyTorch at the same sizes."""
    shapes = [flags, flags + ["--b", "2", "--d", "256"]]
    for shape in shapes:
        for impl in ("cudnn", "palm"):
            result = subprocess.run(
                [os.path.join(HERE, "bin", "palmrt-cuda-bench")] + shape,
                capture_output=True, text=True,
                env=dict(env, PALMRT_ATTENTION=impl))
            print("palmrt, attention on %s (palmrt-cuda-bench %s):" % (
                "cuDNN" if impl == "cudnn" else "palmrt's kernels",
                " ".join(shape)))
            for line in (result.stdout + result.stderr).strip().splitlines():
                print("  " + line)
    try:
        import torch
        if not torch.cuda.is_available():
            raise RuntimeError("no CUDA device for PyTorch")
    except Exception as e:  # ImportError, or no GPU
        print("PyTorch: not measured (%s)" % e)
        return
    print("PyTorch %s:" % torch.__version__)
    for shape in shapes:
        torch_kernels(shape)


def torch_kernels(flags):
    """PyTorch's scaled_dot_product_attention (forward, backward) and
    matmul at the sizes `flags` give palmrt-cuda-bench."""
    import torch
    import torch.nn.functional as F
    size = dict(b=8, s=2048, h=16, d=128, m=16384, n=8192, k=2048)
    for name, value in zip(flags[::2], flags[1::2]):
        if name.lstrip("-") in size:
            size[name.lstrip("-")] = int(value)

    def median_ms(fn, reps=20):
        for _ in range(3):
            fn()
        times = []
        for _ in range(reps):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        return statistics.median(times)

    b, s, h, d = size["b"], size["s"], size["h"], size["d"]
    dev = torch.device("cuda")
    q = torch.randn(b, h, s, d, device=dev, dtype=torch.bfloat16,
                    requires_grad=True)
    k = torch.randn(b, 1, s, d, device=dev, dtype=torch.bfloat16,
                    requires_grad=True)
    v = torch.randn(b, 1, s, d, device=dev, dtype=torch.bfloat16,
                    requires_grad=True)
    try:
        attend = lambda: F.scaled_dot_product_attention(
            q, k, v, is_causal=True, enable_gqa=True)
        attend()
    except TypeError:  # older PyTorch: no enable_gqa
        attend = lambda: F.scaled_dot_product_attention(
            q, k.expand(b, h, s, d), v.expand(b, h, s, d), is_causal=True)
    pairs = 2.0 * b * h * s * s
    with torch.no_grad():
        ms = median_ms(attend)
    print("  attention forward bf16 b=%d s=%d h=%d g=1 d=%d causal: %.3f ms, "
          "%.1f TFLOP/s (all pairs), %.1f (causal pairs)"
          % (b, s, h, d, ms, pairs * 2 * d / ms * 1e-9,
             pairs * d / ms * 1e-9))
    out = attend()
    grad = torch.randn_like(out)
    # The backward alone: the forward's graph is kept for each call.
    ms = median_ms(lambda: torch.autograd.grad(out, (q, k, v), grad,
                                               retain_graph=True))
    print("  attention backward bf16 b=%d s=%d h=%d g=1 d=%d causal: %.3f "
          "ms, %.1f TFLOP/s (all pairs), %.1f (causal pairs)"
          % (b, s, h, d, ms, pairs * 5 * d / ms * 1e-9,
             pairs * 2.5 * d / ms * 1e-9))
    m, n, kk = size["m"], size["n"], size["k"]
    x = torch.randn(m, kk, device=dev, dtype=torch.bfloat16)
    w = torch.randn(kk, n, device=dev, dtype=torch.bfloat16)
    ms = median_ms(lambda: x @ w)
    print("  gemm bf16 m=%d n=%d k=%d: %.3f ms, %.1f TFLOP/s"
          % (m, n, kk, ms, 2.0 * m * n * kk / ms * 1e-9))


def breakdown(path):
    """Prints the device time of the trace's last step by kind of work."""
    with open(path) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    steps = [e for e in events if e.get("cat") == "step" and e["ph"] == "X"]
    if not steps:
        print("no step in the trace")
        return
    last = max(steps, key=lambda e: e["ts"])
    begin, end = last["ts"], last["ts"] + last["dur"]
    rows = {}  # kind -> [microseconds, FLOPs or None, count]
    for e in events:
        if e.get("ph") != "X" or e.get("tid") not in (1, 2):
            continue
        if not begin <= e["ts"] < end:
            continue
        a = e.get("args", {})
        name, work = e["name"], None
        if name == "gemm":
            work = 2.0 * a["batch"] * a["m"] * a["n"] * a["k"]
        elif name in ("attention", "attention_grad"):
            # As the MFU counts it: every (query, key) pair, causal or not;
            # two products forward, five backward.
            pairs = 2.0 * a["b"] * a["h"] * a["s"] * a["t"]
            work = pairs * (a["dk"] + a["dv"] if name == "attention" else
                            3 * a["dk"] + 2 * a["dv"])
            if a.get("impl"):
                name += " (%s)" % a["impl"]
        elif name == "launch":
            kernel = a.get("kernel", "?")
            name = "kernel " + re.sub(r"^palm_k[0-9]+_", "", kernel)
        elif e.get("tid") == 2:
            name = "collective " + name
        row = rows.setdefault(name, [0.0, 0.0, 0])
        row[0] += e["dur"]
        row[1] = None if work is None or row[1] is None else row[1] + work
        row[2] += 1
    busy = sum(r[0] for r in rows.values())
    print("device time of the last step (%.2f ms of work in a %.2f ms step):"
          % (busy / 1e3, last["dur"] / 1e3))
    print("  %-28s %6s %10s %7s %10s" % ("kind", "calls", "ms", "share",
                                        "TFLOP/s"))
    for name, (us, work, count) in sorted(rows.items(),
                                          key=lambda kv: -kv[1][0]):
        rate = "%.1f" % (work / us / 1e6) if work and us > 0 else ""
        print("  %-28s %6d %10.3f %6.1f%% %10s" % (
            name, count, us / 1e3, 100 * us / busy if busy else 0, rate))


if __name__ == "__main__":
    sys.exit(main())
