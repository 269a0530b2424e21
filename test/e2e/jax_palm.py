#!/usr/bin/env python3
"""The palm model in JAX: loss, gradients and per-op references for training.

An oracle for the compiler's reverse-mode autodiff, independent of it and of
palm_reference.py's code: written from docs/model.md and the facts in
palm_reference.py's docstring (names, shapes, conventions), with gradients
from jax.value_and_grad. Runs only under the JAX venv that
scripts/jax-venv.sh makes (BUILD_DIR/jax-venv/bin/python).

    x      = E[tokens]                                  (no input scaling)
    layer  parallel:  y = x + attn(LN(x)) + mlp(LN(x))   one LN, "layers.i.ln"
           serial:    a = x + attn(LN1(x)); y = a + mlp(LN2(a))
    LN(x)  = (x - mean) / sqrt(var + eps) * scale        biased var over d_model
    attn   q = h Wq [d, H, Q]; k = h Wk, v = h Wv [d, G, Q]; RoPE on q, k;
           causal softmax(q k^T / sqrt(Q)); query head i uses kv head
           i // (H // G); out = sum over heads and head_dim with Wo [H, Q, d]
    mlp    silu(h Wgate) * (h Wup) Wdown
    logits = LN_f(y) E^T / sqrt(d_model)                 (tied embedding)
    loss   = mean_t (logZ_t - logits_t[target_t] + z_loss * logZ_t^2)

RoPE: base 10000, dim i (< Q/2) pairs with i + Q/2, angle p * base^(-2i/Q),
(x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), positions 0..seq-1.

Precision: `dtype` "f32" computes everything in float32 (softmax and
logsumexp included), "f64" in float64; the module enables jax_enable_x64 on
import so both are available (f32 arrays stay f32: every array is cast
explicitly). The RoPE angles are computed in float64 and rounded once.

Library:
    loss_fn(params, tokens, targets, config, dtype=None) -> scalar loss
    grads(params, tokens, targets, config, dtype=None) -> (loss, {name: grad})
    attention, layer_norm, rope, embedding, cross_entropy: the ops alone,
    for per-op VJP tests (jax.vjp of each is the reference backward).

Command line (`grads`):
    jax_palm.py grads --weights W --config FILE [--inputs O] [--out DIR]
                      [--dtype f64] [--compare-outputs O2] [--grad-tol 1e-4]
W is a run's --save-weights directory, O its --save-outputs directory (the
tokens and targets of the step it saved; looked up in W too, like
check_run.py; O defaults to W), FILE a palm-gen config or
`palm-gen --stats --stats-format=json` output, or the JSON text itself.
--tokens/--targets FILE.npy replace O. It prints the loss and every
gradient's norm, writes DIR/grads.npz with "loss" and "grad.<param name>"
(float64 unless --dtype f32), and with --compare-outputs checks a compiled
program's outputs "grad.<param name>" (read with palm_shards.load_shards)
against them: max |program - jax| <= grad-tol * max |jax| per tensor.
Exit status: 0 pass, 1 a comparison fails, 2 unusable input.
"""

import argparse
import json
import math
import os
import sys

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

DEFAULT_LAYER_NORM_EPSILON = 1e-6
DEFAULT_Z_LOSS = 1e-4
DEFAULT_ROPE_BASE = 10000.0

SIZE_KEYS = ("layers", "d_model", "heads", "kv_heads", "head_dim", "d_ff",
             "vocab", "seq", "batch")

DTYPES = {"f32": jnp.float32, "f64": jnp.float64}


def model_config(config):
    """{sizes, block, layer_norm_epsilon, z_loss, rope_base, dtype} from a
    palm-gen config or stats JSON object (sizes under "model")."""
    if isinstance(config, dict) and isinstance(config.get("model"), dict):
        config = config["model"]
    c = {}
    for key in SIZE_KEYS:
        if key not in config:
            raise ValueError("config lacks %r" % key)
        value = config[key]
        if isinstance(value, bool) or int(value) != value or value <= 0:
            raise ValueError("config %r must be a positive integer, got %r"
                             % (key, value))
        c[key] = int(value)
    c["block"] = config.get("block", "parallel")
    if c["block"] not in ("parallel", "serial"):
        raise ValueError("config 'block' must be parallel or serial")
    c["layer_norm_epsilon"] = float(config.get("layer_norm_epsilon",
                                               DEFAULT_LAYER_NORM_EPSILON))
    c["z_loss"] = float(config.get("z_loss", DEFAULT_Z_LOSS))
    c["rope_base"] = float(config.get("rope_base", DEFAULT_ROPE_BASE))
    c["dtype"] = config.get("dtype", "f32")
    if c["heads"] % c["kv_heads"]:
        raise ValueError("heads must be a multiple of kv_heads")
    if c["head_dim"] % 2:
        raise ValueError("head_dim must be even")
    return c


def param_shapes(config):
    """{name: shape} in palm-gen's argument order."""
    c = model_config(config)
    d, H, G, Q, F = (c["d_model"], c["heads"], c["kv_heads"], c["head_dim"],
                     c["d_ff"])
    shapes = {"embedding": (c["vocab"], d)}
    for i in range(c["layers"]):
        p = "layers.%d." % i
        serial = c["block"] == "serial"
        shapes[p + ("ln1" if serial else "ln")] = (d,)
        shapes[p + "attention.wq"] = (d, H, Q)
        shapes[p + "attention.wk"] = (d, G, Q)
        shapes[p + "attention.wv"] = (d, G, Q)
        shapes[p + "attention.wo"] = (H, Q, d)
        if serial:
            shapes[p + "ln2"] = (d,)
        shapes[p + "mlp.wgate"] = (d, F)
        shapes[p + "mlp.wup"] = (d, F)
        shapes[p + "mlp.wdown"] = (F, d)
    shapes["final_ln"] = (d,)
    return shapes


# --- the ops -----------------------------------------------------------------

def embedding(table, ids):
    """table [vocab, d], ids integer [...] -> [..., d]."""
    return jnp.take(table, jnp.asarray(ids), axis=0)


def layer_norm(x, scale, eps):
    """Scale-only LayerNorm over the last dim: mean, biased variance."""
    mu = jnp.mean(x, axis=-1, keepdims=True)
    xc = x - mu
    var = jnp.mean(xc * xc, axis=-1, keepdims=True)
    return xc * jax.lax.rsqrt(var + jnp.asarray(eps, x.dtype)) * scale


def rope(x, base=DEFAULT_ROPE_BASE):
    """x [batch, seq, heads, head_dim], positions 0..seq-1, rotate-half."""
    seq, dim = x.shape[1], x.shape[3]
    half = dim // 2
    freq = base ** (-2.0 * np.arange(half, dtype=np.float64) / dim)
    theta = np.arange(seq, dtype=np.float64)[:, None] * freq[None, :]
    cos = jnp.asarray(np.cos(theta)[None, :, None, :], x.dtype)
    sin = jnp.asarray(np.sin(theta)[None, :, None, :], x.dtype)
    lo, hi = x[..., :half], x[..., half:]
    return jnp.concatenate([lo * cos - hi * sin, hi * cos + lo * sin], -1)


def attention(q, k, v, causal=True, scale=None):
    """q [b, s, H, Q], k [b, t, G, Q], v [b, t, G, V] -> [b, s, H, V].

    Query head i attends with kv head i // (H // G) (heads of one group are
    consecutive); scores times scale (default 1/sqrt(Q)); causal: position
    i sees keys 0..i. Softmax in q's dtype.
    """
    b, s, H, Q = q.shape
    t, G, V = k.shape[1], k.shape[2], v.shape[3]
    if scale is None:
        scale = 1.0 / math.sqrt(Q)
    qg = q.reshape(b, s, G, H // G, Q)
    scores = jnp.einsum("bsgrq,btgq->bgrst", qg, k) * jnp.asarray(scale,
                                                                  q.dtype)
    if causal:
        visible = np.tril(np.ones((s, t), dtype=bool))
        scores = jnp.where(visible, scores, -jnp.inf)
    top = jax.lax.stop_gradient(jnp.max(scores, axis=-1, keepdims=True))
    e = jnp.exp(scores - top)
    probs = e / jnp.sum(e, axis=-1, keepdims=True)
    out = jnp.einsum("bgrst,btgv->bsgrv", probs, v)
    return out.reshape(b, s, H, V)


def logsumexp(x):
    top = jax.lax.stop_gradient(jnp.max(x, axis=-1, keepdims=True))
    return jnp.log(jnp.sum(jnp.exp(x - top), axis=-1)) + top[..., 0]


def cross_entropy(logits, targets, z_loss):
    """Mean over tokens of logZ - logits[target] + z_loss * logZ^2."""
    log_z = logsumexp(logits)
    picked = jnp.take_along_axis(logits, jnp.asarray(targets)[..., None],
                                 axis=-1)[..., 0]
    z = jnp.asarray(z_loss, logits.dtype)
    return jnp.mean(log_z - picked + z * log_z * log_z)


def silu(x):
    return x * jax.nn.sigmoid(x)


# --- the model ---------------------------------------------------------------

def _compute_dtype(c, dtype):
    name = dtype or c["dtype"]
    if name == "bf16":
        name = "f32"
    if name not in DTYPES:
        raise ValueError("dtype must be f32 or f64, got %r" % (name,))
    return DTYPES[name]


def loss_fn(params, tokens, targets, config, dtype=None):
    """Loss of the palm model. params: {name: array} (cast to dtype),
    tokens/targets integer [batch, seq]; dtype "f32" or "f64" (default:
    the config's dtype, bf16 computed as f32)."""
    c = model_config(config)
    dt = _compute_dtype(c, dtype)
    w = {name: jnp.asarray(params[name]).astype(dt)
         for name in param_shapes(c)}
    eps, base = c["layer_norm_epsilon"], c["rope_base"]

    def attn(p, h):
        q = jnp.einsum("bsd,dhq->bshq", h, w[p + "attention.wq"])
        k = jnp.einsum("bsd,dgq->bsgq", h, w[p + "attention.wk"])
        v = jnp.einsum("bsd,dgq->bsgq", h, w[p + "attention.wv"])
        a = attention(rope(q, base), rope(k, base), v, causal=True)
        return jnp.einsum("bshq,hqd->bsd", a, w[p + "attention.wo"])

    def mlp(p, h):
        glu = silu(h @ w[p + "mlp.wgate"]) * (h @ w[p + "mlp.wup"])
        return glu @ w[p + "mlp.wdown"]

    x = embedding(w["embedding"], tokens)
    for i in range(c["layers"]):
        p = "layers.%d." % i
        if c["block"] == "parallel":
            h = layer_norm(x, w[p + "ln"], eps)
            x = x + (attn(p, h) + mlp(p, h))
        else:
            x = x + attn(p, layer_norm(x, w[p + "ln1"], eps))
            x = x + mlp(p, layer_norm(x, w[p + "ln2"], eps))
    f = layer_norm(x, w["final_ln"], eps)
    logits = (f @ w["embedding"].T) * jnp.asarray(
        1.0 / math.sqrt(c["d_model"]), dt)
    return cross_entropy(logits, targets, c["z_loss"])


def check_inputs(params, tokens, targets, config):
    """Raises ValueError unless shapes and token ranges fit the config."""
    c = model_config(config)
    for name, shape in param_shapes(c).items():
        if name not in params:
            raise ValueError("parameters lack %s" % name)
        if tuple(np.shape(params[name])) != tuple(shape):
            raise ValueError("parameter %s has shape %s, the config says %s"
                             % (name, tuple(np.shape(params[name])), shape))
    for what, ids in (("tokens", tokens), ("targets", targets)):
        ids = np.asarray(ids)
        if ids.shape != (c["batch"], c["seq"]) or ids.dtype.kind not in "iu":
            raise ValueError("%s: %s %s, expected integer [%d, %d]"
                             % (what, ids.dtype, ids.shape, c["batch"],
                                c["seq"]))
        if ids.size and (ids.min() < 0 or ids.max() >= c["vocab"]):
            raise ValueError("%s outside [0, %d)" % (what, c["vocab"]))


_COMPILED = {}


def value_and_grad_fn(config, dtype=None):
    """A jitted (params, tokens, targets) -> (loss, {name: grad}), one per
    model and dtype (compiled once)."""
    c = model_config(config)
    key = (json.dumps(c, sort_keys=True), dtype)
    if key not in _COMPILED:
        _COMPILED[key] = jax.jit(jax.value_and_grad(
            lambda p, x, y: loss_fn(p, x, y, c, dtype)))
    return _COMPILED[key]


def grads(params, tokens, targets, config, dtype=None):
    """(loss, {name: d loss / d param}) with jax.value_and_grad; gradients
    in the compute dtype."""
    check_inputs(params, tokens, targets, config)
    c = model_config(config)
    dt = _compute_dtype(c, dtype)
    p = {name: jnp.asarray(params[name], dt) for name in param_shapes(c)}
    loss, g = value_and_grad_fn(config, dtype)(
        p, jnp.asarray(tokens, jnp.int32), jnp.asarray(targets, jnp.int32))
    return float(loss), {name: np.asarray(v) for name, v in g.items()}


# --- command line ------------------------------------------------------------

class InputError(Exception):
    pass


def _shards():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import palm_shards
    return palm_shards


def read_config(text):
    """A palm-gen config / stats JSON file, or the JSON text itself."""
    try:
        if text.lstrip().startswith("{"):
            raw = json.loads(text)
        else:
            with open(text) as f:
                raw = json.load(f)
        return model_config(raw)
    except (OSError, ValueError) as e:
        raise InputError("config %s: %s" % (text[:60], e))


def load_dir(directory, names=None):
    ps = _shards()
    if not os.path.isdir(directory):
        raise InputError("directory %s does not exist" % directory)
    try:
        return ps.load_shards(directory, names=names)[0]
    except ps.ShardError as e:
        raise InputError(str(e))


def _index_names(directory):
    ps = _shards()
    try:
        with open(ps.find_index(directory)) as f:
            return set(json.load(f)["tensors"])
    except (OSError, ValueError, KeyError, ps.ShardError) as e:
        raise InputError("%s: %s" % (directory, e))


def load_run(weights_dir, inputs_dir, config, tokens_npy=None,
             targets_npy=None):
    """(params, tokens, targets) of a compiled run: parameters from its
    --save-weights directory, tokens and targets from its --save-outputs
    directory (or the weights directory), or from .npy files."""
    shapes = param_shapes(config)
    params = load_dir(weights_dir, names=list(shapes))
    ids = {}
    for what, npy in (("tokens", tokens_npy), ("targets", targets_npy)):
        if npy:
            ids[what] = np.load(npy)
            continue
        for directory in (inputs_dir, weights_dir):
            if directory and what in _index_names(directory):
                ids[what] = load_dir(directory, names=[what])[what]
                break
        else:
            raise InputError("no %r in %s" % (what, inputs_dir or weights_dir))
    try:
        check_inputs(params, ids["tokens"], ids["targets"], config)
    except ValueError as e:
        raise InputError(str(e))
    return params, ids["tokens"], ids["targets"]


def compare_grads(reference, program, tol):
    """[(name, max abs error, max |reference|, ok)] for every parameter:
    program's "grad.<name>" against reference[name], ok when the error is
    at most tol * max |reference| (the logits' rule of check_run.py)."""
    rows = []
    for name, ref in reference.items():
        key = "grad." + name
        if key not in program:
            raise InputError("program outputs lack %s" % key)
        got = np.asarray(program[key], np.float64)
        if got.shape != ref.shape:
            raise InputError("%s has shape %s, expected %s"
                             % (key, got.shape, ref.shape))
        err = float(np.max(np.abs(got - ref))) if ref.size else 0.0
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        ok = bool(np.all(np.isfinite(got))) and err <= tol * max(scale, 1e-30)
        rows.append((name, err, scale, ok))
    return rows


def cmd_grads(args):
    config = read_config(args.config)
    params, tokens, targets = load_run(
        args.weights, args.inputs, config, args.tokens, args.targets)
    loss, g = grads(params, tokens, targets, config, args.dtype)
    print("jax_palm: loss %.17g (%s)" % (loss, args.dtype))
    for name in param_shapes(config):
        print("jax_palm: |grad.%s| = %.9g" % (name, np.linalg.norm(g[name])))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        arrays = {"grad." + n: v for n, v in g.items()}
        arrays["loss"] = np.asarray(loss, g["embedding"].dtype)
        np.savez(os.path.join(args.out, "grads.npz"), **arrays)
        print("jax_palm: wrote %s" % os.path.join(args.out, "grads.npz"))
    status = 0
    if args.compare_outputs:
        names = ["grad." + n for n in param_shapes(config)]
        program = load_dir(args.compare_outputs, names=names)
        ref64 = {n: np.asarray(v, np.float64) for n, v in g.items()}
        for name, err, scale, ok in compare_grads(ref64, program,
                                                  args.grad_tol):
            print("jax_palm: grad.%s: max abs error %.3g, max |ref| %.3g: %s"
                  % (name, err, scale, "ok" if ok else "FAIL"))
            status = status or (0 if ok else 1)
        print("jax_palm: %s" % ("PASS" if status == 0 else "FAIL"))
    return status


def main(argv=None):
    ap = argparse.ArgumentParser(description="palm in JAX: loss and "
                                 "gradients of a compiled run's step.")
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grads", help="loss and every parameter's gradient")
    g.add_argument("--weights", required=True,
                   help="directory written by --save-weights")
    g.add_argument("--inputs", help="directory holding tokens and targets "
                   "(the run's --save-outputs; default: --weights)")
    g.add_argument("--tokens", help="tokens as a .npy file")
    g.add_argument("--targets", help="targets as a .npy file")
    g.add_argument("--config", "--config-json", dest="config", required=True,
                   help="palm-gen config or stats JSON file, or JSON text")
    g.add_argument("--dtype", default="f64", choices=sorted(DTYPES),
                   help="compute precision (default f64)")
    g.add_argument("--out", help="write DIR/grads.npz (loss, grad.<name>)")
    g.add_argument("--compare-outputs", metavar="DIR",
                   help="a run's --save-outputs holding grad.<name> to check")
    g.add_argument("--grad-tol", type=float, default=1e-4,
                   help="max abs error as a fraction of max |grad| "
                        "(default 1e-4)")
    args = ap.parse_args(argv)
    try:
        return cmd_grads(args)
    except InputError as e:
        print("jax_palm: error: %s" % e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
