"""Shared pieces of the CPU benchmarks (cpu_forward.py, cpu_train.py).

* the model presets and config loading;
* the FLOP counts of docs/palm-gen.md;
* the machine description;
* the PyTorch module written from docs/model.md, and its check against the
  numpy reference (test/e2e/palm_reference.py);
* generating, compiling and running a palm executable and reading its
  `step K ... tokens/s X` lines.

Only the standard library at import time; torch is passed in by the caller
(it is optional for the benchmarks).
"""

import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile

PRESETS = {
    "tiny": {"layers": 2, "d_model": 16, "heads": 4, "kv_heads": 1,
             "head_dim": 4, "d_ff": 64, "vocab": 32, "seq": 8, "batch": 2},
    "small": {"layers": 4, "d_model": 512, "heads": 8, "kv_heads": 1,
              "head_dim": 64, "d_ff": 2048, "vocab": 8192, "seq": 256,
              "batch": 4},
}
DEFAULTS = {"block": "parallel", "layer_norm_epsilon": 1e-6, "z_loss": 1e-4}

STEP_LINE = re.compile(r"^\s*step\s+(\d+)\b.*?\btokens/s\s+([0-9.eE+-]+)")
# The training step's line also has the loss and grad_norm.
STEP_VALUES = re.compile(r"\b(loss|grad_norm|lr)\s+([0-9.eE+-]+|nan|inf)")

HERE = os.path.dirname(os.path.abspath(__file__))
E2E = os.path.join(HERE, "..", "test", "e2e")


def load_config(args, prog):
    """(name, config) from args.config (palm-gen config or stats JSON) or
    args.preset."""
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
        sys.exit("%s: only f32 models are benchmarked" % prog)
    return name, cfg


def parameter_count(c):
    """N of docs/palm-gen.md: the tied embedding counted once."""
    d, H, G, Q, F = (c["d_model"], c["heads"], c["kv_heads"], c["head_dim"],
                     c["d_ff"])
    lns = 1 if c["block"] == "parallel" else 2
    per_layer = d * H * Q * 2 + d * G * Q * 2 + 3 * d * F + lns * d
    return c["vocab"] * d + c["layers"] * per_layer + d


def forward_flops_per_token(c):
    """2N + 4 L H Q T (docs/model.md; N counts the tied embedding once)."""
    return (2 * parameter_count(c)
            + 4 * c["layers"] * c["heads"] * c["head_dim"] * c["seq"])


def training_flops_per_token(c):
    """6N + 12 L H Q T, PaLM's MFU convention (docs/palm-gen.md)."""
    return 3 * forward_flops_per_token(c)


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


def load_average_text():
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return "%.2f %.2f %.2f (1, 5, 15 min)" % (one, five, fifteen)


# ---------------------------------------------------------------- PyTorch

def build_torch_model(torch, c, seed=0, trainable=False):
    """The forward pass (and loss) as a torch.nn.Module; returns (module,
    weights dict keyed by palm.name, with palm-gen's shapes). The weights
    require gradients when trainable; otherwise the module is in eval mode
    and nothing requires a gradient."""
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
                            requires_grad=trainable)

    def ones(n):
        return nn.Parameter(torch.ones(n), requires_grad=trainable)

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = ones(d)
            self.ln2 = ones(d) if serial else None
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
            self.final_ln = ones(d)
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

    model = Model().train() if trainable else Model().eval()
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
    sys.path.insert(0, E2E)
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


# ---------------------------------------------------------------- palm

def palm_env(threads):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def run_palm(exe, args, threads, prog):
    """Runs the executable (one process); its output, or exits on failure."""
    cmd = [exe] + args
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, env=palm_env(threads))
    if p.returncode != 0:
        sys.stdout.write(p.stdout)
        sys.exit("%s: %s exited with %d" % (prog, shlex.join(cmd),
                                            p.returncode))
    return cmd, p.stdout


def time_palm(exe, steps, skip, threads, extra, prog="cpu_forward"):
    """(command, [(step, tokens/s)], the steady rates after `skip` steps)."""
    cmd, out = run_palm(exe, ["--steps", str(steps)] + extra, threads, prog)
    rates = parse_palm_steps(out)
    if not rates:
        sys.stdout.write(out)
        sys.exit("%s: no 'step N ... tokens/s X' lines from %s" % (prog, exe))
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


def parse_palm_values(text):
    """{step: {"loss": x, "grad_norm": y, "lr": z}} from the step lines."""
    out = {}
    for line in text.splitlines():
        m = STEP_LINE.match(line)
        if m:
            out[int(m.group(1))] = {k: float(v) for k, v in
                                    STEP_VALUES.findall(line)}
    return out


def compile_palm(args, gen_args=(), stem="model"):
    """Generates and compiles the model for one process with --build's
    palm-gen and palm-compile (extra palm-gen flags in gen_args); the
    executable's path, or None if palm is not built."""
    gen = os.path.join(args.build, "bin", "palm-gen")
    compiler = os.path.join(args.build, "bin", "palm-compile")
    if not (os.path.exists(gen) and os.path.exists(compiler)):
        return None
    work = tempfile.mkdtemp(prefix="palm-bench-")
    model = os.path.join(work, stem + ".mlir")
    exe = os.path.join(work, stem)
    source = (["--config", args.config] if args.config
              else ["--preset", args.preset])
    subprocess.run([gen] + source + list(gen_args) + ["-o", model],
                   check=True)
    subprocess.run([compiler, model, "-o", exe], check=True)
    return exe
