#!/usr/bin/env python3
"""The peers of bench/gpu/run.py: the same PaLM model in PyTorch (eager and
torch.compile) and in JAX (jit), written from docs/model.md as a user of
each framework would write it, timed on one GPU.

    peers.py --system torch|torch-compile|jax --config STATS.json
             --mode forward|train [--steps N] [--warmup W] [--device cuda]

STATS.json is palm-gen's `--stats --stats-format=json` of the model (its
"model" object: sizes, block kind, epsilon, z-loss). The conventions:
parallel (or serial) block, pre-LayerNorm without bias, multi-query (or
grouped) attention with RoPE on queries and keys (pairs i, i + head_dim/2,
base 10000), causal; SwiGLU; no biases; the embedding tied to the output
projection, logits scaled by 1/sqrt(d_model); cross-entropy plus z-loss.

forward: the loss of one batch, all weights bf16 (as palm's bf16 program).
train: one optimizer step with f32 master weights and bf16 compute (torch
autocast, JAX casting the parameters inside the loss): forward, backward,
global-norm clipping at 1.0, AdamW (torch's fused AdamW, optax's adamw).
Tokens are random; the initial weights are normal with palm's standard
deviations (their values do not change the speed).

Prints one JSON line: {"system", "mode", "version", "step_seconds" (the
median over --steps timed steps after --warmup untimed ones, compilation
included in the warm-up), "compile_seconds" (the first step), "steps"}.
Exits non-zero with the reason on stderr when the framework is missing or
the run fails. --device cpu runs the same code on the CPU (the smoke test
test/e2e/gpu-peers.test uses it at tiny sizes).
"""

import argparse
import json
import statistics
import sys
import time


def model_config(path):
    with open(path) as f:
        raw = json.load(f)
    m = raw.get("model", raw)
    c = {k: m[k] for k in ("layers", "d_model", "heads", "kv_heads",
                           "head_dim", "d_ff", "vocab", "seq", "batch")}
    c["serial"] = m.get("block", "parallel") == "serial"
    c["eps"] = m.get("layer_norm_epsilon", 1e-6)
    c["z_loss"] = m.get("z_loss", 1e-4)
    return c


def shapes(c):
    """(name, shape, stddev or None for ones) of every parameter."""
    d, H, G, Q, F = (c["d_model"], c["heads"], c["kv_heads"], c["head_dim"],
                     c["d_ff"])
    out = [("embedding", (c["vocab"], d), 1.0)]
    for i in range(c["layers"]):
        p = "layers.%d." % i
        out += [(p + "ln1", (d,), None)]
        if c["serial"]:
            out += [(p + "ln2", (d,), None)]
        out += [(p + "wq", (d, H * Q), d ** -0.5),
                (p + "wk", (d, G * Q), d ** -0.5),
                (p + "wv", (d, G * Q), d ** -0.5),
                (p + "wo", (H * Q, d), (H * Q) ** -0.5),
                (p + "wgate", (d, F), d ** -0.5),
                (p + "wup", (d, F), d ** -0.5),
                (p + "wdown", (F, d), F ** -0.5)]
    return out + [("final_ln", (d,), None)]


def rope_tables(np, c):
    Q = c["head_dim"]
    inv = 10000.0 ** (-2.0 * np.arange(Q // 2, dtype=np.float64) / Q)
    ang = np.arange(c["seq"], dtype=np.float64)[:, None] * inv
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def run_layers(c, params, x, layer_norm, attention, mlp):
    """The residual stream after every layer (either framework's ops)."""
    for i in range(c["layers"]):
        p = {k.split(".", 2)[2]: v for k, v in params.items()
             if k.startswith("layers.%d." % i)}
        h = layer_norm(x, p["ln1"])
        if c["serial"]:
            x = x + attention(h, p)
            x = x + mlp(layer_norm(x, p["ln2"]), p)
        else:
            x = x + attention(h, p) + mlp(h, p)
    return x


def time_steps(step, sync, steps, warmup):
    """(median step seconds, first step seconds)."""
    times = []
    for _ in range(warmup + steps):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times[warmup:]), times[0]


# --- PyTorch -----------------------------------------------------------------

def run_torch(c, mode, steps, warmup, device, compiled):
    import numpy as np
    import torch
    import torch.nn.functional as F
    dev = torch.device(device)
    d, H, G, Q = c["d_model"], c["heads"], c["kv_heads"], c["head_dim"]
    b, s = c["batch"], c["seq"]
    weight_dtype = torch.bfloat16 if mode == "forward" else torch.float32
    gen = torch.Generator(device=dev).manual_seed(0)
    params = {}
    for name, shape, std in shapes(c):
        if std is None:
            t = torch.ones(shape, device=dev, dtype=weight_dtype)
        else:
            t = torch.randn(shape, device=dev, generator=gen,
                            dtype=torch.float32).mul_(std).to(weight_dtype)
        params[name] = t.requires_grad_(mode == "train")
    cos, sin = (torch.from_numpy(t).to(dev)[:, None, :]
                for t in rope_tables(np, c))
    try:  # grouped heads without copies (PyTorch 2.5 and later)
        probe = torch.zeros(1, 2, 1, 2, device=dev)
        F.scaled_dot_product_attention(probe, probe[:, :1], probe[:, :1],
                                       enable_gqa=True)
        gqa = True
    except TypeError:
        gqa = False

    def layer_norm(x, scale):
        x32 = x.float()
        mean = x32.mean(-1, keepdim=True)
        var = (x32 - mean).pow(2).mean(-1, keepdim=True)
        return ((x32 - mean) * torch.rsqrt(var + c["eps"])).to(x.dtype) * scale

    def rotate(x):  # [b, s, heads, Q]
        x1, x2 = x[..., :Q // 2], x[..., Q // 2:]
        cs, sn = cos.to(x.dtype), sin.to(x.dtype)
        return torch.cat([x1 * cs - x2 * sn, x2 * cs + x1 * sn], dim=-1)

    def attention(h, p):
        q = rotate((h @ p["wq"]).view(b, s, H, Q)).transpose(1, 2)
        k = rotate((h @ p["wk"]).view(b, s, G, Q)).transpose(1, 2)
        v = (h @ p["wv"]).view(b, s, G, Q).transpose(1, 2)
        if gqa:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               enable_gqa=G != H)
        else:
            k = k.repeat_interleave(H // G, dim=1)
            v = v.repeat_interleave(H // G, dim=1)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return a.transpose(1, 2).reshape(b, s, H * Q) @ p["wo"]

    def mlp(h, p):
        return (F.silu(h @ p["wgate"]) * (h @ p["wup"])) @ p["wdown"]

    def loss_fn(tokens, targets):
        emb = params["embedding"]
        x = run_layers(c, params, emb[tokens], layer_norm, attention, mlp)
        f = layer_norm(x, params["final_ln"])
        logits = (f @ emb.t()).float() * (d ** -0.5)
        log_z = torch.logsumexp(logits, dim=-1)
        tgt = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        return (log_z - tgt + c["z_loss"] * log_z * log_z).mean()

    tokens = torch.randint(0, c["vocab"], (b, s), device=dev, generator=gen)
    targets = torch.randint(0, c["vocab"], (b, s), device=dev, generator=gen)
    if mode == "forward":
        fn = torch.compile(loss_fn) if compiled else loss_fn

        def step():
            with torch.no_grad():
                fn(tokens, targets)
    else:
        opt = torch.optim.AdamW(list(params.values()), lr=1e-4,
                                weight_decay=0.1,
                                fused=dev.type == "cuda")
        autocast = torch.autocast(device_type=dev.type, dtype=torch.bfloat16)

        def train_step(tokens, targets):
            with autocast:
                loss = loss_fn(tokens, targets)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            return loss

        fn = torch.compile(train_step) if compiled else train_step

        def step():
            fn(tokens, targets)

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    median, first = time_steps(step, sync, steps, warmup)
    return median, first, torch.__version__


# --- JAX ---------------------------------------------------------------------

def run_jax(c, mode, steps, warmup, device):
    import numpy as np
    import jax
    import jax.numpy as jnp
    if device == "cpu":
        jax.config.update("jax_platforms", "cpu")
    d, H, G, Q = c["d_model"], c["heads"], c["kv_heads"], c["head_dim"]
    b, s = c["batch"], c["seq"]
    key = jax.random.PRNGKey(0)
    weight_dtype = jnp.bfloat16 if mode == "forward" else jnp.float32
    params = {}
    for i, (name, shape, std) in enumerate(shapes(c)):
        if std is None:
            params[name] = jnp.ones(shape, weight_dtype)
        else:
            params[name] = (jax.random.normal(jax.random.fold_in(key, i),
                                              shape, jnp.float32) *
                            std).astype(weight_dtype)
    cos, sin = (jnp.asarray(t)[:, None, :] for t in rope_tables(np, c))
    on_gpu = jax.devices()[0].platform == "gpu"

    def layer_norm(x, scale):
        x32 = x.astype(jnp.float32)
        mean = x32.mean(-1, keepdims=True)
        var = jnp.square(x32 - mean).mean(-1, keepdims=True)
        return ((x32 - mean) * jax.lax.rsqrt(var + c["eps"])).astype(
            x.dtype) * scale

    def rotate(x):
        x1, x2 = x[..., :Q // 2], x[..., Q // 2:]
        cs, sn = cos.astype(x.dtype), sin.astype(x.dtype)
        return jnp.concatenate([x1 * cs - x2 * sn, x2 * cs + x1 * sn], -1)

    def attention(h, p):
        q = rotate((h @ p["wq"]).reshape(b, s, H, Q))
        k = rotate((h @ p["wk"]).reshape(b, s, G, Q))
        v = (h @ p["wv"]).reshape(b, s, G, Q)
        a = jax.nn.dot_product_attention(
            q, k, v, is_causal=True,
            implementation="cudnn" if on_gpu else None)
        return a.reshape(b, s, H * Q) @ p["wo"]

    def mlp(h, p):
        return (jax.nn.silu(h @ p["wgate"]) * (h @ p["wup"])) @ p["wdown"]

    def loss_fn(params, tokens, targets, dtype):
        params = jax.tree_util.tree_map(lambda w: w.astype(dtype), params)
        emb = params["embedding"]
        x = run_layers(c, params, emb[tokens], layer_norm, attention, mlp)
        f = layer_norm(x, params["final_ln"])
        logits = (f @ emb.T).astype(jnp.float32) * (d ** -0.5)
        log_z = jax.nn.logsumexp(logits, axis=-1)
        tgt = jnp.take_along_axis(logits, targets[..., None], -1)[..., 0]
        return jnp.mean(log_z - tgt + c["z_loss"] * log_z * log_z)

    tokens = jax.random.randint(jax.random.fold_in(key, 10**6), (b, s), 0,
                                c["vocab"])
    targets = jax.random.randint(jax.random.fold_in(key, 10**6 + 1), (b, s),
                                 0, c["vocab"])
    if mode == "forward":
        fn = jax.jit(lambda p, t, y: loss_fn(p, t, y, jnp.bfloat16))
        state = {"out": None}

        def step():
            state["out"] = fn(params, tokens, targets)
    else:
        import optax
        opt = optax.chain(optax.clip_by_global_norm(1.0),
                          optax.adamw(1e-4, weight_decay=0.1))
        opt_state = opt.init(params)

        @jax.jit
        def train_step(params, opt_state, tokens, targets):
            loss, grads = jax.value_and_grad(loss_fn)(params, tokens, targets,
                                                      jnp.bfloat16)
            updates, opt_state = opt.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

        state = {"params": params, "opt": opt_state, "out": None}

        def step():
            state["params"], state["opt"], state["out"] = train_step(
                state["params"], state["opt"], tokens, targets)

    def sync():
        jax.block_until_ready(state["out"])

    median, first = time_steps(step, sync, steps, warmup)
    return median, first, jax.__version__


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--system", required=True,
                   choices=["torch", "torch-compile", "jax"])
    p.add_argument("--config", required=True)
    p.add_argument("--mode", required=True, choices=["forward", "train"])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cuda")
    args = p.parse_args()
    c = model_config(args.config)
    try:
        if args.system == "jax":
            median, first, version = run_jax(c, args.mode, args.steps,
                                             args.warmup, args.device)
        else:
            median, first, version = run_torch(
                c, args.mode, args.steps, args.warmup, args.device,
                args.system == "torch-compile")
    except ImportError as e:
        sys.exit("%s: not installed (%s)" % (args.system, e))
    print(json.dumps({"system": args.system, "mode": args.mode,
                      "version": version, "step_seconds": median,
                      "compile_seconds": first, "steps": args.steps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
