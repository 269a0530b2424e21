#!/usr/bin/env python3
"""Forward-pass throughput on CPU: the compiled palm executable vs PyTorch.

Times one forward step (embedding, layers, final LayerNorm, tied logits and
the cross-entropy loss with z-loss) of the `small` preset (4 layers, d_model
512, 8 heads x 64, kv_heads 1, d_ff 2048, vocab 8192, batch 4 x seq 256) in
f32, with the same number of threads for both systems, and prints tokens/s
for each and the ratio palm/pytorch measured in the same run.

PyTorch: a module written here from docs/model.md (parallel block,
multi-query attention with RoPE, SwiGLU, tied embedding), eager mode under
torch.inference_mode(), attention through
torch.nn.functional.scaled_dot_product_attention (causal) when available;
torch.set_num_threads(N); median step time of --runs steps after --warmup.
With --torch-compile the module goes through torch.compile first.

palm: `PATH --steps K` run as one process with OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS set to N; its lines
  step 3 loss 9.01 tokens/s 1234.5 step_time 0.0123 s collectives ...
give tokens/s; the first --palm-skip steps are warm-up and the median of
the rest is reported.

Usage:
  bench/cpu_forward.py [--threads N] [--preset small|tiny | --config JSON]
                       [--palm-exe PATH [--palm-steps 10] [--palm-skip 2]]
                       [--warmup 3] [--runs 10] [--no-torch] [--check]

PyTorch is optional: without it the script says so (and still times palm
when --palm-exe is given) and exits 0. This is a benchmark, not a test.
"""

import argparse
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time

PRESETS = {
    "tiny": {"layers": 2, "d_model": 16, "heads": 4, "kv_heads": 1,
             "head_dim": 4, "d_ff": 64, "vocab": 32, "seq": 8, "batch": 2},
    "small": {"layers": 4, "d_model": 512, "heads": 8, "kv_heads": 1,
              "head_dim": 64, "d_ff": 2048, "vocab": 8192, "seq": 256,
              "batch": 4},
}
DEFAULTS = {"block": "parallel", "layer_norm_epsilon": 1e-6, "z_loss": 1e-4}

STEP_LINE = re.compile(r"^\s*step\s+(\d+)\b.*?\btokens/s\s+([0-9.eE+-]+)")


def load_config(args):
    if args.config:
        with open(args.config) as f:
            raw = json.load(f)
        if isinstance(raw.get("model"), dict):   # palm-gen --stats JSON
            raw = raw["model"]
        name = raw.get("name", os.path.basename(args.config))
    else:
        raw = PRESETS[args.preset]
        name = args.preset
    cfg = dict(DEFAULTS)
    cfg.update({k: v for k, v in raw.items() if k in
                set(PRESETS["small"]) | set(DEFAULTS)})
    if raw.get("dtype", "f32") != "f32":
        sys.exit("cpu_forward: only f32 models are benchmarked")
    return name, cfg


def forward_flops_per_token(c):
    """2N + 4 L H Q T (docs/model.md; N counts the tied embedding once)."""
    d, H, G, Q, F = (c["d_model"], c["heads"], c["kv_heads"], c["head_dim"],
                     c["d_ff"])
    lns = 1 if c["block"] == "parallel" else 2
    per_layer = d * H * Q * 2 + d * G * Q * 2 + 3 * d * F + lns * d
    n = c["vocab"] * d + c["layers"] * per_layer + d
    return 2 * n + 4 * c["layers"] * H * Q * c["seq"]


def machine_text():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %s (%s), %d logical CPUs" % (platform.node(), cpu,
                                             platform.machine(),
                                             os.cpu_count() or 0)


# ---------------------------------------------------------------- PyTorch

def build_torch_model(torch, c, seed=0):
    """The forward pass as a torch.nn.Module; returns (module, weights dict
    keyed by palm.name, with palm-gen's shapes)."""
    nn = torch.nn
    F = torch.nn.functional
    d, H, G, Q, Fd, V = (c["d_model"], c["heads"], c["kv_heads"],
                         c["head_dim"], c["d_ff"], c["vocab"])
    eps, z_loss, serial = (c["layer_norm_epsilon"], c["z_loss"],
                           c["block"] == "serial")
    sdpa = getattr(F, "scaled_dot_product_attention", None)

    gen = torch.Generator().manual_seed(seed)

    def normal(shape, std):
        return nn.Parameter(torch.randn(*shape, generator=gen) * std,
                            requires_grad=False)

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.Parameter(torch.ones(d), requires_grad=False)
            self.ln2 = (nn.Parameter(torch.ones(d), requires_grad=False)
                        if serial else None)
            self.wq = normal((d, H, Q), d ** -0.5)
            self.wk = normal((d, G, Q), d ** -0.5)
            self.wv = normal((d, G, Q), d ** -0.5)
            self.wo = normal((H, Q, d), (H * Q) ** -0.5)
            self.wgate = normal((d, Fd), d ** -0.5)
            self.wup = normal((d, Fd), d ** -0.5)
            self.wdown = normal((Fd, d), Fd ** -0.5)

        def attention(self, h, cos, sin):
            b, s, _ = h.shape
            q = (h @ self.wq.reshape(d, H * Q)).view(b, s, H, Q)
            k = (h @ self.wk.reshape(d, G * Q)).view(b, s, G, Q)
            v = (h @ self.wv.reshape(d, G * Q)).view(b, s, G, Q)
            q = rotate(q, cos, sin).transpose(1, 2)      # [b, H, s, Q]
            k = rotate(k, cos, sin).transpose(1, 2)      # [b, G, s, Q]
            v = v.transpose(1, 2)
            if G != H:   # query head i uses kv head i // (H // G)
                k = k.repeat_interleave(H // G, dim=1)
                v = v.repeat_interleave(H // G, dim=1)
            if sdpa is not None:
                a = sdpa(q, k, v, is_causal=True)
            else:
                scores = (q @ k.transpose(-1, -2)) * (Q ** -0.5)
                mask = torch.ones(s, s, dtype=torch.bool).triu(1)
                scores = scores.masked_fill(mask, float("-inf"))
                a = torch.softmax(scores, dim=-1) @ v
            a = a.transpose(1, 2).reshape(b, s, H * Q)
            return a @ self.wo.reshape(H * Q, d)

        def mlp(self, h):
            return (F.silu(h @ self.wgate) * (h @ self.wup)) @ self.wdown

        def forward(self, x, cos, sin):
            h = layer_norm(x, self.ln1)
            if serial:
                x = x + self.attention(h, cos, sin)
                return x + self.mlp(layer_norm(x, self.ln2))
            return x + (self.attention(h, cos, sin) + self.mlp(h))

    def layer_norm(x, scale):
        mean = x.mean(dim=-1, keepdim=True)
        xc = x - mean
        var = (xc * xc).mean(dim=-1, keepdim=True)
        return xc * torch.rsqrt(var + eps) * scale

    def rotate(x, cos, sin):   # x [b, s, heads, Q]; pairs i, i + Q/2
        x1, x2 = x[..., :Q // 2], x[..., Q // 2:]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = normal((V, d), 1.0)
            self.layers = nn.ModuleList(Layer() for _ in range(c["layers"]))
            self.final_ln = nn.Parameter(torch.ones(d), requires_grad=False)
            inv = 10000.0 ** (-2.0 * torch.arange(Q // 2,
                                                  dtype=torch.float64) / Q)
            ang = torch.arange(c["seq"], dtype=torch.float64)[:, None] * inv
            # [s, 1, Q/2] broadcasts over [b, s, heads, Q/2]
            self.register_buffer("cos", ang.cos().float()[:, None, :])
            self.register_buffer("sin", ang.sin().float()[:, None, :])

        def forward(self, tokens, targets):
            x = self.embedding[tokens]
            for layer in self.layers:
                x = layer(x, self.cos, self.sin)
            f = layer_norm(x, self.final_ln)
            logits = (f @ self.embedding.t()) * (d ** -0.5)
            log_z = torch.logsumexp(logits, dim=-1)
            tgt = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            loss = (log_z - tgt + z_loss * log_z * log_z).mean()
            return logits, loss

    model = Model().eval()
    weights = {"embedding": model.embedding, "final_ln": model.final_ln}
    for i, layer in enumerate(model.layers):
        p = "layers.%d." % i
        if serial:
            weights[p + "ln1"] = layer.ln1
            weights[p + "ln2"] = layer.ln2
        else:
            weights[p + "ln"] = layer.ln1
        for n in ("wq", "wk", "wv", "wo"):
            weights[p + "attention." + n] = getattr(layer, n)
        for n in ("wgate", "wup", "wdown"):
            weights[p + "mlp." + n] = getattr(layer, n)
    return model, weights


def check_against_reference(torch, name, c):
    """Compares the torch module with test/e2e/palm_reference.py (numpy)."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "test", "e2e"))
    import numpy as np
    import palm_reference
    model, weights = build_torch_model(torch, c, seed=1)
    for w in weights.values():   # LayerNorm scales other than one
        if w.dim() == 1:
            with torch.no_grad():
                w.uniform_(0.5, 1.5)
    gen = torch.Generator().manual_seed(2)
    tokens = torch.randint(0, c["vocab"], (c["batch"], c["seq"]),
                           generator=gen)
    targets = torch.randint(0, c["vocab"], (c["batch"], c["seq"]),
                            generator=gen)
    with torch.inference_mode():
        logits, loss = model(tokens, targets)
    np_w = {k: v.detach().numpy() for k, v in weights.items()}
    ref_logits, ref_loss = palm_reference.forward(
        c, np_w, tokens.numpy(), targets.numpy())
    err = float(np.max(np.abs(logits.numpy() - ref_logits)))
    scale = float(np.max(np.abs(ref_logits)))
    rel = abs(float(loss) - ref_loss) / abs(ref_loss)
    ok = err <= 1e-4 * scale and rel <= 1e-5
    print("check: %s torch vs numpy reference: max |logit err| %.2e (%.2e "
          "of max), loss %.7g vs %.7g (rel %.1e): %s"
          % (name, err, err / scale, float(loss), ref_loss, rel,
             "ok" if ok else "MISMATCH"))
    return ok


def time_torch(torch, c, threads, warmup, runs, compile_model):
    torch.set_num_threads(threads)
    model, _ = build_torch_model(torch, c)
    if compile_model:
        model = torch.compile(model)
    gen = torch.Generator().manual_seed(3)
    tokens = torch.randint(0, c["vocab"], (c["batch"], c["seq"]),
                           generator=gen)
    targets = torch.randint(0, c["vocab"], (c["batch"], c["seq"]),
                            generator=gen)
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            start = time.perf_counter()
            _, loss = model(tokens, targets)
            float(loss)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times, float(loss)


# ---------------------------------------------------------------- palm

def time_palm(exe, steps, skip, threads, extra):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [exe, "--steps", str(steps)] + extra
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, env=env)
    if p.returncode != 0:
        sys.stdout.write(p.stdout)
        sys.exit("cpu_forward: %s exited with %d" % (shlex.join(cmd),
                                                    p.returncode))
    rates = parse_palm_steps(p.stdout)
    if not rates:
        sys.stdout.write(p.stdout)
        sys.exit("cpu_forward: no 'step N ... tokens/s X' lines from %s"
                 % exe)
    steady = [r for s, r in rates if s > skip] or [rates[-1][1]]
    return cmd, rates, steady


def parse_palm_steps(text):
    """[(step, tokens/s)] from the executable's per-step lines."""
    out = []
    for line in text.splitlines():
        m = STEP_LINE.match(line)
        if m:
            out.append((int(m.group(1)), float(m.group(2))))
    return out


# ---------------------------------------------------------------- main

def compile_palm(args):
    """Generates and compiles the model for one process; None if palm is
    not built."""
    gen = os.path.join(args.build, "bin", "palm-gen")
    compiler = os.path.join(args.build, "bin", "palm-compile")
    if not (os.path.exists(gen) and os.path.exists(compiler)):
        return None
    import tempfile
    work = tempfile.mkdtemp(prefix="palm-bench-")
    model = os.path.join(work, "model.mlir")
    exe = os.path.join(work, "model")
    source = (["--config", args.config] if args.config
              else ["--preset", args.preset])
    subprocess.run([gen] + source + ["-o", model], check=True)
    subprocess.run([compiler, model, "-o", exe], check=True)
    return exe


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--preset", choices=sorted(PRESETS), default="small")
    group.add_argument("--config", help="palm-gen config or stats JSON")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--palm-exe", help="compiled palm executable (1 rank); "
                    "default: compile the model with --build's palm-gen and "
                    "palm-compile")
    ap.add_argument("--build", default="build",
                    help="build directory holding bin/palm-gen and "
                    "bin/palm-compile")
    ap.add_argument("--palm-steps", type=int, default=10)
    ap.add_argument("--palm-skip", type=int, default=2,
                    help="warm-up steps of the palm run left out")
    ap.add_argument("--palm-args", default="",
                    help="extra arguments for the palm executable")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--torch-compile", action="store_true",
                    help="time torch.compile(model) instead of eager")
    ap.add_argument("--check", action="store_true",
                    help="first compare the torch module with the numpy "
                         "reference on tiny and a grouped serial config")
    args = ap.parse_args()
    if args.threads < 1 or args.runs < 1 or args.palm_steps < 1:
        ap.error("--threads, --runs and --palm-steps must be positive")

    name, cfg = load_config(args)
    if not args.palm_exe:
        args.palm_exe = compile_palm(args)
    tokens = cfg["batch"] * cfg["seq"]
    flops = forward_flops_per_token(cfg)

    torch = None
    torch_note = ""
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            torch_note = ("PyTorch is not installed (pip install torch); "
                          "timing palm only")
    else:
        torch_note = "PyTorch skipped (--no-torch)"

    print("command: %s" % shlex.join([sys.executable] + sys.argv))
    print("machine: %s" % machine_text())
    print("model: %s (%d layers, d_model %d, %d heads x %d, kv_heads %d, "
          "d_ff %d, vocab %d, %s block), f32" % (
              name, cfg["layers"], cfg["d_model"], cfg["heads"],
              cfg["head_dim"], cfg["kv_heads"], cfg["d_ff"], cfg["vocab"],
              cfg["block"]))
    print("step: forward + loss, batch %d x seq %d = %d tokens; "
          "%.4g MFLOP/token forward (2N + 4LHQT)"
          % (cfg["batch"], cfg["seq"], tokens, flops / 1e6))
    print("threads: %d" % args.threads)
    if torch_note:
        print(torch_note)
    if not torch and not args.palm_exe:
        print("nothing to time: give --palm-exe PATH or install PyTorch")
        return 0

    if torch and args.check:
        ok = True
        for cname, c in (("tiny", dict(DEFAULTS, **PRESETS["tiny"])),
                         ("serial-gqa", dict(DEFAULTS, layers=2, d_model=24,
                                             heads=6, kv_heads=2, head_dim=8,
                                             d_ff=40, vocab=50, seq=12,
                                             batch=3, block="serial",
                                             layer_norm_epsilon=1e-5,
                                             z_loss=1e-3))):
            torch.set_num_threads(args.threads)
            ok = check_against_reference(torch, cname, c) and ok
        if not ok:
            return 1

    rows = []
    if torch:
        times, loss = time_torch(torch, cfg, args.threads, args.warmup,
                                 args.runs, args.torch_compile)
        med = statistics.median(times)
        label = "pytorch %s%s" % (torch.__version__,
                                  " compiled" if args.torch_compile else "")
        rows.append((label, args.threads, len(times), med, tokens / med,
                     "min %.4f s, loss %.4f" % (min(times), loss)))
    if args.palm_exe:
        cmd, rates, steady = time_palm(args.palm_exe, args.palm_steps,
                                       args.palm_skip, args.threads,
                                       shlex.split(args.palm_args))
        rate = statistics.median(steady)
        rows.append(("palm", args.threads, len(steady), tokens / rate, rate,
                     "%s; all steps: %s" % (shlex.join(cmd), " ".join(
                         "%.0f" % r for _, r in rates))))

    print()
    print("%-28s %7s %5s %14s %12s %9s  %s" % (
        "system", "threads", "runs", "median step s", "tokens/s",
        "GFLOP/s", "notes"))
    for label, thr, n, step, rate, note in rows:
        print("%-28s %7d %5d %14.4f %12.1f %9.1f  %s" % (
            label, thr, n, step, rate, rate * flops / 1e9, note))
    if len(rows) == 2:
        print()
        print("ratio palm/pytorch (tokens/s): %.2f" % (rows[1][4] /
                                                      rows[0][4]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
