"""Unit tests of palm_reference.py. Run: python3 test_palm_reference.py
(exits non-zero on failure; needs only numpy).

The main check compares forward() with a second, deliberately naive
implementation below (scalar Python loops, math module only) on small
parallel and serial, multi-query and grouped-query configs; the others pin
individual conventions: RoPE pairing and angles, the kv-head mapping,
causal masking, the loss definition, LayerNorm and the logit scaling.
"""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testing import run_tests  # noqa: E402
import palm_reference as ref  # noqa: E402

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def cfg(**kw):
    c = {"layers": 1, "d_model": 8, "heads": 2, "kv_heads": 1,
         "head_dim": 4, "d_ff": 16, "vocab": 11, "seq": 5, "batch": 2,
         "block": "parallel"}
    c.update(kw)
    return c


def data(c, seed=0):
    rng = np.random.RandomState(seed)
    w = ref.random_weights(c, seed=seed)
    # LayerNorm scales other than one, so a misplaced scale shows.
    for k in w:
        if w[k].ndim == 1:
            w[k] = (1 + 0.3 * rng.randn(*w[k].shape)).astype(np.float32)
    tok = rng.randint(0, c["vocab"], (c["batch"], c["seq"])).astype(np.int32)
    tgt = rng.randint(0, c["vocab"], (c["batch"], c["seq"])).astype(np.int32)
    return w, tok, tgt


# ---------------------------------------------------------------- naive model

def n_layer_norm(vec, scale, eps):
    n = len(vec)
    mean = sum(vec) / n
    var = sum((v - mean) ** 2 for v in vec) / n
    return [(v - mean) / math.sqrt(var + eps) * s for v, s in zip(vec, scale)]


def n_rope(vec, pos):
    Q = len(vec)
    half = Q // 2
    out = list(vec)
    for i in range(half):
        theta = pos * 10000.0 ** (-2.0 * i / Q)
        a, b = vec[i], vec[i + half]
        out[i] = a * math.cos(theta) - b * math.sin(theta)
        out[i + half] = b * math.cos(theta) + a * math.sin(theta)
    return out


def n_matvec(vec, mat):  # vec [n], mat [n][m] -> [m]
    m = len(mat[0])
    return [sum(vec[i] * mat[i][j] for i in range(len(vec))) for j in range(m)]


def n_forward(c, w, tokens, targets):
    W = {k: np.asarray(v, np.float64).tolist() for k, v in w.items()}
    d, H, G, Q, V = (c["d_model"], c["heads"], c["kv_heads"], c["head_dim"],
                     c["vocab"])
    eps = c.get("layer_norm_epsilon", 1e-6)
    zl = c.get("z_loss", 1e-4)
    per_group = H // G
    all_logits = []
    total = 0.0
    count = 0
    for b in range(c["batch"]):
        S = c["seq"]
        xs = [list(W["embedding"][int(t)]) for t in tokens[b]]
        for L in range(c["layers"]):
            p = "layers.%d." % L

            def attn(hs):
                qs, ks, vs = [], [], []
                for s in range(S):
                    q = [[sum(hs[s][i] * W[p + "attention.wq"][i][h][e]
                              for i in range(d)) for e in range(Q)]
                         for h in range(H)]
                    k = [[sum(hs[s][i] * W[p + "attention.wk"][i][g][e]
                              for i in range(d)) for e in range(Q)]
                         for g in range(G)]
                    v = [[sum(hs[s][i] * W[p + "attention.wv"][i][g][e]
                              for i in range(d)) for e in range(Q)]
                         for g in range(G)]
                    qs.append([n_rope(qh, s) for qh in q])
                    ks.append([n_rope(kg, s) for kg in k])
                    vs.append(v)
                outs = []
                for s in range(S):
                    o = [0.0] * d
                    for h in range(H):
                        g = h // per_group
                        sc = [sum(qs[s][h][e] * ks[t][g][e]
                                  for e in range(Q)) / math.sqrt(Q)
                              for t in range(s + 1)]
                        m = max(sc)
                        ex = [math.exp(x - m) for x in sc]
                        z = sum(ex)
                        ctx = [sum(ex[t] / z * vs[t][g][e]
                                   for t in range(s + 1)) for e in range(Q)]
                        for j in range(d):
                            o[j] += sum(ctx[e] * W[p + "attention.wo"][h][e][j]
                                        for e in range(Q))
                    outs.append(o)
                return outs

            def mlp(hs):
                outs = []
                for s in range(S):
                    g = n_matvec(hs[s], W[p + "mlp.wgate"])
                    u = n_matvec(hs[s], W[p + "mlp.wup"])
                    a = [gi / (1 + math.exp(-gi)) * ui for gi, ui in zip(g, u)]
                    outs.append(n_matvec(a, W[p + "mlp.wdown"]))
                return outs

            if c.get("block", "parallel") == "parallel":
                hs = [n_layer_norm(x, W[p + "ln"], eps) for x in xs]
                ao, mo = attn(hs), mlp(hs)
                xs = [[x + a + m for x, a, m in zip(xs[s], ao[s], mo[s])]
                      for s in range(S)]
            else:
                hs = [n_layer_norm(x, W[p + "ln1"], eps) for x in xs]
                ao = attn(hs)
                xs = [[x + a for x, a in zip(xs[s], ao[s])] for s in range(S)]
                hs = [n_layer_norm(x, W[p + "ln2"], eps) for x in xs]
                mo = mlp(hs)
                xs = [[x + m for x, m in zip(xs[s], mo[s])] for s in range(S)]
        row = []
        for s in range(S):
            f = n_layer_norm(xs[s], W["final_ln"], eps)
            lg = [sum(f[i] * W["embedding"][v][i] for i in range(d))
                  / math.sqrt(d) for v in range(V)]
            m = max(lg)
            logz = m + math.log(sum(math.exp(x - m) for x in lg))
            total += logz - lg[int(targets[b][s])] + zl * logz * logz
            count += 1
            row.append(lg)
        all_logits.append(row)
    return np.array(all_logits), total / count


def assert_close(got, want, tol, what):
    err = float(np.max(np.abs(np.asarray(got, np.float64) - want)))
    if not err <= tol:
        raise AssertionError("%s: max error %.3g > %.3g" % (what, err, tol))


# ---------------------------------------------------------------- the tests

@test
def forward_matches_naive_loops():
    configs = [
        cfg(),
        cfg(layers=2, block="serial", layer_norm_epsilon=1e-3, z_loss=0.01),
        cfg(heads=6, kv_heads=2, head_dim=6, d_model=12, seq=4, batch=1),
        cfg(heads=4, kv_heads=4, layers=2, seq=3),
    ]
    for i, c in enumerate(configs):
        w, tok, tgt = data(c, seed=i)
        logits, loss = ref.forward(c, w, tok, tgt)
        nl, nloss = n_forward(c, w, tok, tgt)
        assert logits.shape == (c["batch"], c["seq"], c["vocab"])
        assert logits.dtype == np.float32
        scale = np.max(np.abs(nl))
        # logits are returned as f32: allow f32 rounding of the result only
        assert_close(logits, nl, 1e-6 * scale, "config %d logits" % i)
        assert abs(loss - nloss) <= 1e-12 * abs(nloss), (i, loss, nloss)


@test
def rope_pairs_i_with_i_plus_half():
    Q = 8
    half = Q // 2
    for i in range(Q):
        x = np.zeros((1, 7, 1, Q))
        x[0, :, 0, i] = 1.0
        y = ref.rope(x)
        j = i % half
        partner = i + half if i < half else i - half
        for p in range(7):
            theta = p * 10000.0 ** (-2.0 * j / Q)
            expect = np.zeros(Q)
            expect[i] = math.cos(theta)
            # (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin)
            expect[partner] = math.sin(theta) if i < half else -math.sin(theta)
            assert np.allclose(y[0, p, 0], expect, atol=1e-15), (i, p, y[0, p])
    # position 0 is the identity; rotations keep the norm
    x = np.random.RandomState(0).randn(2, 6, 3, Q)
    y = ref.rope(x)
    assert np.array_equal(y[:, 0], x[:, 0])
    assert np.allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1))


@test
def rope_angles_exact():
    cos, sin = ref.rope_angles(3, 4)
    # head_dim 4: i = 0 -> p, i = 1 -> p * 10000^(-1/2) = p / 100
    assert np.allclose(np.arctan2(sin, cos),
                       [[0, 0], [1, 0.01], [2, 0.02]], atol=1e-15)


@test
def rope_scores_depend_on_relative_position():
    rng = np.random.RandomState(3)
    Q = 8
    q = rng.randn(Q)
    k = rng.randn(Q)

    def score(pq, pk):
        xq = np.zeros((1, 20, 1, Q))
        xk = np.zeros((1, 20, 1, Q))
        xq[0, pq, 0] = q
        xk[0, pk, 0] = k
        return float(ref.rope(xq)[0, pq, 0] @ ref.rope(xk)[0, pk, 0])

    assert abs(score(5, 2) - score(13, 10)) < 1e-12
    assert abs(score(5, 2) - score(2, 5)) > 1e-3  # direction matters


@test
def attention_matches_loop_and_kv_mapping():
    rng = np.random.RandomState(4)
    b, s, H, G, Q = 2, 5, 6, 3, 4
    q = rng.randn(b, s, H, Q)
    k = rng.randn(b, s, G, Q)
    v = rng.randn(b, s, G, Q)
    got = ref.attention(q, k, v)
    want = np.zeros_like(got)
    for bi in range(b):
        for h in range(H):
            g = h // (H // G)          # heads 0,1 -> kv 0; 2,3 -> 1; 4,5 -> 2
            for i in range(s):
                sc = np.array([q[bi, i, h] @ k[bi, j, g] / math.sqrt(Q)
                               for j in range(i + 1)])
                pr = np.exp(sc - sc.max())
                pr /= pr.sum()
                want[bi, i, h] = sum(pr[j] * v[bi, j, g] for j in range(i + 1))
    assert np.allclose(got, want, atol=1e-13)
    # the first query position only sees the first key: output = v[0]
    assert np.allclose(got[:, 0, :, :], v[:, 0, np.arange(H) // 2, :])


@test
def causal_future_tokens_do_not_matter():
    c = cfg(layers=2, seq=6)
    w, tok, tgt = data(c, seed=5)
    logits, _ = ref.forward(c, w, tok, tgt)
    tok2 = tok.copy()
    tok2[:, 4:] = (tok2[:, 4:] + 3) % c["vocab"]
    logits2, _ = ref.forward(c, w, tok2, tgt)
    assert np.array_equal(logits[:, :4], logits2[:, :4])
    assert not np.allclose(logits[:, 4:], logits2[:, 4:])


@test
def loss_definition():
    rng = np.random.RandomState(6)
    logits = rng.randn(2, 3, 7) * 4
    targets = rng.randint(0, 7, (2, 3))
    z = 0.02
    want = 0.0
    for b in range(2):
        for s in range(3):
            lz = math.log(sum(math.exp(x) for x in logits[b, s]))
            want += lz - logits[b, s, targets[b, s]] + z * lz * lz
    want /= 6
    got = ref.cross_entropy(logits, targets, z)
    assert abs(got - want) < 1e-12, (got, want)
    # uniform logits: log V + z log(V)^2 whatever the targets
    u = ref.cross_entropy(np.full((1, 4, 7), 2.5), np.zeros((1, 4), int), z)
    lz = 2.5 + math.log(7)
    assert abs(u - (lz - 2.5 + z * lz * lz)) < 1e-12
    # large logits do not overflow
    big = ref.cross_entropy(np.array([[[1000.0, 0.0]]]), np.array([[1]]), 0)
    assert abs(big - 1000.0) < 1e-9, big


@test
def layer_norm_definition():
    x = np.array([[1.0, 2.0, 3.0, 6.0]])
    scale = np.array([1.0, 2.0, 0.5, 1.0])
    eps = 0.1
    mean = 3.0
    var = (4 + 1 + 0 + 9) / 4.0          # biased
    want = (x - mean) / math.sqrt(var + eps) * scale
    assert np.allclose(ref.layer_norm(x, scale, eps), want, atol=1e-15)


@test
def zero_kernels_give_tied_scaled_logits():
    # With every kernel zero both branches vanish, so
    # logits = LN_f(E[tokens]) E^T / sqrt(d_model).
    c = cfg(layers=2)
    w, tok, tgt = data(c, seed=7)
    for k in w:
        if w[k].ndim > 1 and k != "embedding":
            w[k] = np.zeros_like(w[k])
    logits, _ = ref.forward(c, w, tok, tgt)
    E = w["embedding"].astype(np.float64)
    f = ref.layer_norm(E[tok], w["final_ln"].astype(np.float64), 1e-6)
    want = f @ E.T / math.sqrt(c["d_model"])
    assert np.allclose(logits, want, rtol=1e-6, atol=1e-6)


@test
def f32_mode_is_within_the_comparison_tolerance():
    # The f32 run of the same code stays well inside the tolerances the
    # end-to-end checks use against the compiled program.
    c = {"layers": 2, "d_model": 64, "heads": 4, "kv_heads": 1,
         "head_dim": 16, "d_ff": 256, "vocab": 97, "seq": 16, "batch": 2}
    w, tok, tgt = data(c, seed=8)
    l64, loss64 = ref.forward(c, w, tok, tgt)
    l32, loss32 = ref.forward(c, w, tok, tgt, dtype=np.float32)
    scale = np.max(np.abs(l64))
    assert np.max(np.abs(l64 - l32)) < 1e-5 * scale
    assert abs(loss64 - loss32) < 2e-6 * abs(loss64)


@test
def config_forms_and_defaults():
    stats = {"model": {"name": "tiny", "layers": 2, "d_model": 16,
                       "heads": 4, "kv_heads": 1, "head_dim": 4, "d_ff": 64,
                       "vocab": 32, "seq": 8, "batch": 2, "dtype": "f32",
                       "block": "parallel"}, "layout": "replicated"}
    n = ref.normalize_config(stats)
    assert n["layer_norm_epsilon"] == 1e-6 and n["z_loss"] == 1e-4
    assert n["d_model"] == 16 and n["block"] == "parallel"
    n = ref.normalize_config(dict(stats["model"], z_loss=0, block="serial"))
    assert n["z_loss"] == 0 and n["block"] == "serial"
    names = list(ref.parameter_shapes(n))
    assert names[:2] == ["embedding", "layers.0.ln1"]
    assert "layers.1.ln2" in names and names[-1] == "final_ln"
    assert ref.parameter_shapes(stats)["layers.1.attention.wo"] == (4, 4, 16)
    for bad in (dict(stats["model"], heads=3, kv_heads=2),
                dict(stats["model"], head_dim=5),
                dict(stats["model"], block="diagonal")):
        try:
            ref.normalize_config(bad)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % bad)


@test
def forward_rejects_bad_inputs():
    c = cfg()
    w, tok, tgt = data(c)
    cases = []
    w2 = dict(w)
    del w2["layers.0.mlp.wup"]
    cases.append((w2, tok, tgt, "lack"))
    w3 = dict(w)
    w3["layers.0.attention.wq"] = np.zeros((8, 2, 5), np.float32)
    cases.append((w3, tok, tgt, "shape"))
    cases.append((w, tok[:, :3], tgt, "tokens/targets"))
    bad = tok.copy()
    bad[0, 0] = c["vocab"]
    cases.append((w, bad, tgt, "outside"))
    for ww, tt, gg, frag in cases:
        try:
            ref.forward(c, ww, tt, gg)
        except ValueError as e:
            assert frag in str(e), (frag, str(e))
            continue
        raise AssertionError("accepted (expected %r)" % frag)


@test
def trace_names_follow_the_ir():
    c = cfg(layers=2)
    w, tok, tgt = data(c)
    tr = {}
    _, loss = ref.forward(c, w, tok, tgt, trace=tr)
    for name in ("embedding", "layers.0.ln", "layers.1.attention.q_rope",
                 "layers.0.attention.attend", "layers.1.mlp.glu",
                 "layers.1.branches", "layers.1.residual", "final_ln",
                 "logits.scale", "loss"):
        assert name in tr, name
    assert tr["layers.0.attention.q"].shape == (2, 5, 2, 4)
    assert float(tr["loss"]) == loss


def find_palm_gen():
    env = os.environ.get("PALM_GEN")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "build", "bin", "palm-gen")
    return path if os.path.isfile(path) else None


@test
def parameter_names_and_shapes_match_palm_gen():
    # The reference's parameter list against the arguments of palm-gen's IR
    # (palm.name and tensor type of every argument, in order). Skipped when
    # palm-gen is not built (set PALM_GEN to point at one).
    import json
    import re
    import subprocess
    import tempfile
    gen = find_palm_gen()
    if not gen:
        print("SKIP parameter_names_and_shapes_match_palm_gen: no palm-gen")
        return
    custom = cfg(layers=3, d_model=24, heads=6, kv_heads=2, head_dim=8,
                 d_ff=96, vocab=50, seq=12, batch=3, block="serial")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(custom, f)
    try:
        runs = [(["--preset", "tiny"], None),
                (["--preset", "tiny", "--block", "serial"], "serial"),
                (["--preset", "small"], None),
                (["--config", f.name], None)]
        for flags, block in runs:
            ir = subprocess.check_output([gen] + flags,
                                         universal_newlines=True)
            stats = json.loads(subprocess.check_output(
                [gen, "--stats", "--stats-format=json"] + flags,
                universal_newlines=True))
            signature = ir.split("func.func @forward(", 1)[1]
            signature = signature.split(") -> (", 1)[0]   # arguments only
            args = re.findall(r"tensor<([0-9x]*)x?(?:f32|i32|bf16)> "
                              r"\{[^}]*palm\.name = \"([^\"]+)\"",
                              signature)
            got = [(n, tuple(int(d) for d in shape.split("x") if d))
                   for shape, n in args]
            c = dict(stats["model"])
            assert block is None or c["block"] == block
            want = [("tokens", (c["batch"], c["seq"])),
                    ("targets", (c["batch"], c["seq"]))]
            want += list(ref.parameter_shapes(c).items())
            assert got == want, (flags, got, want)
    finally:
        os.remove(f.name)


def main():
    return run_tests(TESTS)


if __name__ == "__main__":
    sys.exit(main())
