#!/usr/bin/env python3
"""Tests of the JAX oracle (jax_palm.py, jax_optimizer.py).

Run with the venv scripts/jax-venv.sh makes:
    BUILD/jax-venv/bin/python test/e2e/test_jax_palm.py
Prints PASS/FAIL per test and "N passed, M failed"; jax-reference.test runs
it under lit. What it pins:
  * the JAX loss equals palm_reference.py's numpy loss (two independent
    implementations) in f64 within 1e-10 relative: multi-query, grouped and
    multi-head attention, parallel and serial blocks, non-default epsilon and
    z_loss, LayerNorm scales other than one;
  * every op's VJP (attention with grouped heads, causal or not, and a
    non-default scale; LayerNorm; RoPE; embedding with repeated ids;
    cross-entropy with z-loss) and the whole model's gradient against
    central finite differences in f64, along random directions;
  * the optimizer: steps of jax_optimizer.step against a plain numpy
    implementation of the equations in jax_optimizer's docstring (global
    clip on and off, update clipping, the 1e-3 parameter-scale floor, both
    branches of lr(k)), and against optax.inject_hyperparams with schedules;
  * the grads command line on a synthetic run directory.
"""

import contextlib
import io
import math
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testing import run_tests  # noqa: E402
import jax_palm as jp  # noqa: E402
import jax_optimizer as jo  # noqa: E402
import palm_reference as ref  # noqa: E402
import palm_shards as ps  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

TINY = dict(layers=2, d_model=16, heads=4, kv_heads=1, head_dim=4, d_ff=64,
            vocab=32, seq=8, batch=2)


def config(**changes):
    c = dict(TINY)
    c.update(changes)
    return c


def batch(c, seed):
    rng = np.random.RandomState(seed)
    shape = (c["batch"], c["seq"])
    return (rng.randint(0, c["vocab"], shape).astype(np.int32),
            rng.randint(0, c["vocab"], shape).astype(np.int32))


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


# --- the model against the numpy reference -----------------------------------

def check_loss_matches_reference(c, seed=0, ln_noise=False):
    w = ref.random_weights(c, seed=seed, dtype=np.float64)
    if ln_noise:
        rng = np.random.RandomState(seed + 100)
        for n in w:
            if w[n].ndim == 1:
                w[n] = 1.0 + 0.3 * rng.standard_normal(w[n].shape)
    tokens, targets = batch(c, seed + 1)
    _, want = ref.forward(c, w, tokens, targets)
    got = float(jax.jit(lambda p: jp.loss_fn(p, tokens, targets, c, "f64"))(w))
    assert rel(got, want) <= 1e-10, (c, got, want)
    got32 = float(jax.jit(lambda p: jp.loss_fn(p, tokens, targets, c,
                                               "f32"))(w))
    assert rel(got32, want) <= 1e-5, (c, got32, want)


def test_parameter_shapes_match_reference():
    for c in (config(), config(block="serial", kv_heads=2)):
        assert list(jp.param_shapes(c).items()) == \
            list(ref.parameter_shapes(c).items())


def test_loss_matches_reference_multi_query_parallel():
    check_loss_matches_reference(config())


def test_loss_matches_reference_grouped_serial():
    check_loss_matches_reference(config(kv_heads=2, block="serial",
                                        z_loss=1e-2), seed=3, ln_noise=True)


def test_loss_matches_reference_multi_head_epsilon():
    check_loss_matches_reference(config(kv_heads=4, heads=4, head_dim=6,
                                        layer_norm_epsilon=1e-2, layers=1),
                                 seed=5, ln_noise=True)


# --- VJPs against central differences ----------------------------------------

def check_vjp(fn, args, seed, directions=3, rtol=1e-7):
    """<ct, J dx> from jax.vjp against (f(x + h dx) - f(x - h dx)) / 2h,
    for random cotangents and directions over all float args (f64)."""
    rng = np.random.RandomState(seed)
    fn = jax.jit(fn)
    args = [jnp.asarray(a) for a in args]
    out, vjp = jax.vjp(fn, *args)
    h = 1e-6
    for _ in range(directions):
        ct = rng.standard_normal(out.shape)
        cotangents = vjp(jnp.asarray(ct))
        dirs = [rng.standard_normal(a.shape) for a in args]
        analytic = sum(float(np.sum(np.asarray(g) * d))
                       for g, d in zip(cotangents, dirs))
        plus = fn(*[a + h * d for a, d in zip(args, dirs)])
        minus = fn(*[a - h * d for a, d in zip(args, dirs)])
        numeric = float(np.sum(ct * (np.asarray(plus) - np.asarray(minus))
                               / (2 * h)))
        assert abs(analytic - numeric) <= rtol * max(abs(numeric), 1.0), \
            (analytic, numeric)


def test_vjp_attention_grouped():
    rng = np.random.RandomState(0)
    q = rng.standard_normal((2, 5, 4, 3))
    k = rng.standard_normal((2, 5, 2, 3))
    v = rng.standard_normal((2, 5, 2, 3))
    check_vjp(lambda q, k, v: jp.attention(q, k, v, causal=True), (q, k, v), 1)
    check_vjp(lambda q, k, v: jp.attention(q, k, v, causal=False, scale=0.7),
              (q, k, v), 2)


def test_attention_head_mapping():
    # Query head i attends with kv head i // (H // G): against a loop.
    rng = np.random.RandomState(1)
    q = rng.standard_normal((1, 4, 6, 2))
    k = rng.standard_normal((1, 4, 3, 2))
    v = rng.standard_normal((1, 4, 3, 2))
    got = np.asarray(jp.attention(q, k, v, causal=True))
    for i in range(6):
        g = i // 2
        for s in range(4):
            sc = np.array([q[0, s, i] @ k[0, t, g] for t in range(s + 1)])
            p = np.exp(sc / math.sqrt(2) - np.max(sc / math.sqrt(2)))
            p /= p.sum()
            want = sum(p[t] * v[0, t, g] for t in range(s + 1))
            assert np.allclose(got[0, s, i], want, rtol=1e-12, atol=1e-12)


def test_vjp_layer_norm():
    rng = np.random.RandomState(2)
    x = rng.standard_normal((3, 4, 8))
    scale = 1 + 0.2 * rng.standard_normal(8)
    check_vjp(lambda x, s: jp.layer_norm(x, s, 1e-6), (x, scale), 3)
    check_vjp(lambda x, s: jp.layer_norm(x, s, 0.5), (x, scale), 4)


def test_vjp_rope():
    rng = np.random.RandomState(3)
    x = rng.standard_normal((2, 6, 3, 8))
    check_vjp(lambda x: jp.rope(x), (x,), 5)
    # and it is the numpy reference's rotation
    assert np.allclose(np.asarray(jp.rope(x)), ref.rope(x), rtol=0,
                       atol=1e-14)


def test_vjp_embedding_repeated_ids():
    rng = np.random.RandomState(4)
    table = rng.standard_normal((7, 5))
    ids = np.array([[0, 3, 3, 6], [3, 1, 0, 0]], np.int32)
    check_vjp(lambda t: jp.embedding(t, ids), (table,), 6)
    _, vjp = jax.vjp(lambda t: jp.embedding(t, ids), jnp.asarray(table))
    (g,) = vjp(jnp.ones((2, 4, 5)))
    assert np.array_equal(np.asarray(g)[:, 0], [3, 1, 0, 3, 0, 0, 1])


def test_vjp_cross_entropy():
    rng = np.random.RandomState(5)
    logits = 3 * rng.standard_normal((2, 4, 9))
    targets = rng.randint(0, 9, (2, 4))
    for z in (0.0, 1e-4, 0.1):
        check_vjp(lambda x: jp.cross_entropy(x, targets, z), (logits,), 7)
        want = ref.cross_entropy(logits, targets, z)
        got = float(jp.cross_entropy(logits, targets, z))
        assert rel(got, want) <= 1e-13


def test_model_gradient_finite_differences():
    for c in (config(layers=1), config(layers=1, block="serial", kv_heads=2)):
        w = ref.random_weights(c, seed=7, dtype=np.float64)
        tokens, targets = batch(c, 8)
        names = list(jp.param_shapes(c))
        check_vjp(lambda *a: jp.loss_fn(dict(zip(names, a)), tokens,
                                        targets, c, "f64"),
                  [w[n] for n in names], 9)
        loss, g = jp.grads(w, tokens, targets, c, "f64")
        assert set(g) == set(names) and all(
            g[n].shape == w[n].shape for n in names)


# --- the optimizer -----------------------------------------------------------

def numpy_adafactor_step(W, G, V, M, k):
    """The equations of jax_optimizer's docstring, in numpy f64, one step
    over the dicts W (params), G (grads), V, M (moments); returns new
    (W, V, M)."""
    lr = 1.0 / math.sqrt(max(k, 1e4))
    n = math.sqrt(sum(float(np.sum(g * g)) for g in G.values()))
    beta2 = float(np.float32(1) - np.float32(k) ** np.float32(-0.8))
    W2, V2, M2 = {}, {}, {}
    for name in W:
        g = G[name] if n < 1 else G[name] / n
        v = beta2 * V[name] + (1 - beta2) * (g * g + 1e-30)
        u = g / np.sqrt(v)
        u = u / max(1.0, math.sqrt(np.mean(u * u)))
        s = max(1e-3, math.sqrt(np.mean(W[name] ** 2)))
        m = 0.9 * M[name] + 0.1 * lr * s * u
        W2[name] = (1 - lr * lr) * W[name] - m
        V2[name], M2[name] = v, m
    return W2, V2, M2


def optimizer_case(seed):
    rng = np.random.RandomState(seed)
    W = {"a": rng.standard_normal((4, 6)),
         "tiny": 1e-5 * rng.standard_normal((5,)),  # RMS < 1e-3: the floor
         "b": 0.1 * rng.standard_normal((3, 2, 2))}
    return W, rng


def run_both(W, grads_per_step, k0):
    state = jo.init({n: jnp.asarray(v) for n, v in W.items()}, k0)
    p = {n: jnp.asarray(v) for n, v in W.items()}
    Wn = dict(W)
    V = {n: np.zeros_like(v) for n, v in W.items()}
    M = {n: np.zeros_like(v) for n, v in W.items()}
    worst = []
    for i, G in enumerate(grads_per_step):
        k = k0 + i
        p, state = jo.step(p, {n: jnp.asarray(g) for n, g in G.items()},
                           state, k)
        Wn, V, M = numpy_adafactor_step(Wn, G, V, M, k)
        worst.append(max(float(np.max(np.abs(np.asarray(p[n]) - Wn[n])
                                      / np.maximum(np.abs(Wn[n]), 1e-300)))
                         for n in W))
    return worst


def test_optimizer_one_step_matches_equations():
    W, rng = optimizer_case(0)
    for norm in (0.3, 5.0):   # global clip off, on
        G = {n: rng.standard_normal(v.shape) for n, v in W.items()}
        total = math.sqrt(sum(np.sum(g * g) for g in G.values()))
        G = {n: g * norm / total for n, g in G.items()}
        worst = run_both(W, [G], 1)
        assert worst[0] <= 1e-12, worst


def test_optimizer_steps_match_equations():
    # Step 2's gradients 10x step 1's: u exceeds RMS 1, update clipping on.
    for k0 in (1, 20000):
        W, rng = optimizer_case(1)
        steps = []
        for scale in (0.1, 1.0, 0.05, 2.0):
            steps.append({n: scale * rng.standard_normal(v.shape)
                          for n, v in W.items()})
        worst = run_both(W, steps, k0)
        assert max(worst) <= 1e-12, (k0, worst)


def test_optimizer_matches_inject_hyperparams():
    # The per-step rebuild against optax's own way to schedule both
    # hyperparameters (inject_hyperparams evaluates them at the count).
    W, rng = optimizer_case(2)
    k0 = 9999   # crosses lr's corner at 1e4
    lr = lambda count: 1.0 / jnp.sqrt(jnp.maximum(count + k0, 1e4))
    wd = lambda count: lr(count) ** 2
    inner = optax.inject_hyperparams(
        optax.adafactor,
        # decay_rate static: injected as a float64 array it would make
        # optax compute beta2 in float64 instead of float32.
        static_args=("decay_rate", "factored", "multiply_by_parameter_scale",
                     "min_dim_size_to_factor", "decay_offset",
                     "dtype_momentum"))(
        learning_rate=lr, factored=False, decay_rate=0.8,
        multiply_by_parameter_scale=True, clipping_threshold=1.0,
        momentum=0.9, weight_decay_rate=wd, eps=1e-30,
        dtype_momentum=jnp.float64)
    tx = optax.chain(optax.clip_by_global_norm(1.0), inner)
    p1 = {n: jnp.asarray(v) for n, v in W.items()}
    p2 = dict(p1)
    s1 = jo.init(p1, k0)
    s2 = jo._set_counts(tx.init(p2), k0 - 1)
    # inject_hyperparams' own count drives the schedules: from 0.
    s2 = (s2[0], s2[1]._replace(count=jnp.asarray(0, jnp.int32)))
    for i in range(3):
        G = {n: rng.standard_normal(v.shape) for n, v in W.items()}
        p1, s1 = jo.step(p1, G, s1, k0 + i)
        u, s2 = tx.update(G, s2, p2)
        p2 = optax.apply_updates(p2, u)
        for n in W:
            assert np.allclose(np.asarray(p1[n]), np.asarray(p2[n]),
                               rtol=1e-14, atol=0), (i, n)


def test_train_loss_decreases_and_adamw_runs():
    c = config(layers=1)
    w = ref.random_weights(c, seed=3, dtype=np.float64)
    b = [batch(c, 4)] * 3
    losses, final = jo.train(w, b, c, dtype="f64")
    assert len(losses) == 3 and losses[-1] < losses[0], losses
    assert set(final) == set(w)
    losses, _ = jo.train(w, b, c, optimizer=jo.AdamW(peak=1e-2, warmup=1),
                         dtype="f64")
    assert losses[-1] < losses[0], losses


# --- the command line --------------------------------------------------------

def test_cli_grads_and_compare():
    c = config(layers=1, kv_heads=2)
    w = ref.random_weights(c, seed=11)
    tokens, targets = batch(c, 12)
    tmp = tempfile.mkdtemp()
    try:
        wdir, odir = os.path.join(tmp, "w"), os.path.join(tmp, "o")
        ps.write_shards(wdir, "weights.index.json", ["data", "model"], [1, 2],
                        {n: (v, [[]] * v.ndim, "f32") for n, v in w.items()})
        loss, g = jp.grads(w, tokens, targets, c, "f64")
        outs = {"tokens": (tokens, [[], []], "i32"),
                "targets": (targets, [[], []], "i32")}
        for n, v in g.items():
            outs["grad." + n] = (v.astype(np.float32),
                                 [["model"]] + [[]] * (v.ndim - 1)
                                 if v.shape[0] % 2 == 0 else [[]] * v.ndim,
                                 "f32")
        ps.write_shards(odir, "outputs.index.json", ["data", "model"], [1, 2],
                        outs)
        cfg = os.path.join(tmp, "c.json")
        with open(cfg, "w") as f:
            import json
            json.dump(c, f)
        out = os.path.join(tmp, "out")
        assert jp.main(["grads", "--weights", wdir, "--inputs", odir,
                        "--config", cfg, "--out", out,
                        "--compare-outputs", odir]) == 0
        saved = np.load(os.path.join(out, "grads.npz"))
        assert rel(float(saved["loss"]), loss) <= 1e-12
        for n in g:
            assert np.array_equal(saved["grad." + n], g[n])
        # a wrong gradient fails
        bad = dict(outs)
        wq = g["layers.0.attention.wq"].astype(np.float32).copy()
        wq[0, 0, 0] += 0.01 * np.max(np.abs(wq))
        bad["grad.layers.0.attention.wq"] = (wq, [[]] * 3, "f32")
        bdir = os.path.join(tmp, "bad")
        ps.write_shards(bdir, "outputs.index.json", ["data", "model"],
                        [1, 2], bad)
        text = io.StringIO()
        with contextlib.redirect_stdout(text):   # its FAIL lines stay here
            status = jp.main(["grads", "--weights", wdir, "--inputs", odir,
                              "--config", json_text(c),
                              "--compare-outputs", bdir])
        assert status == 1, text.getvalue()
        assert "grad.layers.0.attention.wq: max abs error" in text.getvalue()
        assert text.getvalue().rstrip().endswith("jax_palm: FAIL")
        # tokens missing everywhere: unusable input
        assert jp.main(["grads", "--weights", wdir,
                        "--config", cfg]) == 2
    finally:
        shutil.rmtree(tmp)


def json_text(c):
    import json
    return json.dumps(c)


TESTS = [
    test_parameter_shapes_match_reference,
    test_loss_matches_reference_multi_query_parallel,
    test_loss_matches_reference_grouped_serial,
    test_loss_matches_reference_multi_head_epsilon,
    test_vjp_attention_grouped,
    test_attention_head_mapping,
    test_vjp_layer_norm,
    test_vjp_rope,
    test_vjp_embedding_repeated_ids,
    test_vjp_cross_entropy,
    test_model_gradient_finite_differences,
    test_optimizer_one_step_matches_equations,
    test_optimizer_steps_match_equations,
    test_optimizer_matches_inject_hyperparams,
    test_train_loss_decreases_and_adamw_runs,
    test_cli_grads_and_compare,
]


def main():
    return run_tests(TESTS)


if __name__ == "__main__":
    sys.exit(main())
