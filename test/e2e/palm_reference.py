"""Independent numpy reference of the palm forward pass.

Written from docs/model.md ("Conventions palm fixes where the paper is
silent") and docs/palm-gen.md (parameter names and shapes), not from the
compiler's code. It computes the function the compiled program computes:

    x      = E[tokens]                                  (no input scaling)
    layer  parallel:  y = x + attn(LN(x)) + mlp(LN(x))   one LN, "layers.i.ln"
           serial:    a = x + attn(LN1(x)); y = a + mlp(LN2(a))
    LN(x)  = (x - mean) / sqrt(var + eps) * scale        biased var over d_model
    attn   q = h Wq [d, H, Q]; k = h Wk, v = h Wv [d, G, Q]; RoPE on q and k;
           causal softmax(q k^T / sqrt(Q)); query head i uses kv head
           i // (H // G); out = sum over heads and head_dim with Wo [H, Q, d]
    mlp    silu(h Wgate) * (h Wup) Wdown
    logits = LN_f(y) E^T / sqrt(d_model)
    loss   = mean_t (logZ_t - logits_t[target_t] + z_loss * logZ_t^2)

RoPE: base 10000, "rotate half": dimension i (i < Q/2) pairs with i + Q/2 and
the pair (x1, x2) at position p becomes
    (x1 cos a - x2 sin a,  x2 cos a + x1 sin a),   a = p * base^(-2i/Q),
i.e. out = x cos + rotate_half(x) sin with rotate_half(x) = [-x2, x1] (the
GPT-NeoX / LLaMA convention). docs/model.md fixes the pairing and the angle;
this rotation direction is the usual one and is what the compiler must match.

Precision: by default everything is computed in float64 (inputs are cast up
from f32/bf16), softmax and logsumexp included. That is strictly more
accurate than the f32 softmax the compiled program must use, so the reference
is the exact function up to ~1e-15 and the comparison tolerances (1e-4 of the
largest |logit|, 1e-5 relative on the loss) only have to absorb the compiled
program's own f32 rounding. Pass dtype=np.float32 to run the same code in f32
(every intermediate rounded to f32; softmax and LN statistics are then f32
too), e.g. to see how large the f32 rounding itself is.

Works with numpy >= 1.17 (Debian's python3-numpy under /usr/bin/python3).
"""

import math

import numpy as np

DEFAULT_LAYER_NORM_EPSILON = 1e-6
DEFAULT_Z_LOSS = 1e-4
DEFAULT_ROPE_BASE = 10000.0

SIZE_KEYS = ("layers", "d_model", "heads", "kv_heads", "head_dim", "d_ff",
             "vocab", "seq", "batch")


def normalize_config(config):
    """Returns a plain dict with the sizes, block, epsilon and z_loss.

    Accepts a palm-gen JSON config (keys at the top level) or the object that
    `palm-gen --stats --stats-format=json` prints (sizes under "model"). Keys
    it lacks get palm-gen's defaults: block "parallel", layer_norm_epsilon
    1e-6, z_loss 1e-4 (the stats JSON prints neither of the last two).
    """
    if isinstance(config, dict) and isinstance(config.get("model"), dict):
        config = config["model"]
    out = {}
    for key in SIZE_KEYS:
        if key not in config:
            raise ValueError("config lacks %r" % key)
        value = config[key]
        if isinstance(value, bool) or int(value) != value or value <= 0:
            raise ValueError("config %r must be a positive integer, got %r"
                             % (key, value))
        out[key] = int(value)
    out["block"] = config.get("block", "parallel")
    if out["block"] not in ("parallel", "serial"):
        raise ValueError("config 'block' must be parallel or serial, got %r"
                         % (out["block"],))
    out["layer_norm_epsilon"] = float(
        config.get("layer_norm_epsilon", DEFAULT_LAYER_NORM_EPSILON))
    out["z_loss"] = float(config.get("z_loss", DEFAULT_Z_LOSS))
    out["rope_base"] = float(config.get("rope_base", DEFAULT_ROPE_BASE))
    out["dtype"] = config.get("dtype", "f32")
    if out["heads"] % out["kv_heads"]:
        raise ValueError("heads must be divisible by kv_heads")
    if out["head_dim"] % 2:
        raise ValueError("head_dim must be even")
    return out


def parameter_shapes(config):
    """{name: shape} of every parameter, in palm-gen's argument order."""
    c = normalize_config(config)
    d, H, G, Q, F = (c["d_model"], c["heads"], c["kv_heads"], c["head_dim"],
                     c["d_ff"])
    shapes = {"embedding": (c["vocab"], d)}
    for i in range(c["layers"]):
        p = "layers.%d." % i
        shapes[p + ("ln" if c["block"] == "parallel" else "ln1")] = (d,)
        shapes[p + "attention.wq"] = (d, H, Q)
        shapes[p + "attention.wk"] = (d, G, Q)
        shapes[p + "attention.wv"] = (d, G, Q)
        shapes[p + "attention.wo"] = (H, Q, d)
        if c["block"] == "serial":
            shapes[p + "ln2"] = (d,)
        shapes[p + "mlp.wgate"] = (d, F)
        shapes[p + "mlp.wup"] = (d, F)
        shapes[p + "mlp.wdown"] = (F, d)
    shapes["final_ln"] = (d,)
    return shapes


def random_weights(config, seed=0, dtype=np.float32):
    """Weights drawn as docs/model.md initialises them (embedding N(0, 1),
    kernels N(0, 1/fan_in), LayerNorm scales ones), from numpy's generator:
    the same distribution as the runtime's, not the same numbers."""
    rng = np.random.RandomState(seed)
    c = normalize_config(config)
    fan_in = {"attention.wo": c["heads"] * c["head_dim"],
              "mlp.wdown": c["d_ff"]}
    out = {}
    for name, shape in parameter_shapes(c).items():
        if name == "embedding":
            std = 1.0
        elif name.endswith("ln") or name.endswith("ln1") or \
                name.endswith("ln2"):
            out[name] = np.ones(shape, dtype)
            continue
        else:
            std = 1.0 / math.sqrt(fan_in.get(name.split(".", 2)[2],
                                             c["d_model"]))
        out[name] = (rng.standard_normal(shape) * std).astype(dtype)
    return out


def layer_norm(x, scale, eps):
    """Scale-only LayerNorm over the last dim, biased variance."""
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=-1, keepdims=True)
    return centered / np.sqrt(var + x.dtype.type(eps)) * scale


def rope_angles(seq, head_dim, base=DEFAULT_ROPE_BASE, dtype=np.float64):
    """cos, sin of shape [seq, head_dim/2]: angle p * base^(-2i/head_dim)."""
    half = head_dim // 2
    i = np.arange(half, dtype=np.float64)
    inv_freq = base ** (-2.0 * i / head_dim)
    angle = np.arange(seq, dtype=np.float64)[:, None] * inv_freq[None, :]
    return np.cos(angle).astype(dtype), np.sin(angle).astype(dtype)


def rope(x, base=DEFAULT_ROPE_BASE):
    """x: [batch, seq, heads, head_dim]; positions 0..seq-1."""
    seq, head_dim = x.shape[1], x.shape[3]
    half = head_dim // 2
    cos, sin = rope_angles(seq, head_dim, base, x.dtype)
    cos = cos[None, :, None, :]
    sin = sin[None, :, None, :]
    x1 = x[..., :half]
    x2 = x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def softmax(scores, axis=-1):
    m = scores.max(axis=axis, keepdims=True)
    e = np.exp(scores - m)
    return e / e.sum(axis=axis, keepdims=True)


def attention(q, k, v, causal=True):
    """q [b, s, H, Q], k [b, t, G, Q], v [b, t, G, V] -> [b, s, H, V].

    Query head i uses key/value head i // (H // G); scores scaled by
    1/sqrt(Q); a causal mask lets query position i see keys 0..i.
    """
    b, s, H, Q = q.shape
    t, G = k.shape[1], k.shape[2]
    group = H // G
    kv_of_head = np.arange(H) // group
    k_h = k[:, :, kv_of_head, :]          # [b, t, H, Q]
    v_h = v[:, :, kv_of_head, :]          # [b, t, H, V]
    scores = np.einsum("bshq,bthq->bhst", q, k_h) * q.dtype.type(
        1.0 / math.sqrt(Q))
    if causal:
        allowed = np.tril(np.ones((s, t), dtype=bool))
        scores = np.where(allowed[None, None], scores,
                          q.dtype.type(-np.inf))
    probs = softmax(scores, axis=-1)
    return np.einsum("bhst,bthv->bshv", probs, v_h)


def silu(x):
    """x * sigmoid(x); exp(-x) overflowing to inf gives the right limit -0."""
    with np.errstate(over="ignore"):
        return x / (1 + np.exp(-x))


def logsumexp(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(
        axis)


def cross_entropy(logits, targets, z_loss):
    """Mean over tokens of logZ - logit[target] + z_loss * logZ^2."""
    log_z = logsumexp(logits, axis=-1)
    target_logit = np.take_along_axis(
        logits, targets[..., None].astype(np.int64), axis=-1)[..., 0]
    per_token = log_z - target_logit + logits.dtype.type(z_loss) * log_z * log_z
    return per_token.mean()


def forward(config, weights, tokens, targets, dtype=np.float64, trace=None):
    """Returns (logits [batch, seq, vocab] float32, loss float).

    config: a palm-gen config or stats JSON object (see normalize_config).
    weights: {palm.name: array} with the global shapes of parameter_shapes().
    tokens, targets: integer [batch, seq].
    dtype: the compute precision (float64 by default, see the module doc).
    trace: optional dict; when given, intermediates are stored in it under the
    names of the ops in palm-gen's IR (e.g. "layers.0.attention.q_rope"),
    to locate a mismatch.
    """
    c = normalize_config(config)
    dt = np.dtype(dtype)
    eps = c["layer_norm_epsilon"]
    tokens = np.asarray(tokens)
    targets = np.asarray(targets)
    b, s = c["batch"], c["seq"]
    if tokens.shape != (b, s) or targets.shape != (b, s):
        raise ValueError("tokens/targets must be [%d, %d], got %s and %s"
                         % (b, s, tokens.shape, targets.shape))
    for what, ids in (("tokens", tokens), ("targets", targets)):
        if ids.size and (ids.min() < 0 or ids.max() >= c["vocab"]):
            raise ValueError("%s outside [0, %d)" % (what, c["vocab"]))
    expected = parameter_shapes(c)
    missing = sorted(set(expected) - set(weights))
    if missing:
        raise ValueError("weights lack %s" % ", ".join(missing))
    w = {}
    for name, shape in expected.items():
        arr = np.asarray(weights[name])
        if tuple(arr.shape) != tuple(shape):
            raise ValueError("weight %s has shape %s, expected %s"
                             % (name, tuple(arr.shape), tuple(shape)))
        w[name] = arr.astype(dt)

    def record(name, value):
        if trace is not None:
            trace[name] = value

    def attn_branch(p, h):
        q = np.einsum("bsd,dhq->bshq", h, w[p + "attention.wq"])
        k = np.einsum("bsd,dgq->bsgq", h, w[p + "attention.wk"])
        v = np.einsum("bsd,dgq->bsgq", h, w[p + "attention.wv"])
        record(p + "attention.q", q)
        record(p + "attention.k", k)
        record(p + "attention.v", v)
        qr = rope(q, c["rope_base"])
        kr = rope(k, c["rope_base"])
        record(p + "attention.q_rope", qr)
        record(p + "attention.k_rope", kr)
        a = attention(qr, kr, v, causal=True)
        record(p + "attention.attend", a)
        o = np.einsum("bshq,hqd->bsd", a, w[p + "attention.wo"])
        record(p + "attention.o", o)
        return o

    def mlp_branch(p, h):
        g = h @ w[p + "mlp.wgate"]
        u = h @ w[p + "mlp.wup"]
        record(p + "mlp.gate", g)
        record(p + "mlp.up", u)
        gu = silu(g) * u
        record(p + "mlp.glu", gu)
        o = gu @ w[p + "mlp.wdown"]
        record(p + "mlp.down", o)
        return o

    x = w["embedding"][tokens.astype(np.int64)]
    record("embedding", x)
    for i in range(c["layers"]):
        p = "layers.%d." % i
        if c["block"] == "parallel":
            h = layer_norm(x, w[p + "ln"], eps)
            record(p + "ln", h)
            branches = attn_branch(p, h) + mlp_branch(p, h)
            record(p + "branches", branches)
            x = x + branches
        else:
            h = layer_norm(x, w[p + "ln1"], eps)
            record(p + "ln1", h)
            x = x + attn_branch(p, h)
            record(p + "attention_residual", x)
            h = layer_norm(x, w[p + "ln2"], eps)
            record(p + "ln2", h)
            x = x + mlp_branch(p, h)
        record(p + "residual", x)
    f = layer_norm(x, w["final_ln"], eps)
    record("final_ln", f)
    logits = (f @ w["embedding"].T) * dt.type(1.0 / math.sqrt(c["d_model"]))
    record("logits.scale", logits)
    loss = cross_entropy(logits, targets, c["z_loss"])
    record("loss", loss)
    return logits.astype(np.float32), float(loss)
