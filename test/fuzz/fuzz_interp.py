"""A numpy interpreter of global palm programs (fuzz_program's form).

Written from docs/dialect.md, docs/model.md and the op descriptions of
include/palm/Dialect/Palm/IR/PalmOps.td, independently of the compiler:

* embedding: `table[ids]`;
* layer_norm: scale-only, mean and biased variance over the last dim,
  epsilon 1e-6 unless given;
* dot_general: batch dims first (in the order listed), then the lhs free
  dims, then the rhs free dims, each in operand order;
* rope: positions 0..seq-1, dim i pairs with i + d/2, angle
  p * base^(-2i/d), (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin);
* attention: scores q.k * scale (default 1/sqrt(head_dim)), query head i
  uses key/value head i // (heads / kv_heads), causal: key position <=
  query position, softmax over keys;
* silu x * sigmoid(x); scale; add; mul; convert rounds to bf16 (nearest
  even); cross_entropy: mean over tokens of logZ - logit[target] +
  z_loss * logZ^2 (z_loss 1e-4 unless given);
* transpose, reshape (row-major), sharding_constraint (the identity).

`run(prog, inputs, dtype)` computes every value in `dtype` (float64 for
the reference, float32 to measure how sensitive a value is to rounding),
rounding bf16 values to bf16 after every op.
"""

import numpy as np


def round_bf16(x):
    """Rounds to the nearest bf16 (ties to even), kept in x's dtype."""
    f = np.atleast_1d(np.asarray(x, dtype=np.float32))
    bits = f.view(np.uint32).astype(np.uint64)
    sixteen = np.uint64(16)
    rounding = np.uint64(0x7FFF) + ((bits >> sixteen) & np.uint64(1))
    out = (((bits + rounding) >> sixteen) << sixteen).astype(
        np.uint32).view(np.float32).reshape(np.shape(x))
    f = f.reshape(np.shape(x))
    out = np.where(np.isnan(f), f, out)
    return out.astype(x.dtype if hasattr(x, "dtype") else np.float64)


def rope(x, base, dt):
    b, s, h, d = x.shape
    half = d // 2
    i = np.arange(half, dtype=dt)
    inv = np.power(dt(base), -2.0 * i / dt(d)).astype(dt)
    ang = np.arange(s, dtype=dt)[:, None] * inv[None, :]          # [s, d/2]
    cos = np.cos(ang)[None, :, None, :]
    sin = np.sin(ang)[None, :, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)


def attention(q, k, v, causal, scale, dt):
    b, s, h, d = q.shape
    t, kvh = k.shape[1], k.shape[2]
    if scale is None:
        scale = 1.0 / np.sqrt(d)
    group = h // kvh
    kk = np.repeat(k, group, axis=2)                # head i -> kv i // group
    vv = np.repeat(v, group, axis=2)
    scores = np.einsum("bshd,bthd->bhst", q, kk) * dt(scale)
    if causal:
        mask = np.arange(t)[None, :] > np.arange(s)[:, None]
        scores = np.where(mask[None, None], -np.inf, scores)
    m = scores.max(axis=-1, keepdims=True)
    p = np.exp(scores - m)
    p = p / p.sum(axis=-1, keepdims=True)
    return np.einsum("bhst,bthe->bshe", p, vv)


def dot_general(a, b, attrs):
    lb, rb = attrs["lhs_batch"], attrs["rhs_batch"]
    lc, rc = attrs["lhs_contracting"], attrs["rhs_contracting"]
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    ls = [None] * a.ndim
    rs = [None] * b.ndim
    out = []
    for l, r in zip(lb, rb):
        ls[l] = rs[r] = next(letters)
        out.append(ls[l])
    for l, r in zip(lc, rc):
        ls[l] = rs[r] = next(letters)
    for i in range(a.ndim):
        if ls[i] is None:
            ls[i] = next(letters)
            out.append(ls[i])
    for i in range(b.ndim):
        if rs[i] is None:
            rs[i] = next(letters)
            out.append(rs[i])
    return np.einsum("%s,%s->%s" % ("".join(ls), "".join(rs), "".join(out)),
                     a, b)


def cross_entropy(logits, targets, z_loss, dt):
    c = logits.shape[-1]
    flat = logits.reshape(-1, c)
    t = targets.reshape(-1).astype(np.int64)
    m = flat.max(axis=-1)
    logz = m + np.log(np.exp(flat - m[:, None]).sum(axis=-1))
    picked = flat[np.arange(flat.shape[0]), t]
    return np.asarray(np.mean(logz - picked + dt(z_loss) * logz * logz),
                      dtype=dt)


def run(prog, inputs, dt=np.float64):
    """{value name: array} for every argument and op of prog. inputs maps
    argument names to their global values (integers stay integers)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _run(prog, inputs, dt)


def _run(prog, inputs, dt):
    env = {}
    for a in prog["args"]:
        v = inputs.get(a["name"])
        if v is None:
            v = np.zeros(a["shape"], dtype=np.int64 if a["dtype"] in (
                "i32", "i64") else np.float32)
        if a["dtype"] in ("f32", "bf16"):
            v = np.asarray(v, dtype=dt)
        env[a["name"]] = np.asarray(v).reshape(a["shape"])
    for op in prog["ops"]:
        k, at = op["kind"], op["attrs"]
        x = [env[o] for o in op["operands"]]
        if k == "embedding":
            y = x[0][x[1].astype(np.int64)]
        elif k == "layer_norm":
            mean = x[0].mean(axis=-1, keepdims=True)
            var = ((x[0] - mean) ** 2).mean(axis=-1, keepdims=True)
            y = (x[0] - mean) / np.sqrt(var + dt(at.get("epsilon", 1e-6))) \
                * x[1]
        elif k == "dot_general":
            y = dot_general(x[0], x[1], at)
        elif k == "rope":
            y = rope(x[0], at.get("base", 10000.0), dt)
        elif k == "attention":
            y = attention(x[0], x[1], x[2], at.get("causal"),
                          at.get("scale"), dt)
        elif k == "add":
            y = x[0] + x[1]
        elif k == "mul":
            y = x[0] * x[1]
        elif k == "silu":
            y = x[0] / (1 + np.exp(-x[0]))
        elif k == "scale":
            y = x[0] * dt(at["factor"])
        elif k == "convert":
            y = x[0]
        elif k == "cross_entropy":
            y = cross_entropy(x[0], x[1], at.get("z_loss", 1e-4), dt)
        elif k == "transpose":
            y = np.transpose(x[0], at["permutation"])
        elif k == "reshape":
            y = x[0].reshape(op["shape"])
        elif k == "sharding_constraint":
            y = x[0]
        else:
            raise ValueError("unknown op kind %r" % k)
        y = np.asarray(y)
        if op["dtype"] in ("f32", "bf16"):
            y = y.astype(dt)
            if op["dtype"] == "bf16":
                y = round_bf16(y)
        env[op["name"]] = y.reshape(op["shape"])
    return env
